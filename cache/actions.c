/* actions.c - the action cache: key -> result record, the key's preimage,
 * and the last key of each task of a graph.
 *
 * cache_action_get is the hot path of a no-op rerun (10,000 lookups), so it
 * is one read transaction, a flat binary record and one stat per cas file:
 * a file is re-hashed only when its (size, mtime, inode) differ from what was
 * recorded, and that happens after the transaction ends. A damaged blob
 * loses its record, so the action reruns and stores it again.
 *
 * Action record (native byte order, fields copied with memcpy):
 *   u8 version (1), u8 has_log, u16 zero, i32 exit_status, u32 nouts,
 *   u32 task length (~0 = NULL), f64 start, f64 duration, log[32]  (64 bytes)
 *   task bytes
 *   per output: u8 is_tree, 3 zero, u32 name length (~0 = NULL), u64 size,
 *               digest[32]  (48 bytes), then the name bytes
 */
#include "cache_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ACT_VERSION 1
#define ACT_HDR 64
#define OUT_HDR 48
#define NO_STR UINT32_MAX

void action_result_release(struct action_result *r)
{
  size_t i;
  if (!r)
    return;
  for (i = 0; i < r->nouts; i++)
    free(r->outs[i].name);
  free(r->outs);
  free(r->task);
  memset(r, 0, sizeof *r);
}

static void put_str(struct strbuf *sb, const char *s)
{
  if (s)
    strbuf_add(sb, s, strlen(s));
}

static void encode(struct strbuf *sb, const struct action_result *r)
{
  uint8_t h[ACT_HDR] = { ACT_VERSION, (uint8_t)!!r->has_log };
  uint32_t n = (uint32_t)r->nouts, tl = r->task ? (uint32_t)strlen(r->task) : NO_STR;
  size_t i;
  memcpy(h + 4, &r->exit_status, 4);
  memcpy(h + 8, &n, 4);
  memcpy(h + 12, &tl, 4);
  memcpy(h + 16, &r->start, 8);
  memcpy(h + 24, &r->duration, 8);
  if (r->has_log)
    memcpy(h + 32, r->log, PD_DIGEST_LEN);
  strbuf_add(sb, h, sizeof h);
  put_str(sb, r->task);
  for (i = 0; i < r->nouts; i++) {
    const struct artifact *a = &r->outs[i];
    uint8_t o[OUT_HDR] = { (uint8_t)!!a->is_tree };
    uint32_t nl = a->name ? (uint32_t)strlen(a->name) : NO_STR;
    memcpy(o + 4, &nl, 4);
    memcpy(o + 8, &a->size, 8);
    memcpy(o + 16, a->digest, PD_DIGEST_LEN);
    strbuf_add(sb, o, sizeof o);
    put_str(sb, a->name);
  }
}

/* Takes a string of length len (NO_STR = NULL) at *p, advancing it. */
static int take_str(const char **p, const char *end, uint32_t len, char **out)
{
  *out = NULL;
  if (len == NO_STR)
    return 0;
  if ((size_t)(end - *p) < len)
    return -1;
  *out = xstrndup(*p, len);
  *p += len;
  return 0;
}

int cache__action_decode(const void *data, size_t n, struct action_result *r)
{
  const char *p = data, *end = p + n;
  uint32_t nouts, tl;
  size_t i;

  memset(r, 0, sizeof *r);
  if (n < ACT_HDR || p[0] != ACT_VERSION)
    return -1;
  r->has_log = p[1] != 0;
  memcpy(&r->exit_status, p + 4, 4);
  memcpy(&nouts, p + 8, 4);
  memcpy(&tl, p + 12, 4);
  memcpy(&r->start, p + 16, 8);
  memcpy(&r->duration, p + 24, 8);
  memcpy(r->log, p + 32, PD_DIGEST_LEN);
  p += ACT_HDR;
  if (nouts > n / OUT_HDR || take_str(&p, end, tl, &r->task) < 0)
    return -1;
  r->outs = xcalloc(nouts ? nouts : 1, sizeof *r->outs);
  for (i = 0; i < nouts; i++) {
    struct artifact *a = &r->outs[i];
    uint32_t nl;
    if ((size_t)(end - p) < OUT_HDR)
      goto bad;
    a->is_tree = p[0] != 0;
    memcpy(&nl, p + 4, 4);
    memcpy(&a->size, p + 8, 8);
    memcpy(a->digest, p + 16, PD_DIGEST_LEN);
    p += OUT_HDR;
    r->nouts = i + 1;
    if (take_str(&p, end, nl, &a->name) < 0)
      goto bad;
  }
  r->nouts = nouts;
  if (p == end)
    return 0;
bad:
  action_result_release(r);
  return -1;
}

