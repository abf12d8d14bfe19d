/* distort_images_test.c - tests of tasks/distort_images.c through the front
 * end, on fetch_subset splits made in the scratch directory: the kind's
 * tables, a run's outputs (format, metadata, index, and values recomputed
 * from the documented noise key), the same bytes for any thread count,
 * subset stability, bare-file inputs keyed by row, bad inputs named in the
 * error, load-time checks, device = "cuda" and cancellation. */
#include "tasks_test_util.h"

#include <math.h>

#include "digest.h"
#include "distort.h"
#include "graph.h"
#include "registry.h"
#include "run.h"
#include "safetensors.h"

#define P (32 * 32 * 3)

static char *dir;
static char cwd0[4096];

/* Runs the graph's first task into outdir (created) as the scheduler
 * would, on this thread. */
static int run(const char *text, int threads, const char *outdir, int cancel, struct pd_err *err)
{
  struct graph g;
  struct task_run *r;
  int rc;
  write_str("g.dag", text);
  memset(err, 0, sizeof *err);
  if ((rc = graph_load(&g, "g.dag", NULL, 0, err)) != 0)
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

/* distort_images on images (a graph-language value) with extra lines. */
static int distort(const char *images, const char *extra, int threads, const char *outdir,
                   struct pd_err *err)
{
  char *g = xasprintf("task n = distort_images {\n  images = %s\n%s}\n", images, extra);
  int rc = run(g, threads, outdir, 0, err);
  free(g);
  return rc;
}

static void must(int rc, const struct pd_err *err)
{
  if (rc != 0)
    fail_msg("run failed: %d: %s", rc, err->msg);
}

static int setup(void **state)
{
  struct pd_err err;
  (void)state;
  dir = scratch_dir("distort_images_test");
  if (!getcwd(cwd0, sizeof cwd0) || chdir(dir) != 0)
    return -1;
  /* Two splits of one world: 30 images are a prefix of 100. */
  must(run("task s = fetch_subset {\n  train = 100\n  eval = 1\n}\n", 2, "fs100", 0, &err), &err);
  must(run("task s = fetch_subset {\n  train = 30\n  eval = 1\n}\n", 2, "fs30", 0, &err), &err);
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

/* The F32 rows of out/noisy/images.safetensors (malloc'd); *n rows. */
static float *read_noisy(const char *out, int64_t *n, struct safetensors *keep)
{
  struct pd_err err = { 0 };
  struct safetensors st;
  const struct st_tensor *t;
  char *path = xasprintf("%s/noisy/images.safetensors", out);
  float *x;
  CHECK(safetensors_open(&st, path, &err));
  t = safetensors_find(&st, "images");
  assert_non_null(t);
  assert_string_equal(t->dtype, "F32");
  assert_int_equal(t->ndim, 4);
  assert_int_equal(t->shape[1], 32);
  assert_int_equal(t->shape[2], 32);
  assert_int_equal(t->shape[3], 3);
  *n = t->shape[0];
  x = xmalloc((size_t)*n * P * sizeof *x);
  CHECK(safetensors_read(&st, t, 0, x, (size_t)*n * P * sizeof *x, &err));
  if (keep)
    *keep = st;
  else
    safetensors_close(&st);
  free(path);
  return x;
}

static uint8_t *read_clean(const char *path, int64_t *n)
{
  struct pd_err err = { 0 };
  struct safetensors st;
  const struct st_tensor *t;
  uint8_t *x;
  CHECK(safetensors_open(&st, path, &err));
  t = safetensors_find(&st, "images");
  *n = t->shape[0];
  x = xmalloc((size_t)*n * P);
  CHECK(safetensors_read(&st, t, 0, x, (size_t)*n * P, &err));
  safetensors_close(&st);
  return x;
}

static void test_kind_tables(void **state)
{
  static const char *const outs[] = { "noisy", "preview", "grid" };
  const struct task_kind *k = registry_find("distort_images");
  const struct kind_param *p;
  size_t i;
  (void)state;
  assert_non_null(k);
  assert_non_null(k->run);
  for (i = 0; i < 3; i++) {
    assert_string_equal(k->outputs[i].name, outs[i]);
    assert_true(strlen(k->outputs[i].doc) > 20);
  }
  assert_null(k->outputs[3].name);
  for (p = k->params; p->name; p++) {
    assert_true(p->def != NULL || strcmp(p->name, "images") == 0);
    assert_true(strlen(p->doc) > 10);
  }
  assert_non_null(registry_param(k, "step"));
  assert_non_null(registry_param(k, "threads"));
}

static uint64_t id_of(const char *s)
{
  uint8_t d[PD_DIGEST_LEN];
  uint64_t h = 0;
  int k;
  digest_buf(s, strlen(s), d);
  for (k = 7; k >= 0; k--)
    h = h << 8 | d[k];
  return h;
}

static void test_toy_run(void **state)
{
  struct pd_err err = { 0 };
  struct safetensors st;
  int64_t n, nclean, i;
  float *noisy, *want;
  uint8_t *clean;
  uint64_t ids[100];
  struct distort_coef c = { 7, 0, 0, 0 };
  char *text, id[32];
  size_t len;
  (void)state;
  must(distort("dir(\"fs100/train\")", "  draws = 2\n  seed = 7\n", 2, "out", &err), &err);
  noisy = read_noisy("out", &n, &st);
  assert_int_equal(n, 200);
  assert_string_equal(safetensors_meta(&st, "step"), "500");
  assert_string_equal(safetensors_meta(&st, "schedule"), "sigmoid");
  assert_string_equal(safetensors_meta(&st, "draws"), "2");
  assert_string_equal(safetensors_meta(&st, "clamp"), "false");
  assert_true(fabs(atof(safetensors_meta(&st, "sqrt_abar")) - 0.863017) < 1e-6);
  assert_true(fabs(atof(safetensors_meta(&st, "sqrt_one_minus_abar")) - 0.505175) < 1e-6);
  safetensors_close(&st);

  /* Row i * 2 + d is draw d of image i, keyed by the SHA-256 of its id. */
  clean = read_clean("fs100/train/images.safetensors", &nclean);
  assert_int_equal(nclean, 100);
  for (i = 0; i < 100; i++) {
    snprintf(id, sizeof id, "train-%06d", (int)i);
    ids[i] = id_of(id);
  }
  distort_coef_at(&c, DISTORT_SIGMOID, 500);
  want = xmalloc(200 * (size_t)P * sizeof *want);
  distort_forward(want, clean, ids, &c, 100, 2, P);
  assert_memory_equal(noisy, want, 200 * (size_t)P * sizeof *want);

  text = read_all("out/noisy/index.tsv", &len);
  assert_true(strncmp(text, "image\tdraw\trow\ntrain-000000\t0\t0\ntrain-000000\t1\t1\n"
                            "train-000001\t0\t2\n", 49) == 0);
  assert_non_null(strstr(text, "train-000099\t1\t199\n"));
  free(text);
  text = read_all("out/preview", &len);
  assert_true(len > 1000);
  assert_memory_equal(text, "\x89PNG\r\n\x1a\n", 8);
  free(text);
  text = read_all("out/grid", &len);
  assert_true(len > 1000);
  assert_memory_equal(text, "\x89PNG\r\n\x1a\n", 8);
  free(text);
  free(want);
  free(clean);
  free(noisy);
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
  static const char *const files[] = { "noisy/images.safetensors", "noisy/index.tsv", "preview",
                                       "grid" };
  struct pd_err err = { 0 };
  size_t i;
  (void)state;
  must(distort("dir(\"fs100/train\")", "  clamp = true\n", 1, "t1", &err), &err);
  must(distort("dir(\"fs100/train\")", "  clamp = true\n", 3, "t3", &err), &err);
  for (i = 0; i < 4; i++) {
    char *a = xasprintf("t1/%s", files[i]), *b = xasprintf("t3/%s", files[i]);
    assert_same_file(a, b);
    free(a);
    free(b);
  }
}

/* The first 30 images of the 100-image split get the noise of the 30-image
 * split, for a directory (ids from index.tsv) and for bare files (rows). */
static void test_subset_stability(void **state)
{
  static const char *const inputs[2][2] = {
    { "dir(\"fs30/train\")", "dir(\"fs100/train\")" },
    { "file(\"fs30/train/images.safetensors\")", "file(\"fs100/train/images.safetensors\")" },
  };
  struct pd_err err = { 0 };
  int64_t n30, n100;
  int k;
  (void)state;
  for (k = 0; k < 2; k++) {
    float *a, *b;
    must(distort(inputs[k][0], "  step = 250\n  draws = 3\n", 2, "s30", &err), &err);
    must(distort(inputs[k][1], "  step = 250\n  draws = 3\n", 2, "s100", &err), &err);
    a = read_noisy("s30", &n30, NULL);
    b = read_noisy("s100", &n100, NULL);
    assert_int_equal(n30, 90);
    assert_int_equal(n100, 300);
    assert_memory_equal(a, b, 90 * (size_t)P * sizeof *a);
    free(a);
    free(b);
  }
}

static void test_file_input(void **state)
{
  struct pd_err err = { 0 };
  char *text;
  (void)state;
  must(distort("file(\"fs30/train/images.safetensors\")", "", 1, "f", &err), &err);
  text = read_all("f/noisy/index.tsv", NULL);
  assert_true(strncmp(text, "image\tdraw\trow\n0\t0\t0\n1\t0\t1\n", 27) == 0);
  free(text);
}

/* Runs on images and expects an error whose message holds want and want2. */
static void expect_run_error(const char *images, const char *want, const char *want2)
{
  struct pd_err err = { 0 };
  assert_int_not_equal(distort(images, "", 1, "bad", &err), 0);
  if (!strstr(err.msg, want) || (want2 && !strstr(err.msg, want2)))
    fail_msg("for %s: '%s' lacks '%s'%s%s", images, err.msg, want, want2 ? " or " : "",
             want2 ? want2 : "");
}

static void write_tensor(const char *path, const char *name, const char *dtype, int64_t n,
                         int64_t c)
{
  struct pd_err err = { 0 };
  int64_t shape[4] = { n, 32, 32, c };
  size_t bytes = (size_t)(n * 32 * 32 * c) * safetensors_dtype_size(dtype);
  void *data = xcalloc(bytes ? bytes : 1, 1);
  struct st_write_tensor t = { name, dtype, 4, shape, data };
  CHECK(safetensors_write(path, &t, 1, NULL, &err));
  free(data);
}

static void test_bad_inputs(void **state)
{
  (void)state;
  write_str("junk.safetensors", "this is not a safetensors file at all");
  expect_run_error("file(\"junk.safetensors\")", "junk.safetensors", NULL);
  write_tensor("f32.safetensors", "images", "F32", 2, 3);
  expect_run_error("file(\"f32.safetensors\")", "f32.safetensors",
                   "tensor 'images' is F32 [2, 32, 32, 3], expected U8 [N, H, W, 3]");
  write_tensor("rgba.safetensors", "images", "U8", 2, 4);
  expect_run_error("file(\"rgba.safetensors\")", "rgba.safetensors",
                   "tensor 'images' has shape [2, 32, 32, 4], expected [N, H, W, 3]");
  write_tensor("other.safetensors", "pixels", "U8", 2, 3);
  expect_run_error("file(\"other.safetensors\")", "other.safetensors", "has no tensor 'images'");
  write_tensor("empty.safetensors", "images", "U8", 0, 3);
  expect_run_error("file(\"empty.safetensors\")", "empty.safetensors", "holds 0 images");

  assert_int_equal(mkdir("nodata", 0755), 0);
  expect_run_error("dir(\"nodata\")", "cannot open", "nodata/images.safetensors");

  /* A split whose index does not match its images. */
  assert_int_equal(mkdir("badindex", 0755), 0);
  write_tensor("badindex/images.safetensors", "images", "U8", 2, 3);
  write_str("badindex/index.tsv", "image\trow\na\t0\nb\t0\n");
  expect_run_error("dir(\"badindex\")", "badindex/index.tsv':3: row 0 is listed twice", NULL);
  write_str("badindex/index.tsv", "image\trow\na\t0\nb\t7\n");
  expect_run_error("dir(\"badindex\")", "badindex/index.tsv':3: expected 'ID<TAB>ROW'", NULL);
  write_str("badindex/index.tsv", "image\trow\na\t1\n");
  expect_run_error("dir(\"badindex\")", "badindex/index.tsv' lists 1 rows", "holds 2 images");
  write_str("badindex/index.tsv", "id,row\n");
  expect_run_error("dir(\"badindex\")", "badindex/index.tsv':1: expected the header", NULL);
}

static void expect_load_error(const char *body, const char *want)
{
  struct graph g;
  struct pd_err err = { 0 };
  char *text = xasprintf("task n = distort_images {\n%s\n}\n", body);
  write_str("g.dag", text);
  assert_int_not_equal(graph_load(&g, "g.dag", NULL, 0, &err), 0);
  if (!strstr(err.msg, want))
    fail_msg("for '%s': '%s' lacks '%s'", body, err.msg, want);
  free(text);
}

static void test_bad_params(void **state)
{
  (void)state;
  expect_load_error("  images = dir(\"fs30/train\")\n  step = 1000",
                    "parameter 'step' must be in [0, 999], got 1000");
  expect_load_error("  images = dir(\"fs30/train\")\n  schedule = \"cosine\"", "cosine");
  expect_load_error("  images = dir(\"fs30/train\")\n  draws = 0", "parameter 'draws'");
  expect_load_error("  images = dir(\"fs30/train\")\n  device = \"tpu\"", "tpu");
  expect_load_error("  images = \"fs30/train\"", "images");
  expect_load_error("  step = 10", "images");
}

/* Without a CUDA build or a GPU it fails saying so; with both it gives the
 * CPU's bytes. */
static void test_cuda_device(void **state)
{
  struct pd_err err = { 0 };
  int rc;
  (void)state;
  rc = distort("dir(\"fs30/train\")", "  device = \"cuda\"\n", 1, "gpu", &err);
  if (rc != 0) {
    assert_int_equal(rc, PD_ECUDA);
    assert_non_null(strstr(err.msg, "device 'cuda' is not available"));
    printf("device = \"cuda\": %s\n", err.msg);
  } else {
    must(distort("dir(\"fs30/train\")", "", 1, "cpu", &err), &err);
    assert_same_file("gpu/noisy/images.safetensors", "cpu/noisy/images.safetensors");
  }
}

static void test_cancel(void **state)
{
  struct pd_err err = { 0 };
  (void)state;
  assert_int_equal(run("task n = distort_images {\n  images = dir(\"fs100/train\")\n}\n", 2, "c",
                       1, &err), PD_EINTR);
  assert_non_null(strstr(err.msg, "cancelled"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_kind_tables),
    cmocka_unit_test(test_toy_run),
    cmocka_unit_test(test_threads_same_bytes),
    cmocka_unit_test(test_subset_stability),
    cmocka_unit_test(test_file_input),
    cmocka_unit_test(test_bad_inputs),
    cmocka_unit_test(test_bad_params),
    cmocka_unit_test(test_cuda_device),
    cmocka_unit_test(test_cancel),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
