/* runs_test.c - tests of cache/runs.c: run ids, records, listing, pins. */
#include "cache_test_util.h"

#include <ctype.h>

static void test_run_id(void **state)
{
  char a[32], b[32];
  int i;
  (void)state;
  cache_new_run_id(a);
  cache_new_run_id(b);
  /* YYYYMMDD-HHMMSSmmm-xxxxxx */
  assert_int_equal(strlen(a), 25);
  for (i = 0; i < 25; i++) {
    if (i == 8 || i == 18)
      assert_int_equal(a[i], '-');
    else if (i < 18)
      assert_true(isdigit((unsigned char)a[i]));
    else
      assert_true(isxdigit((unsigned char)a[i]));
  }
  assert_true(strncmp(a, "2000", 4) > 0);
  assert_string_not_equal(a, b);
  assert_true(strncmp(a, b, 18) <= 0); /* later ids sort after earlier ones */
}

static void test_runs(void **state)
{
  struct fix *f = *state;
  static const char *const ids[] = {
    "20240102-000000-aaaaaa", "20230101-120000-ffffff", "20240102-000000-000001",
  };
  char **list, *json;
  size_t n, i;
  struct cache_stats st;
  struct pd_err err = { 0 };

  for (i = 0; i < 3; i++) {
    char *j = xasprintf("{\"id\":\"%s\",\"tasks\":[]}", ids[i]);
    CHECK(cache_run_put(f->c, ids[i], j, E));
    free(j);
  }
  CHECK(cache_run_list(f->c, &list, &n, E));
  assert_int_equal(n, 3);
  assert_string_equal(list[0], ids[1]); /* oldest first */
  assert_string_equal(list[1], ids[2]);
  assert_string_equal(list[2], ids[0]);
  for (i = 0; i < n; i++)
    free(list[i]);
  free(list);

  assert_int_equal(CHECK(cache_run_get(f->c, ids[0], &json, E)), 1);
  assert_string_equal(json, "{\"id\":\"20240102-000000-aaaaaa\",\"tasks\":[]}");
  free(json);
  CHECK(cache_run_put(f->c, ids[0], "{\"status\":\"done\"}", E)); /* replaces */
  assert_int_equal(CHECK(cache_run_get(f->c, ids[0], &json, E)), 1);
  assert_string_equal(json, "{\"status\":\"done\"}");
  free(json);
  assert_int_equal(CHECK(cache_run_get(f->c, "19990101-000000-000000", &json, E)), 0);
  assert_null(json);

  CHECK(cache_pin(f->c, ids[1], 1, E));
  CHECK(cache_pin(f->c, ids[1], 1, E));
  CHECK(cache_pin(f->c, ids[2], 1, E));
  CHECK(cache_stats(f->c, &st, E));
  assert_int_equal(st.runs, 3);
  assert_int_equal(st.pinned, 2);
  CHECK(cache_pin(f->c, ids[2], 0, E));
  CHECK(cache_pin(f->c, ids[2], 0, E));
  CHECK(cache_stats(f->c, &st, E));
  assert_int_equal(st.pinned, 1);
  assert_int_equal(cache_pin(f->c, "nope", 1, &err), PD_ENOTFOUND);
  assert_string_equal(err.msg, "cannot pin run 'nope': no such run");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_run_id),
    cmocka_unit_test_setup_teardown(test_runs, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