/* --- cache_action_get ---------------------------------------------------- */

/* A cas file whose stat differs from its record: to re-hash after the txn. */
struct suspect {
  uint8_t d[PD_DIGEST_LEN];
  uint8_t (*up)[PD_DIGEST_LEN];  /* trees above it, for o/ clean-up */
  size_t nup;
};

struct get_arg {
  const uint8_t *key;
  struct action_result *res;
  struct suspect *sus;
  size_t nsus, capsus;
  uint8_t (*stack)[PD_DIGEST_LEN];
  size_t depth, capdepth;
  char path[3 + PD_DIGEST_HEX];  /* "ab/<hex>", relative to c->casfd */
};

static void add_suspect(struct get_arg *a, const uint8_t d[PD_DIGEST_LEN])
{
  struct suspect *s;
  if (a->nsus == a->capsus)
    a->sus = xrealloc(a->sus, (a->capsus = a->capsus * 2 + 4) * sizeof *a->sus);
  s = &a->sus[a->nsus++];
  memcpy(s->d, d, PD_DIGEST_LEN);
  s->nup = a->depth;
  s->up = xmalloc((a->depth ? a->depth : 1) * PD_DIGEST_LEN);
  if (a->depth)
    memcpy(s->up, a->stack, a->depth * PD_DIGEST_LEN);
}

/* 1 present (or to be re-hashed), 0 missing, <0 error. */
static int check_blob(struct cache *c, MDB_txn *txn, struct get_arg *a,
                      const uint8_t d[PD_DIGEST_LEN], int want_tree, struct pd_err *err)
{
  MDB_val k = { PD_DIGEST_LEN, (void *)d }, v;
  struct blob_rec r;
  struct tree_ent e;
  size_t pos = 0;
  int rc = mdb_get(txn, cache__dbi(c, DB_BLOB), &k, &v), more;

  if (rc == MDB_NOTFOUND)
    return 0;
  if (rc)
    return cache__mdb(err, rc, "cannot read blob record");
  /* A malformed record is as good as none: the rerun stores it afresh. */
  if (cache__blob_decode(&v, &r) < 0 || (r.kind == BLOB_TREE) != !!want_tree)
    return 0;
  if (r.kind == BLOB_FILE) {
    struct stat st;
    char *p = a->path;
    digest_hex(d, p + 3);
    p[0] = p[3];
    p[1] = p[4];
    p[2] = '/';
    if (fstatat(c->casfd, p, &st, 0) < 0)
      return 0;
    if (!cache__fp_matches(&st, r.size, r.mtime_ns, r.ino))
      add_suspect(a, d);
    return 1;
  }
  if (r.kind != BLOB_TREE)
    return 1;
  if (a->depth == a->capdepth)
    a->stack = xrealloc(a->stack, (a->capdepth = a->capdepth * 2 + 4) * PD_DIGEST_LEN);
  memcpy(a->stack[a->depth++], d, PD_DIGEST_LEN);
  rc = 1;
  while (rc == 1 && (more = cache__tree_next(r.data, r.len, &pos, &e)) != 0)
    rc = more < 0 ? 0 : check_blob(c, txn, a, e.digest, e.is_tree, err);
  a->depth--;
  return rc;
}

