/* verify_test.c - tests of cache/verify.c: cache_verify finds damaged and
 * missing blobs without repairing anything; cache_stats counts. */
#include "cache_test_util.h"

/* Runs verify, returns the problem count and the report (malloc'd). */
static uint64_t verify(struct fix *f, char **text)
{
  char *buf = NULL;
  size_t len = 0;
  uint64_t damaged = 99;
  FILE *out = open_memstream(&buf, &len);
  assert_non_null(out);
  CHECK(cache_verify(f->c, out, &damaged, E));
  fclose(out);
  *text = buf;
  return damaged;
}

static void test_verify(void **state)
{
  struct fix *f = *state;
  struct artifact outs[2] = { { .name = "big" }, { .name = "tree" } };
  struct action_result r = { .outs = outs, .nouts = 2, .task = "train" };
  struct action_result got;
  uint8_t key[PD_DIGEST_LEN], m[PD_DIGEST_LEN];
  char *big = rand_bytes(50000, 21), *t = path_join(f->dir, "tree"), *p, *text, *cas, *line;
  char hex[PD_DIGEST_HEX], khex[PD_DIGEST_HEX];
  struct cache_stats st;

  CHECK(cache_put_buf(f->c, big, 50000, outs[0].digest, E));
  outs[0].size = 50000;
  mkdir_ok(t);
  p = path_join(t, "x"); write_rand(p, 40000, 22); free(p);
  p = path_join(t, "y"); write_str(p, "y"); free(p);
  CHECK(cache_ingest(f->c, t, &outs[1], E));
  digest_buf("k", 1, key);
  CHECK(cache_action_put(f->c, key, "{}", &r, E));
  digest_buf("memo", 4, m);
  CHECK(cache_memo_put(f->c, m, big, 50000, E));

  assert_int_equal(verify(f, &text), 0);
  assert_string_equal(text, "");
  free(text);
  CHECK(cache_stats(f->c, &st, E));
  assert_int_equal(st.actions, 1);
  assert_int_equal(st.blobs, 4);
  assert_int_equal(st.trees, 1);
  assert_int_equal(st.file_blobs, 2);
  assert_int_equal(st.inline_blobs, 1);
  assert_int_equal(st.blob_bytes, 50000 + 40000 + 1);

  /* A flipped byte is reported, and left alone. */
  cas = cas_path_of(f, outs[0].digest);
  flip_byte(cas, 10);
  assert_int_equal(verify(f, &text), 1);
  digest_hex(outs[0].digest, hex);
  line = xasprintf("damaged blob %s (cas/%.2s/%s): content hashes to ", hex, hex, hex);
  assert_true(!strncmp(text, line, strlen(line)));
  free(line);
  free(text);
  assert_int_equal(access(cas, F_OK), 0);

  /* The next lookup drops the damaged blob; now the action and the memo
   * name a missing one. */
  assert_int_equal(CHECK(cache_action_get(f->c, key, &got, E)), 0);
  assert_int_equal(verify(f, &text), 2);
  digest_hex(key, khex);
  line = xasprintf("action %s (task 'train') names missing blob %s\n", khex, hex);
  assert_non_null(strstr(text, line));
  free(line);
  assert_non_null(strstr(text, "memo "));
  free(text);

  /* A cas file deleted behind the cache's back. */
  CHECK(cache_put_buf(f->c, big, 50000, outs[0].digest, E));
  {
    uint8_t x[PD_DIGEST_LEN];
    char *xdata = rand_bytes(40000, 22), *xcas;
    digest_buf(xdata, 40000, x);
    xcas = cas_path_of(f, x);
    assert_int_equal(unlink(xcas), 0);
    assert_int_equal(verify(f, &text), 1);
    assert_non_null(strstr(text, "missing blob "));
    assert_non_null(strstr(text, "No such file or directory"));
    free(text);
    free(xcas);
    free(xdata);
  }
  free(cas);
  free(t);
  free(big);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_verify, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
