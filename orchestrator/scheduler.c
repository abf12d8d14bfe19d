/* scheduler.c - the scheduler: a task state machine on one libuv loop.
 *
 * Every state change goes through task_set_state(), which traces it when
 * POVID_TRACE is set ("gen -> [RUNNING] (scheduler.c:212)"). A task's key can
 * only be computed once all its dependencies are CACHED or DONE (the key
 * holds their output digests), so evaluation proceeds in waves: a finished
 * task tells its dependents, and each dependent whose last dependency just
 * finished is evaluated at once. On a no-op rerun the whole graph resolves
 * in that synchronous walk before the loop even starts.
 *
 * Running one task (the action lock, exec tasks as child processes via
 * proc.c, builtin kinds on a thread of their own rather than libuv's small
 * pool, which stays free for storing outputs, and retries) is runner.c.
 *
 * Left out for now: pools carry only a size; rate limits (requests and
 * tokens per minute) are parameters of the API kinds themselves, which run
 * their requests on a private loop inside their worker thread.
 */
#include "scheduler.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "graph.h"
#include "key.h"
#include "registry.h"
#include "run.h"
#include "scheduler_int.h"

#define QUEUE_SCAN 64 /* how far past a head that does not fit sched__pump() looks */

static void evaluate(struct sched *s, int i);

const char *task_state_name(enum task_state st)
{
  switch (st) {
  case TASK_UNNEEDED: return "unneeded";
  case TASK_WAITING: return "waiting";
  case TASK_READY: return "ready";
  case TASK_LOCKWAIT: return "lockwait";
  case TASK_RUNNING: return "running";
  case TASK_STORING: return "storing";
  case TASK_CACHED: return "cached";
  case TASK_DONE: return "executed";
  case TASK_FAILED: return "failed";
  case TASK_SKIPPED: return "skipped";
  case TASK_CANCELLED: return "cancelled";
  case TASK_STALE: return "stale";
  case TASK_BLOCKED: return "blocked";
  }
  return "?";
}

double sched__wall_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int tracing = -1;

void sched__set_state_at(struct sched *s, int i, enum task_state st, const char *file, int line)
{
  if (tracing < 0)
    tracing = getenv("POVID_TRACE") && *getenv("POVID_TRACE");
  if (tracing)
    fprintf(stderr, "%s -> [%s] (%s:%d)\n", s->g->tasks[i].name, task_state_name(st),
            strrchr(file, '/') ? strrchr(file, '/') + 1 : file, line);
  s->n[i].state = st;
}

void sched__set_error(struct sched_node *n, const char *fmt, ...)
{
  struct strbuf sb;
  va_list ap;
  strbuf_init(&sb, 64);
  va_start(ap, fmt);
  strbuf_vaddf(&sb, fmt, ap);
  va_end(ap);
  free(n->error);
  n->error = strbuf_detach(&sb, NULL);
  strbuf_release(&sb);
}

/* --- finishing and telling dependents ------------------------------------ */

static int is_final(enum task_state st)
{
  return st == TASK_CACHED || st == TASK_DONE || st == TASK_FAILED || st == TASK_SKIPPED ||
         st == TASK_CANCELLED || st == TASK_STALE || st == TASK_BLOCKED;
}

void sched__push_finished(struct sched *s, int i)
{
  if (s->nwork == s->awork) {
    s->awork = s->awork ? 2 * s->awork : 64;
    s->work = xrealloc(s->work, s->awork * sizeof *s->work);
  }
  s->work[s->nwork++] = i;
  s->finished++;
  progress_counts(&s->prog, s->finished, s->needed);
}

/* Tells the dependents of every finished task; evaluates those that became
 * ready. Iterative, so a 10,000-deep chain does not recurse. */
void sched__drain(struct sched *s)
{
  while (s->nwork > 0) {
    int i = s->work[--s->nwork];
    const struct task *t = &s->g->tasks[i];
    enum task_state st = s->n[i].state;
    size_t k;
    for (k = 0; k < t->nrdeps; k++) {
      int r = t->rdeps[k];
      struct sched_node *rn = &s->n[r];
      if (!rn->needed || rn->state != TASK_WAITING)
        continue;
      if (st == TASK_FAILED || st == TASK_SKIPPED || st == TASK_CANCELLED) {
        task_set_state(s, r, st == TASK_CANCELLED ? TASK_CANCELLED : TASK_SKIPPED);
        sched__set_error(rn, "dependency '%s' %s", t->name,
                  st == TASK_FAILED ? "failed" : st == TASK_CANCELLED ? "was cancelled" : "did not run");
        if (st != TASK_CANCELLED)
          s->skipped++;
        sched__push_finished(s, r);
        continue;
      }
      if (--rn->pending == 0)
        evaluate(s, r);
    }
  }
}

