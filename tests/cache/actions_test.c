/* actions_test.c - tests of cache/actions.c: the action record round trip,
 * hits turning into misses when blobs are deleted or damaged, preimages and
 * last keys. */
#include "cache_test_util.h"

static void key_of(const char *s, uint8_t k[PD_DIGEST_LEN])
{
  digest_buf(s, strlen(s), k);
}

/* An action with a large file, an inline file and a tree as outputs. */
struct act {
  struct action_result r;
  struct artifact outs[3];
  uint8_t key[PD_DIGEST_LEN];
};

static void make_action(struct fix *f, struct act *a, const char *keytext)
{
  char *out, *p;
  memset(a, 0, sizeof *a);
  CHECK(cache_mkdtemp(f->c, "task", &out, E));
  p = path_join(out, "big"); write_rand(p, 100000, 11); free(p);
  p = path_join(out, "small"); write_str(p, "small"); free(p);
  p = path_join(out, "dir"); mkdir_ok(p); free(p);
  p = path_join(out, "dir/inner"); write_rand(p, 20000, 12); free(p);
  p = path_join(out, "dir/note"); write_str(p, "n"); free(p);
  a->outs[0].name = "big";
  a->outs[1].name = "small";
  a->outs[2].name = "dir";
  p = path_join(out, "big"); CHECK(cache_ingest(f->c, p, &a->outs[0], E)); free(p);
  p = path_join(out, "small"); CHECK(cache_ingest(f->c, p, &a->outs[1], E)); free(p);
  p = path_join(out, "dir"); CHECK(cache_ingest(f->c, p, &a->outs[2], E)); free(p);
  cache_rmtree(out);
  free(out);
  a->r.outs = a->outs;
  a->r.nouts = 3;
  a->r.exit_status = 3;
  a->r.has_log = 1;
  CHECK(cache_put_buf(f->c, "log text\n", 9, a->r.log, E));
  a->r.start = 1712345678.25;
  a->r.duration = 12.5;
  a->r.task = "train";
  key_of(keytext, a->key);
  CHECK(cache_action_put(f->c, a->key, "{\"kind\":\"exec\"}", &a->r, E));
}

static void test_round_trip(void **state)
{
  struct fix *f = *state;
  struct action_result got;
  struct act a;
  uint8_t other[PD_DIGEST_LEN];
  size_t i;

  make_action(f, &a, "k1");
  assert_int_equal(CHECK(cache_action_get(f->c, a.key, &got, E)), 1);
  assert_int_equal(got.nouts, 3);
  for (i = 0; i < 3; i++) {
    assert_string_equal(got.outs[i].name, a.outs[i].name);
    assert_memory_equal(got.outs[i].digest, a.outs[i].digest, PD_DIGEST_LEN);
    assert_int_equal(got.outs[i].size, a.outs[i].size);
    assert_int_equal(got.outs[i].is_tree, a.outs[i].is_tree);
  }
  assert_true(got.outs[2].is_tree);
  assert_int_equal(got.outs[2].size, 20001);
  assert_int_equal(got.exit_status, 3);
  assert_int_equal(got.has_log, 1);
  assert_memory_equal(got.log, a.r.log, PD_DIGEST_LEN);
  assert_true(got.start == 1712345678.25);
  assert_true(got.duration == 12.5);
  assert_string_equal(got.task, "train");
  action_result_release(&got);

  key_of("unknown", other);
  assert_int_equal(CHECK(cache_action_get(f->c, other, &got, E)), 0);
  assert_int_equal(got.nouts, 0);

  /* NULL task and names, no outputs, no log */
  memset(&a.r, 0, sizeof a.r);
  a.r.exit_status = -1;
  CHECK(cache_action_put(f->c, other, NULL, &a.r, E));
  assert_int_equal(CHECK(cache_action_get(f->c, other, &got, E)), 1);
  assert_null(got.task);
  assert_int_equal(got.nouts, 0);
  assert_int_equal(got.exit_status, -1);
  assert_int_equal(got.has_log, 0);
  action_result_release(&got);
}

static void test_preimage_and_last(void **state)
{
  struct fix *f = *state;
  uint8_t k[PD_DIGEST_LEN], got[PD_DIGEST_LEN];
  struct action_result r = { 0 };
  char *pre, *longpath;

  key_of("p", k);
  CHECK(cache_action_put(f->c, k, "{\"a\":1,\"b\":[2]}", &r, E));
  assert_int_equal(CHECK(cache_preimage_get(f->c, k, &pre, E)), 1);
  assert_string_equal(pre, "{\"a\":1,\"b\":[2]}");
  free(pre);
  key_of("q", k);
  assert_int_equal(CHECK(cache_preimage_get(f->c, k, &pre, E)), 0);

  CHECK(cache_last_put(f->c, "/g/full.dag", "train", k, E));
  assert_int_equal(CHECK(cache_last_get(f->c, "/g/full.dag", "train", got, E)), 1);
  assert_memory_equal(got, k, PD_DIGEST_LEN);
  assert_int_equal(CHECK(cache_last_get(f->c, "/g/full.dag", "eval", got, E)), 0);
  assert_int_equal(CHECK(cache_last_get(f->c, "/g/other.dag", "train", got, E)), 0);
  /* a path longer than an LMDB key */
  longpath = xmalloc(2000);
  memset(longpath, 'p', 1999);
  longpath[1999] = '\0';
  CHECK(cache_last_put(f->c, longpath, "t", k, E));
  assert_int_equal(CHECK(cache_last_get(f->c, longpath, "t", got, E)), 1);
  free(longpath);
}

