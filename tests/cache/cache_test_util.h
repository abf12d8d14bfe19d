/* cache_test_util.h - helpers shared by the tests of cache/: scratch
 * directories under PD_TEST_TMP, writing and reading files, a fresh cache
 * per test. Include after cmocka.h's prerequisites. */
#ifndef PD_CACHE_TEST_UTIL_H
#define PD_CACHE_TEST_UTIL_H

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
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache.h"
#include "digest.h"
#include "err.h"

struct fix {
  char *dir;                    /* scratch directory of this test */
  char *cdir;                   /* dir/cache */
  struct cache *c;
};

/* A fresh, empty scratch directory named after the test and the pid. */
static inline char *scratch_dir(const char *name)
{
  const char *base = getenv("PD_TEST_TMP");
  char *dir, *cmd;
  if (!base || !*base)
    base = "/tmp";
  mkdir(base, 0777);
  dir = xasprintf("%s/%s-%d", base, name, (int)getpid());
  cache_rmtree(dir);
  cmd = xasprintf("mkdir -p '%s'", dir);
  assert_int_equal(system(cmd), 0);
  free(cmd);
  return dir;
}

static inline void fix_open(struct fix *f)
{
  struct pd_err err = { 0 };
  int rc = cache_open(&f->c, f->cdir, &err);
  if (rc)
    fail_msg("cache_open: %s", err.msg);
}

static inline struct fix *fix_new(const char *name)
{
  struct fix *f = xcalloc(1, sizeof *f);
  f->dir = scratch_dir(name);
  f->cdir = xasprintf("%s/cache", f->dir);
  fix_open(f);
  return f;
}

static inline void fix_free(struct fix *f)
{
  if (!f)
    return;
  cache_close(f->c);
  cache_rmtree(f->dir);
  free(f->cdir);
  free(f->dir);
  free(f);
}

static inline int fix_setup(void **state)
{
  *state = fix_new("t");
  return 0;
}

static inline int fix_teardown(void **state)
{
  fix_free(*state);
  return 0;
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

/* size pseudo-random bytes from seed. malloc'd. */
static inline char *rand_bytes(size_t n, unsigned seed)
{
  char *p = xmalloc(n ? n : 1);
  uint32_t x = seed * 2654435761u + 1;
  size_t i;
  for (i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (char)x;
  }
  return p;
}

static inline void write_rand(const char *path, size_t n, unsigned seed)
{
  char *p = rand_bytes(n, seed);
  write_file(path, p, n);
  free(p);
}

/* Whole file, malloc'd (NUL-terminated); *n its size. */
static inline char *read_all(const char *path, size_t *n)
{
  struct stat st;
  char *p;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(fstat(fd, &st), 0);
  p = xmalloc((size_t)st.st_size + 1);
  assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
  p[st.st_size] = '\0';
  close(fd);
  if (n)
    *n = (size_t)st.st_size;
  return p;
}

static inline char *path_join(const char *a, const char *b)
{
  return xasprintf("%s/%s", a, b);
}

static inline void mkdir_ok(const char *path)
{
  assert_int_equal(mkdir(path, 0755), 0);
}

/* Flips one byte of a (read-only) file in place, keeping its size. */
static inline void flip_byte(const char *path, off_t at)
{
  char b;
  int fd;
  chmod(path, 0644);
  fd = open(path, O_RDWR | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(pread(fd, &b, 1, at), 1);
  b = (char)(b ^ 0x5a);
  assert_int_equal(pwrite(fd, &b, 1, at), 1);
  close(fd);
  chmod(path, 0444);
}

static inline char *cas_path_of(const struct fix *f, const uint8_t d[PD_DIGEST_LEN])
{
  char hex[PD_DIGEST_HEX];
  digest_hex(d, hex);
  return xasprintf("%s/cas/%.2s/%s", cache_path(f->c), hex, hex);
}

/* Runs call (which names its error context E) and fails the test with the
 * message on an error. Evaluates to call's (non-negative) result. */
#define CHECK(call)                                                   \
  __extension__({                                                     \
    struct pd_err E_ = { 0 };                                         \
    struct pd_err *E = &E_;                                           \
    int rc_ = (call);                                                 \
    if (rc_ < 0)                                                      \
      fail_msg("%s = %d: %s", #call, rc_, E_.msg);                    \
    (void)E;                                                          \
    rc_;                                                              \
  })

#endif
