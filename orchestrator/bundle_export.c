/* bundle_export.c - writing a run as a bundle (format in bundle.h).
 *
 * Walks what the run record names (each task's outputs, every blob below a
 * tree, logs) and the action record and preimage of every task that has
 * outputs; each blob is re-hashed as it is copied, so a bundle is never
 * made of damaged bytes. Reads the cache only (cache_action_peek,
 * cache_blob_walk), so a damaged artifact is reported, not repaired away.
 * A failed export removes what it wrote.
 */
#include "bundle_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "digest_map.h"
#include "err.h"
#include "run_rec.h"
#include "strbuf.h"

struct exporter {
  struct cache *c;
  const char *dir, *run_id;
  const char *task, *what;      /* the artifact being walked, for messages */
  struct digest_map seen;       /* blob digests written (value: index + 1) */
  struct bundle_manifest m;
  struct bundle_stats *st;
};

static int export_blob(void *arg, const struct blob_info *b, struct pd_err *err)
{
  struct exporter *x = arg;
  char hex[PD_DIGEST_HEX], got_hex[PD_DIGEST_HEX], *path, where[512];
  uint8_t got[PD_DIGEST_LEN];
  uint64_t size = 0;
  int rc = 0, added;

  digest_hex(b->digest, hex);
  snprintf(where, sizeof where, "%s%s%s%s of task '%s'", x->what, *b->name ? " ('" : "",
           b->name, *b->name ? "')" : "", x->task);
  if (b->kind == CACHE_BLOB_MISSING)
    return ERR_SET(err, PD_ENOTFOUND, "cannot export run '%s': %s: blob %s is missing from "
                   "the cache", x->run_id, where, hex);
  if (b->kind == CACHE_BLOB_MALFORMED || b->kind == CACHE_BLOB_BADTREE)
    return ERR_SET(err, PD_ECORRUPT, "cannot export run '%s': %s: blob %s has a malformed "
                   "record", x->run_id, where, hex);
  if (b->expect_tree >= 0 && (b->kind == CACHE_BLOB_TREE) != b->expect_tree)
    return ERR_SET(err, PD_ECORRUPT, "cannot export run '%s': %s: blob %s is %s",
                   x->run_id, where, hex, b->expect_tree ? "not a tree" : "a tree");
  digest_map_put(&x->seen, b->digest, &added);
  if (!added)
    return 0;
  path = xasprintf("%s/blobs/%s", x->dir, hex);
  if (b->kind == CACHE_BLOB_FILE) {
    rc = bundle__copy_hashed(b->path, path, got, &size, err);
  } else {
    digest_buf(b->data, b->len, got);
    size = b->len;
    rc = bundle__write_file(path, b->data, b->len, err);
  }
  if (rc == 0 && memcmp(got, b->digest, PD_DIGEST_LEN)) {
    digest_hex(got, got_hex);
    rc = ERR_SET(err, PD_ECORRUPT, "cannot export run '%s': %s: blob %s is damaged "
                 "(content hashes to %s); run 'povid-dag audit %s'", x->run_id, where, hex,
                 got_hex, x->run_id);
  }
  free(path);
  if (rc < 0)
    return rc;
  x->m.blobs = xrealloc(x->m.blobs, (x->m.nblobs + 1) * sizeof *x->m.blobs);
  memcpy(x->m.blobs[x->m.nblobs].digest, b->digest, PD_DIGEST_LEN);
  x->m.blobs[x->m.nblobs].size = size;
  x->m.blobs[x->m.nblobs].is_tree = b->kind == CACHE_BLOB_TREE;
  x->m.nblobs++;
  x->st->blobs++;
  x->st->bytes += size;
  return 0;
}

static int export_walk(struct exporter *x, const char *task, const char *what,
                       const uint8_t d[PD_DIGEST_LEN], int is_tree, struct pd_err *err)
{
  x->task = task;
  x->what = what;
  return cache_blob_walk(x->c, d, is_tree, export_blob, x, err);
}

