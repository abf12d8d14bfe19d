/* gc.c - garbage collection: keep what the newest keep_runs runs and every
 * pinned run need, delete the rest.
 *
 * Mark: the task keys of each kept run record, the outputs and log each of
 * those actions records (and the digests the run record itself names), the
 * blobs memo entries name, and all children of live trees. Sweep: action
 * records and preimages, blob records and cas/ files, o/ materializations,
 * last-key entries naming deleted actions, and the records of runs not kept.
 * Then, while the cache is above max_bytes, drop the oldest unpinned kept
 * run and collect again. Also: lock files nobody holds, tmp/ entries older
 * than a day. Memo entries are kept.
 * Left out: coordination with a run in progress in another process; gc
 * deletes what no run record names yet, so run gc between runs (or store the
 * run record early and update it as tasks finish).
 */
#include "cache_int.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define DEL_CHUNK 4096
#define TMP_MAX_AGE_NS (INT64_C(86400) * 1000000000)

/* --- digest sets ------------------------------------------------------------ */

void dset_init(struct dset *s)
{
  memset(s, 0, sizeof *s);
}

void dset_release(struct dset *s)
{
  free(s->slot);
  free(s->used);
  memset(s, 0, sizeof *s);
}

static size_t dhash(const uint8_t d[PD_DIGEST_LEN])
{
  uint64_t x;
  memcpy(&x, d, 8); /* digests are uniform already */
  return (size_t)x;
}

int dset_has(const struct dset *s, const uint8_t d[PD_DIGEST_LEN])
{
  size_t i;
  if (!s->cap)
    return 0;
  for (i = dhash(d) & (s->cap - 1); s->used[i]; i = (i + 1) & (s->cap - 1))
    if (!memcmp(s->slot[i], d, PD_DIGEST_LEN))
      return 1;
  return 0;
}

int dset_add(struct dset *s, const uint8_t d[PD_DIGEST_LEN])
{
  size_t i;
  if ((s->n + 1) * 2 > s->cap) {
    struct dset big;
    big.cap = s->cap ? s->cap * 2 : 64;
    big.n = 0;
    big.slot = xmalloc(big.cap * PD_DIGEST_LEN);
    big.used = xcalloc(big.cap, 1);
    for (i = 0; i < s->cap; i++)
      if (s->used[i])
        dset_add(&big, s->slot[i]);
    dset_release(s);
    *s = big;
  }
  for (i = dhash(d) & (s->cap - 1); s->used[i]; i = (i + 1) & (s->cap - 1))
    if (!memcmp(s->slot[i], d, PD_DIGEST_LEN))
      return 0;
  memcpy(s->slot[i], d, PD_DIGEST_LEN);
  s->used[i] = 1;
  s->n++;
  return 1;
}

/* --- state ------------------------------------------------------------------- */

struct gc {
  struct dset live_act, live_blob, dead_act;
  uint8_t (*work)[PD_DIGEST_LEN];
  size_t nwork, capwork;
  struct strbuf del;            /* keys to delete: u32 length, bytes */
  size_t ndel;
  uint64_t actions, blobs, bytes;
};

static void mark_blob(struct gc *g, const uint8_t d[PD_DIGEST_LEN])
{
  if (!dset_add(&g->live_blob, d))
    return;
  if (g->nwork == g->capwork)
    g->work = xrealloc(g->work, (g->capwork = g->capwork * 2 + 64) * PD_DIGEST_LEN);
  memcpy(g->work[g->nwork++], d, PD_DIGEST_LEN);
}

static void mark_hex(struct gc *g, const cJSON *s, int action)
{
  uint8_t d[PD_DIGEST_LEN];
  if (!cJSON_IsString(s) || strlen(s->valuestring) != 64 ||
      cache__hex_parse(s->valuestring, d) < 0)
    return;
  if (action)
    dset_add(&g->live_act, d);
  else
    mark_blob(g, d);
}