/* --- keys and hits -------------------------------------------------------- */

static const uint8_t *input_digest(void *arg, int node, const char *output)
{
  struct sched *s = arg;
  struct sched_node *n = &s->n[node];
  size_t k;
  if (!n->has_res)
    return NULL;
  for (k = 0; k < n->res.nouts; k++)
    if (strcmp(n->res.outs[k].name, output) == 0)
      return n->res.outs[k].digest;
  return NULL;
}

void sched__remember_last(struct sched *s, int i)
{
  uint8_t last[PD_DIGEST_LEN];
  struct pd_err err = { 0 };
  int rc = cache_last_get(s->c, s->g->path, s->g->tasks[i].name, last, &err);
  if (rc == 1 && memcmp(last, s->n[i].key, PD_DIGEST_LEN) == 0)
    return; /* unchanged: no write transaction on a no-op rerun */
  if (rc >= 0)
    cache_last_put(s->c, s->g->path, s->g->tasks[i].name, s->n[i].key, &err);
}

/* All dependencies of i finished: compute its key and look it up. */
static void evaluate(struct sched *s, int i)
{
  struct sched_node *n = &s->n[i];
  const struct task *t = &s->g->tasks[i];
  struct pd_err err = { 0 };
  size_t k;
  int rc;

  for (k = 0; k < t->ndeps; k++) {
    enum task_state ds = s->n[t->deps[k]].state;
    if (ds == TASK_STALE || ds == TASK_BLOCKED) {
      /* Plan mode: the dependency would run first; its outputs are unknown. */
      task_set_state(s, i, TASK_BLOCKED);
      sched__set_error(n, "waits on '%s'", s->g->tasks[t->deps[k]].name);
      sched__push_finished(s, i);
      return;
    }
  }
  rc = key_compute(s->c, t, input_digest, s, &s->pre, n->key, &err);
  if (rc != 0) {
    task_set_state(s, i, TASK_FAILED);
    sched__set_error(n, "%s", rc > 0 ? "an input is missing" : err.msg);
    progress_error(&s->prog, "error: task '%s': %s", t->name, n->error);
    s->failed++;
    s->failed_any = 1;
    if (!s->o.keep_going)
      s->stop_starting = 1;
    sched__push_finished(s, i);
    return;
  }
  n->has_key = 1;
  /* Preimages are kept for misses (they are stored with the result) and in
   * plan mode (explain diffs them); a hit in a run does not need it. */
  if (s->o.plan)
    n->preimage = xstrndup(s->pre.buf, s->pre.len);
  rc = cache_action_get(s->c, n->key, &n->res, &err);
  if (rc < 0) {
    ERR_SET(&s->fatal, rc, "%s", err.msg);
    rc = 0;
  }
  if (rc == 1) {
    n->has_res = 1;
    task_set_state(s, i, TASK_CACHED);
    s->cached++;
    if (!s->o.plan)
      sched__remember_last(s, i);
    sched__push_finished(s, i);
    return;
  }
  if (s->o.plan) {
    task_set_state(s, i, TASK_STALE);
    s->stale++;
    sched__push_finished(s, i);
    return;
  }
  n->preimage = xstrndup(s->pre.buf, s->pre.len);
  task_set_state(s, i, TASK_READY);
  sched__enqueue(s, i, 0);
}

void sched__enqueue(struct sched *s, int i, int front)
{
  struct sched_node *n = &s->n[i];
  n->queued = 1;
  if (front) {
    n->qprev = -1;
    n->qnext = s->qhead;
    if (s->qhead >= 0)
      s->n[s->qhead].qprev = i;
    else
      s->qtail = i;
    s->qhead = i;
  } else {
    n->qnext = -1;
    n->qprev = s->qtail;
    if (s->qtail >= 0)
      s->n[s->qtail].qnext = i;
    else
      s->qhead = i;
    s->qtail = i;
  }
}

static void dequeue(struct sched *s, int i)
{
  struct sched_node *n = &s->n[i];
  if (!n->queued)
    return;
  if (n->qprev >= 0)
    s->n[n->qprev].qnext = n->qnext;
  else
    s->qhead = n->qnext;
  if (n->qnext >= 0)
    s->n[n->qnext].qprev = n->qprev;
  else
    s->qtail = n->qprev;
  n->queued = 0;
  n->qnext = n->qprev = -1;
}

