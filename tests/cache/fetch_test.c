/* fetch_test.c - tests of cache/fetch.c: cache_materialize (inline, cas
 * hard links, trees, concurrent callers) and reading damaged blobs. */
#include "cache_test_util.h"

static void test_materialize_file(void **state)
{
  struct fix *f = *state;
  struct artifact a = { .name = "data.bin" }, b = { .name = "note.txt" };
  char *big = rand_bytes(70000, 5), *path, *got, *cas, hex[PD_DIGEST_HEX];
  struct stat sb, cs;
  size_t n;

  CHECK(cache_put_buf(f->c, big, 70000, a.digest, E));
  a.size = 70000;
  CHECK(cache_materialize(f->c, &a, &path, E));
  digest_hex(a.digest, hex);
  assert_non_null(strstr(path, "/o/"));
  assert_non_null(strstr(path, hex));
  assert_string_equal(strrchr(path, '/') + 1, "data.bin");
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0444);
  /* a hard link to the cas file, not a copy */
  cas = cas_path_of(f, a.digest);
  assert_int_equal(stat(cas, &cs), 0);
  assert_int_equal(sb.st_ino, cs.st_ino);
  got = read_all(path, &n);
  assert_int_equal(n, 70000);
  assert_memory_equal(got, big, n);
  free(got);
  free(path);

  /* again: the same path, nothing rebuilt */
  CHECK(cache_materialize(f->c, &a, &path, E));
  assert_int_equal(stat(path, &cs), 0);
  assert_int_equal(cs.st_ino, sb.st_ino);
  free(path);

  /* inline blob, and the digest as the name */
  CHECK(cache_put_buf(f->c, "tiny", 4, b.digest, E));
  b.size = 4;
  b.name = NULL;
  CHECK(cache_materialize(f->c, &b, &path, E));
  digest_hex(b.digest, hex);
  assert_string_equal(strrchr(path, '/') + 1, hex);
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0444);
  got = read_all(path, &n);
  assert_string_equal(got, "tiny");
  free(got);
  free(path);
  free(cas);
  free(big);
}

static void test_materialize_tree(void **state)
{
  struct fix *f = *state;
  struct artifact a = { .name = "model" };
  char *t = path_join(f->dir, "out"), *p, *path, *got;
  struct stat sb;
  size_t n;

  mkdir_ok(t);
  p = path_join(t, "w.bin"); write_rand(p, 40000, 6); free(p);
  p = path_join(t, "cfg"); mkdir_ok(p); free(p);
  p = path_join(t, "cfg/a.json"); write_str(p, "{\"a\":1}"); free(p);
  CHECK(cache_ingest(f->c, t, &a, E));
  CHECK(cache_materialize(f->c, &a, &path, E));
  assert_int_equal(stat(path, &sb), 0);
  assert_true(S_ISDIR(sb.st_mode));
  assert_int_equal(sb.st_mode & 0777, 0555);
  p = path_join(path, "cfg");
  assert_int_equal(stat(p, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0555);
  free(p);
  p = path_join(path, "cfg/a.json");
  got = read_all(p, &n);
  assert_string_equal(got, "{\"a\":1}");
  assert_int_equal(stat(p, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0444);
  free(got);
  free(p);
  p = path_join(path, "w.bin");
  assert_int_equal(stat(p, &sb), 0);
  assert_int_equal(sb.st_size, 40000);
  free(p);
  free(path);
  free(t);
}

/* Several processes materialize the same tree at once; all get it whole. */
static void test_materialize_concurrent(void **state)
{
  struct fix *f = *state;
  struct artifact a = { .name = "shared" };
  char *t = path_join(f->dir, "out"), *p;
  pid_t pids[4];
  int i, status;

  mkdir_ok(t);
  for (i = 0; i < 20; i++) {
    char name[16];
    snprintf(name, sizeof name, "f%02d", i);
    p = path_join(t, name);
    write_rand(p, i % 2 ? 20000 : 100, (unsigned)i);
    free(p);
  }
  CHECK(cache_ingest(f->c, t, &a, E));
  for (i = 0; i < 4; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      struct cache *c;
      struct pd_err err = { 0 };
      char *path, *fp;
      struct stat sb;
      int ok = cache_open(&c, f->cdir, &err) == 0 && cache_materialize(c, &a, &path, &err) == 0;
      if (ok) {
        fp = path_join(path, "f19");
        ok = stat(fp, &sb) == 0 && sb.st_size == 20000;
      }
      _exit(ok ? 0 : 1);
    }
  }
  for (i = 0; i < 4; i++) {
    assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  free(t);
}

static void test_get_buf_damaged(void **state)
{
  struct fix *f = *state;
  char *big = rand_bytes(30000, 7), *cas, *p;
  uint8_t d[PD_DIGEST_LEN];
  size_t n;

  CHECK(cache_put_buf(f->c, big, 30000, d, E));
  cas = cas_path_of(f, d);
  flip_byte(cas, 100);
  assert_int_equal(CHECK(cache_get_buf(f->c, d, &p, &n, E)), 0);
  assert_int_not_equal(access(cas, F_OK), 0); /* the damaged file is gone */
  /* storing it again repairs it */
  CHECK(cache_put_buf(f->c, big, 30000, d, E));
  assert_int_equal(CHECK(cache_get_buf(f->c, d, &p, &n, E)), 1);
  assert_memory_equal(p, big, 30000);
  free(p);
  free(cas);
  free(big);
}

static void test_materialize_missing(void **state)
{
  struct fix *f = *state;
  struct artifact a = { .name = "x", .size = 3 };
  struct pd_err err = { 0 };
  char *path;
  memset(a.digest, 0xab, sizeof a.digest);
  assert_int_equal(cache_materialize(f->c, &a, &path, &err), PD_ENOTFOUND);
  assert_non_null(strstr(err.msg, "is not in the cache"));
  a.name = "../evil";
  pd_err_clear(&err);
  assert_true(cache_materialize(f->c, &a, &path, &err) < 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_materialize_file, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_materialize_tree, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_materialize_concurrent, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_get_buf_damaged, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_materialize_missing, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
