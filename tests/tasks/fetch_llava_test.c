/* fetch_llava_test.c - tests of tasks/fetch_llava.c: the type rule,
 * parsing, the stratified pick (deterministic, balanced, prefix-stable),
 * the resize, every bad input with its exact error, and whole runs of
 * fetch_subset with source "llava" and a file:// URL through the front end
 * (with the load-time checks of their parameters). Data: a tiny LLaVA JSON
 * and PNGs written with stb_image_write in a scratch folder. */
#include "tasks_test_util.h"

#include <stb_image_write.h>

#include "digest.h"
#include "fetch_llava.h"
#include "graph.h"
#include "registry.h"
#include "run.h"
#include "safetensors.h"
#include "strbuf.h"

static char *dir;

/* Item k of a generated set: type k % 3 (description, reasoning,
 * conversation), image img-<k>.png. */
static void add_item(struct strbuf *b, size_t k)
{
  static const char *const conv[] = {
    "[{\"from\":\"human\",\"value\":\"<image>\\nDescribe the following image.\"},"
    "{\"from\":\"gpt\",\"value\":\"A red square.\"}]",
    "[{\"from\":\"human\",\"value\":\"Why is the sky blue?\\n<image>\"},"
    "{\"from\":\"gpt\",\"value\":\"Scattering.\"}]",
    "[{\"from\":\"human\",\"value\":\"<image>\\nWhat colour is it?\"},"
    "{\"from\":\"gpt\",\"value\":\"Red.\"},{\"from\":\"human\",\"value\":\"Is it big?\"},"
    "{\"from\":\"gpt\",\"value\":\"No.\"}]",
  };
  strbuf_addf(b, "%s{\"id\":\"%06zu\",\"image\":\"img-%zu.png\",\"conversations\":%s}",
              k ? ",\n" : "[", k, k, conv[k % 3]);
}

static void write_set(const char *path, size_t n)
{
  struct strbuf b;
  size_t k;
  strbuf_init(&b, 4096);
  for (k = 0; k < n; k++)
    add_item(&b, k);
  strbuf_addstr(&b, "]\n");
  write_str(path, b.buf);
  strbuf_release(&b);
}

/* A w x h PNG whose pixels are (k, x, y). */
static void write_png(const char *path, int w, int h, int k)
{
  uint8_t *p = xmalloc((size_t)w * (size_t)h * 3);
  int x, y;
  for (y = 0; y < h; y++)
    for (x = 0; x < w; x++) {
      uint8_t *q = &p[((size_t)y * (size_t)w + (size_t)x) * 3];
      q[0] = (uint8_t)k;
      q[1] = (uint8_t)x;
      q[2] = (uint8_t)y;
    }
  assert_true(stbi_write_png(path, w, h, 3, p, w * 3) != 0);
  free(p);
}

static void write_images(size_t n)
{
  size_t k;
  mkdir("data", 0755);
  mkdir("data/images", 0755);
  for (k = 0; k < n; k++) {
    char *p = xasprintf("data/images/img-%zu.png", k);
    write_png(p, 48 + (int)k, 40, (int)k);
    free(p);
  }
}

static int setup(void **state)
{
  (void)state;
  dir = scratch_dir("fetch_llava_test");
  if (chdir(dir) != 0)
    return -1;
  mkdir("data", 0755);
  write_set("data/llava.json", 12);
  write_images(12);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  if (chdir("/") != 0)
    return -1;
  cache_rmtree(dir);
  free(dir);
  return 0;
}

static void test_type_rule(void **state)
{
  (void)state;
  assert_int_equal(fetch_llava_type_of("1", "<image>\nDescribe the image.", 1), LLAVA_DESCRIPTION);
  assert_int_equal(fetch_llava_type_of("1", "Give a DETAILED DESCRIPTION <image>", 1), LLAVA_DESCRIPTION);
  assert_int_equal(fetch_llava_type_of("1", "<image>\nDescribe it.", 2), LLAVA_CONVERSATION);
  assert_int_equal(fetch_llava_type_of("1", "<image>\nWhat is odd here?", 1), LLAVA_REASONING);
  assert_int_equal(fetch_llava_type_of("detail_12", "<image>\nWhat?", 3), LLAVA_DESCRIPTION);
  assert_int_equal(fetch_llava_type_of("Complex_3", "<image>\nDescribe.", 1), LLAVA_REASONING);
  assert_int_equal(fetch_llava_type_of("conv_9", "<image>\nDescribe.", 1), LLAVA_CONVERSATION);
}

