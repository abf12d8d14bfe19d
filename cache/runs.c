/* runs.c - run records: JSON documents written by the scheduler, keyed by a
 * run id that sorts by time, and the set of pinned runs that gc keeps.
 *
 * Ids are "YYYYMMDD-HHMMSSmmm-xxxxxx" (UTC with milliseconds, x = random hex), so LMDB's key
 * order is oldest first. Two runs started in the same second sort by their
 * random part. Left out: validating the JSON (gc reads it leniently).
 */
#include "cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void cache_new_run_id(char out[32])
{
  struct timespec ts;
  struct tm tm;
  uint8_t rnd[3];
  size_t n;

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  /* Milliseconds keep runs started within one second in order. */
  n = strftime(out, 32, "%Y%m%d-%H%M%S", &tm);
  n += (size_t)snprintf(out + n, 32 - n, "%03ld-", ts.tv_nsec / 1000000);
  if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
    uint32_t x = (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 12);
    rnd[0] = (uint8_t)x;
    rnd[1] = (uint8_t)(x >> 8);
    rnd[2] = (uint8_t)(x >> 16);
  }
  snprintf(out + n, 32 - n, "%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
}

static int check_id(const char *id, struct pd_err *err)
{
  size_t n = strlen(id);
  if (n == 0 || n > CACHE_MAX_KEY)
    return ERR_SET(err, PD_EUSAGE, "invalid run id '%s'", id);
  return 0;
}

struct run_arg {
  MDB_val key;
  const char *json;
  int pinned;
  char *out;
  char **ids;
  size_t n, cap;
};

static int put_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct run_arg *a = arg;
  MDB_val v = { strlen(a->json), (void *)a->json };
  return cache__mdb(err, mdb_put(txn, cache__dbi(c, DB_RUNS), &a->key, &v, 0),
                    "cannot store run record");
}

int cache_run_put(struct cache *c, const char *run_id, const char *json,
                  struct pd_err *err)
{
  struct run_arg a = { { strlen(run_id), (void *)run_id }, json, 0, NULL, NULL, 0, 0 };
  int rc = check_id(run_id, err);
  if (rc == 0)
    rc = cache__write(c, put_fn, &a, err);
  return rc < 0 ? rc : 0;
}

static int get_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct run_arg *a = arg;
  MDB_val v;
  int rc = mdb_get(txn, cache__dbi(c, DB_RUNS), &a->key, &v);
  if (rc == MDB_NOTFOUND)
    return 0;
  if (rc)
    return cache__mdb(err, rc, "cannot read run record");
  a->out = xstrndup(v.mv_data, v.mv_size);
  return 1;
}

int cache_run_get(struct cache *c, const char *run_id, char **json, struct pd_err *err)
{
  struct run_arg a = { { strlen(run_id), (void *)run_id }, NULL, 0, NULL, NULL, 0, 0 };
  int rc = check_id(run_id, err);
  *json = NULL;
  if (rc == 0)
    rc = cache__read(c, get_fn, &a, err);
  if (rc == 1)
    *json = a.out;
  return rc;
}

/* Collects the keys of db a->pinned (as an enum cache_db) into a->ids. */
static int list_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct run_arg *a = arg;
  MDB_cursor *cur;
  MDB_val k, v;
  int rc = mdb_cursor_open(txn, cache__dbi(c, (enum cache_db)a->pinned), &cur);
  if (rc)
    return cache__mdb(err, rc, "cannot list runs");
  while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
    if (a->n == a->cap)
      a->ids = xrealloc(a->ids, (a->cap = a->cap * 2 + 16) * sizeof *a->ids);
    a->ids[a->n++] = xstrndup(k.mv_data, k.mv_size);
  }
  mdb_cursor_close(cur);
  return rc == MDB_NOTFOUND ? 0 : cache__mdb(err, rc, "cannot list runs");
}

static int list_keys(struct cache *c, enum cache_db db, char ***ids, size_t *n,
                     struct pd_err *err)
{
  struct run_arg a = { { 0, NULL }, NULL, (int)db, NULL, NULL, 0, 0 };
  int rc = cache__read(c, list_fn, &a, err);
  size_t i;
  if (rc < 0) {
    for (i = 0; i < a.n; i++)
      free(a.ids[i]);
    free(a.ids);
    *ids = NULL;
    *n = 0;
    return rc;
  }
  *ids = a.ids;
  *n = a.n;
  return 0;
}

int cache_run_list(struct cache *c, char ***ids, size_t *n, struct pd_err *err)
{
  return list_keys(c, DB_RUNS, ids, n, err);
}

int cache__pins_list(struct cache *c, char ***ids, size_t *n, struct pd_err *err)
{
  return list_keys(c, DB_PINS, ids, n, err);
}

static int pin_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct run_arg *a = arg;
  MDB_val v = { 0, (void *)"" };
  int rc;
  if (!a->pinned) {
    rc = mdb_del(txn, cache__dbi(c, DB_PINS), &a->key, NULL);
    return rc == MDB_NOTFOUND ? 0 : cache__mdb(err, rc, "cannot unpin run");
  }
  rc = mdb_get(txn, cache__dbi(c, DB_RUNS), &a->key, &v);
  if (rc == MDB_NOTFOUND)
    return ERR_SET(err, PD_ENOTFOUND, "cannot pin run '%.*s': no such run",
                   (int)a->key.mv_size, (const char *)a->key.mv_data);
  if (rc)
    return cache__mdb(err, rc, "cannot read run record");
  v.mv_size = 0;
  v.mv_data = (void *)"";
  return cache__mdb(err, mdb_put(txn, cache__dbi(c, DB_PINS), &a->key, &v, 0),
                    "cannot pin run");
}

int cache_pin(struct cache *c, const char *run_id, int pinned, struct pd_err *err)
{
  struct run_arg a = { { strlen(run_id), (void *)run_id }, NULL, pinned, NULL, NULL, 0, 0 };
  int rc = check_id(run_id, err);
  if (rc == 0)
    rc = cache__write(c, pin_fn, &a, err);
  return rc < 0 ? rc : 0;
}
