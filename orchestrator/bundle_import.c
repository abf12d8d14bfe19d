/* bundle_import.c - storing a bundle in a cache (format in bundle.h).
 *
 * Everything is checked against MANIFEST and the digests before it is
 * stored, through the cache API: small blobs with cache_put_buf, large ones
 * by copying them into the cache's tmp/ (hashing on the way) and handing
 * the copy to cache_ingest, which moves it; trees with cache_tree_put once
 * their children are stored; then actions (cache_action_put, unless the
 * key is there already) and last the run record, so a refused import
 * leaves at most unreferenced blobs, which gc removes.
 */
#include "bundle_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache.h"
#include "digest_map.h"
#include "err.h"
#include "run_rec.h"
#include "strbuf.h"

#define SMALL_BLOB (1 << 20) /* read whole and stored with cache_put_buf up to this */

struct imp_action {
  struct action_result r;
  char *preimage;
};

/* Checks that blob d is in the bundle (listed in blobs, a digest map of
 * index + 1) with the expected kind. */
static int need_listed(const struct bundle_manifest *m, const struct digest_map *blobs,
                       const uint8_t d[PD_DIGEST_LEN], int is_tree, const char *dir,
                       const char *what, struct pd_err *err)
{
  char hex[PD_DIGEST_HEX];
  const int *idx = digest_map_get(blobs, d);
  digest_hex(d, hex);
  if (!idx)
    return ERR_SET(err, PD_ECORRUPT, "bundle '%s' is incomplete: %s names blob %s, which "
                   "it does not hold", dir, what, hex);
  if (is_tree >= 0 && m->blobs[*idx - 1].is_tree != is_tree)
    return ERR_SET(err, PD_ECORRUPT, "bundle '%s': %s names blob %s as a %s, MANIFEST "
                   "lists a %s", dir, what, hex, is_tree ? "tree" : "file",
                   is_tree ? "file" : "tree");
  return 0;
}

/* Reads blobs/<hex> of an expected size and checks its digest. */
static int read_blob(const char *dir, const struct bundle_blob *b, char **p, size_t *n,
                     struct pd_err *err)
{
  char hex[PD_DIGEST_HEX], got_hex[PD_DIGEST_HEX], *path;
  uint8_t got[PD_DIGEST_LEN];
  int rc;
  digest_hex(b->digest, hex);
  path = xasprintf("%s/blobs/%s", dir, hex);
  rc = bundle__read_all(path, p, n, err);
  free(path);
  if (rc < 0)
    return ERR_WRAP(err, "bundle '%s': blob %s", dir, hex);
  digest_buf(*p, *n, got);
  if (memcmp(got, b->digest, PD_DIGEST_LEN) || *n != b->size) {
    digest_hex(got, got_hex);
    free(*p);
    *p = NULL;
    return ERR_SET(err, PD_ECORRUPT, "bundle '%s': blob 'blobs/%s' is corrupted: content "
                   "hashes to %s (%zu bytes, MANIFEST says %llu)", dir, hex, got_hex, *n,
                   (unsigned long long)b->size);
  }
  return 0;
}

static int import_file_blob(struct cache *c, const char *dir, const struct bundle_blob *b,
                            struct pd_err *err)
{
  char hex[PD_DIGEST_HEX], got_hex[PD_DIGEST_HEX], *src, *tmpdir = NULL, *copy;
  uint8_t got[PD_DIGEST_LEN];
  struct artifact a;
  uint64_t size;
  char *p;
  size_t n;
  int rc;

