/* cache_int.h - declarations shared by the files of cache/ (not public).
 *
 * Named LMDB databases (all keys and values are raw bytes):
 *   meta   "schema" -> decimal text of CACHE_SCHEMA
 *   ac     action key (32) -> action record (actions.c)
 *   pre    action key (32) -> preimage text
 *   blob   digest (32) -> blob record (below)
 *   fmemo  absolute path -> struct src_memo (src.c)
 *   last   graph path NUL task -> action key (32)
 *   runs   run id -> JSON text
 *   pins   run id -> "" (present = pinned)
 *   memo   item key (32) -> memo record (memo.c)
 * Keys longer than CACHE_MAX_KEY bytes (paths) are replaced by 0x01 followed
 * by their SHA-256 (cache__long_key).
 *
 * Blob record: a 16-byte header, then a payload by kind:
 *   [0] kind (enum blob_kind)  [1..7] zero  [8..15] size, u64 (native order)
 *   BLOB_INLINE  the bytes themselves (size of them)
 *   BLOB_FILE    i64 mtime ns, u64 inode of cas/ab/<hex> (its size is size)
 *   BLOB_TREE    the manifest text, whose SHA-256 is the digest; size is the
 *                sum of the sizes of the files below
 */
#ifndef PD_CACHE_INT_H
#define PD_CACHE_INT_H

/* mkostemp, pthread_rwlockattr_setkind_np; first, before any system header. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cache.h"
#include "err.h"
#include "strbuf.h"

#define CACHE_SCHEMA 1
#define CACHE_INLINE_MAX (16 * 1024)   /* larger blobs are files in cas/ */
#define CACHE_MAX_KEY 480              /* below LMDB's 511-byte key limit */
#define CACHE_MAPSIZE_DEFAULT ((size_t)64 << 20)
/* The mtime every cas file gets (a fixed time, as Nix gives store files), so
 * a write into one is always seen, even within the clock tick it was stored
 * in. 2000-01-01 UTC rather than Nix's 1 s: zip files cannot hold times
 * before 1980, and tasks may zip their inputs. */
#define CACHE_CAS_MTIME_NS (INT64_C(946684800) * 1000000000)

/* Internal codes a txn callback returns to make cache__write retry. */
#define CACHE__EFULL    (-39001)       /* MDB_MAP_FULL: grow, run again */
#define CACHE__ERESIZED (-39002)       /* MDB_MAP_RESIZED: adopt, run again */

enum cache_db {
  DB_META, DB_AC, DB_PRE, DB_BLOB, DB_FMEMO, DB_LAST, DB_RUNS, DB_PINS, DB_MEMO,
  DB_COUNT
};

/* One LMDB environment, shared by every struct cache of this process that
 * names the same directory (LMDB forbids opening one environment twice in a
 * process: closing either would drop the other's fcntl locks). */
struct cache_env {
  struct cache_env *next;       /* registry list (cache.c) */
  dev_t dev;                    /* of data.mdb */
  ino_t ino;
  pid_t pid;                    /* opener; a forked child never reuses it */
  int refs;
  MDB_env *env;
  MDB_dbi dbi[DB_COUNT];
  /* Held shared by every transaction, exclusive while the map is resized:
   * mdb_env_set_mapsize needs a process without active transactions. */
  pthread_rwlock_t rw;
  size_t mapsize;               /* current map size, under rw */
};

struct cache {
  char *dir;                    /* absolute, no trailing slash */
  size_t dirlen;
  dev_t dev;                    /* file system of dir: renames stay inside it */
  int casfd, ofd;               /* O_PATH handles on cas/ and o/: the no-op
                                 * path stats relative to them, short walks */
  struct cache_env *e;
  struct cache *memo_src;       /* replay mode: memo misses read from here */
  int replay;                   /* replay mode (audits): no external calls */
};

/* --- lmdb.c --------------------------------------------------------------- */

