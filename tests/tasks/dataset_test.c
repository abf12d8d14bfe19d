/* dataset_test.c - tests of tasks/dataset.c: the same seed gives the same
 * bytes and another seed others, any thread count gives the same bytes,
 * subsets are prefixes, items.jsonl reads back with cJSON as the documented
 * LLaVA format with its ground truth, eval is clean, index and tensor match,
 * and a cancelled generation stops. */
#include "tasks_test_util.h"

#include <cjson/cJSON.h>

#include "dataset.h"
#include "safetensors.h"
#include "strbuf.h"

static char *dir;

static int setup(void **state)
{
  (void)state;
  dir = scratch_dir("dataset_test");
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  cache_rmtree(dir);
  free(dir);
  return 0;
}

static void gen(struct dataset *d, const struct shapes_params *p, int split, size_t n, int threads)
{
  struct pd_err err = { 0 };
  CHECK(dataset_generate(d, p, split, n, threads, NULL, NULL, &err));
}

static void assert_same(const struct dataset *a, const struct dataset *b, size_t n)
{
  assert_memory_equal(a->pixels, b->pixels, n * SHAPES_PIXELS);
  assert_memory_equal(a->scenes, b->scenes, n * sizeof *a->scenes);
}

static void test_determinism(void **state)
{
  struct shapes_params p;
  struct dataset a, b;
  (void)state;
  shapes_params_default(&p);
  gen(&a, &p, SHAPES_TRAIN, 150, 1);
  gen(&b, &p, SHAPES_TRAIN, 150, 1);
  assert_same(&a, &b, 150);
  dataset_release(&b);
  p.seed = 2;
  gen(&b, &p, SHAPES_TRAIN, 150, 1);
  assert_memory_not_equal(a.pixels, b.pixels, 150 * SHAPES_PIXELS);
  dataset_release(&b);
  /* The eval split is other images. */
  p.seed = 1;
  gen(&b, &p, SHAPES_EVAL, 150, 1);
  assert_memory_not_equal(a.pixels, b.pixels, SHAPES_PIXELS);
  dataset_release(&a);
  dataset_release(&b);
}

static void test_thread_count_independent(void **state)
{
  static const int threads[] = { 2, 3, 8 };
  struct shapes_params p;
  struct dataset a, b;
  size_t k, n = 333; /* chunks of 64: the last one short */
  (void)state;
  shapes_params_default(&p);
  gen(&a, &p, SHAPES_TRAIN, n, 1);
  for (k = 0; k < sizeof threads / sizeof threads[0]; k++) {
    gen(&b, &p, SHAPES_TRAIN, n, threads[k]);
    assert_same(&a, &b, n);
    dataset_release(&b);
  }
  dataset_release(&a);
}

static void test_subset_is_prefix(void **state)
{
  struct shapes_params p;
  struct dataset small, big;
  struct strbuf x, y;
  size_t i;
  (void)state;
  shapes_params_default(&p);
  gen(&small, &p, SHAPES_TRAIN, 100, 1);
  gen(&big, &p, SHAPES_TRAIN, 1000, 2);
  assert_same(&small, &big, 100);
  strbuf_init(&x, 1024);
  strbuf_init(&y, 1024);
  for (i = 0; i < 100; i++) {
    strbuf_reset(&x);
    strbuf_reset(&y);
    dataset_item_json(&small, i, &x);
    dataset_item_json(&big, i, &y);
    assert_string_equal(x.buf, y.buf);
  }
  strbuf_release(&x);
  strbuf_release(&y);
  dataset_release(&small);
  dataset_release(&big);
}

static const char *str(const cJSON *o, const char *k)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

