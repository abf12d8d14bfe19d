/* store.c - the content-addressed blob store: blob records, cas/ files,
 * trees, and storing what tasks wrote (cache_ingest, cache_put_buf).
 *
 * A blob of at most CACHE_INLINE_MAX bytes lives in its LMDB record. A larger
 * one is the read-only file cas/ab/<hex>, whose SHA-256 is its name: it is
 * written under tmp/ (or is the task's own output file, moved), fsynced,
 * given mode 0444 and mtime CACHE_CAS_MTIME_NS, renamed into place and its
 * folder fsynced, all before the record naming it is committed. The record
 * keeps the file's (size, mtime, inode), so a later check is one stat.
 * A directory is a tree: a canonical manifest (tree.c) whose SHA-256 is its
 * digest; its size is the sum of its files. The records of one
 * ingest are written in a few large transactions (struct batch), children
 * always committed no later than their parents.
 * Left out: symlinks, devices and empty-name entries (errors), xattrs, modes.
 */
#include "cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define IO_BUF (1 << 20)
#define BATCH_BYTES (8u << 20)
#define BATCH_COUNT 4096

/* --- records ------------------------------------------------------------ */

void cache__blob_encode(struct strbuf *sb, enum blob_kind kind, uint64_t size,
                        int64_t mtime_ns, uint64_t ino, const void *data,
                        size_t len)
{
  uint8_t hdr[BLOB_HDR] = { 0 };
  hdr[0] = (uint8_t)kind;
  memcpy(hdr + 8, &size, 8);
  strbuf_add(sb, hdr, sizeof hdr);
  if (kind == BLOB_FILE) {
    strbuf_add(sb, &mtime_ns, 8);
    strbuf_add(sb, &ino, 8);
  } else if (len) {
    strbuf_add(sb, data, len);
  }
}

int cache__blob_decode(const MDB_val *v, struct blob_rec *r)
{
  const char *p = v->mv_data;
  if (v->mv_size < BLOB_HDR)
    return -1;
  memset(r, 0, sizeof *r);
  r->kind = (enum blob_kind)p[0];
  memcpy(&r->size, p + 8, 8);
  r->data = p + BLOB_HDR;
  r->len = v->mv_size - BLOB_HDR;
  switch (r->kind) {
  case BLOB_FILE:
    if (r->len != 16)
      return -1;
    memcpy(&r->mtime_ns, r->data, 8);
    memcpy(&r->ino, r->data + 8, 8);
    r->data = NULL;
    r->len = 0;
    return 0;
  case BLOB_INLINE:
    return r->len == r->size ? 0 : -1;
  case BLOB_TREE:
    return r->len >= sizeof TREE_MAGIC - 1 &&
           !memcmp(r->data, TREE_MAGIC, sizeof TREE_MAGIC - 1) ? 0 : -1;
  }
  return -1;
}

int cache__blob_get(struct cache *c, MDB_txn *txn, const uint8_t d[PD_DIGEST_LEN],
                    struct blob_rec *r, struct pd_err *err)
{
  MDB_val k = { PD_DIGEST_LEN, (void *)d }, v;
  char hex[PD_DIGEST_HEX];
  int rc = mdb_get(txn, cache__dbi(c, DB_BLOB), &k, &v);
  if (rc == MDB_NOTFOUND)
    return 0;
  if (rc)
    return cache__mdb(err, rc, "cannot read blob record");
  if (cache__blob_decode(&v, r) == 0)
    return 1;
  digest_hex(d, hex);
  return ERR_SET(err, PD_ECORRUPT, "blob record %s in '%s' is malformed", hex, c->dir);
}

int cache__blob_put(struct cache *c, MDB_txn *txn, const uint8_t d[PD_DIGEST_LEN],
                    const void *rec, size_t n, struct pd_err *err)
{
  MDB_val k = { PD_DIGEST_LEN, (void *)d }, v;
  int rc = mdb_get(txn, cache__dbi(c, DB_BLOB), &k, &v);
  if (rc == 0 && v.mv_size == n && !memcmp(v.mv_data, rec, n))
    return 0; /* already there: leave the page clean */
  if (rc && rc != MDB_NOTFOUND)
    return cache__mdb(err, rc, "cannot read blob record");
  v.mv_data = (void *)rec;
  v.mv_size = n;
  return cache__mdb(err, mdb_put(txn, cache__dbi(c, DB_BLOB), &k, &v, 0),
                    "cannot store blob record");
}

/* --- batches of records ---------------------------------------------------- */

/* Each entry in buf: digest, u64 length, record. */
struct batch {
  struct strbuf buf;
  size_t count;
};