/* --- slots -------------------------------------------------------------- */

static int *pool_counter(struct sched *s, int pool)
{
  if (pool == -2)
    return &s->gpu_free;
  if (pool >= 0)
    return &s->pool_free[pool];
  return NULL;
}

static int fits(struct sched *s, int i)
{
  struct sched_node *n = &s->n[i];
  int *pc = pool_counter(s, n->pool);
  return s->cpu_free >= n->cpu_slots && (!pc || *pc > 0);
}

static void take_slots(struct sched *s, int i)
{
  struct sched_node *n = &s->n[i];
  int *pc = pool_counter(s, n->pool);
  ASSERT(!n->holding);
  s->cpu_free -= n->cpu_slots;
  if (pc)
    (*pc)--;
  n->holding = 1;
}

void sched__release_slots(struct sched *s, int i)
{
  struct sched_node *n = &s->n[i];
  int *pc = pool_counter(s, n->pool);
  if (!n->holding)
    return;
  s->cpu_free += n->cpu_slots;
  if (pc)
    (*pc)++;
  n->holding = 0;
}

void sched__pump(struct sched *s)
{
  int i = s->qhead, scanned = 0;
  while (i >= 0 && !s->stop_starting && scanned < QUEUE_SCAN) {
    int next = s->n[i].qnext;
    if (fits(s, i)) {
      dequeue(s, i);
      if (sched__acquire(s, i)) {
        take_slots(s, i);
        sched__start(s, i);
      }
      next = s->qhead; /* the queue may have changed under sched__acquire() */
      scanned = 0;
    } else {
      scanned++;
    }
    i = next;
  }
}
/* --- start and end of a run ----------------------------------------------- */

static void close_signals(struct sched *s)
{
  if (!s->signals_on)
    return;
  uv_close((uv_handle_t *)&s->sigint, NULL);
  uv_close((uv_handle_t *)&s->sigterm, NULL);
  s->signals_on = 0;
}

void sched__check_done(struct sched *s)
{
  size_t i;
  if (s->finishing || s->running || s->storing || s->lockwait)
    return;
  if (s->qhead >= 0 && !s->stop_starting)
    return;
  s->finishing = 1;
  /* Whatever is left never started: a failure or an interrupt stopped the run. */
  for (i = 0; i < s->g->ntasks; i++) {
    struct sched_node *n = &s->n[i];
    if (!n->needed || is_final(n->state))
      continue;
    dequeue(s, (int)i);
    task_set_state(s, (int)i, s->interrupted ? TASK_CANCELLED : TASK_SKIPPED);
    sched__set_error(n, "not started: %s", s->interrupted ? "interrupted" : "an earlier task failed");
    if (!s->interrupted)
      s->skipped++;
  }
  for (i = 0; i < s->g->ntasks; i++)
    if (s->n[i].x && s->n[i].x->lock_timer_init) {
      uv_close((uv_handle_t *)&s->n[i].x->lock_timer, NULL);
      s->n[i].x->lock_timer_init = 0;
    }
  close_signals(s);
  if (s->async_on) {
    uv_close((uv_handle_t *)&s->async, NULL);
    s->async_on = 0;
  }
  progress_stop(&s->prog);
}

static void on_signal(uv_signal_t *h, int signum)
{
  struct sched *s = h->data;
  size_t i;
  int second = s->interrupted;
  s->interrupted = 1;
  s->stop_starting = 1;
  progress_error(&s->prog, "%s: stopping %zu running task%s; finished work is kept",
                 signum == SIGINT ? "interrupted" : "terminated", s->running,
                 s->running == 1 ? "" : "s");
  for (i = 0; i < s->g->ntasks; i++) {
    struct sched_node *n = &s->n[i];
    if (n->state == TASK_RUNNING && n->x->run)
      atomic_store(&n->x->run->cancel, 1);
    else if (n->state == TASK_RUNNING)
      proc_terminate(&n->x->proc, second ? 0.0 : 2.0);
  }
  sched__check_done(s);
}

static size_t list_running(void *arg, struct progress_item *items, size_t max)
{
  struct sched *s = arg;
  size_t i, n = 0;
  for (i = 0; i < s->g->ntasks && n < max; i++) {
    struct sched_node *nd = &s->n[i];
    if (nd->state != TASK_RUNNING && nd->state != TASK_STORING)
      continue;
    items[n].name = s->g->tasks[i].name;
    items[n].start = nd->start;
    items[n].frac = -1;
    items[n].msg = nd->state == TASK_STORING ? "storing outputs" : NULL;
    if (nd->x->run) {
      pthread_mutex_lock(&nd->x->run->mu);
      items[n].frac = nd->x->run->frac;
      snprintf(nd->x->progress_msg, sizeof nd->x->progress_msg, "%s", nd->x->run->msg);
      pthread_mutex_unlock(&nd->x->run->mu);
      items[n].msg = nd->x->progress_msg[0] ? nd->x->progress_msg : NULL;
    }
    n++;
  }
  return n;
}

