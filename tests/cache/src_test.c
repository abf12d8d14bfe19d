/* src_test.c - tests of cache/src.c: memoized file digests (an unchanged
 * file is not read again; the racy window), directory digests. */
#include "cache_test_util.h"

static void set_mtime(const char *path, time_t sec, long nsec)
{
  struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };
  assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Rewrites path in place (same inode, same size). */
static void rewrite(const char *path, const char *s)
{
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, s, strlen(s), 0), (ssize_t)strlen(s));
  close(fd);
}

static void test_file_memo(void **state)
{
  struct fix *f = *state;
  char *p = path_join(f->dir, "src.txt");
  uint8_t d1[PD_DIGEST_LEN], d2[PD_DIGEST_LEN], want[PD_DIGEST_LEN];
  time_t old = time(NULL) - 3600;

  write_str(p, "version one");
  set_mtime(p, old, 123456789);
  CHECK(cache_file_digest(f->c, p, d1, E));
  digest_buf("version one", 11, want);
  assert_memory_equal(d1, want, PD_DIGEST_LEN);

  /* Same size, same inode, mtime put back: the memo answers without
   * reading, so the OLD digest comes back. */
  rewrite(p, "version two");
  set_mtime(p, old, 123456789);
  CHECK(cache_file_digest(f->c, p, d2, E));
  assert_memory_equal(d2, d1, PD_DIGEST_LEN);

  /* A new mtime: read again. */
  set_mtime(p, old, 987654321);
  CHECK(cache_file_digest(f->c, p, d2, E));
  digest_buf("version two", 11, want);
  assert_memory_equal(d2, want, PD_DIGEST_LEN);

  /* A relative path names the same memo entry. */
  {
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(f->dir), 0);
    CHECK(cache_file_digest(f->c, "src.txt", d1, E));
    assert_int_equal(chdir(cwd), 0);
    assert_memory_equal(d1, want, PD_DIGEST_LEN);
  }
  free(p);
}

static void test_racy_file_not_memoized(void **state)
{
  struct fix *f = *state;
  char *p = path_join(f->dir, "fresh.txt");
  uint8_t d1[PD_DIGEST_LEN], d2[PD_DIGEST_LEN], want[PD_DIGEST_LEN];
  struct stat st;

  write_str(p, "aaaa");
  assert_int_equal(stat(p, &st), 0);
  CHECK(cache_file_digest(f->c, p, d1, E));
  /* changed within the same timestamp: must not be hidden by a memo */
  rewrite(p, "bbbb");
  set_mtime(p, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  CHECK(cache_file_digest(f->c, p, d2, E));
  digest_buf("bbbb", 4, want);
  assert_memory_equal(d2, want, PD_DIGEST_LEN);
  free(p);
}

static void test_file_errors(void **state)
{
  struct fix *f = *state;
  struct pd_err err = { 0 };
  uint8_t d[PD_DIGEST_LEN];
  assert_int_equal(cache_file_digest(f->c, "/nonexistent", d, &err), -ENOENT);
  assert_string_equal(err.msg, "cannot read '/nonexistent': No such file or directory");
  pd_err_clear(&err);
  assert_true(cache_file_digest(f->c, f->dir, d, &err) < 0);
  pd_err_clear(&err);
  assert_true(cache_dir_digest(f->c, "/etc/passwd", d, &err) < 0);
}

static void test_dir_digest(void **state)
{
  struct fix *f = *state;
  char *dir = path_join(f->dir, "data"), *p;
  uint8_t d1[PD_DIGEST_LEN], d2[PD_DIGEST_LEN], d3[PD_DIGEST_LEN];
  struct artifact a = { 0 };
  time_t old = time(NULL) - 3600;

  mkdir_ok(dir);
  p = path_join(dir, "a.txt"); write_str(p, "alpha"); set_mtime(p, old, 0); free(p);
  p = path_join(dir, "sub"); mkdir_ok(p); free(p);
  p = path_join(dir, "sub/b.bin"); write_rand(p, 30000, 9); set_mtime(p, old, 0); free(p);
  CHECK(cache_dir_digest(f->c, dir, d1, E));
  CHECK(cache_dir_digest(f->c, dir, d2, E));
  assert_memory_equal(d1, d2, PD_DIGEST_LEN);

  /* The same encoding as an ingested tree. */
  p = path_join(f->dir, "copy");
  {
    char *cmd = xasprintf("cp -a '%s' '%s'", dir, p);
    assert_int_equal(system(cmd), 0);
    free(cmd);
  }
  CHECK(cache_ingest(f->c, p, &a, E));
  assert_memory_equal(a.digest, d1, PD_DIGEST_LEN);
  free(p);

  /* A file inside changes: so does the digest. */
  p = path_join(dir, "sub/b.bin");
  write_rand(p, 30000, 10);
  set_mtime(p, old, 5);
  CHECK(cache_dir_digest(f->c, dir, d3, E));
  assert_memory_not_equal(d1, d3, PD_DIGEST_LEN);
  free(p);

  /* A new empty directory changes it too. */
  p = path_join(dir, "empty");
  mkdir_ok(p);
  CHECK(cache_dir_digest(f->c, dir, d1, E));
  assert_memory_not_equal(d1, d3, PD_DIGEST_LEN);
  free(p);

  /* Symlinks are refused with the path named. */
  {
    struct pd_err err = { 0 };
    p = path_join(dir, "ln");
    assert_int_equal(symlink("a.txt", p), 0);
    assert_true(cache_dir_digest(f->c, dir, d1, &err) < 0);
    assert_non_null(strstr(err.msg, p));
    free(p);
  }
  free(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_file_memo, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_racy_file_not_memoized, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_file_errors, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_dir_digest, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