static int batch_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct batch *b = arg;
  size_t off = 0;
  while (off < b->buf.len) {
    const uint8_t *d = (const uint8_t *)b->buf.buf + off;
    uint64_t n;
    int rc;
    memcpy(&n, d + PD_DIGEST_LEN, 8);
    rc = cache__blob_put(c, txn, d, d + PD_DIGEST_LEN + 8, (size_t)n, err);
    if (rc < 0)
      return rc;
    off += PD_DIGEST_LEN + 8 + (size_t)n;
  }
  return 0;
}

static int batch_flush(struct cache *c, struct batch *b, struct pd_err *err)
{
  int rc = 0;
  if (b->count)
    rc = cache__write(c, batch_fn, b, err);
  strbuf_reset(&b->buf);
  b->count = 0;
  return rc < 0 ? rc : 0;
}

static int batch_add(struct cache *c, struct batch *b, const uint8_t d[PD_DIGEST_LEN],
                     const struct strbuf *rec, struct pd_err *err)
{
  uint64_t n = rec->len;
  strbuf_add(&b->buf, d, PD_DIGEST_LEN);
  strbuf_add(&b->buf, &n, 8);
  strbuf_add(&b->buf, rec->buf, rec->len);
  if (++b->count >= BATCH_COUNT || b->buf.len >= BATCH_BYTES)
    return batch_flush(c, b, err);
  return 0;
}

/* --- cas files ------------------------------------------------------------- */

static int hash_fd(int fd, uint8_t d[PD_DIGEST_LEN])
{
  struct digest_ctx ctx;
  char *buf = xmalloc(IO_BUF);
  int rc = 0;
  digest_init(&ctx);
  for (;;) {
    ssize_t r = read(fd, buf, IO_BUF);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      rc = -errno;
    if (r <= 0)
      break;
    digest_update(&ctx, buf, (size_t)r);
  }
  digest_final(&ctx, d);
  free(buf);
  return rc;
}

int cache__hash_file(const char *path, uint8_t d[PD_DIGEST_LEN], struct stat *st)
{
  int rc, fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  rc = fstat(fd, st) < 0 ? -errno : hash_fd(fd, d);
  close(fd);
  return rc;
}

struct fp_arg {
  const uint8_t *d;
  struct blob_rec r;
};

static int fp_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct fp_arg *a = arg;
  return cache__blob_get(c, txn, a->d, &a->r, err); /* header fields only used */
}

static void rm_materialized(struct cache *c, const uint8_t d[PD_DIGEST_LEN])
{
  char hex[PD_DIGEST_HEX], *p;
  digest_hex(d, hex);
  p = xasprintf("%s/o/%s", c->dir, hex);
  cache_rmtree(p);
  free(p);
}

/* Is the cas file for d present and intact? 1 (st filled), 0 no, <0 error. */
static int cas_intact(struct cache *c, const uint8_t d[PD_DIGEST_LEN], const char *dst,
                      uint64_t size, struct stat *st, struct pd_err *err)
{
  struct fp_arg a = { .d = d };
  uint8_t got[PD_DIGEST_LEN];
  int rc;
  if (lstat(dst, st) < 0)
    return 0;
  if ((uint64_t)st->st_size != size || !S_ISREG(st->st_mode))
    return 0;
  if ((rc = cache__read(c, fp_fn, &a, err)) < 0)
    return rc;
  if (rc == 1 && a.r.kind == BLOB_FILE &&
      cache__fp_matches(st, a.r.size, a.r.mtime_ns, a.r.ino))
    return 1;
  /* Unknown to the records (another process is storing it right now, or
   * a crash came before the record): only its content can tell. */
  if (cache__hash_file(dst, got, st) < 0)
    return 0;
  return !memcmp(got, d, PD_DIGEST_LEN) && (uint64_t)st->st_size == size;
}

/* Moves the complete file src (open as fd, content d of size bytes) into
 * cas/ unless an intact copy is there already; src is gone afterwards.
 * Fills *st with the stat of the file now in cas/. */
static int cas_place(struct cache *c, int fd, const char *src,
                     const uint8_t d[PD_DIGEST_LEN], uint64_t size, struct stat *st,
                     struct pd_err *err)
{
  const struct timespec times[2] = {
    { CACHE_CAS_MTIME_NS / 1000000000, 0 }, { CACHE_CAS_MTIME_NS / 1000000000, 0 },
  };
  char dst[PATH_MAX], dir[PATH_MAX];
  int rc;

