/* cache_test.c - tests of cache/cache.c: opening (layout, absolute path,
 * sharing one environment within a process), errors, and the schema reset. */
#include "cache_test_util.h"

#include <lmdb.h>

static void test_layout(void **state)
{
  struct fix *f = *state;
  static const char *const subs[] = { "cas", "o", "tmp", "locks", "data.mdb", "lock.mdb" };
  struct cache *c;
  char cwd[4096];
  size_t i;

  for (i = 0; i < 6; i++) {
    char *p = path_join(f->cdir, subs[i]);
    assert_int_equal(access(p, F_OK), 0);
    free(p);
  }
  assert_string_equal(cache_path(f->c), f->cdir);
  /* a relative path, created with its parents */
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(f->dir), 0);
  CHECK(cache_open(&c, "rel/deeper/.povid", E));
  assert_int_equal(chdir(cwd), 0);
  assert_true(cache_path(c)[0] == '/');
  assert_non_null(strstr(cache_path(c), "/rel/deeper/.povid"));
  cache_close(c);
}

static void test_reopen_and_share(void **state)
{
  struct fix *f = *state;
  struct cache *c2;
  uint8_t d[PD_DIGEST_LEN];
  char *p, *other;
  size_t n;

  CHECK(cache_put_buf(f->c, "kept", 4, d, E));
  cache_close(f->c);
  fix_open(f);
  assert_int_equal(CHECK(cache_get_buf(f->c, d, &p, &n, E)), 1);
  free(p);

  /* A second handle on the same directory (spelled differently) shares the
   * environment: closing one leaves the other working. */
  other = xasprintf("%s/../cache/", f->cdir);
  CHECK(cache_open(&c2, other, E));
  assert_string_equal(cache_path(c2), f->cdir);
  CHECK(cache_put_buf(c2, "both", 4, d, E));
  assert_int_equal(CHECK(cache_get_buf(f->c, d, &p, &n, E)), 1);
  free(p);
  cache_close(c2);
  assert_int_equal(CHECK(cache_get_buf(f->c, d, &p, &n, E)), 1);
  free(p);
  free(other);
}

static void test_open_errors(void **state)
{
  struct fix *f = *state;
  struct pd_err err = { 0 };
  struct cache *c;
  char *file = path_join(f->dir, "plain"), *bad = path_join(file, "c"), *want;

  write_str(file, "x");
  assert_int_equal(cache_open(&c, bad, &err), -ENOTDIR);
  assert_null(c);
  want = xasprintf("cannot open cache '%s': Not a directory", bad);
  assert_string_equal(err.msg, want);
  free(want);
  if (geteuid() != 0) {
    char *ro = path_join(f->dir, "ro");
    mkdir_ok(ro);
    chmod(ro, 0555);
    pd_err_clear(&err);
    assert_int_equal(cache_open(&c, ro, &err), -EACCES);
    assert_non_null(strstr(err.msg, "Permission denied"));
    chmod(ro, 0755);
    free(ro);
  }
  free(file);
  free(bad);
}

static void set_schema(const char *dir, const char *version)
{
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  MDB_val k = { 6, (void *)"schema" }, v = { strlen(version), (void *)version };
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
  assert_int_equal(mdb_env_open(env, dir, 0, 0644), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
  assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

static void test_schema_mismatch(void **state)
{
  struct fix *f = *state;
  char *big = rand_bytes(40000, 3), *p, *cas, *errlog, *text;
  uint8_t d[PD_DIGEST_LEN], d2[PD_DIGEST_LEN];
  size_t n;
  int saved, fd;

  CHECK(cache_put_buf(f->c, big, 40000, d, E));
  CHECK(cache_put_buf(f->c, "small", 5, d2, E));
  cas = cas_path_of(f, d);
  assert_int_equal(access(cas, F_OK), 0);
  cache_close(f->c);
  f->c = NULL;
  set_schema(f->cdir, "999");

  /* Reopening starts over, with one line on stderr. */
  errlog = path_join(f->dir, "stderr");
  fflush(stderr);
  saved = dup(2);
  fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  close(fd);
  fix_open(f);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  text = read_all(errlog, &n);
  assert_non_null(strstr(text, "schema version 999"));
  assert_non_null(strstr(text, "starting over"));
  assert_non_null(strchr(text, '\n'));
  assert_ptr_equal(strchr(text, '\n'), text + n - 1);
  free(text);

  assert_int_not_equal(access(cas, F_OK), 0);
  assert_int_equal(CHECK(cache_get_buf(f->c, d, &p, &n, E)), 0);
  assert_int_equal(CHECK(cache_get_buf(f->c, d2, &p, &n, E)), 0);
  /* and works as new */
  CHECK(cache_put_buf(f->c, big, 40000, d, E));
  assert_int_equal(CHECK(cache_get_buf(f->c, d, &p, &n, E)), 1);
  free(p);
  free(errlog);
  free(cas);
  free(big);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_layout, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_reopen_and_share, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_open_errors, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_schema_mismatch, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
