/* verify.c - cache_verify (re-hash every blob, check every tree, action and
 * memo names only blobs that exist) and cache_stats.
 *
 * Both only read: verify reports one line per problem and leaves repairs to
 * the next run (a damaged output is a miss, so its action reruns) or to gc.
 * Records are walked a chunk at a time, so hashing a 10 GB file never holds
 * a transaction open.
 */
#include "cache_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vstate {
  FILE *out;
  uint64_t damaged;
};

static void problem(struct vstate *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(struct vstate *s, const char *fmt, ...)
{
  va_list ap;
  s->damaged++;
  if (!s->out)
    return;
  va_start(ap, fmt);
  vfprintf(s->out, fmt, ap);
  va_end(ap);
  fputc('\n', s->out);
}

struct kind_arg {
  const uint8_t *d;
  int kind;                     /* 0 when absent */
};

static int kind_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct kind_arg *a = arg;
  struct blob_rec r;
  int rc = cache__blob_get(c, txn, a->d, &r, err);
  a->kind = rc == 1 ? (int)r.kind : 0;
  return rc == 1 ? 0 : rc;
}

/* The kind of blob d, 0 when it has no record, <0 on error. */
static int blob_kind(struct cache *c, const uint8_t d[PD_DIGEST_LEN], struct pd_err *err)
{
  struct kind_arg a = { d, 0 };
  int rc = cache__read(c, kind_fn, &a, err);
  return rc < 0 ? rc : a.kind;
}

static int verify_blob(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg,
                       struct pd_err *err)
{
  struct vstate *s = arg;
  char hex[PD_DIGEST_HEX], hex2[PD_DIGEST_HEX], path[PATH_MAX];
  uint8_t got[PD_DIGEST_LEN];
  struct blob_rec r;
  struct tree_ent e;
  struct stat st;
  size_t pos = 0;
  int rc, more;

  if (k->mv_size != PD_DIGEST_LEN) {
    problem(s, "malformed blob key of %zu bytes", k->mv_size);
    return 0;
  }
  digest_hex(k->mv_data, hex);
  if (cache__blob_decode(v, &r) < 0) {
    problem(s, "malformed blob record %s", hex);
    return 0;
  }
  switch (r.kind) {
  case BLOB_INLINE:
    digest_buf(r.data, r.len, got);
    if (memcmp(got, k->mv_data, PD_DIGEST_LEN)) {
      digest_hex(got, hex2);
      problem(s, "damaged blob %s (inline): content hashes to %s", hex, hex2);
    }
    break;
  case BLOB_FILE:
    cache__cas_path(c, k->mv_data, path, sizeof path);
    rc = cache__hash_file(path, got, &st);
    if (rc < 0) {
      problem(s, "missing blob %s (cas/%.2s/%s): %s", hex, hex, hex, strerror(-rc));
    } else if (memcmp(got, k->mv_data, PD_DIGEST_LEN)) {
      digest_hex(got, hex2);
      problem(s, "damaged blob %s (cas/%.2s/%s): content hashes to %s", hex, hex, hex, hex2);
    } else if ((uint64_t)st.st_size != r.size) {
      problem(s, "damaged blob %s (cas/%.2s/%s): size is %lld, recorded %llu", hex, hex, hex,
              (long long)st.st_size, (unsigned long long)r.size);
    }
    break;
  case BLOB_TREE:
    digest_buf(r.data, r.len, got);
    if (memcmp(got, k->mv_data, PD_DIGEST_LEN)) {
      digest_hex(got, hex2);
      problem(s, "damaged tree %s: manifest hashes to %s", hex, hex2);
      break;
    }
    while ((more = cache__tree_next(r.data, r.len, &pos, &e)) != 0) {
      if (more < 0) {
        problem(s, "damaged tree %s: malformed manifest", hex);
        break;
      }
      if ((rc = blob_kind(c, e.digest, err)) < 0)
        return rc;
      digest_hex(e.digest, hex2);
      if (rc == 0)
        problem(s, "tree %s names missing blob %s ('%.*s')", hex, hex2, (int)e.namelen,
                e.name);
      else if ((rc == BLOB_TREE) != e.is_tree)
        problem(s, "tree %s: entry '%.*s' is a %s but blob %s is not", hex, (int)e.namelen,
                e.name, e.is_tree ? "directory" : "file", hex2);
    }
    break;
  }
  return 0;
}

static int need(struct cache *c, struct vstate *s, const char *hex, const char *task,
                const char *what, const uint8_t d[PD_DIGEST_LEN], struct pd_err *err)
{
  char hex2[PD_DIGEST_HEX];
  int rc = blob_kind(c, d, err);
  if (rc < 0)
    return rc;
  if (rc == 0) {
    digest_hex(d, hex2);
    problem(s, "action %s (task '%s') names missing %s %s", hex, task ? task : "?", what,
            hex2);
  }
  return 0;
}