static int export_action(struct exporter *x, const struct run_task *t, struct digest_map *keys,
                         struct pd_err *err)
{
  struct action_result r;
  char hex[PD_DIGEST_HEX], *pre = NULL, *json = NULL, *path;
  struct bundle_action *a;
  size_t i;
  int rc, added;

  digest_map_put(keys, t->key, &added);
  if (!added)
    return 0;
  digest_hex(t->key, hex);
  if ((rc = cache_action_peek(x->c, t->key, &r, err)) <= 0)
    return rc < 0 ? ERR_WRAP(err, "cannot export run '%s': task '%s'", x->run_id, t->name)
                  : ERR_SET(err, PD_ENOTFOUND, "cannot export run '%s': the action record of "
                            "task '%s' (key %.12s) is missing from the cache", x->run_id,
                            t->name, hex);
  if ((rc = cache_preimage_get(x->c, t->key, &pre, err)) <= 0) {
    action_result_release(&r);
    return rc < 0 ? rc : ERR_SET(err, PD_ENOTFOUND, "cannot export run '%s': the key "
                                 "preimage of task '%s' (key %.12s) is missing from the cache",
                                 x->run_id, t->name, hex);
  }
  /* The action record may name blobs the run record does not (a later
   * rerun of the same key): they go in too, so the import can store it. */
  for (i = 0; i < r.nouts && rc >= 0; i++)
    rc = export_walk(x, t->name, "output of its action record", r.outs[i].digest,
                     r.outs[i].is_tree, err);
  if (rc >= 0 && r.has_log)
    rc = export_walk(x, t->name, "log of its action record", r.log, 0, err);
  if (rc >= 0) {
    json = bundle_action_json(&r);
    path = xasprintf("%s/actions/%s.json", x->dir, hex);
    rc = bundle__write_file(path, json, strlen(json), err);
    free(path);
  }
  if (rc >= 0) {
    path = xasprintf("%s/actions/%s.preimage", x->dir, hex);
    rc = bundle__write_file(path, pre, strlen(pre), err);
    free(path);
  }
  if (rc >= 0) {
    x->m.actions = xrealloc(x->m.actions, (x->m.nactions + 1) * sizeof *x->m.actions);
    a = &x->m.actions[x->m.nactions++];
    memcpy(a->key, t->key, PD_DIGEST_LEN);
    digest_buf(json, strlen(json), a->json_digest);
    x->st->actions++;
  }
  free(json);
  free(pre);
  action_result_release(&r);
  return rc < 0 ? rc : 0;
}

/* Creates dir (or accepts an empty one: *created = 0) with blobs/ and
 * actions/ in it. */
static int make_bundle_dir(const char *dir, int *created, struct pd_err *err)
{
  char *sub;
  int rc = 0;
  *created = mkdir(dir, 0777) == 0;
  if (!*created) {
    int e = errno;
    DIR *d = e == EEXIST ? opendir(dir) : NULL;
    struct dirent *de;
    if (!d)
      return ERR_SET(err, e == EEXIST ? PD_EUSAGE : -e, "cannot export to '%s': %s", dir,
                     e == EEXIST ? "it exists and is not a directory" : strerror(e));
    while ((de = readdir(d)) && rc == 0)
      if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
        rc = ERR_SET(err, PD_EUSAGE, "cannot export to '%s': the directory is not empty", dir);
    closedir(d);
    if (rc < 0)
      return rc;
  }
  sub = xasprintf("%s/blobs", dir);
  if (rc == 0 && mkdir(sub, 0777) < 0)
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", sub, strerror(errno));
  free(sub);
  sub = xasprintf("%s/actions", dir);
  if (rc == 0 && mkdir(sub, 0777) < 0)
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", sub, strerror(errno));
  free(sub);
  return rc;
}