static void test_parse(void **state)
{
  struct llava_set s;
  struct pd_err err = { 0 };
  (void)state;
  CHECK(llava_set_load(&s, "data/llava.json", &err));
  assert_int_equal(s.n, 12);
  assert_int_equal(s.count[LLAVA_DESCRIPTION], 4);
  assert_int_equal(s.count[LLAVA_REASONING], 4);
  assert_int_equal(s.count[LLAVA_CONVERSATION], 4);
  assert_string_equal(s.items[5].id, "000005");
  assert_string_equal(s.items[5].image, "img-5.png");
  assert_int_equal(s.items[5].type, LLAVA_CONVERSATION);
  assert_string_equal(s.items[1].conversations,
                      "[{\"from\":\"human\",\"value\":\"Why is the sky blue?\\n<image>\"},"
                      "{\"from\":\"gpt\",\"value\":\"Scattering.\"}]");
  llava_set_release(&s);
}

static void count_types(const struct llava_set *s, const size_t *idx, size_t n, size_t c[3])
{
  size_t i;
  c[0] = c[1] = c[2] = 0;
  for (i = 0; i < n; i++)
    c[s->items[idx[i]].type]++;
}

static void test_pick(void **state)
{
  struct llava_set s;
  struct pd_err err = { 0 };
  size_t tr[90], ev[90], tr2[90], ev2[90], c[3], i, j, differ = 0;
  (void)state;
  write_set("big.json", 90);
  CHECK(llava_set_load(&s, "big.json", &err));
  /* Deterministic and balanced. */
  CHECK(fetch_llava_pick(&s, 7, 30, 9, tr, ev, &err));
  CHECK(fetch_llava_pick(&s, 7, 30, 9, tr2, ev2, &err));
  assert_memory_equal(tr, tr2, 30 * sizeof *tr);
  assert_memory_equal(ev, ev2, 9 * sizeof *ev);
  count_types(&s, tr, 30, c);
  assert_true(c[0] == 10 && c[1] == 10 && c[2] == 10);
  count_types(&s, ev, 9, c);
  assert_true(c[0] == 3 && c[1] == 3 && c[2] == 3);
  count_types(&s, tr, 7, c); /* any prefix differs by at most 1 */
  assert_true(c[0] == 3 && c[1] == 2 && c[2] == 2);
  for (i = 0; i < 30; i++) /* disjoint */
    for (j = 0; j < 9; j++)
      assert_true(tr[i] != ev[j]);
  /* Prefix-stable, and train does not depend on the eval count. */
  CHECK(fetch_llava_pick(&s, 7, 11, 4, tr2, ev2, &err));
  assert_memory_equal(tr, tr2, 11 * sizeof *tr);
  assert_memory_equal(ev, ev2, 4 * sizeof *ev);
  CHECK(fetch_llava_pick(&s, 7, 30, 0, tr2, ev2, &err));
  assert_memory_equal(tr, tr2, 30 * sizeof *tr);
  /* Another seed, another pick. */
  CHECK(fetch_llava_pick(&s, 8, 30, 9, tr2, ev2, &err));
  for (i = 0; i < 30; i++)
    differ += tr[i] != tr2[i];
  assert_true(differ > 10);
  /* Everything: still disjoint and complete. */
  CHECK(fetch_llava_pick(&s, 7, 80, 10, tr2, ev2, &err));
  {
    int seen[90] = { 0 };
    for (i = 0; i < 80; i++)
      seen[tr2[i]]++;
    for (i = 0; i < 10; i++)
      seen[ev2[i]]++;
    for (i = 0; i < 90; i++)
      assert_int_equal(seen[i], 1);
  }
  /* Too many. */
  assert_int_equal(fetch_llava_pick(&s, 7, 85, 10, tr2, ev2, &err), PD_EUSAGE);
  assert_string_equal(err.msg, "'big.json' has 90 items, fewer than train + eval = 95");
  llava_set_release(&s);
}

