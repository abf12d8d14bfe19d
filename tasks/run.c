/* run.c - helpers for builtin kinds running on worker threads (see run.h). */
#include "run.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"

const char *task_run_input(struct task_run *r, const char *param)
{
  const struct val *v = task_param(r->task, param);
  if (!v)
    return NULL;
  if (v->kind == V_FILE || v->kind == V_DIR)
    return v->u.src.path;
  if (v->kind == V_REF)
    return r->resolve(r->resolve_arg, v);
  return NULL;
}

char *task_run_output(struct task_run *r, const char *name)
{
  int k = task_find_output(r->task, name);
  if (k < 0)
    return NULL;
  return xasprintf("%s/%s", r->outdir, r->task->outputs[k].path);
}

void task_run_progress(struct task_run *r, double frac, const char *fmt, ...)
{
  va_list ap;
  pthread_mutex_lock(&r->mu);
  r->frac = frac;
  if (fmt) {
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
  } else {
    r->msg[0] = '\0';
  }
  pthread_mutex_unlock(&r->mu);
  if (r->notify)
    r->notify(r->notify_arg);
}

int task_run_cancelled(struct task_run *r)
{
  return atomic_load(&r->cancel);
}

int task_write_file(const char *path, const void *buf, size_t n, struct pd_err *err)
{
  FILE *f = fopen(path, "wb");
  int bad;
  if (!f)
    return ERR_SET(err, -errno, "cannot create '%s': %s", path, strerror(errno));
  bad = n > 0 && fwrite(buf, 1, n, f) != n;
  bad |= fclose(f) != 0;
  if (bad)
    return ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  return 0;
}