static int get_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct get_arg *a = arg;
  MDB_val k = { PD_DIGEST_LEN, (void *)a->key }, v;
  size_t i;
  int rc = mdb_get(txn, cache__dbi(c, DB_AC), &k, &v);

  if (rc == MDB_NOTFOUND)
    return 0;
  if (rc)
    return cache__mdb(err, rc, "cannot read action record");
  if (cache__action_decode(v.mv_data, v.mv_size, a->res) < 0)
    return 0; /* malformed (verify reports it): a miss, rerun and overwrite */
  for (i = 0; i < a->res->nouts; i++) {
    rc = check_blob(c, txn, a, a->res->outs[i].digest, a->res->outs[i].is_tree, err);
    if (rc <= 0)
      return rc;
  }
  return 1;
}

int cache_action_get(struct cache *c, const uint8_t key[PD_DIGEST_LEN],
                     struct action_result *res, struct pd_err *err)
{
  struct get_arg a;
  size_t i;
  int rc;

  memset(res, 0, sizeof *res);
  a.key = key;
  a.res = res;
  a.sus = NULL;
  a.nsus = a.capsus = 0;
  a.stack = NULL;
  a.depth = a.capdepth = 0;

  rc = cache__read(c, get_fn, &a, err);
  /* Outside the transaction: re-hash what changed on disk. */
  for (i = 0; i < a.nsus && rc == 1; i++) {
    struct suspect *s = &a.sus[i];
    uint8_t got[PD_DIGEST_LEN];
    struct stat st;
    char path[PATH_MAX];
    cache__cas_path(c, s->d, path, sizeof path);
    if (cache__hash_file(path, got, &st) < 0) {
      rc = 0;
    } else if (memcmp(got, s->d, PD_DIGEST_LEN)) {
      /* Damaged: a miss (0), so the action reruns and restores it. */
      rc = cache__blob_forget(c, s->d, (uint64_t)st.st_ino,
                              (const uint8_t(*)[PD_DIGEST_LEN])s->up, s->nup, err);
    } else {
      rc = cache__blob_refresh(c, s->d, &st, err);
      if (rc == 0)
        rc = 1;
    }
  }
  for (i = 0; i < a.nsus; i++)
    free(a.sus[i].up);
  free(a.sus);
  free(a.stack);
  if (rc != 1)
    action_result_release(res);
  return rc;
}

/* --- cache_action_put ---------------------------------------------------- */

struct put_arg {
  const uint8_t *key;
  const char *preimage;
  const struct action_result *res;
  const struct strbuf *rec;
};

static int need_blob(struct cache *c, MDB_txn *txn, const uint8_t d[PD_DIGEST_LEN],
                     const char *what, struct pd_err *err)
{
  struct blob_rec r;
  char hex[PD_DIGEST_HEX];
  int rc = cache__blob_get(c, txn, d, &r, err);
  if (rc != 0)
    return rc < 0 ? rc : 0;
  digest_hex(d, hex);
  return ERR_SET(err, PD_ECACHE, "cannot record action: %s names blob %s, which is not stored",
                 what, hex);
}

static int put_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct put_arg *a = arg;
  MDB_val k = { PD_DIGEST_LEN, (void *)a->key }, v;
  size_t i;
  int rc;

  for (i = 0; i < a->res->nouts; i++) {
    const struct artifact *o = &a->res->outs[i];
    if ((rc = need_blob(c, txn, o->digest, o->name ? o->name : "an output", err)) < 0)
      return rc;
  }
  if (a->res->has_log && (rc = need_blob(c, txn, a->res->log, "its log", err)) < 0)
    return rc;
  v.mv_data = a->rec->buf;
  v.mv_size = a->rec->len;
  if ((rc = cache__mdb(err, mdb_put(txn, cache__dbi(c, DB_AC), &k, &v, 0),
                       "cannot store action record")) < 0)
    return rc;
  v.mv_data = (void *)(a->preimage ? a->preimage : "");
  v.mv_size = strlen(v.mv_data);
  return cache__mdb(err, mdb_put(txn, cache__dbi(c, DB_PRE), &k, &v, 0),
                    "cannot store action preimage");
}