  cache__cas_path(c, d, dst, sizeof dst);
  if ((rc = cas_intact(c, d, dst, size, st, err)) != 0) {
    if (rc == 1)
      unlink(src);
    return rc < 0 ? rc : 0;
  }
  if (fchmod(fd, 0444) < 0 || futimens(fd, times) < 0 || fsync(fd) < 0)
    return ERR_SET(err, -errno, "cannot store '%s': %s", src, strerror(errno));
  snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(dst, '/') - dst), dst);
  if ((rc = cache__mkdir(dir, 0777)) < 0)
    return ERR_SET(err, rc, "cannot create '%s': %s", dir, strerror(-rc));
  if (lstat(dst, st) == 0)
    rm_materialized(c, d); /* a damaged copy: its links in o/ are damaged too */
  if (rename(src, dst) < 0)
    return ERR_SET(err, -errno, "cannot move '%s' to '%s': %s", src, dst, strerror(errno));
  if ((rc = cache__fsync_dir(dir)) < 0)
    return ERR_SET(err, rc, "cannot sync '%s': %s", dir, strerror(-rc));
  if (fstat(fd, st) < 0)
    return ERR_SET(err, -errno, "cannot stat '%s': %s", dst, strerror(errno));
  return 0;
}

/* Writes bytes (from buf, or read from srcfd when buf is NULL) to a temp file
 * under tmp/, hashing them, then places it in cas/. */
static int store_copy(struct cache *c, int srcfd, const void *buf, size_t n,
                      uint8_t d[PD_DIGEST_LEN], uint64_t *size, struct stat *st,
                      const char *what, struct pd_err *err)
{
  struct digest_ctx ctx;
  char *tmp = xasprintf("%s/tmp/blob-XXXXXX", c->dir), *io = NULL;
  uint64_t total = 0;
  int rc = 0, fd = mkostemp(tmp, O_CLOEXEC);

  if (fd < 0) {
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
    free(tmp);
    return rc;
  }
  digest_init(&ctx);
  if (buf) {
    digest_update(&ctx, buf, n);
    total = n;
    if ((rc = cache__write_all(fd, buf, n)) < 0)
      ERR_SET(err, rc, "cannot write '%s': %s", tmp, strerror(-rc));
  } else {
    io = xmalloc(IO_BUF);
    for (;;) {
      ssize_t r = read(srcfd, io, IO_BUF);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0) {
        rc = ERR_SET(err, -errno, "cannot read '%s': %s", what, strerror(errno));
        break;
      }
      if (r == 0)
        break;
      digest_update(&ctx, io, (size_t)r);
      total += (uint64_t)r;
      if ((rc = cache__write_all(fd, io, (size_t)r)) < 0) {
        ERR_SET(err, rc, "cannot write '%s': %s", tmp, strerror(-rc));
        break;
      }
    }
    free(io);
  }
  digest_final(&ctx, d);
  *size = total;
  if (rc == 0)
    rc = cas_place(c, fd, tmp, d, total, st, err);
  if (rc < 0)
    unlink(tmp);
  close(fd);
  free(tmp);
  return rc;
}

static void file_record(struct strbuf *rec, uint64_t size, const struct stat *st)
{
  cache__blob_encode(rec, BLOB_FILE, size, cache__mtime_ns(st), (uint64_t)st->st_ino,
                     NULL, 0);
}

int cache_put_buf(struct cache *c, const void *p, size_t n,
                  uint8_t digest[PD_DIGEST_LEN], struct pd_err *err)
{
  struct batch b = { .count = 0 };
  struct strbuf rec;
  struct stat st;
  uint64_t size;
  int rc = 0;

  strbuf_init(&rec, n <= CACHE_INLINE_MAX ? n + BLOB_HDR : 64);
  if (n <= CACHE_INLINE_MAX) {
    digest_buf(p, n, digest);
    cache__blob_encode(&rec, BLOB_INLINE, n, 0, 0, p, n);
  } else {
    rc = store_copy(c, -1, p, n, digest, &size, &st, "buffer", err);
    if (rc == 0)
      file_record(&rec, size, &st);
  }
  if (rc == 0) {
    strbuf_init(&b.buf, rec.len + 64);
    if ((rc = batch_add(c, &b, digest, &rec, err)) == 0)
      rc = batch_flush(c, &b, err);
    strbuf_release(&b.buf);
  }
  strbuf_release(&rec);
  return rc;
}

/* --- ingest ---------------------------------------------------------------- */

static int ingest_file(struct cache *c, const char *path, const struct stat *lst,
                       uint8_t d[PD_DIGEST_LEN], uint64_t *size, struct batch *b,
                       struct pd_err *err)
{
  struct strbuf rec;
  struct stat st;
  int rc = 0, fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