static int mark_run(struct cache *c, struct gc *g, const char *id, struct pd_err *err)
{
  const cJSON *task, *out;
  cJSON *root;
  char *json;
  int rc = cache_run_get(c, id, &json, err);
  if (rc <= 0)
    return rc;
  root = cJSON_Parse(json);
  free(json);
  cJSON_ArrayForEach(task, cJSON_GetObjectItemCaseSensitive(root, "tasks")) {
    mark_hex(g, cJSON_GetObjectItemCaseSensitive(task, "key"), 1);
    mark_hex(g, cJSON_GetObjectItemCaseSensitive(task, "log"), 0);
    cJSON_ArrayForEach(out, cJSON_GetObjectItemCaseSensitive(task, "outputs"))
      mark_hex(g, cJSON_GetObjectItemCaseSensitive(out, "digest"), 0);
  }
  cJSON_Delete(root);
  return 0;
}

struct act_arg {
  struct gc *g;
  const uint8_t *key;
};

static int mark_act_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct act_arg *a = arg;
  MDB_val k = { PD_DIGEST_LEN, (void *)a->key }, v;
  struct action_result r;
  size_t i;
  int rc = mdb_get(txn, cache__dbi(c, DB_AC), &k, &v);
  if (rc == MDB_NOTFOUND)
    return 0;
  if (rc)
    return cache__mdb(err, rc, "cannot read action record");
  if (cache__action_decode(v.mv_data, v.mv_size, &r) < 0)
    return 0;
  for (i = 0; i < r.nouts; i++)
    mark_blob(a->g, r.outs[i].digest);
  if (r.has_log)
    mark_blob(a->g, r.log);
  action_result_release(&r);
  return 0;
}

static int mark_memo(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg,
                     struct pd_err *err)
{
  uint8_t d[PD_DIGEST_LEN];
  (void)c;
  (void)k;
  (void)err;
  if (cache__memo_blob(v, d))
    mark_blob(arg, d);
  return 0;
}

static int expand_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct gc *g = arg;
  uint8_t d[PD_DIGEST_LEN];
  struct blob_rec r;
  struct tree_ent e;
  size_t pos = 0;
  int rc;
  memcpy(d, g->work[--g->nwork], PD_DIGEST_LEN);
  if ((rc = cache__blob_get(c, txn, d, &r, err)) <= 0 || r.kind != BLOB_TREE)
    return rc < 0 ? rc : 0;
  while (cache__tree_next(r.data, r.len, &pos, &e) > 0)
    mark_blob(g, e.digest);
  return 0;
}

static int mark(struct cache *c, struct gc *g, char **runs, const int *keep, size_t nruns,
                struct pd_err *err)
{
  size_t i;
  int rc = 0;
  for (i = 0; i < nruns && rc == 0; i++)
    if (keep[i])
      rc = mark_run(c, g, runs[i], err);
  for (i = 0; i < g->live_act.cap && rc == 0; i++) {
    struct act_arg a = { g, g->live_act.slot[i] };
    if (g->live_act.used[i])
      rc = cache__read(c, mark_act_fn, &a, err);
  }
  if (rc == 0)
    rc = cache__each(c, DB_MEMO, mark_memo, g, err);
  while (rc == 0 && g->nwork)
    rc = cache__read(c, expand_fn, g, err);
  return rc;
}

/* --- sweep ------------------------------------------------------------------- */

struct del_arg {
  struct gc *g;
  enum cache_db db, db2;        /* db2 == db: only one */
};

static int del_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct del_arg *a = arg;
  size_t off = 0;
  while (off < a->g->del.len) {
    uint32_t n;
    MDB_val k;
    int rc;
    memcpy(&n, a->g->del.buf + off, 4);
    k.mv_data = a->g->del.buf + off + 4;
    k.mv_size = n;
    off += 4 + n;
    rc = mdb_del(txn, cache__dbi(c, a->db), &k, NULL);
    if (rc == 0 && a->db2 != a->db)
      rc = mdb_del(txn, cache__dbi(c, a->db2), &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
      return cache__mdb(err, rc, "cannot delete cache record");
  }
  return 0;
}

static int del_flush(struct cache *c, struct gc *g, enum cache_db db, enum cache_db db2,
                     struct pd_err *err)
{
  struct del_arg a = { g, db, db2 };
  int rc = g->ndel ? cache__write(c, del_fn, &a, err) : 0;
  strbuf_reset(&g->del);
  g->ndel = 0;
  return rc < 0 ? rc : 0;
}

static int del_add(struct cache *c, struct gc *g, const MDB_val *k, enum cache_db db,
                   enum cache_db db2, struct pd_err *err)
{
  uint32_t n = (uint32_t)k->mv_size;
  strbuf_add(&g->del, &n, 4);
  strbuf_add(&g->del, k->mv_data, k->mv_size);
  return ++g->ndel >= DEL_CHUNK ? del_flush(c, g, db, db2, err) : 0;
}

