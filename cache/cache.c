/* cache.c - opening and closing a cache directory, the schema check, and the
 * small path and file helpers the other files of cache/ share.
 *
 * A directory is opened once per process: every struct cache naming it
 * shares one LMDB environment through a registry (LMDB must not be opened
 * twice by one process). A schema version mismatch deletes the environment,
 * cas/ and o/ and starts over, as ninja does with an old build log.
 * Left out: migrating old schemas.
 */
#include "cache_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const db_names[DB_COUNT] = {
  "meta", "ac", "pre", "blob", "fmemo", "last", "runs", "pins", "memo",
};
static const char *const sub_dirs[] = { "cas", "o", "tmp", "locks" };

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cache_env *registry;

/* --- helpers ------------------------------------------------------------ */

void cache__cas_path(const struct cache *c, const uint8_t d[PD_DIGEST_LEN],
                     char *out, size_t outsz)
{
  char hex[PD_DIGEST_HEX];
  digest_hex(d, hex);
  snprintf(out, outsz, "%s/cas/%.2s/%s", c->dir, hex, hex);
}

char *cache__sub(const struct cache *c, const char *sub)
{
  return xasprintf("%s/%s", c->dir, sub);
}

int cache__fsync_dir(const char *dir)
{
  int rc = 0, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  if (fsync(fd) < 0)
    rc = -errno;
  close(fd);
  return rc;
}

int cache__mkdir(const char *path, mode_t mode)
{
  if (mkdir(path, mode) == 0 || errno == EEXIST)
    return 0;
  return -errno;
}

static int mkdir_p(const char *path)
{
  char *p = xstrdup(path), *s;
  int rc;
  for (s = p + 1; *s; s++) {
    if (*s != '/')
      continue;
    *s = '\0';
    rc = cache__mkdir(p, 0777);
    *s = '/';
    if (rc < 0) {
      free(p);
      return rc;
    }
  }
  rc = cache__mkdir(p, 0777);
  free(p);
  return rc;
}

