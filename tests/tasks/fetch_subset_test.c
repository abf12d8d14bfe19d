/* fetch_subset_test.c - tests of tasks/fetch_subset.c through the front
 * end: the kind's tables, a toy run with every output where documented,
 * the same bytes for any thread count, sources not supported yet, the
 * load-time checks of its parameters, and cancellation. */
#include "tasks_test_util.h"

#include <cjson/cJSON.h>

#include "graph.h"
#include "registry.h"
#include "run.h"

static char *dir;
static char cwd0[4096];

static int setup(void **state)
{
  (void)state;
  dir = scratch_dir("fetch_subset_test");
  if (!getcwd(cwd0, sizeof cwd0) || chdir(dir) != 0)
    return -1;
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  if (chdir(cwd0) != 0)
    return -1;
  cache_rmtree(dir);
  free(dir);
  return 0;
}

/* Loads g.dag holding text; returns graph_load's code (err set). */
static int load(struct graph *g, const char *text, struct pd_err *err)
{
  write_str("g.dag", text);
  memset(err, 0, sizeof *err);
  return graph_load(g, "g.dag", NULL, 0, err);
}

/* Runs the graph's first task into outdir (created) as the scheduler
 * would, on this thread. */
static int run(const char *text, int threads, const char *outdir, int cancel, struct pd_err *err)
{
  struct graph g;
  struct task_run *r;
  int rc;
  if ((rc = load(&g, text, err)) != 0)
    fail_msg("graph_load: %s", err->msg);
  cache_rmtree(outdir);
  assert_int_equal(mkdir(outdir, 0755), 0);
  r = xcalloc(1, sizeof *r);
  r->task = &g.tasks[0];
  r->outdir = outdir;
  r->threads = threads;
  r->log = fopen("/dev/null", "w");
  r->frac = -1;
  atomic_init(&r->cancel, cancel);
  pthread_mutex_init(&r->mu, NULL);
  rc = g.tasks[0].kind->run(r);
  *err = r->err;
  if (rc == 0)
    assert_true(r->frac == 1.0);
  fclose(r->log);
  pthread_mutex_destroy(&r->mu);
  free(r);
  graph_release(&g);
  return rc;
}

static size_t count_lines(const char *path)
{
  char *text = read_all(path, NULL), *p;
  size_t n = 0;
  for (p = text; *p; p++)
    n += *p == '\n';
  free(text);
  return n;
}

static void test_kind_tables(void **state)
{
  static const char *const outs[] = { "train", "eval", "pope", "world", "preview" };
  const struct task_kind *k = registry_find("fetch_subset");
  const struct kind_param *p;
  size_t i;
  (void)state;
  assert_non_null(k);
  assert_non_null(k->run);
  assert_false(k->flags & KIND_PROCESS);
  for (i = 0; i < 5; i++) {
    assert_non_null(k->outputs[i].name);
    assert_string_equal(k->outputs[i].name, outs[i]);
    assert_true(strlen(k->outputs[i].doc) > 20);
  }
  assert_null(k->outputs[5].name);
  for (p = k->params; p->name; p++) {
    assert_non_null(p->def); /* every parameter has a default */
    assert_true(strlen(p->doc) > 10);
  }
  assert_non_null(registry_param(k, "partner_noise"));
  assert_non_null(registry_param(k, "threads"));
}

static void test_toy_run(void **state)
{
  struct pd_err err = { 0 };
  char *text;
  cJSON *w;
  size_t n;
  int k;
  (void)state;
  assert_int_equal(run("task s = fetch_subset {\n  train = 40\n  eval = 10\n}\n", 2, "out", 0,
                       &err), 0);
  assert_int_equal(count_lines("out/train/items.jsonl"), 40);
  assert_int_equal(count_lines("out/train/index.tsv"), 41);
  assert_int_equal(count_lines("out/eval/items.jsonl"), 10);
  text = read_all("out/train/images.safetensors", &n);
  assert_true(n > 40 * 3072);
  free(text);
  for (k = 0; k < 3; k++) {
    static const char *const f[] = { "out/pope/random.jsonl", "out/pope/popular.jsonl",
                                     "out/pope/adversarial.jsonl" };
    n = count_lines(f[k]);
    assert_true(n >= 10 * 4 && n <= 10 * 6);
  }
  text = read_all("out/world", NULL);
  w = cJSON_Parse(text);
  assert_non_null(w);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(w, "train"), "images")->valueint, 40);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(w, "eval"), "images")->valueint, 10);
  cJSON_Delete(w);
  free(text);
  text = read_all("out/preview", &n);
  assert_true(n > 100);
  assert_memory_equal(text, "\x89PNG\r\n\x1a\n", 8);
  free(text);
}

