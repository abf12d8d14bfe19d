/* cache.h - the content-addressed cache: LMDB action cache, blob store,
 * source digests, run records, action locks, verify/gc/stats.
 *
 * Layout of a cache directory (default .povid/ beside the graph):
 *   data.mdb, lock.mdb   LMDB environment (named databases, see cache.c)
 *   cas/ab/abcd...       large blobs, read-only files named by SHA-256
 *   o/abcd.../NAME       materialized artifacts (hard links into cas/) that
 *                        tasks receive as input paths
 *   tmp/                 output directories of running tasks, temp files
 *   locks/               one lock file per action being executed (flock)
 *
 * Thread safety: one struct cache may be used from several threads (the
 * environment is opened with MDB_NOTLS); each call opens and ends its own
 * transaction. Several processes may share one cache directory.
 *
 * Durability: a blob is written to a temp file, fsynced, renamed into place
 * and its folder fsynced before any record naming it is committed, so a
 * crash at any moment leaves either no record or a record whose blobs are
 * complete.
 */
#ifndef PD_CACHE_H
#define PD_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "digest.h"

struct pd_err;
struct cache;

/* A stored artifact: a file (blob) or a directory (tree of blobs). */
struct artifact {
  char *name;                  /* output name, owned */
  uint8_t digest[PD_DIGEST_LEN];
  uint64_t size;               /* bytes; for a tree, the sum over its files */
  int is_tree;
};

/* What the action cache stores for one executed action. */
struct action_result {
  struct artifact *outs;       /* owned, nouts entries */
  size_t nouts;
  int exit_status;
  int has_log;
  uint8_t log[PD_DIGEST_LEN];  /* digest of the captured stdout+stderr blob */
  double start;                /* unix time, seconds */
  double duration;             /* seconds */
  char *task;                  /* task name that produced it (informational), owned */
};
void action_result_release(struct action_result *r);

/* Opens (creating if needed) the cache at dir. A schema version mismatch
 * starts the cache over. Returns 0 or an error. */
int cache_open(struct cache **out, const char *dir, struct pd_err *err);
void cache_close(struct cache *c);
const char *cache_path(const struct cache *c); /* absolute, borrowed */

/* --- actions ------------------------------------------------------------ */

/* Looks up key. Returns 1 on a hit (res filled, caller releases), 0 on a
 * miss, <0 on error. A hit requires every output blob (and each tree's
 * blobs) to be present and intact: blob files are checked by stat against
 * what was recorded when stored, and re-hashed when that differs. */
int cache_action_get(struct cache *c, const uint8_t key[PD_DIGEST_LEN],
                     struct action_result *res, struct pd_err *err);
/* Records res under key, with the key's preimage (canonical JSON text) so
 * that `explain` can diff it later. Every blob res names must already be
 * stored. */
int cache_action_put(struct cache *c, const uint8_t key[PD_DIGEST_LEN],
                     const char *preimage, const struct action_result *res,
                     struct pd_err *err);
/* Returns 1 and a malloc'd preimage, 0 if unknown, <0 on error. */
int cache_preimage_get(struct cache *c, const uint8_t key[PD_DIGEST_LEN],
                       char **preimage, struct pd_err *err);

/* The last key used for a task name of a graph (for explain/status).
 * get returns 1 found, 0 not, <0 error. */
int cache_last_put(struct cache *c, const char *graph_path, const char *task,
                   const uint8_t key[PD_DIGEST_LEN], struct pd_err *err);
int cache_last_get(struct cache *c, const char *graph_path, const char *task,
                   uint8_t key[PD_DIGEST_LEN], struct pd_err *err);

/* --- blobs and trees ---------------------------------------------------- */

/* Stores the file or directory at path (an output a task wrote) and fills
 * a->digest/size/is_tree (a->name is left alone). Files are streamed through
 * the hash; a large file is moved (renamed) into cas/ rather than copied,
 * so path may be gone afterwards. Symlinks inside outputs are an error.
 * Returns 0 or an error naming the path. */
