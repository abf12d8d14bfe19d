/* snapshot.h - the no-op fast path of `run`.
 *
 * After a run in which every needed task ended cached or executed, povid-dag
 * stores a snapshot of what that outcome depended on: the graph files and
 * every file()/dir() source (by digest), and each task's action key and
 * output digests. The next `run` of the same graph file with the same
 * overrides and targets (and the same povid-dag, task kinds and salt) first
 * checks the snapshot: if every source still has its digest (memoized by
 * stat, so nothing is re-read) and every key is still a hit with the same
 * output digests, a full evaluation would compute exactly the same keys, so
 * the run is a no-op; it is recorded like any other run without parsing the
 * graph or recomputing keys. Anything else, including any problem reading
 * the snapshot, falls back to the full path. POVID_NO_SNAPSHOT=1 turns the
 * fast path off.
 */
#ifndef PD_SNAPSHOT_H
#define PD_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

struct cache;
struct graph;
struct sched;
struct override;

/* What identifies a snapshot besides the graph: the run's overrides and
 * targets as given, and the argv/jobs/gpus that go in its run record. */
struct snapshot_args {
  const char *graph_real;        /* realpath of the graph file */
  const struct override *overrides;
  size_t noverrides;
  char **targets;                /* task names as given */
  size_t ntargets;
  int argc;
  char **argv;
  int jobs, gpus;
};

/* Tries the fast path. Returns 1 when the run was confirmed a no-op and
 * recorded (run id in run_id, task count in *ntasks), else 0: the caller
 * runs normally. */
int snapshot_run(struct cache *c, const struct snapshot_args *a, char run_id[32],
                 size_t *ntasks);

/* Stores the snapshot of a finished run when all its needed tasks ended
 * cached or executed (and it differs from the stored one). Best effort:
 * failures only cost the next run its fast path. */
void snapshot_save(struct cache *c, const struct snapshot_args *a, const struct graph *g,
                   const struct sched *s);

#endif