  digest_hex(b->digest, hex);
  if (b->size <= SMALL_BLOB) {
    if ((rc = read_blob(dir, b, &p, &n, err)) < 0)
      return rc;
    rc = cache_put_buf(c, p, n, got, err);
    free(p);
    return rc;
  }
  /* Large: copy into the cache's tmp/, check, and let cache_ingest move
   * the copy into place (it moves what it is given). */
  if ((rc = cache_mkdtemp(c, "import", &tmpdir, err)) < 0)
    return rc;
  src = xasprintf("%s/blobs/%s", dir, hex);
  copy = xasprintf("%s/%s", tmpdir, hex);
  rc = bundle__copy_hashed(src, copy, got, &size, err);
  if (rc < 0) {
    ERR_WRAP(err, "bundle '%s': blob %s", dir, hex);
  } else if (memcmp(got, b->digest, PD_DIGEST_LEN) || size != b->size) {
    digest_hex(got, got_hex);
    rc = ERR_SET(err, PD_ECORRUPT, "bundle '%s': blob 'blobs/%s' is corrupted: content "
                 "hashes to %s (%llu bytes, MANIFEST says %llu)", dir, hex, got_hex,
                 (unsigned long long)size, (unsigned long long)b->size);
  } else if ((rc = cache_ingest(c, copy, &a, err)) == 0 &&
             memcmp(a.digest, b->digest, PD_DIGEST_LEN)) {
    rc = ERR_SET(err, PD_ECORRUPT, "bundle '%s': blob %s changed while it was imported", dir,
                 hex);
  }
  cache_rmtree(tmpdir);
  free(tmpdir);
  free(src);
  free(copy);
  return rc;
}

/* Trees are stored once what they name is: passes over the pending ones
 * until none is left or a pass stores nothing. */
static int import_trees(struct cache *c, const char *dir, const struct bundle_manifest *m,
                        struct pd_err *err)
{
  char **man = xcalloc(m->nblobs + 1, sizeof *man);
  size_t *len = xcalloc(m->nblobs + 1, sizeof *len);
  size_t i, pending = 0, stored;
  int rc = 0;

  for (i = 0; i < m->nblobs && rc == 0; i++)
    if (m->blobs[i].is_tree) {
      rc = read_blob(dir, &m->blobs[i], &man[i], &len[i], err);
      pending++;
    }
  while (rc == 0 && pending) {
    struct pd_err last = { 0 };
    stored = 0;
    for (i = 0; i < m->nblobs && rc == 0; i++) {
      uint8_t d[PD_DIGEST_LEN];
      struct pd_err e = { 0 };
      if (!man[i])
        continue;
      if (cache_tree_put(c, man[i], len[i], d, &e) == 0) {
        free(man[i]);
        man[i] = NULL;
        stored++;
        pending--;
      } else if (e.code != PD_ECACHE) { /* anything but "a child is not stored yet" */
        rc = ERR_SET(err, e.code, "bundle '%s': %s", dir, e.msg);
      } else if (!last.code) {
        last = e;
      }
    }
    if (rc == 0 && !stored)
      rc = ERR_SET(err, PD_ECORRUPT, "bundle '%s' is incomplete: %s", dir, last.msg);
  }
  for (i = 0; i < m->nblobs; i++)
    free(man[i]);
  free(man);
  free(len);
  return rc;
}

/* Reads and checks actions/<key>.json and .preimage. */
static int read_action(const char *dir, const struct bundle_action *ba, struct imp_action *ia,
                       struct pd_err *err)
{
  char hex[PD_DIGEST_HEX], *path, *json = NULL;
  uint8_t got[PD_DIGEST_LEN];
  size_t n;
  int rc;

