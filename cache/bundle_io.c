/* bundle_io.c - read-only views and exact stores for audits and bundles
 * (orchestrator/audit.c, orchestrator/bundle.c).
 *
 * An audit must see damage, not repair it: cache_action_get and
 * cache_get_buf drop a damaged blob as they find it (so the next run
 * restores it), which would erase the evidence an auditor is looking for.
 * The functions here only read: cache_action_peek returns an action record
 * as stored, cache_blob_walk shows each blob record (and every blob below a
 * tree) without hashing or touching anything. cache_tree_put stores a tree
 * from its manifest text, so an imported bundle's trees get exactly the
 * digests they were exported with.
 * Left out: the memo (bundles do not carry per-item records yet).
 */
#include "cache_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* --- cache_action_peek ------------------------------------------------------ */

struct peek_arg {
  const uint8_t *key;
  struct action_result *res;
};

static int peek_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct peek_arg *a = arg;
  MDB_val k = { PD_DIGEST_LEN, (void *)a->key }, v;
  char hex[PD_DIGEST_HEX];
  int rc = mdb_get(txn, cache__dbi(c, DB_AC), &k, &v);
  if (rc == MDB_NOTFOUND)
    return 0;
  if (rc)
    return cache__mdb(err, rc, "cannot read action record");
  if (cache__action_decode(v.mv_data, v.mv_size, a->res) < 0) {
    digest_hex(a->key, hex);
    return ERR_SET(err, PD_ECORRUPT, "action record %s in '%s' is malformed", hex, c->dir);
  }
  return 1;
}

int cache_action_peek(struct cache *c, const uint8_t key[PD_DIGEST_LEN],
                      struct action_result *res, struct pd_err *err)
{
  struct peek_arg a = { key, res };
  memset(res, 0, sizeof *res);
  return cache__read(c, peek_fn, &a, err);
}

/* --- cache_blob_walk --------------------------------------------------------- */

struct walk_copy {
  const uint8_t *d;
  int found, malformed;
  struct blob_rec r;
  char *data;                   /* malloc'd copy of r.data */
};

static int walk_copy_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct walk_copy *a = arg;
  MDB_val k = { PD_DIGEST_LEN, (void *)a->d }, v;
  int rc = mdb_get(txn, cache__dbi(c, DB_BLOB), &k, &v);
  if (rc == MDB_NOTFOUND)
    return 0;
  if (rc)
    return cache__mdb(err, rc, "cannot read blob record");
  a->found = 1;
  if (cache__blob_decode(&v, &a->r) < 0) {
    a->malformed = 1;
    return 0;
  }
  a->data = xmalloc(a->r.len + 1);
  if (a->r.len)
    memcpy(a->data, a->r.data, a->r.len);
  a->data[a->r.len] = '\0';
  a->r.data = a->data;
  return 0;
}

static int walk(struct cache *c, const uint8_t d[PD_DIGEST_LEN], const char *name,
                int expect_tree, int64_t expect_size, cache_blob_fn *fn, void *arg,
                struct pd_err *err)
{
  struct walk_copy a;
  struct blob_info b;
  char cas[PATH_MAX];
  int rc;

