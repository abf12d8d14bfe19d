/* lock_test.c - tests of cache/lock.c: flock-based action locks across
 * processes, temp directories, removing read-only trees. */
#include "cache_test_util.h"

/* Forks a child that tries the lock and exits 1 if it got it, 0 if not. */
static int child_try(const struct fix *f, const uint8_t key[PD_DIGEST_LEN])
{
  int status;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct cache *c;
    struct pd_err err = { 0 };
    int fd, rc = -1;
    if (cache_open(&c, f->cdir, &err) == 0)
      rc = cache_lock(c, key, &fd, &err);
    _exit(rc == 1 ? 1 : rc == 0 ? 0 : 2);
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static void test_lock_excludes(void **state)
{
  struct fix *f = *state;
  uint8_t key[PD_DIGEST_LEN], other[PD_DIGEST_LEN];
  int fd, fd2;
  pid_t holder;
  int pipefd[2], status;
  char ch;

  digest_buf("action", 6, key);
  digest_buf("other", 5, other);
  assert_int_equal(CHECK(cache_lock(f->c, key, &fd, E)), 1);
  assert_int_equal(child_try(f, key), 0);     /* held by us */
  assert_int_equal(child_try(f, other), 1);   /* another key is free */
  /* a second open in this process is excluded too (flock is per open) */
  assert_int_equal(CHECK(cache_lock(f->c, key, &fd2, E)), 0);
  cache_unlock(f->c, key, fd);
  assert_int_equal(child_try(f, key), 1);

  /* A holder that dies releases the lock. */
  assert_int_equal(pipe(pipefd), 0);
  holder = fork();
  assert_true(holder >= 0);
  if (holder == 0) {
    struct cache *c;
    struct pd_err err = { 0 };
    int hfd;
    close(pipefd[0]);
    if (cache_open(&c, f->cdir, &err) == 0 && cache_lock(c, key, &hfd, &err) == 1)
      assert_int_equal(write(pipefd[1], "x", 1), 1);
    pause(); /* killed below */
    _exit(0);
  }
  close(pipefd[1]);
  assert_int_equal(read(pipefd[0], &ch, 1), 1);
  close(pipefd[0]);
  assert_int_equal(child_try(f, key), 0);
  assert_int_equal(CHECK(cache_lock(f->c, key, &fd, E)), 0);
  kill(holder, SIGKILL);
  assert_int_equal(waitpid(holder, &status, 0), holder);
  assert_int_equal(CHECK(cache_lock(f->c, key, &fd, E)), 1);
  cache_unlock(f->c, key, fd);
}

static void test_mkdtemp_rmtree(void **state)
{
  struct fix *f = *state;
  char *a, *b, *p, *tmp;
  struct stat st;

  CHECK(cache_mkdtemp(f->c, "train", &a, E));
  CHECK(cache_mkdtemp(f->c, "train", &b, E));
  assert_string_not_equal(a, b);
  tmp = xasprintf("%s/tmp/train-", cache_path(f->c));
  assert_true(!strncmp(a, tmp, strlen(tmp)));
  assert_int_equal(stat(a, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  free(tmp);

  /* read-only nested directories and files */
  p = path_join(a, "ro");
  mkdir_ok(p);
  free(p);
  p = path_join(a, "ro/inner");
  mkdir_ok(p);
  free(p);
  p = path_join(a, "ro/inner/f");
  write_str(p, "x");
  chmod(p, 0444);
  free(p);
  p = path_join(a, "ro/inner");
  chmod(p, 0555);
  free(p);
  p = path_join(a, "ro");
  chmod(p, 0555);
  free(p);
  assert_int_equal(cache_rmtree(a), 0);
  assert_int_not_equal(access(a, F_OK), 0);
  assert_int_equal(cache_rmtree(a), 0); /* ENOENT is fine */
  assert_int_equal(cache_rmtree(b), 0);
  free(a);
  free(b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_lock_excludes, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_mkdtemp_rmtree, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
