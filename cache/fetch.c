/* fetch.c - reading blobs back: cache_get_buf, cache_materialize, and the
 * repairs done when a blob turns out damaged (forget) or merely touched
 * (refresh).
 *
 * Materialized artifacts live at o/<hex>/<name>: a hard link to the cas file
 * for a large blob (so no copy), a written 0444 file for an inline one, a
 * 0555 directory of those for a tree. Each is built under tmp/ and put in
 * place with link() or rename(), which fail rather than replace when another
 * process got there first; then the other's copy is used.
 * Left out: copying when the cas file has too many links (EMLINK) happens,
 * but reflinks are not tried.
 */
#include "cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A copy of one blob record, taken out of its transaction. */
struct rec_copy {
  const uint8_t *d;
  struct blob_rec r;            /* r.data points at data below */
  char *data;                   /* malloc'd, NUL-terminated */
};

static int copy_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct rec_copy *a = arg;
  int rc = cache__blob_get(c, txn, a->d, &a->r, err);
  if (rc <= 0)
    return rc;
  a->data = xmalloc(a->r.len + 1);
  if (a->r.len)
    memcpy(a->data, a->r.data, a->r.len);
  a->data[a->r.len] = '\0';
  a->r.data = a->data;
  return 1;
}

static int rec_copy(struct cache *c, const uint8_t d[PD_DIGEST_LEN], struct rec_copy *a,
                    struct pd_err *err)
{
  memset(a, 0, sizeof *a);
  a->d = d;
  return cache__read(c, copy_fn, a, err);
}

/* --- repairs --------------------------------------------------------------- */

struct forget_arg {
  const uint8_t *d;
  uint64_t bad_ino;
  char path[PATH_MAX];
};

static int forget_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct forget_arg *a = arg;
  MDB_val k = { PD_DIGEST_LEN, (void *)a->d };
  struct stat st;
  int rc, present = lstat(a->path, &st) == 0;
  /* A different file there now: another process stored it afresh. */
  if (present && (uint64_t)st.st_ino != a->bad_ino)
    return 0;
  rc = mdb_del(txn, cache__dbi(c, DB_BLOB), &k, NULL);
  if (rc && rc != MDB_NOTFOUND)
    return cache__mdb(err, rc, "cannot delete blob record");
  /* Under the writer lock, so no record naming this file is committed
   * while it goes. */
  if (present)
    unlink(a->path);
  return 0;
}

int cache__blob_forget(struct cache *c, const uint8_t d[PD_DIGEST_LEN], uint64_t ino,
                       const uint8_t (*up)[PD_DIGEST_LEN], size_t nup,
                       struct pd_err *err)
{
  struct forget_arg a = { .d = d, .bad_ino = ino };
  char hex[PD_DIGEST_HEX], *p;
  size_t i;
  int rc;

  cache__cas_path(c, d, a.path, sizeof a.path);
  rc = cache__write(c, forget_fn, &a, err);
  for (i = 0; i <= nup; i++) {
    digest_hex(i < nup ? up[i] : d, hex);
    p = xasprintf("%s/o/%s", c->dir, hex);
    cache_rmtree(p);
    free(p);
  }
  return rc < 0 ? rc : 0;
}

struct refresh_arg {
  const uint8_t *d;
  const struct stat *st;
};

static int refresh_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct refresh_arg *a = arg;
  struct blob_rec r;
  struct strbuf rec;
  int rc = cache__blob_get(c, txn, a->d, &r, err);
  if (rc <= 0 || r.kind != BLOB_FILE)
    return rc;
  strbuf_init(&rec, 64);
  cache__blob_encode(&rec, BLOB_FILE, (uint64_t)a->st->st_size,
                     cache__mtime_ns(a->st), (uint64_t)a->st->st_ino, NULL, 0);
  rc = cache__blob_put(c, txn, a->d, rec.buf, rec.len, err);
  strbuf_release(&rec);
  return rc;
}

int cache__blob_refresh(struct cache *c, const uint8_t d[PD_DIGEST_LEN],
                        const struct stat *st, struct pd_err *err)
{
  struct refresh_arg a = { d, st };
  int rc = cache__write(c, refresh_fn, &a, err);
  return rc < 0 ? rc : 0;
}

/* --- cache_get_buf ------------------------------------------------------- */

