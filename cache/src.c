/* src.c - digests of source inputs (file() and dir() in a graph), memoized
 * so that an unchanged file is never read twice.
 *
 * fmemo maps an absolute path to (device, inode, size, mtime ns, digest).
 * A file whose stat still matches gets the stored digest without a read.
 * The racy case (git's "racily clean" index entries): a file modified within
 * the same timestamp tick as our read would keep its mtime, so nothing is
 * memoized for a file whose mtime is less than CACHE_RACY_NS before now.
 * Directories use the tree encoding of store.c, so a dir() input has the
 * digest its ingested copy would have.
 * Left out: symlinks inside source directories (an error), ctime checks.
 */
#include "cache_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_RACY_NS INT64_C(2000000000)
#define MEMO_VAL 64 /* dev, ino, size, mtime ns (8 each), digest */
#define MEMO_FLUSH 1024

/* Memo entries waiting for one write transaction: u32 key length, key,
 * value, repeated. */
struct memo_q {
  struct strbuf buf;
  size_t count;
};

static void memo_val(uint8_t v[MEMO_VAL], const struct stat *st,
                     const uint8_t d[PD_DIGEST_LEN])
{
  uint64_t dev = st->st_dev, ino = st->st_ino, size = (uint64_t)st->st_size;
  int64_t mt = cache__mtime_ns(st);
  memcpy(v, &dev, 8);
  memcpy(v + 8, &ino, 8);
  memcpy(v + 16, &size, 8);
  memcpy(v + 24, &mt, 8);
  memcpy(v + 32, d, PD_DIGEST_LEN);
}

struct look_arg {
  MDB_val key;
  const struct stat *st;
  uint8_t *out;
};

static int look_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct look_arg *a = arg;
  static const uint8_t none[PD_DIGEST_LEN];
  uint8_t want[MEMO_VAL];
  MDB_val v;
  int rc = mdb_get(txn, cache__dbi(c, DB_FMEMO), &a->key, &v);
  if (rc == MDB_NOTFOUND)
    return 0;
  if (rc)
    return cache__mdb(err, rc, "cannot read file digest memo");
  memo_val(want, a->st, none); /* compare the stat part only */
  if (v.mv_size != MEMO_VAL || memcmp(v.mv_data, want, 32))
    return 0;
  memcpy(a->out, (const uint8_t *)v.mv_data + 32, PD_DIGEST_LEN);
  return 1;
}

static int flush_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct memo_q *q = arg;
  size_t off = 0;
  while (off < q->buf.len) {
    uint32_t kl;
    MDB_val k, v;
    int rc;
    memcpy(&kl, q->buf.buf + off, 4);
    k.mv_data = q->buf.buf + off + 4;
    k.mv_size = kl;
    v.mv_data = q->buf.buf + off + 4 + kl;
    v.mv_size = MEMO_VAL;
    rc = mdb_put(txn, cache__dbi(c, DB_FMEMO), &k, &v, 0);
    if (rc)
      return cache__mdb(err, rc, "cannot store file digest memo");
    off += 4 + kl + MEMO_VAL;
  }
  return 0;
}

static int memo_flush(struct cache *c, struct memo_q *q, struct pd_err *err)
{
  int rc = 0;
  if (q->count)
    rc = cache__write(c, flush_fn, q, err);
  strbuf_reset(&q->buf);
  q->count = 0;
  return rc < 0 ? rc : 0;
}

static int same_stat(const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
         a->st_size == b->st_size && cache__mtime_ns(a) == cache__mtime_ns(b);
}

