/* runner.c - executing one task: the action lock, exec tasks as child
 * processes, builtin kinds on worker threads, storing outputs on libuv's
 * worker pool, retries and failures. The state machine that decides what
 * runs when is in scheduler.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec.h"
#include "graph.h"
#include "registry.h"
#include "run.h"
#include "scheduler.h"
#include "scheduler_int.h"

/* --- running ------------------------------------------------------------ */

void sched__cleanup_attempt(struct sched *s, int i)
{
  struct sched_node *n = &s->n[i];
  if (!n->x)
    return;
  if (n->x->tmpdir && !getenv("POVID_KEEP_TMP"))
    cache_rmtree(n->x->tmpdir);
  free(n->x->tmpdir);
  free(n->x->outdir);
  free(n->x->logpath);
  n->x->tmpdir = n->x->outdir = n->x->logpath = NULL;
}

static struct node_exec *node_exec(struct sched_node *n)
{
  if (!n->x) {
    n->x = xcalloc(1, sizeof *n->x);
    n->x->proc.data = n;
  }
  return n->x;
}

void sched__unlock_node(struct sched *s, int i)
{
  struct sched_node *n = &s->n[i];
  if (n->locked) {
    cache_unlock(s->c, n->key, n->lock_fd);
    n->locked = 0;
    n->lock_fd = -1;
  }
}

static const char *input_path(void *arg, int node, const char *output, struct pd_err *err)
{
  return sched_output_path(arg, node, output, err);
}

/* Creates the parent folders of each declared output under ${out}, so that
 * "sub/x.txt" can be written without a mkdir in the command. */
static void make_output_parents(const char *outdir, const struct task *t)
{
  size_t k;
  for (k = 0; k < t->noutputs; k++) {
    char *p = xasprintf("%s/%s", outdir, t->outputs[k].path), *q;
    size_t len = strlen(p);
    while (len > 0 && p[len - 1] == '/')
      p[--len] = '\0';
    for (q = p + strlen(outdir) + 1; (q = strchr(q, '/')) != NULL; q++) {
      *q = '\0';
      mkdir(p, 0755);
      *q = '/';
    }
    free(p);
  }
}

static void on_proc_exit(struct proc *p, int64_t status, int sig, int timed_out);

/* --- builtin kinds on worker threads ---------------------------------------- */

/* Resolves every reference in v to a materialized path, on the loop thread,
 * so that the worker only ever reads them. */
static int resolve_refs(struct sched *s, const struct val *v, struct pd_err *err)
{
  size_t k;
  int rc;
  switch (v->kind) {
  case V_REF:
    return sched_output_path(s, v->u.ref.node, v->u.ref.output, err) ? 0 : PD_ENOTFOUND;
  case V_LIST:
  case V_CONCAT:
    for (k = 0; k < v->u.list.n; k++)
      if ((rc = resolve_refs(s, &v->u.list.v[k], err)) < 0)
        return rc;
    return 0;
  case V_MAP:
    for (k = 0; k < v->u.map.n; k++)
      if ((rc = resolve_refs(s, &v->u.map.v[k], err)) < 0)
        return rc;
    return 0;
  default:
    return 0;
  }
}

static const char *resolve_on_worker(void *arg, const struct val *v)
{
  struct pd_err err = { 0 };
  return sched_output_path(arg, v->u.ref.node, v->u.ref.output, &err);
}

static void builtin_main(void *arg)
{
  struct sched_node *n = arg;
  n->x->thread_rc = n->s->g->tasks[n->idx].kind->run(n->x->run);
  if (n->x->thread_rc < 0 && !n->x->run->err.code)
    ERR_SET(&n->x->run->err, n->x->thread_rc, "%s", pd_strerror(n->x->thread_rc));
  atomic_store(&n->x->thread_done, 1);
  uv_async_send(&n->s->async);
}

static void free_run(struct sched_node *n)
{
  if (!n->x->run)
    return;
  if (n->x->run->log)
    fclose(n->x->run->log);
  pthread_mutex_destroy(&n->x->run->mu);
  free(n->x->run);
  n->x->run = NULL;
}