static int verify_action(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg,
                         struct pd_err *err)
{
  struct vstate *s = arg;
  struct action_result r;
  char hex[PD_DIGEST_HEX];
  size_t i;
  int rc = 0;

  if (k->mv_size != PD_DIGEST_LEN) {
    problem(s, "malformed action key of %zu bytes", k->mv_size);
    return 0;
  }
  digest_hex(k->mv_data, hex);
  if (cache__action_decode(v->mv_data, v->mv_size, &r) < 0) {
    problem(s, "malformed action record %s", hex);
    return 0;
  }
  for (i = 0; i < r.nouts && rc == 0; i++)
    rc = need(c, s, hex, r.task, "blob", r.outs[i].digest, err);
  if (rc == 0 && r.has_log)
    rc = need(c, s, hex, r.task, "log blob", r.log, err);
  action_result_release(&r);
  return rc;
}

static int verify_memo(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg,
                       struct pd_err *err)
{
  struct vstate *s = arg;
  char hex[PD_DIGEST_HEX], hex2[PD_DIGEST_HEX];
  uint8_t d[PD_DIGEST_LEN];
  int rc;
  if (!cache__memo_blob(v, d) || k->mv_size != PD_DIGEST_LEN)
    return 0;
  if ((rc = blob_kind(c, d, err)) < 0)
    return rc;
  if (rc == 0) {
    digest_hex(k->mv_data, hex);
    digest_hex(d, hex2);
    problem(s, "memo %s names missing blob %s", hex, hex2);
  }
  return 0;
}

int cache_verify(struct cache *c, FILE *report, uint64_t *damaged, struct pd_err *err)
{
  struct vstate s = { report, 0 };
  int rc;
  if ((rc = cache__each(c, DB_BLOB, verify_blob, &s, err)) == 0 &&
      (rc = cache__each(c, DB_AC, verify_action, &s, err)) == 0)
    rc = cache__each(c, DB_MEMO, verify_memo, &s, err);
  if (damaged)
    *damaged = s.damaged;
  return rc;
}

/* --- stats ----------------------------------------------------------------- */

static int count_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct cache_stats *st = arg;
  MDB_stat ms;
  int rc;
  if ((rc = mdb_stat(txn, cache__dbi(c, DB_AC), &ms)))
    return cache__mdb(err, rc, "cannot read cache statistics");
  st->actions = ms.ms_entries;
  if ((rc = mdb_stat(txn, cache__dbi(c, DB_RUNS), &ms)))
    return cache__mdb(err, rc, "cannot read cache statistics");
  st->runs = ms.ms_entries;
  if ((rc = mdb_stat(txn, cache__dbi(c, DB_PINS), &ms)))
    return cache__mdb(err, rc, "cannot read cache statistics");
  st->pinned = ms.ms_entries;
  return 0;
}

static int stat_blob(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg,
                     struct pd_err *err)
{
  struct cache_stats *st = arg;
  struct blob_rec r;
  (void)c;
  (void)k;
  (void)err;
  if (cache__blob_decode(v, &r) < 0)
    return 0;
  st->blobs++;
  if (r.kind == BLOB_TREE) {
    st->trees++;
    return 0;
  }
  if (r.kind == BLOB_INLINE)
    st->inline_blobs++;
  else
    st->file_blobs++;
  st->blob_bytes += r.size;
  return 0;
}

/* Sum of the sizes of the files two levels below dir (cas/ab/<hex>). */
uint64_t cache__cas_bytes(const struct cache *c)
{
  char *cas = cache__sub(c, "cas");
  DIR *top = opendir(cas);
  struct dirent *de;
  uint64_t total = 0;

  while (top && (de = readdir(top))) {
    char *sub;
    DIR *d;
    struct dirent *fe;
    if (de->d_name[0] == '.')
      continue;
    sub = xasprintf("%s/%s", cas, de->d_name);
    d = opendir(sub);
    while (d && (fe = readdir(d))) {
      char *f;
      struct stat st;
      if (fe->d_name[0] == '.')
        continue;
      f = xasprintf("%s/%s", sub, fe->d_name);
      if (lstat(f, &st) == 0 && S_ISREG(st.st_mode))
        total += (uint64_t)st.st_size;
      free(f);
    }
    if (d)
      closedir(d);
    free(sub);
  }
  if (top)
    closedir(top);
  free(cas);
  return total;
}

int cache_stats(struct cache *c, struct cache_stats *st, struct pd_err *err)
{
  char *data = cache__sub(c, "data.mdb");
  struct stat fs;
  int rc;

  memset(st, 0, sizeof *st);
  if ((rc = cache__read(c, count_fn, st, err)) == 0)
    rc = cache__each(c, DB_BLOB, stat_blob, st, err);
  st->disk_bytes = cache__cas_bytes(c);
  if (stat(data, &fs) == 0)
    st->disk_bytes += (uint64_t)fs.st_size;
  free(data);
  return rc;
}