  if (fd < 0)
    return ERR_SET(err, -errno, "cannot store '%s': %s", path, strerror(errno));
  if (fstat(fd, &st) < 0 || st.st_ino != lst->st_ino || !S_ISREG(st.st_mode)) {
    close(fd);
    return ERR_SET(err, PD_ECACHE, "cannot store '%s': it changed while being stored", path);
  }
  strbuf_init(&rec, 64);
  if ((uint64_t)st.st_size <= CACHE_INLINE_MAX) {
    char buf[CACHE_INLINE_MAX + 1];
    size_t n = 0;
    while (n < sizeof buf) {
      ssize_t r = read(fd, buf + n, sizeof buf - n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0) {
        rc = ERR_SET(err, -errno, "cannot read '%s': %s", path, strerror(errno));
        break;
      }
      if (r == 0)
        break;
      n += (size_t)r;
    }
    if (rc == 0 && n != (size_t)st.st_size)
      rc = ERR_SET(err, PD_ECACHE, "cannot store '%s': it changed while being stored", path);
    if (rc == 0) {
      digest_buf(buf, n, d);
      *size = n;
      cache__blob_encode(&rec, BLOB_INLINE, n, 0, 0, buf, n);
    }
  } else if (st.st_dev == c->dev && st.st_nlink == 1 && st.st_uid == geteuid()) {
    /* The task's own output, on our file system: hash it and move it. */
    struct stat cst;
    rc = hash_fd(fd, d);
    if (rc < 0)
      rc = ERR_SET(err, rc, "cannot read '%s': %s", path, strerror(-rc));
    else if (fstat(fd, &cst) < 0 || cst.st_size != st.st_size ||
             cache__mtime_ns(&cst) != cache__mtime_ns(&st))
      rc = ERR_SET(err, PD_ECACHE, "cannot store '%s': it changed while being stored", path);
    *size = (uint64_t)st.st_size;
    if (rc == 0 && (rc = cas_place(c, fd, path, d, *size, &cst, err)) == 0)
      file_record(&rec, *size, &cst);
  } else {
    /* Elsewhere, or linked from elsewhere: copy, leaving the original. */
    struct stat cst;
    if ((rc = store_copy(c, fd, NULL, 0, d, size, &cst, path, err)) == 0)
      file_record(&rec, *size, &cst);
  }
  close(fd);
  if (rc == 0)
    rc = batch_add(c, b, d, &rec, err);
  strbuf_release(&rec);
  return rc;
}

static int ingest_path(struct cache *c, const char *path, int *is_tree,
                       uint8_t d[PD_DIGEST_LEN], uint64_t *size, struct batch *b,
                       struct pd_err *err);

static int ingest_tree(struct cache *c, const char *path, uint8_t d[PD_DIGEST_LEN],
                       uint64_t *size, struct batch *b, struct pd_err *err)
{
  struct strbuf man, rec;
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
    uint8_t cd[PD_DIGEST_LEN];
    uint64_t csize = 0;
    int ctree = 0;
    if (cache__tree_name_ok(names[i]) < 0)
      rc = ERR_SET(err, PD_ECACHE,
                   "cannot store '%s': file names must not contain a newline", child);
    else if ((rc = ingest_path(c, child, &ctree, cd, &csize, b, err)) == 0) {
      cache__tree_add(&man, ctree, cd, csize, names[i]);
      *size += csize;
    }
    free(child);
  }
  cache__free_names(names, n);
  if (rc == 0) {
    digest_buf(man.buf, man.len, d);
    strbuf_init(&rec, man.len + BLOB_HDR);
    cache__blob_encode(&rec, BLOB_TREE, *size, 0, 0, man.buf, man.len);
    rc = batch_add(c, b, d, &rec, err);
    strbuf_release(&rec);
  }
  strbuf_release(&man);
  return rc;
}

static int ingest_path(struct cache *c, const char *path, int *is_tree,
                       uint8_t d[PD_DIGEST_LEN], uint64_t *size, struct batch *b,
                       struct pd_err *err)
{
  struct stat st;
  if (lstat(path, &st) < 0)
    return ERR_SET(err, -errno, "cannot store '%s': %s", path, strerror(errno));
  if (S_ISLNK(st.st_mode))
    return ERR_SET(err, PD_ECACHE,
                   "cannot store '%s': symbolic links are not allowed in outputs", path);
  if (S_ISDIR(st.st_mode)) {
    *is_tree = 1;
    return ingest_tree(c, path, d, size, b, err);
  }
  if (!S_ISREG(st.st_mode))
    return ERR_SET(err, PD_ECACHE,
                   "cannot store '%s': not a regular file or directory", path);
  *is_tree = 0;
  return ingest_file(c, path, &st, d, size, b, err);
}

int cache_ingest(struct cache *c, const char *path, struct artifact *a,
                 struct pd_err *err)
{
  struct batch b;
  int rc, is_tree = 0;
  uint64_t size = 0;
  uint8_t d[PD_DIGEST_LEN];

  strbuf_init(&b.buf, 4096);
  b.count = 0;
  rc = ingest_path(c, path, &is_tree, d, &size, &b, err);
  if (rc == 0)
    rc = batch_flush(c, &b, err);
  strbuf_release(&b.buf);
  if (rc < 0)
    return rc;
  memcpy(a->digest, d, PD_DIGEST_LEN);
  a->size = size;
  a->is_tree = is_tree;
  return 0;
}