static int start_builtin(struct sched *s, int i, struct pd_err *err)
{
  struct sched_node *n = &s->n[i];
  const struct task *t = &s->g->tasks[i];
  struct task_run *r;
  int rc;
  if ((rc = resolve_refs(s, &t->params, err)) < 0)
    return rc;
  r = xcalloc(1, sizeof *r);
  r->task = t;
  r->outdir = n->x->outdir;
  r->threads = n->cpu_slots > 0 ? n->cpu_slots : 1;
  r->cache = s->c;
  r->frac = -1;
  r->resolve = resolve_on_worker;
  r->resolve_arg = s;
  pthread_mutex_init(&r->mu, NULL);
  r->log = fopen(n->x->logpath, "w");
  if (!r->log) {
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", n->x->logpath, strerror(errno));
    pthread_mutex_destroy(&r->mu);
    free(r);
    return rc;
  }
  n->x->run = r;
  atomic_store(&n->x->thread_done, 0);
  n->start = progress_now();
  n->wall_start = sched__wall_now();
  if ((rc = uv_thread_create(&n->x->thread, builtin_main, n)) < 0) {
    free_run(n);
    return ERR_SET(err, rc, "cannot start a worker thread: %s", uv_strerror(rc));
  }
  s->running++;
  task_set_state(s, i, TASK_RUNNING);
  if (s->prog.mode == PROGRESS_PLAIN)
    progress_line(&s->prog, "[%zu/%zu] run %s (%s)", s->finished + s->running, s->needed,
                  t->name, t->kind->name);
  return 0;
}

static void store_outputs(struct sched *s, int i);

/* A worker thread finished: collect it on the loop. */
void sched__on_async(uv_async_t *h)
{
  struct sched *s = h->data;
  size_t i;
  for (i = 0; i < s->g->ntasks; i++) {
    struct sched_node *n = &s->n[i];
    char why[PD_ERR_MSG];
    if (n->state != TASK_RUNNING || !n->x->run || !atomic_load(&n->x->thread_done))
      continue;
    uv_thread_join(&n->x->thread);
    s->running--;
    n->duration = progress_now() - n->start;
    snprintf(why, sizeof why, "%s", n->x->run->err.msg);
    free_run(n);
    if (s->interrupted) {
      sched__cleanup_attempt(s, (int)i);
      sched__unlock_node(s, (int)i);
      sched__release_slots(s, (int)i);
      task_set_state(s, (int)i, TASK_CANCELLED);
      sched__set_error(n, "interrupted");
      sched__push_finished(s, (int)i);
      sched__drain(s);
    } else if (n->x->thread_rc == 0) {
      store_outputs(s, (int)i);
    } else {
      sched__attempt_failed(s, (int)i, why);
    }
  }
  sched__pump(s);
  sched__check_done(s);
}

void sched__start(struct sched *s, int i)
{
  struct sched_node *n = &s->n[i];
  const struct task *t = &s->g->tasks[i];
  struct pd_err err = { 0 };
  struct exec_cmd cmd;
  const struct val *timeout;
  int fd, rc;

  node_exec(n);
  n->attempts++;
  if ((rc = cache_mkdtemp(s->c, t->name, &n->x->tmpdir, &err)) < 0)
    goto fail;
  n->x->outdir = xasprintf("%s/out", n->x->tmpdir);
  n->x->logpath = xasprintf("%s/log", n->x->tmpdir);
  if (mkdir(n->x->outdir, 0755) < 0) {
    rc = ERR_SET(&err, -errno, "cannot create '%s': %s", n->x->outdir, strerror(errno));
    goto fail;
  }
  make_output_parents(n->x->outdir, t);
  if (!(t->kind->flags & KIND_PROCESS)) {
    if ((rc = start_builtin(s, i, &err)) < 0)
      goto fail;
    return;
  }
  if ((rc = exec_render(t, input_path, s, n->x->outdir, &cmd, &err)) < 0)
    goto fail;
  fd = open(n->x->logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = ERR_SET(&err, -errno, "cannot create '%s': %s", n->x->logpath, strerror(errno));
    exec_cmd_release(&cmd);
    goto fail;
  }
  timeout = task_param(t, "timeout");
  n->x->proc.data = n;
  rc = proc_spawn(&s->loop, &n->x->proc, cmd.argv, cmd.env, s->g->dir, fd,
                  timeout ? timeout->u.f : 0, on_proc_exit, &err);
  close(fd);
  if (rc == 0 && (s->o.verbose || s->prog.mode == PROGRESS_PLAIN))
    progress_line(&s->prog, "[%zu/%zu] run %s%s%s", s->finished + s->running + 1, s->needed,
                  t->name, s->o.verbose ? ": " : "", s->o.verbose ? cmd.display : "");
  exec_cmd_release(&cmd);
  if (rc < 0)
    goto fail;
  n->start = progress_now();
  n->wall_start = sched__wall_now();
  s->running++;
  task_set_state(s, i, TASK_RUNNING);
  return;
fail:
  sched__attempt_failed(s, i, err.msg);
}

static void on_lock_timer(uv_timer_t *h);

/* Takes the action lock; re-checks the cache once it is ours, since another
 * process may just have stored the result. Returns 1 to go on, 0 when the
 * task was finished or parked. */
