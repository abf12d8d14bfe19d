/* memo.c - the per-item memo: results of single items inside a task (one API
 * call, one generated answer), each committed in its own transaction as it
 * finishes, so an interrupted task resumes where it stopped and never pays
 * for a call twice.
 *
 * Memo record: u8 kind, then for MEMO_INLINE the value's bytes, for
 * MEMO_BLOB (values over CACHE_INLINE_MAX) the digest of a blob and its u64
 * size. gc keeps every memo entry and the blobs they name.
 */
#include "cache_int.h"

#include <stdlib.h>
#include <string.h>

enum { MEMO_INLINE = 0, MEMO_BLOB = 1 };

int cache__memo_blob(const MDB_val *v, uint8_t d[PD_DIGEST_LEN])
{
  const uint8_t *p = v->mv_data;
  if (v->mv_size != 1 + PD_DIGEST_LEN + 8 || p[0] != MEMO_BLOB)
    return 0;
  memcpy(d, p + 1, PD_DIGEST_LEN);
  return 1;
}

struct memo_arg {
  const uint8_t *key;
  const struct strbuf *rec;
  char *val;
  size_t n;
  int is_blob;
  uint8_t blob[PD_DIGEST_LEN];
};

static int get_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct memo_arg *a = arg;
  MDB_val k = { PD_DIGEST_LEN, (void *)a->key }, v;
  int rc = mdb_get(txn, cache__dbi(c, DB_MEMO), &k, &v);
  if (rc == MDB_NOTFOUND)
    return 0;
  if (rc)
    return cache__mdb(err, rc, "cannot read memo");
  if (v.mv_size < 1)
    return ERR_SET(err, PD_ECORRUPT, "memo record in '%s' is malformed", c->dir);
  if (cache__memo_blob(&v, a->blob)) {
    a->is_blob = 1;
    return 1;
  }
  a->n = v.mv_size - 1;
  a->val = xmalloc(a->n + 1);
  memcpy(a->val, (const char *)v.mv_data + 1, a->n);
  a->val[a->n] = '\0';
  return 1;
}

void cache_set_replay(struct cache *c, struct cache *src)
{
  c->memo_src = src;
  c->replay = 1;
}

int cache_replay(const struct cache *c)
{
  return c->replay;
}

int cache_memo_get(struct cache *c, const uint8_t key[PD_DIGEST_LEN], char **val,
                   size_t *n, struct pd_err *err)
{
  struct memo_arg a = { .key = key };
  int rc = cache__read(c, get_fn, &a, err);
  *val = NULL;
  *n = 0;
  if (rc == 0 && c->memo_src)
    return cache_memo_get(c->memo_src, key, val, n, err);
  if (rc != 1)
    return rc;
  if (a.is_blob) /* a missing or damaged blob reads as no memo */
    return cache_get_buf(c, a.blob, val, n, err);
  *val = a.val;
  *n = a.n;
  return 1;
}

static int put_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct memo_arg *a = arg;
  MDB_val k = { PD_DIGEST_LEN, (void *)a->key }, v = { a->rec->len, a->rec->buf };
  return cache__mdb(err, mdb_put(txn, cache__dbi(c, DB_MEMO), &k, &v, 0),
                    "cannot store memo");
}

int cache_memo_put(struct cache *c, const uint8_t key[PD_DIGEST_LEN], const void *val,
                   size_t n, struct pd_err *err)
{
  struct strbuf rec;
  struct memo_arg a = { .key = key, .rec = &rec };
  int rc = 0;

  strbuf_init(&rec, n <= CACHE_INLINE_MAX ? n + 1 : 64);
  if (n <= CACHE_INLINE_MAX) {
    strbuf_addch(&rec, MEMO_INLINE);
    strbuf_add(&rec, val, n);
  } else {
    uint8_t d[PD_DIGEST_LEN];
    uint64_t size = n;
    /* The blob is durable before the memo naming it is committed. */
    if ((rc = cache_put_buf(c, val, n, d, err)) == 0) {
      strbuf_addch(&rec, MEMO_BLOB);
      strbuf_add(&rec, d, PD_DIGEST_LEN);
      strbuf_add(&rec, &size, 8);
    }
  }
  if (rc == 0)
    rc = cache__write(c, put_fn, &a, err);
  strbuf_release(&rec);
  return rc < 0 ? rc : 0;
}

struct memo_many {
  const uint8_t *keys;
  const struct strbuf *recs;
  size_t n;
};

static int put_many_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct memo_many *a = arg;
  size_t i;
  for (i = 0; i < a->n; i++) {
    MDB_val k = { PD_DIGEST_LEN, (void *)(a->keys + i * PD_DIGEST_LEN) };
    MDB_val v = { a->recs[i].len, a->recs[i].buf };
    int rc = mdb_put(txn, cache__dbi(c, DB_MEMO), &k, &v, 0);
    if (rc)
      return cache__mdb(err, rc, "cannot store memo");
  }
  return 0;
}

int cache_memo_put_many(struct cache *c, const uint8_t *keys, const void *const *vals,
                        const size_t *lens, size_t n, struct pd_err *err)
{
  struct strbuf *recs = xcalloc(n ? n : 1, sizeof *recs);
  struct memo_many a = { .keys = keys, .recs = recs, .n = n };
  size_t i;
  int rc = 0;

  for (i = 0; i < n && rc == 0; i++) {
    strbuf_init(&recs[i], lens[i] <= CACHE_INLINE_MAX ? lens[i] + 1 : 64);
    if (lens[i] <= CACHE_INLINE_MAX) {
      strbuf_addch(&recs[i], MEMO_INLINE);
      strbuf_add(&recs[i], vals[i], lens[i]);
    } else {
      uint8_t d[PD_DIGEST_LEN];
      uint64_t size = lens[i];
      if ((rc = cache_put_buf(c, vals[i], lens[i], d, err)) == 0) {
        strbuf_addch(&recs[i], MEMO_BLOB);
        strbuf_add(&recs[i], d, PD_DIGEST_LEN);
        strbuf_add(&recs[i], &size, 8);
      }
    }
  }
  if (rc == 0 && n > 0)
    rc = cache__write(c, put_many_fn, &a, err);
  for (i = 0; i < n; i++)
    strbuf_release(&recs[i]);
  free(recs);
  return rc < 0 ? rc : 0;
}
