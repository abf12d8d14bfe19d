/* lmdb.c - the LMDB environment: set-up, transactions with retry, and map
 * growth.
 *
 * The map has no fixed limit. It starts at 64 MiB (POVID_CACHE_MAPSIZE
 * overrides, in bytes) and doubles whenever a write fails with MDB_MAP_FULL:
 * the transaction is aborted, the map grown and the whole operation run
 * again. mdb_env_set_mapsize is only legal while this process has no active
 * transaction, so every transaction holds e->rw shared and a resize holds it
 * exclusive. When another process grew the map past ours, mdb_txn_begin
 * says MDB_MAP_RESIZED and we adopt the new size the same way. Writers of all
 * processes are serialized by LMDB's own lock.
 */
#include "cache_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FREE_DBI 0 /* LMDB's free-page database */

static size_t initial_mapsize(void)
{
  const char *s = getenv("POVID_CACHE_MAPSIZE");
  size_t page = (size_t)sysconf(_SC_PAGESIZE), n;
  char *end;
  if (!s || !*s)
    return CACHE_MAPSIZE_DEFAULT;
  n = (size_t)strtoull(s, &end, 10);
  if (*end || n < 16 * page)
    return CACHE_MAPSIZE_DEFAULT;
  return (n + page - 1) / page * page;
}

int cache__env_open(struct cache_env *e, const char *dir, struct pd_err *err)
{
  size_t want = initial_mapsize();
  MDB_envinfo info;
  int rc, dead;

  if ((rc = mdb_env_create(&e->env))) {
    e->env = NULL;
    return ERR_SET(err, PD_ELMDB, "cannot open cache '%s': %s", dir, mdb_strerror(rc));
  }
  if ((rc = mdb_env_set_maxdbs(e->env, 16)) ||
      (rc = mdb_env_set_maxreaders(e->env, 1022)) ||
      (rc = mdb_env_set_mapsize(e->env, want)) ||
      (rc = mdb_env_open(e->env, dir, MDB_NOTLS, 0644)))
    goto fail;
  /* Adopt a larger size recorded by whoever grew the map before us. */
  if ((rc = mdb_env_set_mapsize(e->env, 0)) || (rc = mdb_env_info(e->env, &info)))
    goto fail;
  e->mapsize = info.me_mapsize;
  if (e->mapsize < want) {
    if ((rc = mdb_env_set_mapsize(e->env, want)))
      goto fail;
    e->mapsize = want;
  }
  /* Reader slots of processes that died (kill -9) would pin old pages. */
  mdb_reader_check(e->env, &dead);
  return 0;
fail:
  if (rc > 0) /* an errno from the file system */
    return ERR_SET(err, -rc, "cannot open cache '%s': %s", dir, strerror(rc));
  return ERR_SET(err, PD_ELMDB, "cannot open cache '%s': %s", dir, mdb_strerror(rc));
}

int cache__mdb(struct pd_err *err, int rc, const char *what)
{
  if (rc == 0)
    return 0;
  if (rc == MDB_MAP_FULL)
    return CACHE__EFULL;
  if (rc == MDB_MAP_RESIZED)
    return CACHE__ERESIZED;
  return ERR_SET(err, PD_ELMDB, "%s: %s", what, mdb_strerror(rc));
}

MDB_dbi cache__dbi(const struct cache *c, enum cache_db db)
{
  return c->e->dbi[db];
}

/* Called with no transaction of ours active. seen is the map size when the
 * failure happened: if another thread already grew past it, do nothing. */
static int resize(struct cache *c, int full, size_t seen, struct pd_err *err)
{
  struct cache_env *e = c->e;
  MDB_envinfo info;
  int rc = 0;

  pthread_rwlock_wrlock(&e->rw);
  if (e->mapsize == seen) {
    /* First adopt what another process may have set; then double. */
    rc = mdb_env_set_mapsize(e->env, 0);
    if (!rc && !(rc = mdb_env_info(e->env, &info))) {
      /* set_mapsize(0) may have shrunk a size we grew but never committed. */
      size_t n = info.me_mapsize > seen ? info.me_mapsize : seen;
      if (full && n <= seen)
        n = seen * 2;
      if (n != info.me_mapsize)
        rc = mdb_env_set_mapsize(e->env, n);
      if (!rc)
        e->mapsize = n;
    }
  }
  pthread_rwlock_unlock(&e->rw);
  if (rc)
    return ERR_SET(err, PD_ELMDB, "cannot resize cache map of '%s': %s", c->dir,
                   mdb_strerror(rc));
  return 0;
}

static int run_txn(struct cache *c, int write, cache__txn_fn *fn, void *arg,
                   struct pd_err *err)
{
  struct cache_env *e = c->e;
  int rc, tries;