  memset(&a, 0, sizeof a);
  a.d = d;
  /* The record is copied out: fn may hash a large file, which must not
   * hold a transaction open. */
  if ((rc = cache__read(c, walk_copy_fn, &a, err)) < 0)
    return rc;
  memset(&b, 0, sizeof b);
  b.digest = d;
  b.name = name;
  b.expect_tree = expect_tree;
  b.expect_size = expect_size;
  if (!a.found) {
    b.kind = CACHE_BLOB_MISSING;
  } else if (a.malformed) {
    b.kind = CACHE_BLOB_MALFORMED;
  } else {
    b.size = a.r.size;
    b.data = a.data;
    b.len = a.r.len;
    switch (a.r.kind) {
    case BLOB_INLINE: b.kind = CACHE_BLOB_INLINE; break;
    case BLOB_TREE: b.kind = CACHE_BLOB_TREE; break;
    default:
      b.kind = CACHE_BLOB_FILE;
      b.data = NULL;
      cache__cas_path(c, d, cas, sizeof cas);
      b.path = cas;
      break;
    }
  }
  rc = fn(arg, &b, err);
  if (rc == 0 && b.kind == CACHE_BLOB_TREE) {
    struct tree_ent e;
    size_t pos = 0;
    int more;
    while (rc == 0 && (more = cache__tree_next(a.data, a.r.len, &pos, &e)) != 0) {
      char *child;
      if (more < 0) {
        b.kind = CACHE_BLOB_BADTREE;
        rc = fn(arg, &b, err);
        break;
      }
      child = *name ? xasprintf("%s/%.*s", name, (int)e.namelen, e.name)
                    : xasprintf("%.*s", (int)e.namelen, e.name);
      rc = walk(c, e.digest, child, e.is_tree, (int64_t)e.size, fn, arg, err);
      free(child);
    }
  }
  free(a.data);
  return rc;
}

int cache_blob_walk(struct cache *c, const uint8_t d[PD_DIGEST_LEN], int expect_tree,
                    cache_blob_fn *fn, void *arg, struct pd_err *err)
{
  return walk(c, d, "", expect_tree, -1, fn, arg, err);
}

/* --- cache_tree_put ---------------------------------------------------------- */

struct tree_put_arg {
  const char *m;
  size_t len;
  const uint8_t *d;
  uint64_t size;
};

static int tree_put_fn(struct cache *c, MDB_txn *txn, void *arg, struct pd_err *err)
{
  struct tree_put_arg *a = arg;
  struct strbuf rec;
  struct tree_ent e;
  struct blob_rec r;
  size_t pos = 0;
  char hex[PD_DIGEST_HEX], hex2[PD_DIGEST_HEX];
  int rc, more;

  digest_hex(a->d, hex);
  a->size = 0;
  while ((more = cache__tree_next(a->m, a->len, &pos, &e)) != 0) {
    if (more < 0)
      return ERR_SET(err, PD_ECORRUPT, "cannot store tree %s: malformed manifest", hex);
    digest_hex(e.digest, hex2);
    if ((rc = cache__blob_get(c, txn, e.digest, &r, err)) < 0)
      return rc;
    if (rc == 0)
      return ERR_SET(err, PD_ECACHE, "cannot store tree %s: entry '%.*s' names blob %s, "
                     "which is not stored", hex, (int)e.namelen, e.name, hex2);
    if ((r.kind == BLOB_TREE) != e.is_tree || r.size != e.size)
      return ERR_SET(err, PD_ECORRUPT, "cannot store tree %s: entry '%.*s' does not match "
                     "blob %s (kind or size)", hex, (int)e.namelen, e.name, hex2);
    a->size += e.size;
  }
  strbuf_init(&rec, a->len + BLOB_HDR);
  cache__blob_encode(&rec, BLOB_TREE, a->size, 0, 0, a->m, a->len);
  rc = cache__blob_put(c, txn, a->d, rec.buf, rec.len, err);
  strbuf_release(&rec);
  return rc;
}

int cache_tree_put(struct cache *c, const char *manifest, size_t len,
                   uint8_t digest[PD_DIGEST_LEN], struct pd_err *err)
{
  struct tree_put_arg a = { manifest, len, digest, 0 };
  int rc;
  digest_buf(manifest, len, digest);
  if (len < sizeof TREE_MAGIC - 1 || memcmp(manifest, TREE_MAGIC, sizeof TREE_MAGIC - 1))
    return ERR_SET(err, PD_ECORRUPT, "cannot store tree: not a tree manifest");
  rc = cache__write(c, tree_put_fn, &a, err);
  return rc < 0 ? rc : 0;
}