int cache_ingest(struct cache *c, const char *path, struct artifact *a,
                 struct pd_err *err);
/* Stores a memory buffer as a blob. */
int cache_put_buf(struct cache *c, const void *p, size_t n,
                  uint8_t digest[PD_DIGEST_LEN], struct pd_err *err);
/* Reads a file blob into memory (malloc'd, *n bytes). 1 found, 0 absent, <0 error. */
int cache_get_buf(struct cache *c, const uint8_t digest[PD_DIGEST_LEN],
                  char **p, size_t *n, struct pd_err *err);
/* Returns in *path (malloc'd) a read-only path holding the artifact's bytes,
 * named name (or the digest when name is NULL): a file, or a directory for a
 * tree, created on first use under o/. Returns 0 or an error. */
int cache_materialize(struct cache *c, const struct artifact *a, char **path,
                      struct pd_err *err);

/* --- source inputs ------------------------------------------------------- */

/* Digest of a source file, memoized by (device, inode, size, mtime ns), so
 * an unchanged file is not read again. */
int cache_file_digest(struct cache *c, const char *path,
                      uint8_t out[PD_DIGEST_LEN], struct pd_err *err);
/* Digest of a source directory as a tree (same encoding as ingested trees),
 * files memoized as for cache_file_digest. */
int cache_dir_digest(struct cache *c, const char *path,
                     uint8_t out[PD_DIGEST_LEN], struct pd_err *err);

/* --- runs --------------------------------------------------------------- */

/* Run ids sort by time: "YYYYMMDD-HHMMSSmmm-xxxxxx" (UTC, milliseconds, x = random hex). */
void cache_new_run_id(char out[32]);
/* Stores the JSON record of a run (replaces an earlier one with that id). */
int cache_run_put(struct cache *c, const char *run_id, const char *json,
                  struct pd_err *err);
/* 1 and a malloc'd JSON record, 0 unknown, <0 error. */
int cache_run_get(struct cache *c, const char *run_id, char **json,
                  struct pd_err *err);
/* All run ids, oldest first (malloc'd array of malloc'd strings). */
int cache_run_list(struct cache *c, char ***ids, size_t *n, struct pd_err *err);
int cache_pin(struct cache *c, const char *run_id, int pinned, struct pd_err *err);

/* --- per-item memo ----------------------------------------------------- */

/* Results of single items inside a task (one API call, one generated
 * answer, a training checkpoint), committed as each finishes so that an
 * interrupted task resumes where it stopped. Values of any size (large ones
 * go to the blob store). get returns 1 and a malloc'd value, 0 when absent,
 * <0 on error. */
int cache_memo_get(struct cache *c, const uint8_t key[PD_DIGEST_LEN],
                   char **val, size_t *n, struct pd_err *err);
int cache_memo_put(struct cache *c, const uint8_t key[PD_DIGEST_LEN],
                   const void *val, size_t n, struct pd_err *err);
/* Replay mode, for audits that re-execute a run in a scratch cache c: memo
 * entries c lacks are read from src (the run's cache, which must outlive
 * c), and kinds that call external services (chat APIs) must serve every
 * item from the memo and fail on a miss instead of calling out. */
void cache_set_replay(struct cache *c, struct cache *src);
int cache_replay(const struct cache *c);
/* n entries in one transaction (one commit, one fsync): for items that
 * finish together (a batch of computed values). keys is n * PD_DIGEST_LEN
 * bytes; vals[i] holds lens[i] bytes. All or none are stored. */
int cache_memo_put_many(struct cache *c, const uint8_t *keys, const void *const *vals,
                        const size_t *lens, size_t n, struct pd_err *err);

/* --- concurrency between processes -------------------------------------- */

/* Tries to take the lock on executing key. Returns 1 and an fd to pass to
 * cache_unlock when taken, 0 when another process holds it, <0 on error.
 * The lock dies with the process (flock), so kill -9 never leaves it stuck. */
int cache_lock(struct cache *c, const uint8_t key[PD_DIGEST_LEN], int *fd,
               struct pd_err *err);