/* Reads and checks cas file path: 1 (buffer in *p), 0 if missing or damaged. */
static int read_cas(struct cache *c, const uint8_t d[PD_DIGEST_LEN], const char *path,
                    const struct blob_rec *r, char **p, size_t *n, struct pd_err *err)
{
  struct digest_ctx ctx;
  struct stat st;
  uint8_t got[PD_DIGEST_LEN];
  size_t off = 0;
  char *buf;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  if (fd < 0) {
    if (errno != ENOENT)
      return ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
    return cache__blob_forget(c, d, 0, NULL, 0, err);
  }
  if (fstat(fd, &st) < 0) {
    close(fd);
    return ERR_SET(err, -errno, "cannot stat '%s': %s", path, strerror(errno));
  }
  buf = xmalloc((size_t)st.st_size + 1);
  while (off < (size_t)st.st_size) {
    ssize_t got_n = read(fd, buf + off, (size_t)st.st_size - off);
    if (got_n < 0 && errno == EINTR)
      continue;
    if (got_n <= 0)
      break;
    off += (size_t)got_n;
  }
  close(fd);
  digest_init(&ctx);
  digest_update(&ctx, buf, off);
  digest_final(&ctx, got);
  if (off != (size_t)st.st_size || memcmp(got, d, PD_DIGEST_LEN)) {
    free(buf);
    return cache__blob_forget(c, d, (uint64_t)st.st_ino, NULL, 0, err);
  }
  if (!cache__fp_matches(&st, r->size, r->mtime_ns, r->ino))
    cache__blob_refresh(c, d, &st, NULL); /* best effort: a stat saved next time */
  buf[off] = '\0';
  *p = buf;
  *n = off;
  return 1;
}

int cache_get_buf(struct cache *c, const uint8_t digest[PD_DIGEST_LEN], char **p,
                  size_t *n, struct pd_err *err)
{
  struct rec_copy a;
  char path[PATH_MAX];
  int rc;

  *p = NULL;
  *n = 0;
  if ((rc = rec_copy(c, digest, &a, err)) <= 0)
    return rc;
  if (a.r.kind != BLOB_FILE) { /* inline bytes, or a tree's manifest */
    *p = a.data;
    *n = a.r.len;
    return 1;
  }
  free(a.data);
  cache__cas_path(c, digest, path, sizeof path);
  rc = read_cas(c, digest, path, &a.r, p, n, err);
  return rc;
}

/* --- cache_materialize --------------------------------------------------- */

/* Writes data to a new 0444 file under tmp/ and links it to dst. */
static int write_then_link(struct cache *c, int srcfd, const char *data, size_t n,
                           const char *dst, struct pd_err *err)
{
  char *tmp = xasprintf("%s/tmp/mat-XXXXXX", c->dir), buf[1 << 16];
  int rc = 0, fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
    free(tmp);
    return rc;
  }
  if (srcfd < 0) {
    rc = cache__write_all(fd, data, n);
  } else {
    ssize_t r;
    while (rc == 0 && (r = read(srcfd, buf, sizeof buf)) != 0) {
      if (r < 0)
        rc = errno == EINTR ? 0 : -errno;
      else
        rc = cache__write_all(fd, buf, (size_t)r);
    }
  }
  if (rc == 0 && fchmod(fd, 0444) < 0)
    rc = -errno;
  if (rc == 0 && link(tmp, dst) < 0 && errno != EEXIST)
    rc = -errno;
  if (rc < 0)
    ERR_SET(err, rc, "cannot create '%s': %s", dst, strerror(-rc));
  unlink(tmp);
  close(fd);
  free(tmp);
  return rc;
}

static int place_tree(struct cache *c, const uint8_t d[PD_DIGEST_LEN], const char *dir,
                      struct pd_err *err);

/* Puts the file blob d at dst (which must not exist, or be the same blob). */
static int place_file(struct cache *c, const uint8_t d[PD_DIGEST_LEN], const char *dst,
                      struct pd_err *err)
{
  char hex[PD_DIGEST_HEX], cas[PATH_MAX];
  struct rec_copy a;
  int rc = rec_copy(c, d, &a, err);

  digest_hex(d, hex);
  if (rc == 0)
    return ERR_SET(err, PD_ENOTFOUND, "cannot materialize '%s': blob %s is not in the cache",
                   dst, hex);
  if (rc < 0)
    return rc;
  if (a.r.kind == BLOB_TREE) {
    rc = ERR_SET(err, PD_ECORRUPT, "cannot materialize '%s': blob %s is a tree", dst, hex);
  } else if (a.r.kind == BLOB_INLINE) {
    rc = write_then_link(c, -1, a.data, a.r.len, dst, err);
  } else {
    cache__cas_path(c, d, cas, sizeof cas);
    if (link(cas, dst) == 0 || errno == EEXIST) {
      rc = 0;
    } else if (errno == EMLINK) {
      int fd = open(cas, O_RDONLY | O_CLOEXEC);
      rc = fd < 0 ? ERR_SET(err, -errno, "cannot open '%s': %s", cas, strerror(errno))
                  : write_then_link(c, fd, NULL, 0, dst, err);
      if (fd >= 0)
        close(fd);
    } else {
      rc = ERR_SET(err, -errno, "cannot materialize blob %s at '%s': %s", hex, dst,
                   strerror(errno));
    }
  }
  free(a.data);
  return rc;
}