/* Reads dir/items.jsonl back and checks every item against its scene. */
static void check_items(const struct dataset *d, const char *path)
{
  char *text = read_all(path, NULL), *line, *save = NULL;
  size_t i = 0;
  int noisy = 0;
  for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
    const struct shapes_scene *s = &d->scenes[i];
    cJSON *item = cJSON_Parse(line), *conv, *objs, *ments, *turn, *o;
    char id[32];
    int k = 0, yes = 0, no = 0;
    assert_non_null(item);
    dataset_item_id(d->split, i, id, sizeof id);
    assert_string_equal(str(item, "id"), id);
    assert_string_equal(str(item, "image"), id);
    conv = cJSON_GetObjectItem(item, "conversations");
    assert_int_equal(cJSON_GetArraySize(conv), 6);
    cJSON_ArrayForEach(turn, conv) {
      assert_string_equal(str(turn, "from"), k % 2 ? "gpt" : "human");
      if (k == 0)
        assert_string_equal(str(turn, "value"), "<image>\nDescribe this image.");
      if (k == 2 || k == 4) {
        /* A question about a category, answered from the ground truth. */
        const char *a = str(cJSON_GetArrayItem(conv, k + 1), "value");
        int c, asked = -1;
        for (c = 0; c < SHAPES_NCAT; c++) {
          struct strbuf q;
          strbuf_init(&q, 64);
          shapes_question(c, &q);
          if (strcmp(q.buf, str(turn, "value")) == 0)
            asked = c;
          strbuf_release(&q);
        }
        assert_true(asked >= 0);
        assert_string_equal(a, shapes_has(s, asked) ? "Yes." : "No.");
        yes += shapes_has(s, asked);
        no += !shapes_has(s, asked);
      }
      k++;
    }
    assert_int_equal(yes, 1);
    assert_int_equal(no, 1);
    assert_true(strncmp(str(cJSON_GetArrayItem(conv, 1), "value"), "There is ", 9) == 0);
    objs = cJSON_GetObjectItem(item, "objects");
    assert_int_equal(cJSON_GetArraySize(objs), s->n);
    k = 0;
    cJSON_ArrayForEach(o, objs) {
      const cJSON *box = cJSON_GetObjectItem(o, "box");
      assert_string_equal(str(o, "category"), shapes_categories[s->obj[k].cat].name);
      assert_string_equal(str(o, "colour"), shapes_colours[s->obj[k].colour].name);
      assert_string_equal(str(o, "position"), shapes_positions[s->obj[k].slot]);
      assert_int_equal(cJSON_GetArraySize(box), 4);
      assert_true(cJSON_GetArrayItem(box, 2)->valuedouble >= 10.0 - 0.01);
      /* The category is named in the description. */
      assert_non_null(strstr(str(cJSON_GetArrayItem(conv, 1), "value"), str(o, "category")));
      k++;
    }
    ments = cJSON_GetObjectItem(item, "mentions");
    assert_int_equal(cJSON_GetArraySize(ments), s->nmention);
    k = 0;
    cJSON_ArrayForEach(o, ments) {
      assert_true(cJSON_IsBool(cJSON_GetObjectItem(o, "noise")));
      assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(o, "noise")), s->mention[k].noise);
      noisy += s->mention[k].noise;
      k++;
    }
    cJSON_Delete(item);
  }
  assert_int_equal(i, d->n);
  if (d->split == SHAPES_EVAL)
    assert_int_equal(noisy, 0);
  else
    assert_true(noisy > 0);
  free(text);
}

static void test_write_and_read_back(void **state)
{
  struct pd_err err = { 0 };
  struct shapes_params p;
  struct dataset d;
  struct safetensors st;
  const struct st_tensor *t;
  uint8_t *px;
  char *sub, *path, *index;
  int split;
  (void)state;
  shapes_params_default(&p);
  for (split = SHAPES_TRAIN; split <= SHAPES_EVAL; split++) {
    gen(&d, &p, split, 120, 2);
    sub = xasprintf("%s/%s", dir, dataset_split_name(split));
    CHECK(dataset_write(&d, &p, "builtin:shapes", sub, &err));

    path = xasprintf("%s/items.jsonl", sub);
    check_items(&d, path);
    free(path);

    path = xasprintf("%s/images.safetensors", sub);
    CHECK(safetensors_open(&st, path, &err));
    t = safetensors_find(&st, "images");
    assert_non_null(t);
    assert_string_equal(t->dtype, "U8");
    assert_int_equal(t->ndim, 4);
    assert_int_equal(t->shape[0], 120);
    assert_int_equal(t->shape[1], 32);
    assert_int_equal(t->shape[2], 32);
    assert_int_equal(t->shape[3], 3);
    assert_string_equal(safetensors_meta(&st, "split"), dataset_split_name(split));
    assert_string_equal(safetensors_meta(&st, "source"), "builtin:shapes");
    px = xmalloc(120 * SHAPES_PIXELS);
    CHECK(safetensors_read(&st, t, 0, px, 120 * SHAPES_PIXELS, &err));
    assert_memory_equal(px, d.pixels, 120 * SHAPES_PIXELS);
    free(px);
    safetensors_close(&st);
    free(path);

    path = xasprintf("%s/index.tsv", sub);
    index = read_all(path, NULL);
    assert_true(strncmp(index, "image\trow\n", 10) == 0);
    assert_non_null(strstr(index, split == SHAPES_TRAIN ? "\ntrain-000119\t119\n"
                                                        : "\neval-000119\t119\n"));
    free(index);
    free(path);
    free(sub);
    dataset_release(&d);
  }
}

static int stop_after_one(void *arg, size_t done, size_t total)
{
  int *calls = arg;
  assert_true(done > 0 && done <= total);
  return ++*calls >= 1;
}

static void test_cancel(void **state)
{
  struct pd_err err = { 0 };
  struct shapes_params p;
  struct dataset d;
  int calls = 0;
  (void)state;
  shapes_params_default(&p);
  assert_int_equal(dataset_generate(&d, &p, SHAPES_TRAIN, 640, 2, stop_after_one, &calls, &err),
                   PD_EINTR);
  assert_int_equal(calls, 1);
  assert_null(d.pixels);
  /* An empty split is fine. */
  CHECK(dataset_generate(&d, &p, SHAPES_EVAL, 0, 4, NULL, NULL, &err));
  assert_int_equal(d.n, 0);
  dataset_release(&d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_determinism),
    cmocka_unit_test(test_thread_count_independent),
    cmocka_unit_test(test_subset_is_prefix),
    cmocka_unit_test(test_write_and_read_back),
    cmocka_unit_test(test_cancel),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