typedef int cache__txn_fn(struct cache *c, MDB_txn *txn, void *arg,
                          struct pd_err *err);
/* Runs fn inside one read (write) transaction. fn returns >= 0 to commit
 * (that value is returned), < 0 to abort. A write fn that returns
 * CACHE__EFULL is run again after the map is grown, so it must start from
 * scratch each time it is called. */
int cache__read(struct cache *c, cache__txn_fn *fn, void *arg,
                struct pd_err *err);
int cache__write(struct cache *c, cache__txn_fn *fn, void *arg,
                 struct pd_err *err);
/* Maps an LMDB return code: 0, CACHE__EFULL/ERESIZED, or PD_ELMDB with
 * "what: mdb_strerror" in err. MDB_NOTFOUND is an error here too. */
int cache__mdb(struct pd_err *err, int rc, const char *what);
MDB_dbi cache__dbi(const struct cache *c, enum cache_db db);
/* Bytes of the data file that hold live pages (the file never shrinks). */
int cache__lmdb_used(struct cache *c, uint64_t *bytes, struct pd_err *err);
/* Opens and sets up the environment (map size, maxdbs, stale readers). */
int cache__env_open(struct cache_env *e, const char *dir, struct pd_err *err);

/* Calls fn for every record of db, in key order, outside any transaction:
 * records are copied out a chunk at a time (so fn may open transactions,
 * and a long walk never holds one). fn returns 0 to go on, <0 to stop. */
typedef int cache__each_fn(struct cache *c, const MDB_val *k, const MDB_val *v,
                           void *arg, struct pd_err *err);
int cache__each(struct cache *c, enum cache_db db, cache__each_fn *fn, void *arg,
                struct pd_err *err);

/* Stores a key that may be too long for LMDB: key points at buf. */
void cache__long_key(const void *p, size_t n, uint8_t buf[1 + PD_DIGEST_LEN],
                     MDB_val *key);

/* --- cache.c: paths and small fs helpers ---------------------------------- */

/* "<dir>/cas/ab/<hex>" into out (size PATH_MAX). */
void cache__cas_path(const struct cache *c, const uint8_t d[PD_DIGEST_LEN],
                     char *out, size_t outsz);
/* "<dir>/<sub>" into a fresh string. */
char *cache__sub(const struct cache *c, const char *sub);
int cache__fsync_dir(const char *dir);
int cache__mkdir(const char *path, mode_t mode); /* EEXIST is success */
int cache__write_all(int fd, const void *p, size_t n); /* 0 or -errno */
int64_t cache__mtime_ns(const struct stat *st);
int64_t cache__now_ns(void);
/* Parses 64 hex digits at p (no terminator needed). 0 or -1. */
int cache__hex_parse(const char *p, uint8_t d[PD_DIGEST_LEN]);
/* Absolute form of path (not resolving symlinks), malloc'd. */
char *cache__abspath(const char *path);
/* Stat fingerprint compare for a cas file. */
int cache__fp_matches(const struct stat *st, uint64_t size, int64_t mtime_ns,
                      uint64_t ino);

/* --- store.c -------------------------------------------------------------- */

enum blob_kind { BLOB_INLINE = 1, BLOB_FILE = 2, BLOB_TREE = 3 };
#define BLOB_HDR 16

/* A decoded view of a blob record; pointers into the LMDB value, valid
 * until the transaction ends. */
struct blob_rec {
  enum blob_kind kind;
  uint64_t size;
  int64_t mtime_ns;             /* BLOB_FILE */
  uint64_t ino;                 /* BLOB_FILE */
  const char *data;             /* BLOB_INLINE bytes or BLOB_TREE manifest */
  size_t len;
};
/* 0, or -1 when v is not a well-formed record. */
int cache__blob_decode(const MDB_val *v, struct blob_rec *r);
void cache__blob_encode(struct strbuf *sb, enum blob_kind kind, uint64_t size,
                        int64_t mtime_ns, uint64_t ino, const void *data,
                        size_t len);
