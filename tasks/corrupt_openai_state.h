/* corrupt_openai_state.h - the state of one run of the `openai` backend,
 * shared by its two halves inside the module: corrupt_openai.c (the driver:
 * the loop, the requests in flight, the memo) and corrupt_openai_io.c (what
 * the run reads and writes: the items and their jobs, the split's images,
 * the pairs and the summary).
 *
 * Why a header: both halves work on the same struct oa; nothing outside
 * these two files includes it (corrupt_openai.h is the public side).
 *
 * Left out: locking. A run lives on one thread, its loop's.
 */
#ifndef PD_CORRUPT_OPENAI_STATE_H
#define PD_CORRUPT_OPENAI_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "corrupt_openai_request.h"
#include "corrupt_rules.h"
#include "http_retry.h"
#include "rate_limit.h"
#include "safetensors.h"

struct task_run;
struct pd_err;

/* Why an answer gave no pair (the summary's keys, corrupt_openai_io.c). */
enum { SKIP_NO_OBJECTS, SKIP_NO_DESCRIPTION, SKIP_UNCHANGED, NSKIP };

enum job_state {
  JOB_WAITING, /* not looked at yet */
  JOB_SENT,    /* a request in flight */
  JOB_DONE,    /* rp holds the rewrite (from the memo or the API) */
  JOB_SKIPPED  /* no request: counted in skip (no objects) */
};

/* One description turn. */
struct job {
  size_t item;
  int turn;
  const char *question;       /* borrowed from the item */
  enum job_state state;
  int memo;                   /* served from the memo */
  int skip;                   /* SKIP_* when skipped */
  struct corrupt_openai_reply rp; /* the model's rewrite and its usage */
};

struct slot {
  struct http_retry c;
  struct oa *o;
  size_t job;
  int busy;
  double est;                 /* tokens taken from the limiter */
  uint8_t key[PD_DIGEST_LEN];
  char *body;
};

struct oa {
  struct task_run *r;
  struct corrupt_world w;
  int world_open;             /* w loaded */
  struct corrupt_item *items;
  size_t nitems;
  struct job *jobs;
  size_t njobs, next;
  /* Images. */
  struct safetensors st;
  int st_open;
  const struct st_tensor *img;
  int H, W;
  char **names;               /* index.tsv, sorted by name: "ID\tROW" with the tab cut */
  size_t nnames;
  /* Request parameters. */
  const char *model, *base_url;
  char *url, *auth, *tmpl;
  const char *headers[2];
  double temperature;
  long max_tokens, timeout_s;
  uint64_t seed;
  int replay, max_attempts;
  uint8_t prompt_digest[PD_DIGEST_LEN];
  /* Loop. */
  uv_loop_t loop;
  struct http h;
  uv_timer_t tick;            /* checks cancellation; kicks the pump */
  struct rate_limit limit;
  int limited;
  uint64_t rng;
  struct slot *slots;
  int nslots, inflight, failed, closing;
  /* Counters. */
  size_t requests, retries, memo_hits, sent_done;
  long ptok, ctok, spent_ptok, spent_ctok;
};

/* corrupt_openai_io.c. Each returns 0 or a negative code with err set. */

/* Reads items.jsonl into o->items and a job per description turn. */
int corrupt_openai__read_items(struct oa *o, const char *path, struct pd_err *err);
/* Opens dir's images.safetensors (U8 [N, H, W, 3]) and index.tsv. */
int corrupt_openai__open_images(struct oa *o, const char *dir, struct pd_err *err);
/* Row of image id in images.safetensors, or -1. */
long corrupt_openai__image_row(const struct oa *o, const char *id);
/* Writes the pairs in item order and the summary, adding the usage of
 * every answer to o->ptok, o->ctok; prices are dollars per million tokens. */
int corrupt_openai__write_outputs(struct oa *o, double price_p, double price_c,
                                  struct pd_err *err);

#endif
