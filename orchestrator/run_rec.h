/* run_rec.h - a stored run record (record.c writes it), parsed for audits,
 * lineage and bundles: per task its state, key, output digests and log. */
#ifndef PD_RUN_REC_H
#define PD_RUN_REC_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "digest.h"

struct cache;
struct pd_err;

struct run_out {
  const char *name;             /* borrowed from the JSON */
  uint8_t digest[PD_DIGEST_LEN];
  uint64_t size;
  int is_tree;
};

struct run_task {
  const char *name, *kind, *state, *error; /* borrowed; error may be NULL */
  int version;
  int has_key;
  uint8_t key[PD_DIGEST_LEN];
  int has_outputs;              /* "outputs" present: the task ended cached or executed */
  struct run_out *outs;         /* owned */
  size_t nouts;
  int has_log;
  uint8_t log[PD_DIGEST_LEN];
  const cJSON *json;            /* the task's object */
};

struct run_rec {
  cJSON *json;                  /* owned: the whole record */
  char *text;                   /* owned: the record as stored */
  const char *id, *graph, *status;
  int has_graph_digest;
  uint8_t graph_digest[PD_DIGEST_LEN];
  struct run_task *tasks;       /* owned, in record order */
  size_t ntasks;
  size_t *by_name;              /* owned: task indices sorted by name */
};

/* Parses a record's text (copied). Returns 0 or PD_ECORRUPT naming the
 * field at fault; r is released on error. */
int run_rec_parse(const char *text, struct run_rec *r, struct pd_err *err);
/* Loads run id from c: 1 found, 0 no such run, <0 error. */
int run_rec_load(struct cache *c, const char *id, struct run_rec *r, struct pd_err *err);
void run_rec_release(struct run_rec *r);
/* Index of the task named name, or -1. O(log n). */
int run_rec_find(const struct run_rec *r, const char *name);
/* Index of output name in t, or -1. */
int run_task_find_out(const struct run_task *t, const char *name);

#endif