void cache_unlock(struct cache *c, const uint8_t key[PD_DIGEST_LEN], int fd);

/* A fresh, empty, private directory under tmp/ (malloc'd path). */
int cache_mkdtemp(struct cache *c, const char *hint, char **path,
                  struct pd_err *err);
/* Removes a directory tree (used for tmp dirs); ignores ENOENT. */
int cache_rmtree(const char *path);

/* --- maintenance ---------------------------------------------------------- */

struct cache_stats {
  uint64_t actions, blobs, inline_blobs, file_blobs, trees, runs, pinned;
  uint64_t blob_bytes;      /* sum of blob sizes */
  uint64_t disk_bytes;      /* cas/ files plus LMDB data file */
};
int cache_stats(struct cache *c, struct cache_stats *st, struct pd_err *err);
/* Re-hashes every blob and checks every tree and action; writes one line
 * per problem to report. *damaged receives the count. Returns 0 (even when
 * damage was found) or an error that stopped the check. */
int cache_verify(struct cache *c, FILE *report, uint64_t *damaged,
                 struct pd_err *err);
/* Deletes actions and blobs not needed by the newest keep_runs runs or any
 * pinned run; then, while the cache is above max_bytes (0 = no cap), drops
 * the oldest unpinned runs' artifacts. Writes a summary to report. */
int cache_gc(struct cache *c, size_t keep_runs, uint64_t max_bytes,
             FILE *report, struct pd_err *err);

/* --- audits and bundles (bundle_io.c) ----------------------------------- */

/* Reads the action record of key as stored: 1 and res filled (caller
 * releases), 0 when there is none, <0 on error (PD_ECORRUPT if malformed).
 * Unlike cache_action_get it checks no blob and repairs nothing. */
int cache_action_peek(struct cache *c, const uint8_t key[PD_DIGEST_LEN],
                      struct action_result *res, struct pd_err *err);

enum cache_blob_kind {
  CACHE_BLOB_MISSING,           /* no record */
  CACHE_BLOB_MALFORMED,         /* a record that does not decode */
  CACHE_BLOB_INLINE,            /* bytes in the record: data, len */
  CACHE_BLOB_FILE,              /* bytes in the cas file at path */
  CACHE_BLOB_TREE,              /* manifest text in data, len */
  CACHE_BLOB_BADTREE            /* a tree seen again: its manifest does not parse */
};

/* One blob as cache_blob_walk shows it; pointers valid during the call. */
struct blob_info {
  const uint8_t *digest;
  const char *name;             /* path below the walked blob ("" for it) */
  enum cache_blob_kind kind;
  uint64_t size;                /* as recorded (for a tree, the sum of its files) */
  const char *data;             /* INLINE bytes, TREE manifest */
  size_t len;
  const char *path;             /* FILE: its cas file (not checked) */
  int expect_tree;              /* what the caller or parent tree says: 1, 0, -1 unknown */
  int64_t expect_size;          /* size the parent tree lists, -1 for the top */
};
typedef int cache_blob_fn(void *arg, const struct blob_info *b, struct pd_err *err);
/* Calls fn for blob d and, when it is a tree, for every blob below it
 * (parents first; a tree whose manifest does not parse is shown again as
 * CACHE_BLOB_BADTREE). Nothing is hashed, checked or repaired, and no
 * transaction is open while fn runs. fn returns 0 to go on, <0 to stop
 * (that code is returned). */
int cache_blob_walk(struct cache *c, const uint8_t d[PD_DIGEST_LEN], int expect_tree,
                    cache_blob_fn *fn, void *arg, struct pd_err *err);
/* Stores a tree from its manifest text (tree.c's format) once every entry
 * is stored with the kind and size the manifest gives; *digest receives the
 * SHA-256 of the text. For imports: the tree keeps its exported digest. */
int cache_tree_put(struct cache *c, const char *manifest, size_t len,
                   uint8_t digest[PD_DIGEST_LEN], struct pd_err *err);

#endif