static void mark_needed(struct sched *s)
{
  size_t i, k, top = 0;
  int *stack;
  if (s->o.ntargets == 0) {
    for (i = 0; i < s->g->ntasks; i++)
      s->n[i].needed = 1;
    s->needed = s->g->ntasks;
    return;
  }
  stack = xmalloc(s->g->ntasks * sizeof *stack);
  for (i = 0; i < s->o.ntargets; i++) {
    int t = s->o.targets[i];
    if (!s->n[t].needed) {
      s->n[t].needed = 1;
      stack[top++] = t;
    }
  }
  while (top > 0) {
    const struct task *t = &s->g->tasks[stack[--top]];
    for (k = 0; k < t->ndeps; k++)
      if (!s->n[t->deps[k]].needed) {
        s->n[t->deps[k]].needed = 1;
        stack[top++] = t->deps[k];
      }
  }
  free(stack);
  for (i = 0; i < s->g->ntasks; i++)
    s->needed += (size_t)s->n[i].needed;
}

static int setup_slots(struct sched *s, struct pd_err *err)
{
  size_t i;
  s->cpu_free = s->o.jobs > 0 ? s->o.jobs : 1;
  s->gpu_free = s->o.gpus;
  s->pool_free = xcalloc(s->g->npools + 1, sizeof *s->pool_free);
  for (i = 0; i < s->g->npools; i++)
    s->pool_free[i] = s->g->pools[i].size;
  for (i = 0; i < s->g->ntasks; i++) {
    struct sched_node *n = &s->n[i];
    const struct task *t = &s->g->tasks[i];
    size_t p;
    n->cpu_slots = t->threads < s->cpu_free ? t->threads : s->cpu_free;
    n->pool = -1;
    if (strcmp(t->pool, "gpu") == 0) {
      n->pool = -2;
      if (n->needed && s->o.gpus <= 0 && !s->o.plan)
        return graph_error_at(err, PD_EUSAGE, &t->loc,
                              "task '%s' needs the gpu pool, but --gpus is 0 (no GPU found)",
                              t->name);
    }
    for (p = 0; p < s->g->npools; p++)
      if (strcmp(t->pool, s->g->pools[p].name) == 0)
        n->pool = (int)p;
  }
  return 0;
}

int sched_run(struct graph *g, struct cache *c, const struct sched_opts *o,
              struct sched **out, struct pd_err *err)
{
  struct sched *s = xcalloc(1, sizeof *s);
  size_t i;
  int rc;

  *out = s;
  s->g = g;
  s->c = c;
  s->o = *o;
  s->n = xcalloc(g->ntasks ? g->ntasks : 1, sizeof *s->n);
  s->qhead = s->qtail = -1;
  s->t0 = progress_now();
  s->wall_t0 = sched__wall_now();
  strbuf_init(&s->pre, 1024);
  for (i = 0; i < g->ntasks; i++) {
    s->n[i].s = s;
    s->n[i].idx = (int)i;
    s->n[i].lock_fd = -1;
    s->n[i].qnext = s->n[i].qprev = -1;
  }
  mark_needed(s);
  if ((rc = setup_slots(s, err)) < 0)
    return rc;
  uv_loop_init(&s->loop);
  if (!o->plan)
    cache_new_run_id(s->run_id);
  progress_init(&s->prog, &s->loop, o->plan ? PROGRESS_QUIET : o->progress, list_running, s);
  progress_counts(&s->prog, 0, s->needed);
  if (!o->plan) {
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    s->signals_on = 1;
    uv_async_init(&s->loop, &s->async, sched__on_async);
    s->async.data = s;
    s->async_on = 1;
  }