  for (tries = 0; tries < 64; tries++) {
    MDB_txn *txn;
    size_t seen;

    pthread_rwlock_rdlock(&e->rw);
    seen = e->mapsize;
    rc = mdb_txn_begin(e->env, NULL, write ? 0 : MDB_RDONLY, &txn);
    if (rc) {
      pthread_rwlock_unlock(&e->rw);
      if (rc == MDB_MAP_RESIZED) {
        if ((rc = resize(c, 0, seen, err)) < 0)
          return rc;
        continue;
      }
      return ERR_SET(err, PD_ELMDB, "cannot begin transaction in cache '%s': %s",
                     c->dir, mdb_strerror(rc));
    }
    rc = fn(c, txn, arg, err);
    if (rc < 0) {
      mdb_txn_abort(txn);
    } else if (!write) {
      mdb_txn_abort(txn); /* cheaper than commit, keeps no handles */
    } else {
      int crc = mdb_txn_commit(txn);
      if (crc == MDB_MAP_FULL)
        rc = CACHE__EFULL;
      else if (crc)
        rc = ERR_SET(err, PD_ELMDB, "cannot commit to cache '%s': %s", c->dir,
                     mdb_strerror(crc));
    }
    pthread_rwlock_unlock(&e->rw);
    if (rc == CACHE__EFULL || rc == CACHE__ERESIZED) {
      int rrc = resize(c, rc == CACHE__EFULL, seen, err);
      if (rrc < 0)
        return rrc;
      continue;
    }
    return rc;
  }
  return ERR_SET(err, PD_ELMDB, "cache '%s': map keeps filling up", c->dir);
}

int cache__read(struct cache *c, cache__txn_fn *fn, void *arg, struct pd_err *err)
{
  return run_txn(c, 0, fn, arg, err);
}

int cache__write(struct cache *c, cache__txn_fn *fn, void *arg, struct pd_err *err)
{
  return run_txn(c, 1, fn, arg, err);
}

/* Counts the pages listed in the free database. */
static int used_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  uint64_t *bytes = arg, freepages = 0;
  MDB_envinfo info;
  MDB_stat st;
  MDB_cursor *cur;
  MDB_val k, v;
  int rc;

  if ((rc = mdb_env_info(c->e->env, &info)) || (rc = mdb_env_stat(c->e->env, &st)))
    return cache__mdb(err, rc, "cannot read cache statistics");
  if ((rc = mdb_cursor_open(txn, FREE_DBI, &cur)))
    return cache__mdb(err, rc, "cannot read free pages");
  while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
    size_t cnt;
    if (v.mv_size < sizeof cnt)
      continue;
    memcpy(&cnt, v.mv_data, sizeof cnt); /* MDB_IDL: the count comes first */
    freepages += cnt;
  }
  mdb_cursor_close(cur);
  if (rc != MDB_NOTFOUND)
    return cache__mdb(err, rc, "cannot read free pages");
  *bytes = ((uint64_t)info.me_last_pgno + 1 - freepages) * st.ms_psize;
  return 0;
}

int cache__lmdb_used(struct cache *c, uint64_t *bytes, struct pd_err *err)
{
  return cache__read(c, used_fn, bytes, err);
}

/* --- iterating a whole database in chunks ----------------------------------- */

#define EACH_COUNT 512
#define EACH_BYTES (4u << 20)

struct each_arg {
  enum cache_db db;
  struct strbuf last;           /* key to resume after */
  int started, done;
  struct strbuf recs;           /* u64 klen, u64 vlen, key, value ... */
};

static void add_rec(struct strbuf *sb, const MDB_val *k, const MDB_val *v)
{
  uint64_t kl = k->mv_size, vl = v->mv_size;
  strbuf_add(sb, &kl, 8);
  strbuf_add(sb, &vl, 8);
  strbuf_add(sb, k->mv_data, k->mv_size);
  strbuf_add(sb, v->mv_data, v->mv_size);
}

static int chunk_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct each_arg *a = arg;
  MDB_cursor *cur;
  MDB_val k, v;
  size_t count = 0;
  int rc = mdb_cursor_open(txn, cache__dbi(c, a->db), &cur);

  if (rc)
    return cache__mdb(err, rc, "cannot read cache");
  strbuf_reset(&a->recs);
  if (!a->started) {
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
  } else {
    k.mv_data = a->last.buf;
    k.mv_size = a->last.len;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0 && k.mv_size == a->last.len && !memcmp(k.mv_data, a->last.buf, k.mv_size))
      rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  while (rc == 0) {
    add_rec(&a->recs, &k, &v);
    strbuf_reset(&a->last);
    strbuf_add(&a->last, k.mv_data, k.mv_size);
    if (++count >= EACH_COUNT || a->recs.len >= EACH_BYTES)
      break;
    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(cur);
  a->started = 1;
  if (rc == MDB_NOTFOUND) {
    a->done = 1;
    rc = 0;
  }
  return cache__mdb(err, rc, "cannot read cache");
}

int cache__each(struct cache *c, enum cache_db db, cache__each_fn *fn, void *arg,
                struct pd_err *err)
{
  struct each_arg a = { .db = db };
  int rc = 0;

  strbuf_init(&a.last, 64);
  strbuf_init(&a.recs, 4096);
  while (rc == 0 && !a.done) {
    size_t off = 0;
    if ((rc = cache__read(c, chunk_fn, &a, err)) < 0)
      break;
    while (rc == 0 && off < a.recs.len) {
      uint64_t kl, vl;
      MDB_val k, v;
      memcpy(&kl, a.recs.buf + off, 8);
      memcpy(&vl, a.recs.buf + off + 8, 8);
      k.mv_data = a.recs.buf + off + 16;
      k.mv_size = (size_t)kl;
      v.mv_data = a.recs.buf + off + 16 + kl;
      v.mv_size = (size_t)vl;
      off += 16 + (size_t)kl + (size_t)vl;
      rc = fn(c, &k, &v, arg, err);
    }
  }
  strbuf_release(&a.last);
  strbuf_release(&a.recs);
  return rc < 0 ? rc : 0;
}
