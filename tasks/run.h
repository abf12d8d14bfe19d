/* run.h - what a builtin (in-process) task kind gets while it runs.
 *
 * A builtin kind's run() is called on its own worker thread, never on the
 * loop. It writes each declared output k at outdir/<task->outputs[k].path>,
 * logs to r->log, reports progress with task_run_progress() (shown live by
 * the loop) and checks task_run_cancelled() between units of work. It
 * returns 0, or an error with r->err set. Inputs are resolved to read-only
 * paths before the thread starts.
 */
#ifndef PD_RUN_H
#define PD_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "err.h"

struct task;
struct cache;
struct val;

struct task_run {
  const struct task *task;
  const char *outdir;
  int threads;              /* cpu slots the task holds: use at most this many threads */
  FILE *log;                /* the task's log (stored with its outputs) */
  struct cache *cache;      /* for the per-item memo (cache_memo_*) */
  struct pd_err err;
  atomic_int cancel;        /* set by the loop on SIGINT */
  /* Progress, read by the loop under mu. */
  pthread_mutex_t mu;
  double frac;              /* 0..1, < 0 unknown */
  char msg[128];
  /* Input resolution, filled by the scheduler. */
  const char *(*resolve)(void *arg, const struct val *v);
  void *resolve_arg;
  void (*notify)(void *arg); /* wakes the loop to redraw progress */
  void *notify_arg;
};

/* Path of an artifact-valued parameter (a reference, file() or dir()), or
 * NULL when the parameter is not one. Borrowed for the run's duration. */
const char *task_run_input(struct task_run *r, const char *param);
/* Path of output `name` under outdir (malloc'd). */
char *task_run_output(struct task_run *r, const char *name);
void task_run_progress(struct task_run *r, double frac, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int task_run_cancelled(struct task_run *r);
/* Writes n bytes to path (created or truncated). Returns 0 or an error
 * naming the path. */
int task_write_file(const char *path, const void *buf, size_t n, struct pd_err *err);

#endif