/* Fills the (empty, writable) directory dir with tree d. */
static int place_tree(struct cache *c, const uint8_t d[PD_DIGEST_LEN], const char *dir,
                      struct pd_err *err)
{
  char hex[PD_DIGEST_HEX];
  struct tree_ent e;
  struct rec_copy a;
  size_t pos = 0;
  int rc = rec_copy(c, d, &a, err), more;

  digest_hex(d, hex);
  if (rc == 0)
    return ERR_SET(err, PD_ENOTFOUND, "cannot materialize '%s': tree %s is not in the cache",
                   dir, hex);
  if (rc < 0)
    return rc;
  rc = 0;
  if (a.r.kind != BLOB_TREE)
    rc = ERR_SET(err, PD_ECORRUPT, "cannot materialize '%s': blob %s is not a tree", dir, hex);
  while (rc == 0 && (more = cache__tree_next(a.data, a.r.len, &pos, &e)) != 0) {
    char *child;
    if (more < 0) {
      rc = ERR_SET(err, PD_ECORRUPT, "tree %s in '%s' is malformed", hex, c->dir);
      break;
    }
    child = xasprintf("%s/%.*s", dir, (int)e.namelen, e.name);
    if (!e.is_tree) {
      rc = place_file(c, e.digest, child, err);
    } else if (mkdir(child, 0700) < 0) {
      rc = ERR_SET(err, -errno, "cannot create '%s': %s", child, strerror(errno));
    } else if ((rc = place_tree(c, e.digest, child, err)) == 0 && chmod(child, 0555) < 0) {
      rc = ERR_SET(err, -errno, "cannot chmod '%s': %s", child, strerror(errno));
    }
    free(child);
  }
  free(a.data);
  return rc;
}

int cache_materialize(struct cache *c, const struct artifact *a, char **path,
                      struct pd_err *err)
{
  char hex[PD_DIGEST_HEX], *odir, *dst, *tmp;
  const char *name;
  struct stat st;
  int rc;

  *path = NULL;
  digest_hex(a->digest, hex);
  name = a->name ? a->name : hex;
  if (cache__tree_name_ok(name) < 0)
    return ERR_SET(err, PD_ECACHE, "cannot materialize '%s': not a valid file name", name);
  dst = xasprintf("%s/o/%s/%s", c->dir, hex, name);
  if (fstatat(c->ofd, dst + c->dirlen + 3, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (a->is_tree ? S_ISDIR(st.st_mode)
                   : S_ISREG(st.st_mode) && (uint64_t)st.st_size == a->size) {
      *path = dst; /* the no-op path: one stat */
      return 0;
    }
    cache_rmtree(dst); /* not what it should be: build it again */
  }
  odir = xasprintf("%s/o/%s", c->dir, hex);
  if ((rc = cache__mkdir(odir, 0777)) < 0) {
    ERR_SET(err, rc, "cannot create '%s': %s", odir, strerror(-rc));
    goto out;
  }
  if (!a->is_tree) {
    rc = place_file(c, a->digest, dst, err);
    goto out;
  }
  tmp = xasprintf("%s/tmp/mat-XXXXXX", c->dir);
  if (!mkdtemp(tmp)) {
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
  } else if ((rc = place_tree(c, a->digest, tmp, err)) == 0) {
    /* The top stays writable until renamed: renaming a directory updates
     * its "..", which needs write permission on it. */
    if (rename(tmp, dst) == 0) {
      chmod(dst, 0555);
    } else if (errno == EEXIST || errno == ENOTEMPTY) {
      cache_rmtree(tmp); /* another process materialized it first */
    } else {
      rc = ERR_SET(err, -errno, "cannot rename '%s' to '%s': %s", tmp, dst, strerror(errno));
    }
  }
  if (rc < 0)
    cache_rmtree(tmp);
  free(tmp);
out:
  free(odir);
  if (rc < 0) {
    free(dst);
    return rc;
  }
  *path = dst;
  return 0;
}