static void test_put_needs_blobs(void **state)
{
  struct fix *f = *state;
  struct artifact o = { .name = "ghost", .size = 1 };
  struct action_result r = { .outs = &o, .nouts = 1 };
  struct pd_err err = { 0 };
  uint8_t k[PD_DIGEST_LEN];
  memset(o.digest, 0x11, PD_DIGEST_LEN);
  key_of("x", k);
  assert_int_equal(cache_action_put(f->c, k, "", &r, &err), PD_ECACHE);
  assert_non_null(strstr(err.msg, "ghost"));
}

static void test_miss_when_deleted(void **state)
{
  struct fix *f = *state;
  struct action_result got;
  struct act a;
  char *cas, *out, *p;

  make_action(f, &a, "k2");
  cas = cas_path_of(f, a.outs[0].digest);
  chmod(cas, 0644);
  assert_int_equal(unlink(cas), 0);
  assert_int_equal(CHECK(cache_action_get(f->c, a.key, &got, E)), 0);
  /* rerun: the task stores its output again; a hit once more */
  CHECK(cache_mkdtemp(f->c, "task", &out, E));
  p = path_join(out, "big");
  write_rand(p, 100000, 11);
  CHECK(cache_ingest(f->c, p, &a.outs[0], E));
  assert_int_equal(CHECK(cache_action_get(f->c, a.key, &got, E)), 1);
  action_result_release(&got);
  cache_rmtree(out);
  free(p);
  free(out);
  free(cas);
}

static void test_miss_when_damaged(void **state)
{
  struct fix *f = *state;
  struct action_result got;
  struct act a;
  struct artifact again = { 0 };
  char *cas, *out, *p, *mat;
  struct stat sb;

  make_action(f, &a, "k3");
  CHECK(cache_materialize(f->c, &a.outs[0], &mat, E));
  cas = cas_path_of(f, a.outs[0].digest);
  assert_int_equal(stat(cas, &sb), 0);
  flip_byte(cas, 5000); /* same size */
  assert_int_equal(CHECK(cache_action_get(f->c, a.key, &got, E)), 0);
  assert_int_equal(got.nouts, 0);
  /* the damaged copy and its materialization are gone */
  assert_int_not_equal(access(cas, F_OK), 0);
  assert_int_not_equal(access(mat, F_OK), 0);
  free(mat);

  CHECK(cache_mkdtemp(f->c, "task", &out, E));
  p = path_join(out, "big");
  write_rand(p, 100000, 11);
  CHECK(cache_ingest(f->c, p, &again, E));
  assert_memory_equal(again.digest, a.outs[0].digest, PD_DIGEST_LEN);
  assert_int_equal(CHECK(cache_action_get(f->c, a.key, &got, E)), 1);
  action_result_release(&got);
  CHECK(cache_materialize(f->c, &a.outs[0], &mat, E));
  assert_int_equal(stat(mat, &sb), 0);
  assert_int_equal(sb.st_size, 100000);
  free(mat);

  /* a touch that leaves the bytes alone stays a hit (re-hashed once) */
  {
    struct timespec ts[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
    assert_int_equal(utimensat(AT_FDCWD, cas, ts, 0), 0);
  }
  assert_int_equal(CHECK(cache_action_get(f->c, a.key, &got, E)), 1);
  action_result_release(&got);
  assert_int_equal(CHECK(cache_action_get(f->c, a.key, &got, E)), 1);
  action_result_release(&got);
  cache_rmtree(out);
  free(p);
  free(out);
  free(cas);
}

static void test_miss_when_tree_child_damaged(void **state)
{
  struct fix *f = *state;
  struct action_result got;
  struct act a;
  uint8_t inner[PD_DIGEST_LEN];
  char *cas, *inner_data = rand_bytes(20000, 12), *mat;

  make_action(f, &a, "k4");
  CHECK(cache_materialize(f->c, &a.outs[2], &mat, E));
  digest_buf(inner_data, 20000, inner);
  cas = cas_path_of(f, inner);
  flip_byte(cas, 0);
  assert_int_equal(CHECK(cache_action_get(f->c, a.key, &got, E)), 0);
  assert_int_not_equal(access(mat, F_OK), 0); /* the tree's o/ copy went too */
  CHECK(cache_put_buf(f->c, inner_data, 20000, inner, E));
  assert_int_equal(CHECK(cache_action_get(f->c, a.key, &got, E)), 1);
  action_result_release(&got);
  free(mat);
  free(cas);
  free(inner_data);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_round_trip, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_preimage_and_last, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_put_needs_blobs, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_miss_when_deleted, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_miss_when_damaged, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_miss_when_tree_child_damaged, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
