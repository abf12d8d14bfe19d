/* key_test.c - tests orchestrator/key.c: the canonical preimage (a golden
 * string: changing the encoding silently invalidates every cache, so it must
 * come with a PD_KEY_VERSION bump), what is and is not part of a key, and
 * the early-cutoff property (inputs enter by digest, not by upstream key).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "err.h"
#include "graph.h"
#include "key.h"
#include "strbuf.h"

struct fix {
  char dir[PATH_MAX];
  char cwd[PATH_MAX];
  struct cache *c;
  uint8_t input[PD_DIGEST_LEN]; /* what the fake upstream produced */
  int input_known;
};

static int setup(void **state)
{
  struct fix *f = calloc(1, sizeof *f);
  struct pd_err err = { 0 };
  const char *base = getenv("PD_TEST_TMP");
  char cache_dir[PATH_MAX + 16];
  if (!base || !*base)
    base = "/tmp";
  mkdir(base, 0755);
  snprintf(f->dir, sizeof f->dir, "%s/key_test.XXXXXX", base);
  if (!mkdtemp(f->dir) || !getcwd(f->cwd, sizeof f->cwd) || chdir(f->dir) != 0)
    return -1;
  snprintf(cache_dir, sizeof cache_dir, "%s/.povid", f->dir);
  if (cache_open(&f->c, cache_dir, &err) < 0)
    return -1;
  memset(f->input, 0xab, sizeof f->input);
  f->input_known = 1;
  unsetenv("POVID_CACHE_SALT");
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fix *f = *state;
  cache_close(f->c);
  if (chdir(f->cwd) != 0)
    return -1;
  cache_rmtree(f->dir);
  free(f);
  return 0;
}