static void test_resize(void **state)
{
  /* 4 x 2: the center square is columns 1..2. */
  static const uint8_t wide[4 * 2 * 3] = {
    0, 0, 0,   10, 20, 30,   30, 40, 50,   255, 255, 255,
    9, 9, 9,   50, 60, 70,   70, 80, 91,   255, 255, 255,
  };
  uint8_t out[4 * 4 * 3];
  int i;
  (void)state;
  fetch_llava_resize(wide, 4, 2, 1, out);
  assert_int_equal(out[0], 40); /* (10 + 30 + 50 + 70) / 4 */
  assert_int_equal(out[1], 50);
  assert_int_equal(out[2], 60); /* (30 + 50 + 70 + 91) / 4 = 60.25 */
  fetch_llava_resize(wide, 4, 2, 2, out); /* the crop itself */
  assert_memory_equal(out, &wide[3], 6);
  assert_memory_equal(out + 6, &wide[15], 6);
  fetch_llava_resize(wide, 4, 2, 4, out); /* enlarged: nearest */
  for (i = 0; i < 4; i++)
    assert_memory_equal(&out[(size_t)i * 3], &wide[3 * (1 + i / 2)], 3);
}

static void test_image(void **state)
{
  struct llava_set s;
  struct pd_err err = { 0 };
  uint8_t px[8 * 8 * 3];
  (void)state;
  CHECK(llava_set_load(&s, "data/llava.json", &err));
  CHECK(fetch_llava_load_image(&s, 3, "data/images", 8, px, &err));
  /* img-3 is 51 x 40: crop x 5..44, 5x5 boxes; red = 3 everywhere. */
  assert_int_equal(px[0], 3);
  assert_int_equal(px[1], 5 + 2);  /* mean of x 5..9 */
  assert_int_equal(px[2], 2);      /* mean of y 0..4 */
  llava_set_release(&s);
}

static void expect_load_error(const char *json, const char *want)
{
  struct llava_set s;
  struct pd_err err = { 0 };
  write_str("bad.json", json);
  assert_true(llava_set_load(&s, "bad.json", &err) < 0);
  assert_string_equal(err.msg, want);
}

static void test_bad_json(void **state)
{
  (void)state;
  expect_load_error("[{\"id\": \"1\",\n  \"image\" \"a.png\"}]",
                    "'bad.json':2:11: malformed JSON (byte 23)");
  expect_load_error("{\"id\": 1}", "'bad.json': expected a JSON array of LLaVA items");
  expect_load_error("[{\"image\": \"a.png\"}]", "'bad.json': item 0 has no \"id\"");
  expect_load_error("[{\"id\": \"x\", \"conversations\": []}]",
                    "'bad.json': item 'x' (index 0) has no \"image\"");
  expect_load_error("[{\"id\": 7, \"image\": \"../a.png\"}]",
                    "'bad.json': item '7' (index 0): image name '../a.png' must be relative, "
                    "without '..'");
  expect_load_error("[{\"id\": \"x\", \"image\": \"a.png\"}]",
                    "'bad.json': item 'x' (index 0) has no conversations");
  expect_load_error("[{\"id\": \"x\", \"image\": \"a.png\", \"conversations\": []}]",
                    "'bad.json': item 'x' (index 0) has no conversations");
  expect_load_error("[{\"id\": \"x\", \"image\": \"a.png\", \"conversations\": [{\"from\": \"human\"}]}]",
                    "'bad.json': item 'x' (index 0): turn 1 needs string \"from\" and \"value\"");
  expect_load_error("[{\"id\": \"x\", \"image\": \"a.png\", \"conversations\": "
                    "[{\"from\": \"bot\", \"value\": \"hi\"}]}]",
                    "'bad.json': item 'x' (index 0): turn 1 is from 'bot' (expected human or gpt)");
  expect_load_error("[{\"id\": \"x\", \"image\": \"a.png\", \"conversations\": "
                    "[{\"from\": \"human\", \"value\": \"hi\"}]}]",
                    "'bad.json': item 'x' (index 0): the first human turn lacks the <image> token");
  expect_load_error("", "'bad.json':1:1: malformed JSON (byte 0)");
}

