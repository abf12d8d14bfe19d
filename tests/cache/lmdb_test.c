/* lmdb_test.c - tests of cache/lmdb.c: the map grows without limit from a
 * tiny start, under threads of one process and under several processes. */
#include "cache_test_util.h"

#include <pthread.h>

#define SMALL_MAP "1048576"

static int small_setup(void **state)
{
  setenv("POVID_CACHE_MAPSIZE", SMALL_MAP, 1);
  return fix_setup(state);
}

static int small_teardown(void **state)
{
  unsetenv("POVID_CACHE_MAPSIZE");
  return fix_teardown(state);
}

static void test_map_growth(void **state)
{
  struct fix *f = *state;
  enum { DIRS = 24, FILES = 60, SIZE = 15 * 1024 };
  struct artifact a[DIRS] = { { 0 } };
  uint8_t keys[40][PD_DIGEST_LEN];
  char *p, *v;
  size_t n;
  struct stat st;
  int i, j;

  /* > 20 MiB of inline blobs through a 1 MiB initial map, in many txns */
  for (i = 0; i < DIRS; i++) {
    char *dir = xasprintf("%s/d%02d", f->dir, i);
    mkdir_ok(dir);
    for (j = 0; j < FILES; j++) {
      p = xasprintf("%s/f%02d", dir, j);
      write_rand(p, SIZE, (unsigned)(i * FILES + j + 1));
      free(p);
    }
    CHECK(cache_ingest(f->c, dir, &a[i], E));
    assert_int_equal(a[i].size, (uint64_t)FILES * SIZE);
    cache_rmtree(dir);
    free(dir);
  }
  for (i = 0; i < 40; i++) {
    char *val = rand_bytes(16 * 1024, (unsigned)(100000 + i));
    digest_buf(&i, sizeof i, keys[i]);
    CHECK(cache_memo_put(f->c, keys[i], val, 16 * 1024, E));
    free(val);
  }
  p = path_join(f->cdir, "data.mdb");
  assert_int_equal(stat(p, &st), 0);
  assert_true(st.st_size > 20 * 1024 * 1024);
  free(p);

  /* Reopen (still asking for a 1 MiB map): everything readable. */
  cache_close(f->c);
  fix_open(f);
  for (i = 0; i < DIRS; i += 5) {
    char *want = rand_bytes(SIZE, (unsigned)(i * FILES + 7 + 1));
    uint8_t d[PD_DIGEST_LEN];
    digest_buf(want, SIZE, d);
    assert_int_equal(CHECK(cache_get_buf(f->c, d, &v, &n, E)), 1);
    assert_memory_equal(v, want, SIZE);
    free(v);
    free(want);
  }
  unsetenv("POVID_CACHE_MAPSIZE");
  cache_close(f->c);
  fix_open(f);
  assert_int_equal(CHECK(cache_memo_get(f->c, keys[39], &v, &n, E)), 1);
  assert_int_equal(n, 16 * 1024);
  free(v);
  {
    char *mat;
    CHECK(cache_materialize(f->c, &a[3], &mat, E));
    free(mat);
  }
}

struct worker {
  struct cache *c;
  int id;
  int failures;
};

/* Stores and reads back blobs and actions; counts anything wrong. */
static void work(struct cache *c, int id, int count, int *failures)
{
  int i;
  for (i = 0; i < count; i++) {
    struct pd_err err = { 0 };
    size_t n = i % 10 == 9 ? 40000 : 9000, got_n;
    unsigned seed = i % 10 == 9 ? (unsigned)(5000 + i) : (unsigned)(id * 100000 + i);
    char *data = rand_bytes(n, seed), *got;
    struct artifact o = { .name = "out", .size = n };
    struct action_result r = { .outs = &o, .nouts = 1 }, back;
    uint8_t key[PD_DIGEST_LEN];
    int k[2] = { id, i };

    if (cache_put_buf(c, data, n, o.digest, &err) < 0 ||
        cache_get_buf(c, o.digest, &got, &got_n, &err) != 1) {
      (*failures)++;
      free(data);
      continue;
    }
    if (got_n != n || memcmp(got, data, n))
      (*failures)++;
    free(got);
    digest_buf(k, sizeof k, key);
    if (cache_action_put(c, key, "{}", &r, &err) < 0 ||
        cache_action_get(c, key, &back, &err) != 1)
      (*failures)++;
    else if (memcmp(back.outs[0].digest, o.digest, PD_DIGEST_LEN))
      (*failures)++;
    action_result_release(&back);
    free(data);
  }
}

static void *thread_main(void *arg)
{
  struct worker *w = arg;
  work(w->c, w->id, 100, &w->failures);
  return NULL;
}

static void test_threads(void **state)
{
  struct fix *f = *state;
  pthread_t th[4];
  struct worker w[4];
  uint64_t damaged;
  int i;

  for (i = 0; i < 4; i++) {
    w[i].c = f->c;
    w[i].id = i;
    w[i].failures = 0;
    assert_int_equal(pthread_create(&th[i], NULL, thread_main, &w[i]), 0);
  }
  for (i = 0; i < 4; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(w[i].failures, 0);
  }
  CHECK(cache_verify(f->c, stderr, &damaged, E));
  assert_int_equal(damaged, 0);
}

static void test_two_processes(void **state)
{
  struct fix *f = *state;
  pid_t pids[2];
  uint64_t damaged;
  struct cache_stats st;
  int i, status;

  for (i = 0; i < 2; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      struct cache *c;
      struct pd_err err = { 0 };
      int failures = 0;
      if (cache_open(&c, f->cdir, &err) < 0)
        _exit(2);
      work(c, 10 + i, 100, &failures);
      _exit(failures ? 1 : 0);
    }
  }
  for (i = 0; i < 2; i++) {
    assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  /* This process (which had the map open, small, all along) sees it all. */
  CHECK(cache_verify(f->c, stderr, &damaged, E));
  assert_int_equal(damaged, 0);
  CHECK(cache_stats(f->c, &st, E));
  assert_int_equal(st.actions, 200);
  assert_int_equal(st.blobs, 2 * 90 + 10);
  {
    int failures = 0;
    work(f->c, 10, 100, &failures);
    assert_int_equal(failures, 0);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_map_growth, small_setup, small_teardown),
    cmocka_unit_test_setup_teardown(test_threads, small_setup, small_teardown),
    cmocka_unit_test_setup_teardown(test_two_processes, small_setup, small_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