static int sweep_ac(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg,
                    struct pd_err *err)
{
  struct gc *g = arg;
  (void)v;
  if (k->mv_size == PD_DIGEST_LEN && dset_has(&g->live_act, k->mv_data))
    return 0;
  if (k->mv_size == PD_DIGEST_LEN)
    dset_add(&g->dead_act, k->mv_data);
  g->actions++;
  return del_add(c, g, k, DB_AC, DB_PRE, err);
}

static int sweep_pre(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg,
                     struct pd_err *err)
{
  struct gc *g = arg;
  (void)v;
  if (k->mv_size == PD_DIGEST_LEN && dset_has(&g->live_act, k->mv_data))
    return 0;
  return del_add(c, g, k, DB_PRE, DB_PRE, err);
}

static int sweep_blob(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg,
                      struct pd_err *err)
{
  struct gc *g = arg;
  struct blob_rec r;
  if (k->mv_size == PD_DIGEST_LEN && dset_has(&g->live_blob, k->mv_data))
    return 0;
  if (cache__blob_decode(v, &r) == 0 && r.kind != BLOB_TREE)
    g->bytes += r.size;
  g->blobs++;
  return del_add(c, g, k, DB_BLOB, DB_BLOB, err);
}

static int sweep_last(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg,
                      struct pd_err *err)
{
  struct gc *g = arg;
  if (v->mv_size == PD_DIGEST_LEN && dset_has(&g->dead_act, v->mv_data))
    return del_add(c, g, k, DB_LAST, DB_LAST, err);
  return 0;
}

/* Is name 64 hex digits naming a live blob? */
static int live_name(struct gc *g, const char *name)
{
  uint8_t d[PD_DIGEST_LEN];
  return strlen(name) == 64 && cache__hex_parse(name, d) == 0 && dset_has(&g->live_blob, d);
}

/* Files in cas/ and folders in o/ that no live blob names. Blob records are
 * gone already, so a crash here leaves only unnamed files. */
static void sweep_files(struct cache *c, struct gc *g)
{
  char **tops = NULL, **names = NULL, *dir = cache__sub(c, "cas");
  size_t ntop = 0, n = 0, i, j;

  if (cache__list_dir(dir, &tops, &ntop, NULL) == 0) {
    for (i = 0; i < ntop; i++) {
      char *sub = xasprintf("%s/%s", dir, tops[i]);
      if (cache__list_dir(sub, &names, &n, NULL) == 0) {
        for (j = 0; j < n; j++) {
          char *f;
          if (live_name(g, names[j]))
            continue;
          f = xasprintf("%s/%s", sub, names[j]);
          unlink(f);
          free(f);
        }
        cache__free_names(names, n);
      }
      rmdir(sub); /* only when empty */
      free(sub);
    }
    cache__free_names(tops, ntop);
  }
  free(dir);
  dir = cache__sub(c, "o");
  if (cache__list_dir(dir, &names, &n, NULL) == 0) {
    for (j = 0; j < n; j++) {
      char *f;
      if (live_name(g, names[j]))
        continue;
      f = xasprintf("%s/%s", dir, names[j]);
      cache_rmtree(f);
      free(f);
    }
    cache__free_names(names, n);
  }
  free(dir);
}

static int sweep(struct cache *c, struct gc *g, struct pd_err *err)
{
  int rc;
  if ((rc = cache__each(c, DB_AC, sweep_ac, g, err)) < 0 ||
      (rc = del_flush(c, g, DB_AC, DB_PRE, err)) < 0 ||
      (rc = cache__each(c, DB_PRE, sweep_pre, g, err)) < 0 ||
      (rc = del_flush(c, g, DB_PRE, DB_PRE, err)) < 0 ||
      (rc = cache__each(c, DB_BLOB, sweep_blob, g, err)) < 0 ||
      (rc = del_flush(c, g, DB_BLOB, DB_BLOB, err)) < 0 ||
      (rc = cache__each(c, DB_LAST, sweep_last, g, err)) < 0 ||
      (rc = del_flush(c, g, DB_LAST, DB_LAST, err)) < 0)
    return rc;
  sweep_files(c, g);
  return 0;
}