static void test_bad_images(void **state)
{
  struct llava_set s;
  struct pd_err err = { 0 };
  uint8_t px[8 * 8 * 3];
  (void)state;
  write_set("two.json", 2);
  mkdir("imgs", 0755);
  write_str("imgs/img-1.png", "not a png at all");
  CHECK(llava_set_load(&s, "two.json", &err));
  assert_int_equal(fetch_llava_load_image(&s, 0, "imgs", 8, px, &err), -ENOENT);
  assert_string_equal(err.msg, "item '000000': image 'imgs/img-0.png' not found");
  pd_err_clear(&err);
  assert_int_equal(fetch_llava_load_image(&s, 1, "imgs", 8, px, &err), PD_EUSAGE);
  if (strncmp(err.msg, "item '000001': cannot decode image 'imgs/img-1.png': ", 53) != 0)
    fail_msg("%s", err.msg);
  llava_set_release(&s);
}

/* --- whole runs through the front end ------------------------------------ */

static int load(struct graph *g, const char *text, struct pd_err *err)
{
  write_str("g.dag", text);
  memset(err, 0, sizeof *err);
  return graph_load(g, "g.dag", NULL, 0, err);
}

static int run(const char *text, const char *outdir, struct pd_err *err)
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
  r->threads = 1;
  r->log = fopen("/dev/null", "w");
  r->frac = -1;
  atomic_init(&r->cancel, 0);
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

static void check_outputs(const char *out, size_t ntrain, size_t neval, int size)
{
  struct safetensors st;
  struct pd_err err = { 0 };
  const struct st_tensor *t;
  char *p, *text;
  p = xasprintf("%s/train/items.jsonl", out);
  assert_int_equal(count_lines(p), ntrain);
  text = read_all(p, NULL);
  {
    static const char head[] = "{\"id\":\"train-000000\",\"image\":\"train-000000\",\"type\":";
    assert_memory_equal(text, head, sizeof head - 1);
  }
  assert_non_null(strstr(text, "\"objects\":[],\"mentions\":[]}\n"));
  free(text);
  free(p);
  p = xasprintf("%s/eval/index.tsv", out);
  assert_int_equal(count_lines(p), neval + 1);
  free(p);
  p = xasprintf("%s/train/images.safetensors", out);
  CHECK(safetensors_open(&st, p, &err));
  assert_non_null(t = safetensors_find(&st, "images"));
  assert_int_equal(t->ndim, 4);
  assert_true(t->shape[0] == (int64_t)ntrain && t->shape[1] == size && t->shape[2] == size &&
              t->shape[3] == 3);
  safetensors_close(&st);
  free(p);
  p = xasprintf("%s/pope/adversarial.jsonl", out);
  assert_int_equal(count_lines(p), 0);
  free(p);
  p = xasprintf("%s/world", out);
  text = read_all(p, NULL);
  assert_non_null(strstr(text, "\"categories\":[]"));
  assert_non_null(strstr(text, "\"note\":"));
  free(text);
  free(p);
  p = xasprintf("%s/preview", out);
  text = read_all(p, NULL);
  assert_memory_equal(text, "\x89PNG", 4);
  free(text);
  free(p);
}

static void test_run_llava(void **state)
{
  struct pd_err err = { 0 };
  char *a, *b;
  (void)state;
  CHECK(run("task s = fetch_subset {\n  source = \"llava\"\n  json = file(\"data/llava.json\")\n"
            "  images_dir = dir(\"data/images\")\n  train = 4\n  eval = 2\n}\n", "o1", &err));
  check_outputs("o1", 4, 2, 32);
  /* Same bytes again; image_size changes the tensor. */
  CHECK(run("task s = fetch_subset {\n  source = \"llava\"\n  json = file(\"data/llava.json\")\n"
            "  images_dir = dir(\"data/images\")\n  train = 4\n  eval = 2\n}\n", "o2", &err));
  a = read_all("o1/train/images.safetensors", NULL);
  b = read_all("o2/train/images.safetensors", NULL);
  assert_string_equal(a, b); /* header */
  free(a);
  free(b);
  CHECK(run("task s = fetch_subset {\n  source = \"llava\"\n  json = file(\"data/llava.json\")\n"
            "  images_dir = dir(\"data/images\")\n  train = 3\n  eval = 3\n  image_size = 16\n}\n",
            "o3", &err));
  check_outputs("o3", 3, 3, 16);
  /* A missing image fails the run, naming the item and the path. */
  rename("data/images/img-0.png", "data/images/img-0.bak");
  assert_int_equal(run("task s = fetch_subset {\n  source = \"llava\"\n  json = file(\"data/llava.json\")\n"
                       "  images_dir = dir(\"data/images\")\n  train = 10\n  eval = 2\n}\n",
                       "o4", &err),
                   -ENOENT);
  a = xasprintf("item '000000': image '%s/data/images/img-0.png' not found", dir);
  assert_string_equal(err.msg, a);
  free(a);
  rename("data/images/img-0.bak", "data/images/img-0.png");
}