int cache__write_all(int fd, const void *p, size_t n)
{
  const char *s = p;
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

int64_t cache__mtime_ns(const struct stat *st)
{
  return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

int64_t cache__now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int hexval(char ch)
{
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

int cache__hex_parse(const char *p, uint8_t d[PD_DIGEST_LEN])
{
  int i;
  for (i = 0; i < PD_DIGEST_LEN; i++) {
    int hi = hexval(p[2 * i]), lo;
    if (hi < 0)
      return -1;
    lo = hexval(p[2 * i + 1]);
    if (lo < 0)
      return -1;
    d[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}

char *cache__abspath(const char *path)
{
  char cwd[PATH_MAX];
  if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
    return xstrdup(path);
  return xasprintf("%s/%s", cwd, path);
}

int cache__fp_matches(const struct stat *st, uint64_t size, int64_t mtime_ns,
                      uint64_t ino)
{
  return (uint64_t)st->st_size == size && cache__mtime_ns(st) == mtime_ns &&
         (uint64_t)st->st_ino == ino;
}

void cache__long_key(const void *p, size_t n, uint8_t buf[1 + PD_DIGEST_LEN],
                     MDB_val *key)
{
  if (n <= CACHE_MAX_KEY) {
    key->mv_data = (void *)p;
    key->mv_size = n;
    return;
  }
  buf[0] = 1;
  digest_buf(p, n, buf + 1);
  key->mv_data = buf;
  key->mv_size = 1 + PD_DIGEST_LEN;
}

/* --- schema ------------------------------------------------------------- */

/* Fills e->dbi. Returns 0, 1 when the schema differs (*found describes the
 * version found), or an error. */
static int open_dbs(struct cache_env *e, char *found, size_t foundsz,
                    struct pd_err *err)
{
  MDB_txn *txn;
  MDB_val k = { 6, (void *)"schema" }, v;
  MDB_stat st;
  char want[16];
  int rc, i, pass;

  snprintf(want, sizeof want, "%d", CACHE_SCHEMA);
  /* Pass 0 only reads (no writer lock) and succeeds on any set-up cache;
   * pass 1 creates what is missing. */
  for (pass = 0; pass < 2; pass++) {
    unsigned flags = pass ? MDB_CREATE : 0;
    rc = mdb_txn_begin(e->env, NULL, pass ? 0 : MDB_RDONLY, &txn);
    if (rc)
      return ERR_SET(err, PD_ELMDB, "cannot begin transaction: %s", mdb_strerror(rc));
    rc = mdb_dbi_open(txn, db_names[DB_META], flags, &e->dbi[DB_META]);
    if (rc == MDB_NOTFOUND) {
      mdb_txn_abort(txn);
      continue;
    }
    if (rc)
      goto fail;
    rc = mdb_get(txn, e->dbi[DB_META], &k, &v);
    if (rc == 0) {
      if (v.mv_size != strlen(want) || memcmp(v.mv_data, want, v.mv_size)) {
        snprintf(found, foundsz, "%.*s", (int)(v.mv_size < 15 ? v.mv_size : 15),
                 (const char *)v.mv_data);
        mdb_txn_abort(txn);
        return 1;
      }
    } else if (rc != MDB_NOTFOUND) {
      goto fail;
    } else if (!pass) {
      mdb_txn_abort(txn);
      continue;
    } else {
      /* No version: a fresh environment, or one from before versions. */
      MDB_dbi main_dbi;
      if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) ||
          (rc = mdb_stat(txn, main_dbi, &st)))
        goto fail;
      if (st.ms_entries > 1) {
        snprintf(found, foundsz, "none");
        mdb_txn_abort(txn);
        return 1;
      }
      v.mv_data = want;
      v.mv_size = strlen(want);
      if ((rc = mdb_put(txn, e->dbi[DB_META], &k, &v, 0)))
        goto fail;
    }
    for (i = DB_META + 1; i < DB_COUNT; i++) {
      rc = mdb_dbi_open(txn, db_names[i], flags, &e->dbi[i]);
      if (rc == MDB_NOTFOUND && !pass)
        break;
      if (rc)
        goto fail;
    }
    if (i < DB_COUNT) {
      mdb_txn_abort(txn);
      continue;
    }
    /* Committing (even the read pass) keeps the handles in the env. */
    if ((rc = mdb_txn_commit(txn)))
      return ERR_SET(err, PD_ELMDB, "cannot set up cache: %s", mdb_strerror(rc));
    return 0;
  }
  return ERR_SET(err, PD_ELMDB, "cannot set up cache: databases missing");
fail:
  mdb_txn_abort(txn);
  return ERR_SET(err, PD_ELMDB, "cannot set up cache: %s", mdb_strerror(rc));
}

static int start_over(const char *dir, const char *found, struct pd_err *err)
{
  static const char *const files[] = { "data.mdb", "lock.mdb" };
  char path[PATH_MAX];
  size_t i;
  fprintf(stderr,
          "povid-dag: cache '%s' has schema version %s, this build uses %d; "
          "starting over\n", dir, found, CACHE_SCHEMA);
  for (i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    if (unlink(path) < 0 && errno != ENOENT)
      return ERR_SET(err, -errno, "cannot reset cache '%s': %s", dir, strerror(errno));
  }
  for (i = 0; i < 2; i++) {
    int rc;
    snprintf(path, sizeof path, "%s/%s", dir, sub_dirs[i]);
    if ((rc = cache_rmtree(path)) < 0 || (rc = cache__mkdir(path, 0777)) < 0)
      return ERR_SET(err, rc, "cannot reset cache '%s': %s", dir, strerror(-rc));
  }
  return 0;
}

static void env_destroy(struct cache_env *e)
{
  if (e->env)
    mdb_env_close(e->env);
  pthread_rwlock_destroy(&e->rw);
  free(e);
}

static struct cache_env *env_new(void)
{
  struct cache_env *e = xcalloc(1, sizeof *e);
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  /* A waiting resize must not starve behind a stream of readers. */
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&e->rw, &attr);
  pthread_rwlockattr_destroy(&attr);
  e->pid = getpid();
  e->refs = 1;
  return e;
}

/* Opens the environment of dir, starting over once on a schema mismatch. */
static int env_open_checked(const char *dir, struct cache_env **out,
                            struct pd_err *err)
{
  char found[16] = "";
  char path[PATH_MAX];
  struct stat st;
  int attempt, rc;

  for (attempt = 0; attempt < 2; attempt++) {
    struct cache_env *e = env_new();
    if ((rc = cache__env_open(e, dir, err)) < 0 ||
        (rc = open_dbs(e, found, sizeof found, err)) < 0) {
      env_destroy(e);
      return rc;
    }
    if (rc == 0) {
      snprintf(path, sizeof path, "%s/data.mdb", dir);
      if (stat(path, &st) < 0) {
        rc = -errno;
        env_destroy(e);
        return ERR_SET(err, rc, "cannot open cache '%s': %s", dir, strerror(-rc));
      }
      e->dev = st.st_dev;
      e->ino = st.st_ino;
      *out = e;
      return 0;
    }
    env_destroy(e);
    if (attempt == 0 && (rc = start_over(dir, found, err)) < 0)
      return rc;
  }
  return ERR_SET(err, PD_ECACHE, "cannot open cache '%s': schema version %s after reset",
                 dir, found);
}

int cache_open(struct cache **out, const char *dir, struct pd_err *err)
{
  struct cache *c;
  struct cache_env *e;
  char *abs, path[PATH_MAX];
  struct stat st;
  size_t i;
  int rc;

  *out = NULL;
  if ((rc = mkdir_p(dir)) < 0)
    return ERR_SET(err, rc, "cannot open cache '%s': %s", dir, strerror(-rc));
  abs = realpath(dir, NULL);
  if (!abs)
    return ERR_SET(err, -errno, "cannot open cache '%s': %s", dir, strerror(errno));
  for (i = 0; i < sizeof sub_dirs / sizeof *sub_dirs; i++) {
    snprintf(path, sizeof path, "%s/%s", abs, sub_dirs[i]);
    if ((rc = cache__mkdir(path, 0777)) < 0) {
      ERR_SET(err, rc, "cannot open cache '%s': %s", abs, strerror(-rc));
      free(abs);
      return rc;
    }
  }

  pthread_mutex_lock(&registry_mu);
  snprintf(path, sizeof path, "%s/data.mdb", abs);
  e = NULL;
  if (stat(path, &st) == 0) {
    for (e = registry; e; e = e->next)
      if (e->dev == st.st_dev && e->ino == st.st_ino && e->pid == getpid())
        break;
  }
  if (e) {
    e->refs++;
  } else {
    if ((rc = env_open_checked(abs, &e, err)) < 0) {
      pthread_mutex_unlock(&registry_mu);
      free(abs);
      return rc;
    }
    e->next = registry;
    registry = e;
  }
  pthread_mutex_unlock(&registry_mu);

  c = xcalloc(1, sizeof *c);
  c->dir = abs;
  c->dirlen = strlen(abs);
  c->dev = stat(abs, &st) == 0 ? st.st_dev : 0;
  c->e = e;
  snprintf(path, sizeof path, "%s/cas", abs);
  c->casfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  snprintf(path, sizeof path, "%s/o", abs);
  c->ofd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (c->casfd < 0 || c->ofd < 0) {
    rc = ERR_SET(err, -errno, "cannot open cache '%s': %s", abs, strerror(errno));
    cache_close(c);
    return rc;
  }
  *out = c;
  return 0;
}

void cache_close(struct cache *c)
{
  struct cache_env **pp;
  if (!c)
    return;
  pthread_mutex_lock(&registry_mu);
  if (--c->e->refs == 0) {
    for (pp = &registry; *pp; pp = &(*pp)->next)
      if (*pp == c->e) {
        *pp = c->e->next;
        break;
      }
    env_destroy(c->e);
  }
  pthread_mutex_unlock(&registry_mu);
  if (c->casfd >= 0)
    close(c->casfd);
  if (c->ofd >= 0)
    close(c->ofd);
  free(c->dir);
  free(c);
}

const char *cache_path(const struct cache *c)
{
  return c->dir;
}