  /* Tasks without needed dependencies are evaluated first, in graph order. */
  for (i = 0; i < g->ntasks; i++) {
    int t = g->topo[i];
    const struct task *tk = &g->tasks[t];
    size_t k;
    if (!s->n[t].needed)
      continue;
    s->n[t].state = TASK_WAITING;
    for (k = 0; k < tk->ndeps; k++)
      s->n[t].pending += s->n[tk->deps[k]].needed;
  }
  for (i = 0; i < g->ntasks && !s->fatal.code; i++) {
    int t = g->topo[i];
    if (s->n[t].needed && s->n[t].state == TASK_WAITING && s->n[t].pending == 0) {
      evaluate(s, t);
      sched__drain(s);
    }
  }
  if (getenv("POVID_PROFILE"))
    fprintf(stderr, "walk         %6.1f ms\n", (progress_now() - s->t0) * 1e3);
  sched__pump(s);
  sched__check_done(s);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&s->loop) != 0)
    BUG("handles left open at the end of a run");

  if (!o->plan) {
    char *rec = record_build(s, sched__wall_now());
    struct pd_err rerr = { 0 };
    if (getenv("POVID_PROFILE"))
      fprintf(stderr, "record built %6.1f ms (%zu bytes)\n", (progress_now() - s->t0) * 1e3, strlen(rec));
    if (cache_run_put(c, s->run_id, rec, &rerr) < 0)
      fprintf(stderr, "warning: cannot store the run record: %s\n", rerr.msg);
    free(rec);
    if (getenv("POVID_PROFILE"))
      fprintf(stderr, "record put   %6.1f ms\n", (progress_now() - s->t0) * 1e3);
  }
  if (s->fatal.code) {
    *err = s->fatal;
    return s->fatal.code;
  }
  return 0;
}

void sched_task(const struct sched *s, int i, struct sched_task_info *info)
{
  const struct sched_node *n = &s->n[i];
  info->state = n->state;
  info->has_key = n->has_key;
  memcpy(info->key, n->key, PD_DIGEST_LEN);
  info->preimage = n->preimage;
  info->res = n->has_res ? &n->res : NULL;
  info->error = n->error;
  info->duration = n->duration;
}

int sched_exit_code(const struct sched *s)
{
  if (s->interrupted)
    return 130;
  return s->failed_any ? 1 : 0;
}

const char *sched_run_id(const struct sched *s)
{
  return s->run_id;
}

void sched_counts(const struct sched *s, size_t *executed, size_t *cached, size_t *failed,
                  size_t *skipped, size_t *stale)
{
  *executed = s->executed;
  *cached = s->cached;
  *failed = s->failed;
  *skipped = s->skipped;
  *stale = s->stale;
}

const char *sched_output_path(struct sched *s, int node, const char *output, struct pd_err *err)
{
  struct sched_node *n = &s->n[node];
  size_t k;
  if (!n->has_res) {
    ERR_SET(err, PD_ENOTFOUND, "task '%s' has no outputs available", s->g->tasks[node].name);
    return NULL;
  }
  if (!n->paths)
    n->paths = xcalloc(n->res.nouts ? n->res.nouts : 1, sizeof *n->paths);
  for (k = 0; k < n->res.nouts; k++) {
    if (strcmp(n->res.outs[k].name, output) != 0)
      continue;
    if (!n->paths[k]) {
      /* Named as the task wrote it ("report.md", not "report"), so tools
       * that look at extensions see the right one. */
      const struct task *t = &s->g->tasks[node];
      int o = task_find_output(t, output);
      struct artifact a = n->res.outs[k];
      char *name = NULL;
      if (o >= 0) {
        const char *p = t->outputs[o].path, *end = p + strlen(p), *base;
        while (end > p && end[-1] == '/')
          end--;
        for (base = end; base > p && base[-1] != '/'; base--)
          ;
        if (end > base)
          a.name = name = xstrndup(base, (size_t)(end - base));
      }
      int rc = cache_materialize(s->c, &a, &n->paths[k], err);
      free(name);
      if (rc < 0)
        return NULL;
    }
    return n->paths[k];
  }
  ERR_SET(err, PD_ENOTFOUND, "task '%s' has no output '%s' in the cache",
          s->g->tasks[node].name, output);
  return NULL;
}

void sched_free(struct sched *s)
{
  size_t i, k;
  if (!s)
    return;
  for (i = 0; i < s->g->ntasks; i++) {
    struct sched_node *n = &s->n[i];
    free(n->preimage);
    if (n->paths)
      for (k = 0; k < n->res.nouts; k++)
        free(n->paths[k]);
    free(n->paths);
    if (n->has_res || n->res.outs)
      action_result_release(&n->res);
    free(n->error);
    if (n->x) {
      free(n->x->tmpdir);
      free(n->x->outdir);
      free(n->x->logpath);
      free(n->x);
    }
  }
  free(s->n);
  free(s->pool_free);
  free(s->work);
  strbuf_release(&s->pre);
  free(s);
}