static void test_run_url(void **state)
{
  struct pd_err err = { 0 };
  uint8_t d[PD_DIGEST_LEN];
  char hex[PD_DIGEST_HEX], *g;
  size_t n;
  char *json = read_all("data/llava.json", &n);
  (void)state;
  digest_buf(json, n, d);
  digest_hex(d, hex);
  g = xasprintf("task s = fetch_subset {\n  source = \"file://%s/data/llava.json\"\n"
                "  sha256 = \"%s\"\n  images_dir = dir(\"data/images\")\n  train = 4\n"
                "  eval = 2\n}\n", dir, hex);
  CHECK(run(g, "u1", &err));
  check_outputs("u1", 4, 2, 32);
  free(g);
  /* The same data as source "llava". */
  CHECK(run("task s = fetch_subset {\n  source = \"llava\"\n  json = file(\"data/llava.json\")\n"
            "  images_dir = dir(\"data/images\")\n  train = 4\n  eval = 2\n}\n", "u2", &err));
  {
    char *a = read_all("u1/train/items.jsonl", NULL), *b = read_all("u2/train/items.jsonl", NULL);
    assert_string_equal(a, b);
    free(a);
    free(b);
  }
  /* Pin mismatch. */
  hex[0] = hex[0] == 'f' ? 'e' : 'f';
  g = xasprintf("task s = fetch_subset {\n  source = \"file://%s/data/llava.json\"\n"
                "  sha256 = \"%s\"\n  images_dir = dir(\"data/images\")\n  train = 4\n"
                "  eval = 2\n}\n", dir, hex);
  assert_int_equal(run(g, "u3", &err), PD_ECORRUPT);
  assert_non_null(strstr(err.msg, "sha256 mismatch: expected "));
  free(g);
  free(json);
}

static void expect_graph_error(const char *body, const char *want)
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
  expect_graph_error("  source = \"llava\"\n  images_dir = dir(\"data/images\")",
                     "g.dag:2:12: error: source \"llava\" needs json = file(\"...\")");
  expect_graph_error("  source = \"llava\"\n  json = dir(\"data\")\n  images_dir = dir(\"data\")",
                     "g.dag:3:10: error: parameter 'json' must be a file(\"...\") or a task's output");
  expect_graph_error("  source = \"llava\"\n  json = file(\"data/llava.json\")",
                     "g.dag:2:12: error: source 'llava' needs images_dir = dir(\"...\")");
  expect_graph_error("  source = \"llava\"\n  json = file(\"data/llava.json\")\n"
                     "  images_dir = \"data/images\"",
                     "g.dag:4:16: error: parameter 'images_dir' must be a dir(\"...\")");
  expect_graph_error("  source = \"https://example.com/llava.json\"\n  images_dir = dir(\"data\")",
                     "source 'https://example.com/llava.json' needs sha256 = \"<64 hex digits>\"");
  expect_graph_error("  source = \"https://example.com/llava.json\"\n  sha256 = \"abc\"\n"
                     "  images_dir = dir(\"data\")",
                     "g.dag:3:12: error: parameter 'sha256' must be 64 hex digits, got 'abc'");
  expect_graph_error("  json = file(\"data/llava.json\")",
                     "parameter 'json' is only used with source \"llava\" or a URL");
  expect_graph_error("  image_size = 64", "parameter 'image_size': builtin:shapes images are 32x32");
  /* llava:PATH: refused when the graph loads, with what to write instead. */
  expect_graph_error("  source = \"llava:data/llava.json\"",
                     "write source = \"llava\", json = file(\"data/llava.json\"), "
                     "images_dir = dir(\"...\")");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_type_rule),
    cmocka_unit_test(test_parse),
    cmocka_unit_test(test_pick),
    cmocka_unit_test(test_resize),
    cmocka_unit_test(test_image),
    cmocka_unit_test(test_bad_json),
    cmocka_unit_test(test_bad_images),
    cmocka_unit_test(test_run_llava),
    cmocka_unit_test(test_run_url),
    cmocka_unit_test(test_bad_params),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