static void assert_same_file(const char *a, const char *b)
{
  size_t na, nb;
  char *x = read_all(a, &na), *y = read_all(b, &nb);
  if (na != nb || memcmp(x, y, na) != 0)
    fail_msg("'%s' and '%s' differ", a, b);
  free(x);
  free(y);
}

static void test_threads_same_bytes(void **state)
{
  static const char *const files[] = {
    "train/items.jsonl", "train/images.safetensors", "train/index.tsv", "eval/items.jsonl",
    "eval/images.safetensors", "pope/random.jsonl", "pope/popular.jsonl",
    "pope/adversarial.jsonl", "world", "preview",
  };
  const char *g = "task s = fetch_subset {\n  train = 300\n  eval = 70\n  seed = 5\n}\n";
  struct pd_err err = { 0 };
  size_t i;
  (void)state;
  assert_int_equal(run(g, 1, "t1", 0, &err), 0);
  assert_int_equal(run(g, 3, "t3", 0, &err), 0);
  for (i = 0; i < sizeof files / sizeof files[0]; i++) {
    char *a = xasprintf("t1/%s", files[i]), *b = xasprintf("t3/%s", files[i]);
    assert_same_file(a, b);
    free(a);
    free(b);
  }
}

static void expect_load_error(const char *body, const char *want);

/* Sources refused when the graph loads, each saying what to write instead. */
static void test_unsupported_sources(void **state)
{
  (void)state;
  expect_load_error("  source = \"llava:/data/llava_instruct_150k.json\"\n  train = 5",
                    "g.dag:2:12: error: source 'llava:/data/llava_instruct_150k.json' is not "
                    "supported yet");
  expect_load_error("  source = \"https://example.com/subset.tar\"\n  train = 5",
                    "g.dag:2:12: error: source 'https://example.com/subset.tar' is not supported "
                    "yet: archives are out of scope");
}

static void expect_load_error(const char *body, const char *want)
{
  struct graph g;
  struct pd_err err;
  char *text = xasprintf("task s = fetch_subset {\n%s\n}\n", body);
  assert_int_not_equal(load(&g, text, &err), 0);
  if (!strstr(err.msg, want))
    fail_msg("for '%s': '%s' lacks '%s'", body, err.msg, want);
  free(text);
}

static void test_bad_params(void **state)
{
  (void)state;
  expect_load_error("  source = \"coco\"",
                    "g.dag:2:12: error: unknown source 'coco': expected builtin:shapes, "
                    "llava:PATH or an https:// URL");
  expect_load_error("  source = \"builtin:circles\"", "unknown source 'builtin:circles'");
  expect_load_error("  objects = [1, 2]", "g.dag:2:13: error: parameter 'objects' needs 4 weights, got 2");
  expect_load_error("  objects = [0, 0, 0, 0]", "parameter 'objects': the weights sum to 0");
  expect_load_error("  themes = [1, \"a\", 1]", "parameter 'themes': a weight must be a number >= 0");
  expect_load_error("  themes = [1, -1, 1]", "parameter 'themes': a weight must be a number >= 0");
  expect_load_error("  size_min = 15\n  size_max = 12",
                    "g.dag:3:14: error: parameter 'size_max' (12) is below 'size_min' (15)");
  expect_load_error("  contrast_min = 0.9\n  contrast_max = 0.7",
                    "parameter 'contrast_max' (0.7) is below 'contrast_min' (0.9)");
  expect_load_error("  partner_noise = 2", "parameter 'partner_noise' must be in [0, 1], got 2");
  expect_load_error("  train = 0", "parameter 'train' must be in [1, 1e+06], got 0");
  expect_load_error("  partner_nosie = 0.5", "partner_noise");
}

static void test_cancel(void **state)
{
  struct pd_err err = { 0 };
  (void)state;
  assert_int_equal(run("task s = fetch_subset {\n  train = 100\n}\n", 2, "c", 1, &err), PD_EINTR);
  assert_non_null(strstr(err.msg, "cancelled"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_kind_tables),
    cmocka_unit_test(test_toy_run),
    cmocka_unit_test(test_threads_same_bytes),
    cmocka_unit_test(test_unsupported_sources),
    cmocka_unit_test(test_bad_params),
    cmocka_unit_test(test_cancel),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