int sched__acquire(struct sched *s, int i)
{
  struct sched_node *n = &s->n[i];
  struct pd_err err = { 0 };
  int rc;
  if (n->locked)
    return 1;
  rc = cache_lock(s->c, n->key, &n->lock_fd, &err);
  if (rc < 0) {
    sched__attempt_failed(s, i, err.msg);
    return 0;
  }
  if (rc == 0) {
    node_exec(n);
    if (n->state != TASK_LOCKWAIT) {
      task_set_state(s, i, TASK_LOCKWAIT);
      s->lockwait++;
      progress_line(&s->prog, "%s: another povid-dag is running the same action; waiting",
                    s->g->tasks[i].name);
    }
    if (!n->x->lock_timer_init) {
      uv_timer_init(&s->loop, &n->x->lock_timer);
      n->x->lock_timer.data = n;
      n->x->lock_timer_init = 1;
    }
    uv_timer_start(&n->x->lock_timer, on_lock_timer, 50, 0);
    return 0;
  }
  n->locked = 1;
  if (n->state == TASK_LOCKWAIT)
    s->lockwait--;
  rc = cache_action_get(s->c, n->key, &n->res, &err);
  if (rc == 1) {
    n->has_res = 1;
    sched__unlock_node(s, i);
    task_set_state(s, i, TASK_CACHED);
    s->cached++;
    sched__remember_last(s, i);
    progress_line(&s->prog, "%s: stored meanwhile by another run; reused", s->g->tasks[i].name);
    sched__push_finished(s, i);
    sched__drain(s);
    return 0;
  }
  return 1;
}

static void on_lock_timer(uv_timer_t *h)
{
  struct sched_node *n = h->data;
  struct sched *s = n->s;
  if (n->state != TASK_LOCKWAIT)
    return;
  if (s->stop_starting) {
    s->lockwait--;
    task_set_state(s, n->idx, s->interrupted ? TASK_CANCELLED : TASK_SKIPPED);
    sched__set_error(n, "not started: the run stopped");
    sched__push_finished(s, n->idx);
    sched__drain(s);
    sched__check_done(s);
    return;
  }
  if (sched__acquire(s, n->idx)) {
    /* Ours now and still a miss: back to the queue for slots. */
    task_set_state(s, n->idx, TASK_READY);
    sched__enqueue(s, n->idx, 1);
  }
  sched__pump(s);
  sched__check_done(s);
}


/* --- storing outputs (worker thread) --------------------------------------- */

static void store_work(uv_work_t *req)
{
  struct sched_node *n = req->data;
  struct sched *s = n->s;
  const struct task *t = &s->g->tasks[n->idx];
  struct action_result *res = &n->res;
  struct artifact log;
  size_t k;
  int rc;

  memset(res, 0, sizeof *res);
  res->outs = xcalloc(t->noutputs, sizeof *res->outs);
  for (k = 0; k < t->noutputs; k++) {
    const char *decl = t->outputs[k].path;
    char *path = xasprintf("%s/%s", n->x->outdir, decl);
    struct stat st;
    size_t dl = strlen(decl);
    if (lstat(path, &st) < 0) {
      ERR_SET(&n->x->werr, PD_ETASK, "exited 0 but did not write declared output '%s' (${out}/%s)",
              t->outputs[k].name, decl);
      free(path);
      return;
    }
    if (dl > 0 && decl[dl - 1] == '/' && !S_ISDIR(st.st_mode)) {
      ERR_SET(&n->x->werr, PD_ETASK, "output '%s' (${out}/%s) was declared a directory but is not one",
              t->outputs[k].name, decl);
      free(path);
      return;
    }
    rc = cache_ingest(s->c, path, &res->outs[k], &n->x->werr);
    free(path);
    if (rc < 0)
      return;
    res->outs[k].name = xstrdup(t->outputs[k].name);
    res->nouts = k + 1;
  }
  memset(&log, 0, sizeof log);
  if (cache_ingest(s->c, n->x->logpath, &log, &n->x->werr) < 0)
    return;
  res->has_log = 1;
  memcpy(res->log, log.digest, PD_DIGEST_LEN);
  res->exit_status = 0;
  res->start = n->wall_start;
  res->duration = n->duration;
  res->task = xstrdup(t->name);
  if (cache_action_put(s->c, n->key, n->preimage, res, &n->x->werr) < 0)
    return;
}

static void after_store(uv_work_t *req, int status);

static void store_outputs(struct sched *s, int i)
{
  struct sched_node *n = &s->n[i];
  task_set_state(s, i, TASK_STORING);
  s->storing++;
  n->x->work.data = n;
  uv_queue_work(&s->loop, &n->x->work, store_work, after_store);
}

