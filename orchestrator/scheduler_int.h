/* scheduler_int.h - the scheduler's state, shared by scheduler.c (the loop) and
 * record.c (the run record). Nothing outside orchestrator/scheduler*.c and
 * record.c includes this. */
#ifndef PD_SCHEDULER_INT_H
#define PD_SCHEDULER_INT_H

#include <stdatomic.h>
#include <uv.h>

#include "err.h"
#include "proc.h"
#include "progress.h"
#include "scheduler.h"
#include "strbuf.h"

struct sched;

/* What a task needs only while it executes: kept out of sched_node so that a
 * no-op rerun of 10,000 tasks touches a few hundred bytes per task. */
struct node_exec {
  char *tmpdir, *outdir, *logpath;
  struct proc proc;        /* exec kinds */
  struct task_run *run;    /* builtin kinds: the worker thread's context */
  uv_thread_t thread;
  atomic_int thread_done;
  int thread_rc;
  char progress_msg[128];  /* copy of run->msg for the progress display */
  uv_timer_t lock_timer;
  int lock_timer_init;
  uv_work_t work;
  struct pd_err werr;      /* set by the storing worker */
};

struct sched_node {
  struct sched *s;
  int idx;
  enum task_state state;
  int needed;
  int pending;            /* needed dependencies not finished yet */
  int queued, qnext, qprev; /* ready queue links (indices, -1 = none) */
  int has_key;
  uint8_t key[PD_DIGEST_LEN];
  char *preimage;
  int has_res;
  struct action_result res; /* outputs once CACHED or DONE */
  char **paths;           /* materialized output paths, res.nouts entries, lazily */
  int locked, lock_fd;
  int attempts;
  int cpu_slots;          /* slots held while running */
  int pool;               /* -1 cpu only, -2 gpu, else index in graph->pools */
  int holding;            /* 1 while slots are held */
  struct node_exec *x;     /* allocated when the task is first started or waits on a lock */
  double start, duration; /* progress clock (seconds) */
  double wall_start;      /* unix time, for the run record */
  char *error;            /* why it failed / was skipped / is blocked */
  int has_log;
  uint8_t log[PD_DIGEST_LEN];
};

struct sched {
  uv_loop_t loop;
  struct graph *g;
  struct cache *c;
  struct sched_opts o;
  struct sched_node *n;
  int cpu_free, gpu_free;
  int *pool_free;
  int qhead, qtail;
  size_t needed, finished, running, storing, lockwait;
  size_t executed, cached, failed, skipped, stale;
  int stop_starting, interrupted, failed_any, finishing;
  uv_signal_t sigint, sigterm;
  int signals_on;
  uv_async_t async;       /* builtin kinds' worker threads finished */
  int async_on;
  struct progress prog;
  struct strbuf pre;      /* scratch for key preimages */
  int *work;              /* finished nodes whose dependents are not told yet */
  size_t nwork, awork;
  double t0, wall_t0;
  char run_id[32];
  struct pd_err fatal;    /* an error that stops the run (cache unusable) */
};

/* scheduler.c */
#define task_set_state(s, i, st) sched__set_state_at((s), (i), (st), __FILE__, __LINE__)
void sched__set_state_at(struct sched *s, int i, enum task_state st, const char *file, int line);
void sched__set_error(struct sched_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sched__push_finished(struct sched *s, int i); /* finished: tell dependents on the next drain */
void sched__drain(struct sched *s);
void sched__remember_last(struct sched *s, int i);
void sched__enqueue(struct sched *s, int i, int front); /* into the ready queue */
void sched__release_slots(struct sched *s, int i);
void sched__pump(struct sched *s);       /* starts what fits */
void sched__check_done(struct sched *s); /* ends the loop when nothing is left */

/* runner.c */
int sched__acquire(struct sched *s, int i);  /* 1: lock held, go on; 0: finished or parked */
void sched__start(struct sched *s, int i);   /* slots held: start an attempt */
void sched__attempt_failed(struct sched *s, int i, const char *why);
void sched__cleanup_attempt(struct sched *s, int i);
void sched__unlock_node(struct sched *s, int i);
void sched__on_async(uv_async_t *h);     /* worker threads of builtin kinds finished */

/* record.c: the run record (JSON) of a finished run. Caller frees. */
char *record_build(struct sched *s, double wall_end);

double sched__wall_now(void);

#endif
