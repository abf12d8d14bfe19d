/* scheduler.h - runs a graph on one libuv loop.
 *
 * Ready tasks start when their pools have slots: `cpu` (-j; a task takes
 * `threads` of them), `gpu` (--gpus) and the graph's named pools. exec tasks
 * are child processes; their outputs are ingested into the cache on the
 * loop's worker threads. A task whose action key is in the cache (with its
 * blobs intact) is not run. The same walk without executing anything gives
 * --dry-run, `status` and `explain` (plan mode).
 */
#ifndef PD_SCHEDULER_H
#define PD_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "progress.h"

struct graph;
struct override;
struct pd_err;

enum task_state {
  TASK_UNNEEDED,  /* not in the closure of the requested targets */
  TASK_WAITING,   /* dependencies not finished */
  TASK_READY,     /* key known and not cached: waits for pool slots */
  TASK_LOCKWAIT,  /* another process is executing the same action */
  TASK_RUNNING,   /* child process (or worker) running */
  TASK_STORING,   /* outputs being stored in the cache on a worker thread */
  TASK_CACHED,    /* hit: outputs come from the cache */
  TASK_DONE,      /* executed and stored */
  TASK_FAILED,    /* failed after its retries */
  TASK_SKIPPED,   /* not run because a dependency failed (or a failure stopped the run) */
  TASK_CANCELLED, /* interrupted */
  TASK_STALE,     /* plan mode: would run (key computable, not cached) */
  TASK_BLOCKED    /* plan mode: waits on a stale dependency, key not computable yet */
};
const char *task_state_name(enum task_state s);

struct sched_opts {
  int jobs;                      /* cpu slots (-j) */
  int gpus;                      /* gpu slots (--gpus) */
  int keep_going;                /* on failure, run everything that does not depend on it */
  int plan;                      /* evaluate only: no task is executed (dry-run, status, explain) */
  enum progress_mode progress;
  int verbose;                   /* show each command as it starts */
  const int *targets;            /* task indices; ntargets == 0 means every task */
  size_t ntargets;
  const struct override *overrides; /* for the run record */
  size_t noverrides;
  int argc;                      /* for the run record */
  char **argv;
};

/* Per-task outcome, readable after sched_run (valid until sched_free). */
struct sched_task_info {
  enum task_state state;
  int has_key;
  uint8_t key[PD_DIGEST_LEN];
  const char *preimage;          /* canonical JSON, or NULL */
  const struct action_result *res; /* outputs when CACHED or DONE, else NULL */
  const char *error;             /* why it failed / was skipped / is blocked, or NULL */
  double duration;               /* seconds, for executed tasks */
};

struct sched;

/* Runs (or in plan mode evaluates) g with cache c. Returns 0 when the run
 * itself worked (tasks may still have failed: see sched_exit_code) or an
 * error that stopped it (cache unusable...). *out receives the scheduler,
 * to be inspected and then freed with sched_free, even on error. */
int sched_run(struct graph *g, struct cache *c, const struct sched_opts *o,
              struct sched **out, struct pd_err *err);
void sched_task(const struct sched *s, int i, struct sched_task_info *info);
/* 0 success, 1 a task failed, 130 interrupted. */
int sched_exit_code(const struct sched *s);
const char *sched_run_id(const struct sched *s); /* "" in plan mode */
/* Counts: executed, cached, failed, skipped (incl. cancelled), stale (plan). */
void sched_counts(const struct sched *s, size_t *executed, size_t *cached,
                  size_t *failed, size_t *skipped, size_t *stale);
/* Path of an output of a finished task (materialized on demand), or NULL
 * with err set. Borrowed, valid until sched_free. */
const char *sched_output_path(struct sched *s, int node, const char *output,
                              struct pd_err *err);
void sched_free(struct sched *s);

#endif