int cache_action_put(struct cache *c, const uint8_t key[PD_DIGEST_LEN],
                     const char *preimage, const struct action_result *res,
                     struct pd_err *err)
{
  struct strbuf rec;
  struct put_arg a = { key, preimage, res, &rec };
  int rc;
  strbuf_init(&rec, ACT_HDR + res->nouts * (OUT_HDR + 16));
  encode(&rec, res);
  rc = cache__write(c, put_fn, &a, err);
  strbuf_release(&rec);
  return rc < 0 ? rc : 0;
}

/* --- preimages and last keys ----------------------------------------------- */

struct str_arg {
  MDB_val key;
  enum cache_db db;
  char *out;
  size_t n;
};

static int str_get_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct str_arg *a = arg;
  MDB_val v;
  int rc = mdb_get(txn, cache__dbi(c, a->db), &a->key, &v);
  if (rc == MDB_NOTFOUND)
    return 0;
  if (rc)
    return cache__mdb(err, rc, "cannot read cache record");
  a->out = xstrndup(v.mv_data, v.mv_size);
  a->n = v.mv_size;
  return 1;
}

int cache_preimage_get(struct cache *c, const uint8_t key[PD_DIGEST_LEN],
                       char **preimage, struct pd_err *err)
{
  struct str_arg a = { { PD_DIGEST_LEN, (void *)key }, DB_PRE, NULL, 0 };
  int rc = cache__read(c, str_get_fn, &a, err);
  *preimage = rc == 1 ? a.out : NULL;
  return rc;
}

static char *last_key(const char *graph_path, const char *task, size_t *n)
{
  size_t gl = strlen(graph_path), tl = strlen(task);
  char *k = xmalloc(gl + 1 + tl + 1);
  memcpy(k, graph_path, gl + 1);
  memcpy(k + gl + 1, task, tl + 1);
  *n = gl + 1 + tl;
  return k;
}

struct last_arg {
  MDB_val key;
  const uint8_t *val;
};

static int last_put_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct last_arg *a = arg;
  MDB_val v = { PD_DIGEST_LEN, (void *)a->val };
  return cache__mdb(err, mdb_put(txn, cache__dbi(c, DB_LAST), &a->key, &v, 0),
                    "cannot store last key");
}

int cache_last_put(struct cache *c, const char *graph_path, const char *task,
                   const uint8_t key[PD_DIGEST_LEN], struct pd_err *err)
{
  uint8_t buf[1 + PD_DIGEST_LEN];
  size_t n;
  char *k = last_key(graph_path, task, &n);
  struct last_arg a = { { 0, NULL }, key };
  int rc;
  cache__long_key(k, n, buf, &a.key);
  rc = cache__write(c, last_put_fn, &a, err);
  free(k);
  return rc < 0 ? rc : 0;
}

int cache_last_get(struct cache *c, const char *graph_path, const char *task,
                   uint8_t key[PD_DIGEST_LEN], struct pd_err *err)
{
  uint8_t buf[1 + PD_DIGEST_LEN];
  size_t n;
  char *k = last_key(graph_path, task, &n);
  struct str_arg a = { { 0, NULL }, DB_LAST, NULL, 0 };
  int rc;
  cache__long_key(k, n, buf, &a.key);
  rc = cache__read(c, str_get_fn, &a, err);
  free(k);
  if (rc == 1) {
    if (a.n != PD_DIGEST_LEN)
      rc = ERR_SET(err, PD_ECORRUPT, "last key of task '%s' in '%s' is malformed", task,
                   c->dir);
    else
      memcpy(key, a.out, PD_DIGEST_LEN);
  }
  free(a.out);
  return rc;
}