/* Removes what a failed export wrote, so no half bundle is left behind. */
static void unmake_bundle_dir(const char *dir, int created)
{
  static const char *const parts[] = { "blobs", "actions", "run.json", "MANIFEST.tmp" };
  size_t i;
  if (created) {
    cache_rmtree(dir);
    return;
  }
  for (i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    char *p = xasprintf("%s/%s", dir, parts[i]);
    cache_rmtree(p);
    free(p);
  }
}

/* Files before trees, and trees children first (the walk put parents
 * first), so an import stores each tree after what it names. */
static void order_blobs(struct bundle_manifest *m)
{
  struct bundle_blob *v = xmalloc((m->nblobs + 1) * sizeof *v);
  size_t i, n = 0;
  for (i = 0; i < m->nblobs; i++)
    if (!m->blobs[i].is_tree)
      v[n++] = m->blobs[i];
  for (i = m->nblobs; i-- > 0;)
    if (m->blobs[i].is_tree)
      v[n++] = m->blobs[i];
  free(m->blobs);
  m->blobs = v;
}

int bundle_export(struct cache *c, const char *run_id, const char *dir,
                  struct bundle_stats *st, struct pd_err *err)
{
  struct exporter x;
  struct digest_map keys;
  struct run_rec rec;
  struct strbuf man;
  char *path, *tmp;
  size_t i, k;
  int rc, created = 0;

  memset(st, 0, sizeof *st);
  if ((rc = run_rec_load(c, run_id, &rec, err)) <= 0)
    return rc < 0 ? rc : ERR_SET(err, PD_ENOTFOUND, "no run '%s' in cache '%s'", run_id,
                                 cache_path(c));
  if ((rc = make_bundle_dir(dir, &created, err)) < 0) {
    if (created)
      cache_rmtree(dir);
    run_rec_release(&rec);
    return rc;
  }
  memset(&x, 0, sizeof x);
  x.c = c;
  x.dir = dir;
  x.run_id = run_id;
  x.st = st;
  digest_map_init(&x.seen);
  digest_map_init(&keys);
  for (i = 0; i < rec.ntasks && rc >= 0; i++) {
    const struct run_task *t = &rec.tasks[i];
    for (k = 0; k < t->nouts && rc >= 0; k++) {
      char *what = xasprintf("output '%s'", t->outs[k].name);
      rc = export_walk(&x, t->name, what, t->outs[k].digest, t->outs[k].is_tree, err);
      free(what);
    }
    if (rc >= 0 && t->has_log)
      rc = export_walk(&x, t->name, "log", t->log, 0, err);
    if (rc >= 0 && t->has_key && t->has_outputs)
      rc = export_action(&x, t, &keys, err);
  }
  if (rc >= 0) {
    path = xasprintf("%s/run.json", dir);
    rc = bundle__write_file(path, rec.text, strlen(rec.text), err);
    free(path);
  }
  if (rc >= 0) {
    x.m.run_id = xstrdup(run_id);
    digest_buf(rec.text, strlen(rec.text), x.m.run_digest);
    order_blobs(&x.m);
    strbuf_init(&man, 256 + 90 * (x.m.nblobs + x.m.nactions));
    bundle_manifest_write(&x.m, &man);
    tmp = xasprintf("%s/MANIFEST.tmp", dir);
    path = xasprintf("%s/MANIFEST", dir);
    /* Written last and renamed: a bundle with a MANIFEST is complete. */
    if ((rc = bundle__write_file(tmp, man.buf, man.len, err)) == 0 && rename(tmp, path) < 0)
      rc = ERR_SET(err, -errno, "cannot rename '%s': %s", tmp, strerror(errno));
    free(tmp);
    free(path);
    strbuf_release(&man);
  }
  if (rc < 0)
    unmake_bundle_dir(dir, created);
  bundle_manifest_release(&x.m);
  digest_map_release(&x.seen);
  digest_map_release(&keys);
  run_rec_release(&rec);
  return rc < 0 ? rc : 0;
}

