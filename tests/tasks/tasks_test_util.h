/* tasks_test_util.h - helpers shared by the tests of tasks/: a scratch
 * directory per test binary, whole-file reads and writes. Include after
 * cmocka.h's prerequisites. */
#ifndef PD_TASKS_TEST_UTIL_H
#define PD_TASKS_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache.h"
#include "err.h"

/* A fresh, empty scratch directory named after name and the pid. */
static inline char *scratch_dir(const char *name)
{
  const char *base = getenv("PD_TEST_TMP");
  char *dir;
  if (!base || !*base)
    base = "/tmp";
  mkdir(base, 0777);
  dir = xasprintf("%s/%s-%d", base, name, (int)getpid());
  cache_rmtree(dir);
  assert_int_equal(mkdir(dir, 0755), 0);
  return dir;
}

static inline void write_file(const char *path, const void *p, size_t n)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, p, n), (ssize_t)n);
  close(fd);
}

static inline void write_str(const char *path, const char *s)
{
  write_file(path, s, strlen(s));
}

/* Whole file, malloc'd (NUL-terminated); *n its size. */
static inline char *read_all(const char *path, size_t *n)
{
  struct stat st;
  char *p;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail_msg("cannot open '%s': %s", path, strerror(errno));
  assert_int_equal(fstat(fd, &st), 0);
  p = xmalloc((size_t)st.st_size + 1);
  assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
  p[st.st_size] = '\0';
  close(fd);
  if (n)
    *n = (size_t)st.st_size;
  return p;
}

/* Runs expr (an int-returning call taking &err) and fails with err's message
 * when it returns nonzero. Expects a `struct pd_err err` in scope. */
#define CHECK(expr)                                         \
  do {                                                      \
    int rc_ = (expr);                                       \
    if (rc_ != 0)                                           \
      fail_msg("%s: %d: %s", #expr, rc_, err.msg);          \
  } while (0)

#endif