static void after_store(uv_work_t *req, int status)
{
  struct sched_node *n = req->data;
  struct sched *s = n->s;
  int i = n->idx;
  (void)status;
  s->storing--;
  if (n->x->werr.code) {
    char msg[PD_ERR_MSG];
    snprintf(msg, sizeof msg, "%s", n->x->werr.msg);
    pd_err_clear(&n->x->werr);
    action_result_release(&n->res);
    sched__attempt_failed(s, i, msg);
    sched__pump(s);
    sched__check_done(s);
    return;
  }
  n->has_res = 1;
  n->has_log = n->res.has_log;
  memcpy(n->log, n->res.log, PD_DIGEST_LEN);
  sched__remember_last(s, i);
  sched__cleanup_attempt(s, i);
  sched__unlock_node(s, i);
  sched__release_slots(s, i);
  task_set_state(s, i, TASK_DONE);
  s->executed++;
  progress_line(&s->prog, "[%zu/%zu] done %s (%.2fs)", s->finished + 1, s->needed,
                s->g->tasks[i].name, n->duration);
  sched__push_finished(s, i);
  sched__drain(s);
  sched__pump(s);
  sched__check_done(s);
}

/* Prints the last lines of a failed attempt's log. */
static void show_log_tail(struct sched *s, const char *path)
{
  char buf[4096];
  ssize_t got;
  off_t size;
  int fd = open(path, O_RDONLY | O_CLOEXEC), lines = 0;
  char *p;
  if (fd < 0)
    return;
  size = lseek(fd, 0, SEEK_END);
  if (size > (off_t)sizeof buf - 1)
    lseek(fd, size - (off_t)sizeof buf + 1, SEEK_SET);
  else
    lseek(fd, 0, SEEK_SET);
  got = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (got <= 0)
    return;
  buf[got] = '\0';
  /* Keep the last 20 lines. */
  for (p = buf + got - 1; p > buf; p--)
    if (*p == '\n' && p != buf + got - 1 && ++lines == 20)
      break;
  if (*p == '\n')
    p++;
  progress_error(&s->prog, "--- log of the failed attempt (last lines) ---\n%s%s---", p,
                 buf[got - 1] == '\n' ? "" : "\n");
}

void sched__attempt_failed(struct sched *s, int i, const char *why)
{
  struct sched_node *n = &s->n[i];
  const struct task *t = &s->g->tasks[i];
  struct pd_err err = { 0 };
  struct artifact log;

  progress_error(&s->prog, "error: task '%s' (attempt %d of %d): %s", t->name, n->attempts,
                 t->retries + 1, why);
  if (n->x && n->x->logpath)
    show_log_tail(s, n->x->logpath);
  sched__release_slots(s, i);
  if (n->attempts <= t->retries && !s->stop_starting) {
    sched__cleanup_attempt(s, i);
    task_set_state(s, i, TASK_READY);
    sched__enqueue(s, i, 0);
    return;
  }
  /* Keep the failed attempt's log for the run record. */
  memset(&log, 0, sizeof log);
  if (n->x && n->x->logpath && access(n->x->logpath, F_OK) == 0 &&
      cache_ingest(s->c, n->x->logpath, &log, &err) == 0) {
    n->has_log = 1;
    memcpy(n->log, log.digest, PD_DIGEST_LEN);
  }
  sched__cleanup_attempt(s, i);
  sched__unlock_node(s, i);
  sched__set_error(n, "%s", why);
  task_set_state(s, i, s->interrupted ? TASK_CANCELLED : TASK_FAILED);
  if (!s->interrupted) {
    s->failed++;
    s->failed_any = 1;
    if (!s->o.keep_going)
      s->stop_starting = 1;
  }
  sched__push_finished(s, i);
  sched__drain(s);
}

static void on_proc_exit(struct proc *p, int64_t status, int sig, int timed_out)
{
  struct sched_node *n = p->data;
  struct sched *s = n->s;
  int i = n->idx;
  char why[128];

  s->running--;
  n->duration = progress_now() - n->start;
  if (s->interrupted) {
    sched__cleanup_attempt(s, i);
    sched__unlock_node(s, i);
    sched__release_slots(s, i);
    task_set_state(s, i, TASK_CANCELLED);
    sched__set_error(n, "interrupted");
    sched__push_finished(s, i);
    sched__drain(s);
    sched__check_done(s);
    return;
  }
  if (status == 0 && sig == 0 && !timed_out) {
    store_outputs(s, i);
    return;
  }
  if (timed_out)
    snprintf(why, sizeof why, "timed out after %.3gs", task_param(&s->g->tasks[i], "timeout")->u.f);
  else if (sig)
    snprintf(why, sizeof why, "killed by signal %d (%s)", sig, strsignal(sig));
  else
    snprintf(why, sizeof why, "exited with status %lld", (long long)status);
  sched__attempt_failed(s, i, why);
  sched__pump(s);
  sched__check_done(s);
}
