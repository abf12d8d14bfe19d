/* err.c - error table, error context and allocation helpers (see err.h). */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

const char *pd_strerror(int code)
{
  switch (code) {
#define XX(name, val, str) case PD_##name: return str;
    PD_ERRNO_MAP(XX)
#undef XX
  default: break;
  }
  if (code == 0)
    return "success";
  return uv_strerror(code); /* UV_E* equal -errno on unix */
}

int pd_err_set(struct pd_err *err, int code, const char *file, int line,
               const char *fmt, ...)
{
  va_list ap;
  if (!err || err->code)
    return code; /* the first error wins */
  err->code = code;
  err->file = file;
  err->line = line;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

int pd_err_wrap(struct pd_err *err, const char *fmt, ...)
{
  char prefix[512], old[PD_ERR_MSG];
  va_list ap;
  if (!err)
    return 0;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  /* The result may be cut at PD_ERR_MSG: the prefix matters more than the tail. */
  {
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3)
      n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t m = strlen(old), room = sizeof err->msg - n - 3;
    if (m > room)
      m = room;
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = '\0';
  }
  return err->code;
}

void pd_err_clear(struct pd_err *err)
{
  if (!err)
    return;
  err->code = 0;
  err->file = NULL;
  err->line = 0;
  err->msg[0] = '\0';
}

void pd_bug(const char *file, int line, const char *msg)
{
  fprintf(stderr, "BUG: %s:%d: %s\n", file, line, msg);
  fflush(stderr);
  abort();
}

static void *oom(size_t n)
{
  fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", n);
  abort();
}

void *xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  return p ? p : oom(n);
}

void *xcalloc(size_t n, size_t size)
{
  void *p = calloc(n ? n : 1, size ? size : 1);
  return p ? p : oom(n * size);
}

void *xrealloc(void *p, size_t n)
{
  void *q = realloc(p, n ? n : 1);
  return q ? q : oom(n);
}

char *xstrdup(const char *s)
{
  return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
  char *p = xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *xasprintf(const char *fmt, ...)
{
  va_list ap;
  int n;
  char *p;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    BUG("vsnprintf failed");
  p = xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}
