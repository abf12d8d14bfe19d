/* bundle.h - a run exported as a self-contained folder, and imported into
 * another cache (`povid-dag export RUN DIR`, `povid-dag import DIR`).
 *
 * A bundle holds what an audit needs and nothing else:
 *   DIR/run.json               the run record, byte for byte as stored
 *   DIR/actions/<key>.preimage the action key's preimage (its SHA-256 is <key>)
 *   DIR/actions/<key>.json     the action record (bundle_action_json)
 *   DIR/blobs/<digest>         every blob the run names: outputs, logs, and
 *                              every blob below a tree; a tree's file is its
 *                              manifest text. Each file's SHA-256 is its name.
 *   DIR/MANIFEST               written last, text:
 *     povid-bundle 1
 *     run <id> <sha256 of run.json>
 *     action <key> <sha256 of actions/<key>.json>     (one per action)
 *     blob <digest> <bytes> file|tree                 (one per blob)
 *     end <sha256 of every line above, newlines included>
 * Import reads MANIFEST, checks every file against its digest before it is
 * stored, and stores blobs, then actions, then the run record, so an
 * interrupted or refused import leaves at most unreferenced blobs (gc
 * removes them). Sources (file()/dir() inputs) are not in the cache and so
 * not in a bundle; neither are per-item memo records.
 */
#ifndef PD_BUNDLE_H
#define PD_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

struct cache;
struct pd_err;
struct strbuf;
struct action_result;

#define BUNDLE_MAGIC "povid-bundle 1"

struct bundle_blob {
  uint8_t digest[PD_DIGEST_LEN];
  uint64_t size;                /* bytes of blobs/<digest> */
  int is_tree;
};

struct bundle_action {
  uint8_t key[PD_DIGEST_LEN];
  uint8_t json_digest[PD_DIGEST_LEN]; /* of actions/<key>.json */
};

struct bundle_manifest {
  char *run_id;
  uint8_t run_digest[PD_DIGEST_LEN];
  struct bundle_action *actions;
  size_t nactions;
  struct bundle_blob *blobs;
  size_t nblobs;
};

struct bundle_stats {
  size_t actions, blobs;
  uint64_t bytes;               /* of blob files */
  size_t actions_present;       /* import: already in the cache, left as they were */
  int run_present;              /* import: the same run record was there already */
};

/* Parses MANIFEST text. Errors name the line ("MANIFEST:3: ..."): unknown
 * entries, malformed digests, duplicates, a missing run or end line, a
 * checksum that does not match. m is released on error. */
int bundle_manifest_parse(const char *text, size_t n, struct bundle_manifest *m,
                          struct pd_err *err);
/* Writes m as MANIFEST text, end line included. */
void bundle_manifest_write(const struct bundle_manifest *m, struct strbuf *out);
void bundle_manifest_release(struct bundle_manifest *m);

/* An action record as JSON: {"task":..,"exit_status":..,"start":..,
 * "duration":..,"log":hex (when it has one),"outputs":[{"name","digest",
 * "size","tree"}]}. Malloc'd. */
char *bundle_action_json(const struct action_result *r);
/* The reverse; errors name the field. r is the caller's to release. */
int bundle_action_parse(const char *json, struct action_result *r, struct pd_err *err);

/* Writes the bundle of run_id into dir (created; it must not exist or be
 * empty). Every blob is re-hashed while it is copied, so a damaged or
 * missing artifact, a missing action record or preimage stops the export
 * with an error naming the task and artifact. */
int bundle_export(struct cache *c, const char *run_id, const char *dir,
                  struct bundle_stats *st, struct pd_err *err);
/* Imports the bundle in dir into c; *run_id receives the run's id
 * (malloc'd) on success. A run with that id already in c must have the
 * same record. Action records already in c are left as they are. */
int bundle_import(struct cache *c, const char *dir, char **run_id,
                  struct bundle_stats *st, struct pd_err *err);

#endif