  digest_hex(ba->key, hex);
  path = xasprintf("%s/actions/%s.json", dir, hex);
  rc = bundle__read_all(path, &json, &n, err);
  free(path);
  if (rc < 0)
    return ERR_WRAP(err, "bundle '%s'", dir);
  digest_buf(json, n, got);
  if (memcmp(got, ba->json_digest, PD_DIGEST_LEN))
    rc = ERR_SET(err, PD_ECORRUPT, "bundle '%s': 'actions/%s.json' is corrupted (its digest "
                 "differs from MANIFEST's)", dir, hex);
  if (rc == 0 && (rc = bundle_action_parse(json, &ia->r, err)) < 0)
    ERR_WRAP(err, "bundle '%s': 'actions/%s.json'", dir, hex);
  free(json);
  if (rc < 0)
    return rc;
  path = xasprintf("%s/actions/%s.preimage", dir, hex);
  rc = bundle__read_all(path, &ia->preimage, &n, err);
  free(path);
  if (rc < 0)
    return ERR_WRAP(err, "bundle '%s'", dir);
  digest_buf(ia->preimage, n, got);
  if (memcmp(got, ba->key, PD_DIGEST_LEN) || strlen(ia->preimage) != n)
    return ERR_SET(err, PD_ECORRUPT, "bundle '%s': 'actions/%s.preimage' is corrupted (it "
                   "does not hash to its key)", dir, hex);
  return 0;
}

/* Everything the run and its actions name must be in the bundle. */
static int check_complete(const char *dir, const struct bundle_manifest *m,
                          const struct digest_map *blobs, const struct run_rec *rec,
                          const struct imp_action *ia, struct pd_err *err)
{
  struct digest_map keys;
  size_t i, k;
  int rc = 0, added;
  digest_map_init(&keys);
  for (i = 0; i < m->nactions; i++)
    digest_map_put(&keys, m->actions[i].key, &added);
  for (i = 0; i < rec->ntasks && rc == 0; i++) {
    const struct run_task *t = &rec->tasks[i];
    char *what;
    for (k = 0; k < t->nouts && rc == 0; k++) {
      what = xasprintf("output '%s' of task '%s'", t->outs[k].name, t->name);
      rc = need_listed(m, blobs, t->outs[k].digest, t->outs[k].is_tree, dir, what, err);
      free(what);
    }
    if (rc == 0 && t->has_log) {
      what = xasprintf("the log of task '%s'", t->name);
      rc = need_listed(m, blobs, t->log, 0, dir, what, err);
      free(what);
    }
    if (rc == 0 && t->has_key && t->has_outputs && !digest_map_get(&keys, t->key))
      rc = ERR_SET(err, PD_ECORRUPT, "bundle '%s' is incomplete: it has no action record "
                   "for task '%s'", dir, t->name);
  }
  for (i = 0; i < m->nactions && rc == 0; i++) {
    char hex[PD_DIGEST_HEX], *what;
    digest_hex(m->actions[i].key, hex);
    what = xasprintf("action %.12s", hex);
    for (k = 0; k < ia[i].r.nouts && rc == 0; k++)
      rc = need_listed(m, blobs, ia[i].r.outs[k].digest, ia[i].r.outs[k].is_tree, dir, what,
                       err);
    if (rc == 0 && ia[i].r.has_log)
      rc = need_listed(m, blobs, ia[i].r.log, 0, dir, what, err);
    free(what);
  }
  digest_map_release(&keys);
  return rc;
}

static int import_run(struct cache *c, const char *dir, const struct bundle_manifest *m,
                      const struct run_rec *rec, struct bundle_stats *st, struct pd_err *err)
{
  char *have = NULL;
  int rc = cache_run_get(c, m->run_id, &have, err);
  if (rc < 0)
    return rc;
  if (rc == 1) {
    rc = strcmp(have, rec->text) == 0 ? 0
         : ERR_SET(err, PD_ECACHE, "cannot import bundle '%s': run '%s' is already in cache "
                   "'%s' with a different record", dir, m->run_id, cache_path(c));
    st->run_present = rc == 0;
    free(have);
    return rc;
  }
  return cache_run_put(c, m->run_id, rec->text, err);
}

int bundle_import(struct cache *c, const char *dir, char **run_id, struct bundle_stats *st,
                  struct pd_err *err)
{
  struct bundle_manifest m;
  struct digest_map blobs;
  struct imp_action *ia = NULL;
  struct run_rec rec;
  struct stat sb;
  char *text = NULL, *path;
  uint8_t got[PD_DIGEST_LEN];
  size_t n, i;
  int rc, added;