/* Looks a blob up inside txn: 1 found (r filled), 0 absent, <0 error. */
int cache__blob_get(struct cache *c, MDB_txn *txn,
                    const uint8_t d[PD_DIGEST_LEN], struct blob_rec *r,
                    struct pd_err *err);
/* Puts a blob record inside txn unless an identical one is there. */
int cache__blob_put(struct cache *c, MDB_txn *txn,
                    const uint8_t d[PD_DIGEST_LEN], const void *rec, size_t n,
                    struct pd_err *err);
/* The blob behind d is damaged or gone: drops its record (if it still has
 * the fingerprint seen, ino; 0 = any), its cas file (if still inode ino)
 * and the materialized o/<hex> of it and of the trees in up (n entries). */
int cache__blob_forget(struct cache *c, const uint8_t d[PD_DIGEST_LEN],
                       uint64_t ino, const uint8_t (*up)[PD_DIGEST_LEN],
                       size_t nup, struct pd_err *err);
/* Streams the file at path through SHA-256; *st is its fstat. 0 or -errno. */
int cache__hash_file(const char *path, uint8_t d[PD_DIGEST_LEN],
                     struct stat *st);
/* Records a new fingerprint for a cas file found intact after re-hashing. */
int cache__blob_refresh(struct cache *c, const uint8_t d[PD_DIGEST_LEN],
                        const struct stat *st, struct pd_err *err);

/* --- tree.c ---------------------------------------------------------------- */

/* One line of a tree manifest. */
struct tree_ent {
  int is_tree;
  uint8_t digest[PD_DIGEST_LEN];
  uint64_t size;
  const char *name;             /* not NUL-terminated: namelen bytes */
  size_t namelen;
};
/* Iterates a manifest: *pos starts at 0. Returns 1 with e filled, 0 at the
 * end, -1 if malformed. */
int cache__tree_next(const char *m, size_t len, size_t *pos,
                     struct tree_ent *e);
#define TREE_MAGIC "povid-tree 1\n"
/* Appends one manifest line. */
void cache__tree_add(struct strbuf *sb, int is_tree,
                     const uint8_t d[PD_DIGEST_LEN], uint64_t size,
                     const char *name);
/* Checks a name can be a tree entry; 0 or -1. */
int cache__tree_name_ok(const char *name);

/* Sorted directory listing (by name bytes), without "." and "..". */
int cache__list_dir(const char *path, char ***names, size_t *n,
                    struct pd_err *err);
void cache__free_names(char **names, size_t n);

/* --- verify.c ---------------------------------------------------------------- */

/* Bytes of the files in cas/ (what large blobs take on disk). */
uint64_t cache__cas_bytes(const struct cache *c);

/* --- digest sets (gc.c) ------------------------------------------------------ */

struct dset {
  uint8_t (*slot)[PD_DIGEST_LEN];
  unsigned char *used;
  size_t cap, n;
};
void dset_init(struct dset *s);
void dset_release(struct dset *s);
int dset_add(struct dset *s, const uint8_t d[PD_DIGEST_LEN]); /* 1 if new */
int dset_has(const struct dset *s, const uint8_t d[PD_DIGEST_LEN]);

/* --- actions.c -------------------------------------------------------------- */

/* Decodes an action record into r (allocating). 0 or -1 if malformed. */
int cache__action_decode(const void *p, size_t n, struct action_result *r);

/* --- runs.c ---------------------------------------------------------------- */

/* Pinned run ids, sorted (malloc'd array of malloc'd strings). */
int cache__pins_list(struct cache *c, char ***ids, size_t *n, struct pd_err *err);

/* --- memo.c ----------------------------------------------------------------- */

/* If memo value v names a blob, fills d and returns 1; 0 otherwise. */
int cache__memo_blob(const MDB_val *v, uint8_t d[PD_DIGEST_LEN]);

#endif
