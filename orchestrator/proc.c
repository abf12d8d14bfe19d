/* proc.c - child processes for exec tasks (see proc.h). */
#include "proc.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

static void on_handle_closed(uv_handle_t *h)
{
  struct proc *p = h->data;
  if (--p->open_handles == 0)
    p->cb(p, p->exit_status, p->term_signal, p->timed_out);
}

static void kill_group(struct proc *p, int sig)
{
  /* The child leads its own group (UV_PROCESS_DETACHED = setsid). */
  if (p->pid > 0)
    kill(-p->pid, sig);
}

static void on_exit_cb(uv_process_t *h, int64_t exit_status, int term_signal)
{
  struct proc *p = h->data;
  p->exit_status = exit_status;
  p->term_signal = term_signal;
  /* Children of the command that are still alive die with their group. */
  kill_group(p, SIGKILL);
  uv_timer_stop(&p->timer);
  uv_close((uv_handle_t *)&p->timer, on_handle_closed);
  uv_close((uv_handle_t *)&p->h, on_handle_closed);
}

static void on_timer(uv_timer_t *t)
{
  struct proc *p = t->data;
  if (!p->killing) {
    /* Timeout reached: the attempt fails. */
    p->timed_out = 1;
    proc_terminate(p, 2.0);
    return;
  }
  kill_group(p, SIGKILL);
}

/* uv_spawn looks argv[0] up in the parent's PATH; the child's own PATH is
 * the one we hand it, so resolve it there first. */
static char *find_program(const char *name, char **env)
{
  const char *path = NULL;
  char **e;
  if (strchr(name, '/'))
    return xstrdup(name);
  for (e = env; e && *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0)
      path = *e + 5;
  if (!path)
    path = "/usr/local/bin:/usr/bin:/bin";
  while (*path) {
    size_t n = strcspn(path, ":");
    char *cand = xasprintf("%.*s/%s", (int)n, n ? path : ".", name);
    if (access(cand, X_OK) == 0)
      return cand;
    free(cand);
    path += n;
    if (*path == ':')
      path++;
  }
  return NULL;
}

int proc_spawn(uv_loop_t *loop, struct proc *p, char **argv, char **env,
               const char *cwd, int log_fd, double timeout, proc_exit_cb *cb,
               struct pd_err *err)
{
  uv_process_options_t o;
  uv_stdio_container_t stdio[3];
  char *prog;
  int rc;

  memset(&o, 0, sizeof o);
  prog = find_program(argv[0], env);
  if (!prog)
    return ERR_SET(err, UV_ENOENT, "cannot run '%s': not found in PATH", argv[0]);
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = log_fd;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = log_fd;
  o.file = prog;
  o.args = argv;
  o.env = env;
  o.cwd = cwd;
  o.stdio = stdio;
  o.stdio_count = 3;
  o.flags = UV_PROCESS_DETACHED;
  o.exit_cb = on_exit_cb;
  p->cb = cb;
  p->exit_status = 0;
  p->term_signal = 0;
  p->timed_out = 0;
  p->killing = 0;
  p->h.data = p;
  rc = uv_spawn(loop, &p->h, &o);
  free(prog);
  if (rc < 0) {
    /* The handle still has to be closed after a failed spawn. */
    uv_close((uv_handle_t *)&p->h, NULL);
    return ERR_SET(err, rc, "cannot run '%s': %s", argv[0], uv_strerror(rc));
  }
  p->pid = p->h.pid;
  p->open_handles = 2;
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  if (timeout > 0)
    uv_timer_start(&p->timer, on_timer, (uint64_t)(timeout * 1000.0), 0);
  return 0;
}

void proc_terminate(struct proc *p, double grace)
{
  if (p->killing)
    return;
  p->killing = 1;
  kill_group(p, SIGTERM);
  uv_timer_stop(&p->timer);
  uv_timer_start(&p->timer, on_timer, (uint64_t)(grace * 1000.0), 0);
}