  memset(st, 0, sizeof *st);
  memset(&rec, 0, sizeof rec);
  *run_id = NULL;
  if (stat(dir, &sb) < 0)
    return ERR_SET(err, -errno, "cannot read bundle '%s': %s", dir, strerror(errno));
  if (!S_ISDIR(sb.st_mode))
    return ERR_SET(err, PD_EUSAGE, "cannot read bundle '%s': not a directory", dir);
  path = xasprintf("%s/MANIFEST", dir);
  rc = bundle__read_all(path, &text, &n, err);
  free(path);
  if (rc < 0)
    return ERR_WRAP(err, "cannot read bundle '%s'", dir);
  rc = bundle_manifest_parse(text, n, &m, err);
  free(text);
  if (rc < 0)
    return ERR_WRAP(err, "bundle '%s'", dir);
  digest_map_init(&blobs);
  for (i = 0; i < m.nblobs; i++)
    *digest_map_put(&blobs, m.blobs[i].digest, &added) = (int)i + 1;

  /* Check everything small first: the run record and the actions. */
  path = xasprintf("%s/run.json", dir);
  rc = bundle__read_all(path, &text, &n, err);
  free(path);
  if (rc < 0) {
    ERR_WRAP(err, "bundle '%s'", dir);
    goto out;
  }
  digest_buf(text, n, got);
  if (memcmp(got, m.run_digest, PD_DIGEST_LEN) || strlen(text) != n) {
    rc = ERR_SET(err, PD_ECORRUPT, "bundle '%s': 'run.json' is corrupted (its digest differs "
                 "from MANIFEST's)", dir);
    goto out;
  }
  if ((rc = run_rec_parse(text, &rec, err)) < 0) {
    ERR_WRAP(err, "bundle '%s': 'run.json'", dir);
    goto out;
  }
  if (strcmp(rec.id, m.run_id)) {
    rc = ERR_SET(err, PD_ECORRUPT, "bundle '%s': 'run.json' is run '%s', MANIFEST names '%s'",
                 dir, rec.id, m.run_id);
    goto out;
  }
  ia = xcalloc(m.nactions + 1, sizeof *ia);
  for (i = 0; i < m.nactions && rc == 0; i++)
    rc = read_action(dir, &m.actions[i], &ia[i], err);
  if (rc == 0)
    rc = check_complete(dir, &m, &blobs, &rec, ia, err);

  /* Blobs (each checked as it is read), then trees, actions, the run. */
  for (i = 0; i < m.nblobs && rc == 0; i++)
    if (!m.blobs[i].is_tree) {
      rc = import_file_blob(c, dir, &m.blobs[i], err);
      st->blobs++;
      st->bytes += m.blobs[i].size;
    }
  if (rc == 0 && (rc = import_trees(c, dir, &m, err)) == 0)
    for (i = 0; i < m.nblobs; i++)
      if (m.blobs[i].is_tree) {
        st->blobs++;
        st->bytes += m.blobs[i].size;
      }
  for (i = 0; i < m.nactions && rc == 0; i++) {
    struct action_result have;
    rc = cache_action_peek(c, m.actions[i].key, &have, err);
    if (rc == 1) {
      st->actions_present++;
      action_result_release(&have);
      rc = 0;
    } else if (rc == 0) {
      rc = cache_action_put(c, m.actions[i].key, ia[i].preimage, &ia[i].r, err);
    }
    st->actions++;
  }
  if (rc == 0)
    rc = import_run(c, dir, &m, &rec, st, err);
  if (rc == 0)
    *run_id = xstrdup(m.run_id);
out:
  for (i = 0; ia && i < m.nactions; i++) {
    action_result_release(&ia[i].r);
    free(ia[i].preimage);
  }
  free(ia);
  free(text);
  run_rec_release(&rec);
  digest_map_release(&blobs);
  bundle_manifest_release(&m);
  return rc < 0 ? rc : 0;
}