static void write_file(const char *path, const char *text)
{
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static const uint8_t *fake_input(void *arg, int node, const char *output)
{
  struct fix *f = arg;
  (void)node;
  (void)output;
  return f->input_known ? f->input : NULL;
}

/* Loads text as g.dag and computes the key of task name. Returns key_compute's rc. */
static int key_of(struct fix *f, const char *text, const char *name, uint8_t key[PD_DIGEST_LEN],
                  char **preimage)
{
  struct graph g;
  struct pd_err err = { 0 };
  struct strbuf pre;
  int rc, t;
  write_file("g.dag", text);
  if (graph_load(&g, "g.dag", NULL, 0, &err) < 0)
    fail_msg("%s", err.msg);
  t = graph_find_task(&g, name);
  assert_true(t >= 0);
  strbuf_init(&pre, 256);
  rc = key_compute(f->c, &g.tasks[t], fake_input, f, &pre, key, &err);
  assert_true(rc >= 0);
  if (preimage)
    *preimage = strbuf_detach(&pre, NULL);
  strbuf_release(&pre);
  graph_release(&g);
  return rc;
}

static void test_golden_preimage(void **state)
{
  struct fix *f = *state;
  uint8_t key[PD_DIGEST_LEN], again[PD_DIGEST_LEN];
  char *pre;
  write_file("s.sh", "echo hi\n");
  key_of(f,
         "task up = exec { command = [\"x\"], outputs = [\"o.txt\"] }\n"
         "task t = exec {\n"
         "  command = [\"sh\", file(\"s.sh\"), up.o, \"${out}/r\", 3, 0.5, true]\n"
         "  outputs = { r = \"r\" }\n"
         "  env = { B = \"2\", A = \"1\" }\n"
         "}\n",
         "t", key, &pre);
  assert_string_equal(
      pre,
      "{\"v\":1,\"salt\":\"povid-dag\",\"kind\":\"exec\",\"version\":1,\"params\":{"
      "\"command\":[\"sh\",{\"$file\":\"s.sh\"},{\"$ref\":\"up.o\"},{\"$cat\":[{\"$out\":true},\"/r\"]},3,0.5,true],"
      "\"env\":{\"A\":\"1\",\"B\":\"2\"},\"inherit_env\":[],\"outputs\":{\"r\":\"r\"},\"shell\":false},"
      "\"inputs\":{\"up.o\":\"abababababababababababababababababababababababababababababababab\"},"
      "\"sources\":{\"s.sh\":\"ab08508fdf5ca4da5c4995987bc41c56c048aaa5eeb046417ae4049b7d40286e\"}}");
  /* The key is the SHA-256 of exactly that text. */
  digest_buf(pre, strlen(pre), again);
  assert_memory_equal(key, again, PD_DIGEST_LEN);
  free(pre);
}

static void test_scheduling_params_not_in_key(void **state)
{
  struct fix *f = *state;
  uint8_t a[PD_DIGEST_LEN], b[PD_DIGEST_LEN];
  key_of(f, "task t = exec { command = [\"x\"] }\n", "t", a, NULL);
  key_of(f, "pool p = 2\ntask t = exec { command = [\"x\"], pool = \"p\", threads = 4, retries = 3, "
            "timeout = 9.5 }\n", "t", b, NULL);
  assert_memory_equal(a, b, PD_DIGEST_LEN);
  /* ...but a param that changes the command does change it. */
  key_of(f, "task t = exec { command = [\"y\"] }\n", "t", b, NULL);
  assert_memory_not_equal(a, b, PD_DIGEST_LEN);
}

static void test_inputs_by_digest(void **state)
{
  struct fix *f = *state;
  const char *g = "task up = exec { command = [\"x\"], outputs = [\"o\"] }\n"
                  "task t = exec { command = [\"cat\", up.o] }\n";
  const char *g2 = "task up = exec { command = [\"something else\"], outputs = [\"o\"] }\n"
                   "task t = exec { command = [\"cat\", up.o] }\n";
  uint8_t a[PD_DIGEST_LEN], b[PD_DIGEST_LEN];
  key_of(f, g, "t", a, NULL);
  /* The upstream task changed but produced the same bytes: same key (early cutoff). */
  key_of(f, g2, "t", b, NULL);
  assert_memory_equal(a, b, PD_DIGEST_LEN);
  /* Different bytes: different key. */
  f->input[0] ^= 1;
  key_of(f, g, "t", b, NULL);
  assert_memory_not_equal(a, b, PD_DIGEST_LEN);
  /* Unknown input: no key yet. */
  f->input_known = 0;
  assert_int_equal(key_of(f, g, "t", b, NULL), 1);
}

static void test_sources_by_content(void **state)
{
  struct fix *f = *state;
  const char *g = "task t = exec { command = [\"sh\", file(\"s.sh\"), dir(\"d\")] }\n";
  uint8_t a[PD_DIGEST_LEN], b[PD_DIGEST_LEN];
  struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
  mkdir("d", 0755);
  write_file("d/x", "1");
  write_file("s.sh", "echo one\n");
  key_of(f, g, "t", a, NULL);
  /* Rewritten with the same bytes (new mtime): same key. */
  write_file("s.sh", "echo one\n");
  utimensat(AT_FDCWD, "s.sh", ts, 0);
  key_of(f, g, "t", b, NULL);
  assert_memory_equal(a, b, PD_DIGEST_LEN);
  write_file("s.sh", "echo two\n");
  key_of(f, g, "t", b, NULL);
  assert_memory_not_equal(a, b, PD_DIGEST_LEN);
  write_file("s.sh", "echo one\n");
  write_file("d/y", "2");
  key_of(f, g, "t", b, NULL);
  assert_memory_not_equal(a, b, PD_DIGEST_LEN);
}

static void test_salt(void **state)
{
  struct fix *f = *state;
  uint8_t a[PD_DIGEST_LEN], b[PD_DIGEST_LEN];
  key_of(f, "task t = exec { command = [\"x\"] }\n", "t", a, NULL);
  setenv("POVID_CACHE_SALT", "team-b", 1);
  key_of(f, "task t = exec { command = [\"x\"] }\n", "t", b, NULL);
  unsetenv("POVID_CACHE_SALT");
  assert_memory_not_equal(a, b, PD_DIGEST_LEN);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_golden_preimage, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scheduling_params_not_in_key, setup, teardown),
    cmocka_unit_test_setup_teardown(test_inputs_by_digest, setup, teardown),
    cmocka_unit_test_setup_teardown(test_sources_by_content, setup, teardown),
    cmocka_unit_test_setup_teardown(test_salt, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
