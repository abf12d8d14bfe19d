/* memo_test.c - tests of cache/memo.c: small and large values. */
#include "cache_test_util.h"

static void test_memo(void **state)
{
  struct fix *f = *state;
  uint8_t k1[PD_DIGEST_LEN], k2[PD_DIGEST_LEN], k3[PD_DIGEST_LEN];
  char *v, *big = rand_bytes(200000, 13);
  struct cache_stats st;
  size_t n;

  digest_buf("item 1", 6, k1);
  digest_buf("item 2", 6, k2);
  digest_buf("item 3", 6, k3);
  assert_int_equal(CHECK(cache_memo_get(f->c, k1, &v, &n, E)), 0);
  assert_null(v);
  CHECK(cache_memo_put(f->c, k1, "{\"answer\":\"a cat\"}", 18, E));
  assert_int_equal(CHECK(cache_memo_get(f->c, k1, &v, &n, E)), 1);
  assert_int_equal(n, 18);
  assert_string_equal(v, "{\"answer\":\"a cat\"}");
  free(v);
  CHECK(cache_memo_put(f->c, k1, "", 0, E)); /* replaced, may be empty */
  assert_int_equal(CHECK(cache_memo_get(f->c, k1, &v, &n, E)), 1);
  assert_int_equal(n, 0);
  free(v);

  /* A large value goes to the blob store. */
  CHECK(cache_memo_put(f->c, k2, big, 200000, E));
  assert_int_equal(CHECK(cache_memo_get(f->c, k2, &v, &n, E)), 1);
  assert_int_equal(n, 200000);
  assert_memory_equal(v, big, n);
  free(v);
  CHECK(cache_stats(f->c, &st, E));
  assert_int_equal(st.file_blobs, 1);

  /* Its blob damaged: no memo, the item is done again. */
  {
    uint8_t d[PD_DIGEST_LEN];
    char *cas;
    digest_buf(big, 200000, d);
    cas = cas_path_of(f, d);
    flip_byte(cas, 7);
    assert_int_equal(CHECK(cache_memo_get(f->c, k2, &v, &n, E)), 0);
    CHECK(cache_memo_put(f->c, k2, big, 200000, E));
    assert_int_equal(CHECK(cache_memo_get(f->c, k2, &v, &n, E)), 1);
    free(v);
    free(cas);
  }
  /* A small value that looks like a blob reference stays a value. */
  {
    char fake[41] = { 1 };
    CHECK(cache_memo_put(f->c, k3, fake, sizeof fake, E));
    assert_int_equal(CHECK(cache_memo_get(f->c, k3, &v, &n, E)), 1);
    assert_int_equal(n, 41);
    assert_memory_equal(v, fake, 41);
    free(v);
  }
  free(big);
}

/* put_many: small and large values in one transaction, all readable. */
static void test_memo_many(void **state)
{
  struct fix *f = *state;
  uint8_t keys[3 * PD_DIGEST_LEN];
  char *big = rand_bytes(50000, 5), *v;
  const void *vals[3] = { "one", big, "" };
  size_t lens[3] = { 3, 50000, 0 }, n, i;

  for (i = 0; i < 3; i++) {
    char name[16];
    snprintf(name, sizeof name, "many %zu", i);
    digest_buf(name, strlen(name), keys + i * PD_DIGEST_LEN);
  }
  CHECK(cache_memo_put_many(f->c, keys, vals, lens, 3, E));
  for (i = 0; i < 3; i++) {
    assert_int_equal(CHECK(cache_memo_get(f->c, keys + i * PD_DIGEST_LEN, &v, &n, E)), 1);
    assert_int_equal(n, lens[i]);
    assert_memory_equal(v, vals[i], n);
    free(v);
  }
  CHECK(cache_memo_put_many(f->c, keys, vals, lens, 0, E)); /* nothing: fine */
  free(big);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_memo, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_memo_many, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