/* Digest of the regular file at path (stat st), through the memo. */
static int file_digest(struct cache *c, const char *path, const struct stat *st,
                       uint8_t out[PD_DIGEST_LEN], struct memo_q *q, struct pd_err *err)
{
  uint8_t kbuf[1 + PD_DIGEST_LEN], v[MEMO_VAL];
  char *abs = cache__abspath(path);
  struct look_arg a = { { 0, NULL }, st, out };
  struct stat before, after;
  uint32_t kl;
  int rc;

  cache__long_key(abs, strlen(abs), kbuf, &a.key);
  if ((rc = cache__read(c, look_fn, &a, err)) != 0)
    goto out; /* 1: memoized, or an error */
  if ((rc = cache__hash_file(path, out, &before)) < 0) {
    ERR_SET(err, rc, "cannot read '%s': %s", path, strerror(-rc));
    goto out;
  }
  /* Memoize only what we are sure we read: the file did not change during
   * the read, and a later change cannot hide behind the same mtime. */
  if (stat(path, &after) == 0 && same_stat(&before, &after) &&
      cache__mtime_ns(&after) < cache__now_ns() - CACHE_RACY_NS) {
    memo_val(v, &after, out);
    kl = (uint32_t)a.key.mv_size;
    strbuf_add(&q->buf, &kl, 4);
    strbuf_add(&q->buf, a.key.mv_data, kl);
    strbuf_add(&q->buf, v, MEMO_VAL);
    if (++q->count >= MEMO_FLUSH)
      rc = memo_flush(c, q, err);
  }
out:
  free(abs);
  return rc < 0 ? rc : 0;
}

int cache_file_digest(struct cache *c, const char *path, uint8_t out[PD_DIGEST_LEN],
                      struct pd_err *err)
{
  struct memo_q q;
  struct stat st;
  int rc;

  if (stat(path, &st) < 0)
    return ERR_SET(err, -errno, "cannot read '%s': %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return ERR_SET(err, PD_ECACHE, "cannot read '%s': not a regular file", path);
  strbuf_init(&q.buf, 128);
  q.count = 0;
  rc = file_digest(c, path, &st, out, &q, err);
  if (rc == 0)
    rc = memo_flush(c, &q, err);
  strbuf_release(&q.buf);
  return rc;
}

static int dir_digest(struct cache *c, const char *path, uint8_t out[PD_DIGEST_LEN],
                      uint64_t *size, struct memo_q *q, struct pd_err *err)
{
  struct strbuf man;
  char **names;
  size_t n, i;
  int rc;

  if ((rc = cache__list_dir(path, &names, &n, err)) < 0)
    return rc;
  strbuf_init(&man, 64 + 100 * n);
  strbuf_addstr(&man, TREE_MAGIC);
  *size = 0;
  for (i = 0; i < n && rc == 0; i++) {
    char *child = xasprintf("%s/%s", path, names[i]);
    uint8_t d[PD_DIGEST_LEN];
    uint64_t csize = 0;
    struct stat st;
    if (cache__tree_name_ok(names[i]) < 0) {
      rc = ERR_SET(err, PD_ECACHE, "cannot hash '%s': file names must not contain a newline",
                   child);
    } else if (lstat(child, &st) < 0) {
      rc = ERR_SET(err, -errno, "cannot hash '%s': %s", child, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
      if ((rc = dir_digest(c, child, d, &csize, q, err)) == 0)
        cache__tree_add(&man, 1, d, csize, names[i]);
    } else if (S_ISREG(st.st_mode)) {
      csize = (uint64_t)st.st_size;
      if ((rc = file_digest(c, child, &st, d, q, err)) == 0)
        cache__tree_add(&man, 0, d, csize, names[i]);
    } else {
      rc = ERR_SET(err, PD_ECACHE, "cannot hash '%s': %s are not supported in source directories",
                   child, S_ISLNK(st.st_mode) ? "symbolic links" : "special files");
    }
    *size += csize;
    free(child);
  }
  cache__free_names(names, n);
  if (rc == 0)
    digest_buf(man.buf, man.len, out);
  strbuf_release(&man);
  return rc;
}

int cache_dir_digest(struct cache *c, const char *path, uint8_t out[PD_DIGEST_LEN],
                     struct pd_err *err)
{
  struct memo_q q;
  struct stat st;
  uint64_t size;
  int rc;

  if (stat(path, &st) < 0)
    return ERR_SET(err, -errno, "cannot read '%s': %s", path, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return ERR_SET(err, PD_ECACHE, "cannot read '%s': not a directory", path);
  strbuf_init(&q.buf, 4096);
  q.count = 0;
  rc = dir_digest(c, path, out, &size, &q, err);
  if (rc == 0)
    rc = memo_flush(c, &q, err);
  strbuf_release(&q.buf);
  return rc;
}