/* One mark and sweep keeping the runs with keep[i]; deletes the records of
 * the other runs. */
static int collect(struct cache *c, struct gc *g, char **runs, const int *keep,
                   size_t nruns, struct pd_err *err)
{
  size_t i;
  int rc;
  dset_release(&g->live_act);
  dset_release(&g->live_blob);
  dset_release(&g->dead_act);
  g->nwork = 0;
  if ((rc = mark(c, g, runs, keep, nruns, err)) < 0)
    return rc;
  for (i = 0; i < nruns; i++) {
    MDB_val k = { strlen(runs[i]), runs[i] };
    if (!keep[i] && (rc = del_add(c, g, &k, DB_RUNS, DB_RUNS, err)) < 0)
      return rc;
  }
  if ((rc = del_flush(c, g, DB_RUNS, DB_RUNS, err)) < 0)
    return rc;
  return sweep(c, g, err);
}

/* Lock files nobody holds, and tmp/ entries older than a day. */
static void sweep_misc(struct cache *c)
{
  char **names, *dir = cache__sub(c, "locks");
  size_t n, i;
  int64_t now = cache__now_ns();

  if (cache__list_dir(dir, &names, &n, NULL) == 0) {
    for (i = 0; i < n; i++) {
      char *f = xasprintf("%s/%s", dir, names[i]);
      int fd = open(f, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
      if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        unlink(f); /* cache_lock re-checks the path after locking */
      if (fd >= 0)
        close(fd);
      free(f);
    }
    cache__free_names(names, n);
  }
  free(dir);
  dir = cache__sub(c, "tmp");
  if (cache__list_dir(dir, &names, &n, NULL) == 0) {
    for (i = 0; i < n; i++) {
      char *f = xasprintf("%s/%s", dir, names[i]);
      struct stat st;
      if (lstat(f, &st) == 0 && cache__mtime_ns(&st) < now - TMP_MAX_AGE_NS)
        cache_rmtree(f);
      free(f);
    }
    cache__free_names(names, n);
  }
  free(dir);
}

int cache_gc(struct cache *c, size_t keep_runs, uint64_t max_bytes, FILE *report,
             struct pd_err *err)
{
  struct gc g;
  char **runs = NULL, **pins = NULL;
  size_t nruns = 0, npins = 0, i, j, kept;
  int *keep = NULL, *pinned = NULL, rc;

  memset(&g, 0, sizeof g);
  strbuf_init(&g.del, 4096);
  if ((rc = cache_run_list(c, &runs, &nruns, err)) < 0 ||
      (rc = cache__pins_list(c, &pins, &npins, err)) < 0)
    goto out;
  keep = xcalloc(nruns + 1, sizeof *keep);
  pinned = xcalloc(nruns + 1, sizeof *pinned);
  for (i = 0; i < nruns; i++) {
    for (j = 0; j < npins; j++)
      if (!strcmp(runs[i], pins[j]))
        pinned[i] = 1;
    keep[i] = pinned[i] || nruns - i <= keep_runs;
  }
  for (;;) {
    uint64_t used = 0;
    if ((rc = collect(c, &g, runs, keep, nruns, err)) < 0)
      goto out;
    if (!max_bytes)
      break;
    if ((rc = cache__lmdb_used(c, &used, err)) < 0)
      goto out;
    used += cache__cas_bytes(c);
    if (used <= max_bytes)
      break;
    for (i = 0; i < nruns && !(keep[i] && !pinned[i]); i++)
      ;
    if (i == nruns)
      break; /* only pinned runs left: never drop those */
    keep[i] = 0;
  }
  sweep_misc(c);
  for (i = kept = 0; i < nruns; i++)
    kept += (size_t)keep[i];
  if (report)
    fprintf(report, "gc: removed %llu actions, %llu blobs (%llu bytes); kept %zu runs\n",
            (unsigned long long)g.actions, (unsigned long long)g.blobs,
            (unsigned long long)g.bytes, kept);
out:
  for (i = 0; i < nruns; i++)
    free(runs[i]);
  for (i = 0; i < npins; i++)
    free(pins[i]);
  free(runs);
  free(pins);
  free(keep);
  free(pinned);
  dset_release(&g.live_act);
  dset_release(&g.live_blob);
  dset_release(&g.dead_act);
  free(g.work);
  strbuf_release(&g.del);
  return rc;
}
