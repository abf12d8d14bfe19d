/* pope_test.c - tests of tasks/pope.c: no absent object is ever present,
 * popular negatives are the most frequent absent categories, adversarial
 * ones the most co-occurring, random ones vary and are reproducible, the
 * present set follows POPE (all when 3 or fewer), and the files hold the
 * documented lines. */
#include "tasks_test_util.h"

#include <cjson/cJSON.h>

#include "dataset.h"
#include "pope.h"
#include "world.h"

struct fix {
  struct shapes_params p;
  struct dataset train, eval;
  struct world_stats w;
};

static int setup(void **state)
{
  struct fix *f = xcalloc(1, sizeof *f);
  struct pd_err err = { 0 };
  shapes_params_default(&f->p);
  if (dataset_generate(&f->train, &f->p, SHAPES_TRAIN, 800, 2, NULL, NULL, &err) < 0 ||
      dataset_generate(&f->eval, &f->p, SHAPES_EVAL, 150, 2, NULL, NULL, &err) < 0)
    return -1;
  world_stats_of(&f->w, &f->train);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fix *f = *state;
  dataset_release(&f->train);
  dataset_release(&f->eval);
  free(f);
  return 0;
}

/* Reference ranking, written independently of pope.c: absent categories
 * by (score desc, count desc, index asc). */
static void ranked(const struct shapes_scene *s, const double *score, const size_t *count,
                   int *out)
{
  int used[SHAPES_NCAT] = { 0 }, k, c;
  for (k = 0; k < POPE_K; k++) {
    int best = -1;
    for (c = 0; c < SHAPES_NCAT; c++) {
      if (used[c] || shapes_has(s, c))
        continue;
      if (best < 0 || score[c] > score[best] ||
          (score[c] == score[best] && count[c] > count[best]))
        best = c;
    }
    used[best] = 1;
    out[k] = best;
  }
}

static void test_samplers(void **state)
{
  struct fix *f = *state;
  int random_varies = 0, first_random[POPE_K] = { 0 };
  size_t i;
  for (i = 0; i < f->eval.n; i++) {
    const struct shapes_scene *s = &f->eval.scenes[i];
    int present[POPE_K], absent[POPE_K], want[POPE_K], again[POPE_K], np, na, k, j, c;
    double freq[SHAPES_NCAT], co[SHAPES_NCAT];

    np = pope_present(s, f->p.seed, i, present);
    assert_int_equal(np, s->n < POPE_K ? s->n : POPE_K);
    for (k = 0; k < np; k++) {
      assert_true(shapes_has(s, present[k]));
      for (j = 0; j < k; j++)
        assert_int_not_equal(present[j], present[k]);
    }
    if (s->n <= POPE_K) /* all of them, in salience order */
      for (k = 0; k < np; k++)
        assert_int_equal(present[k], s->obj[k].cat);

    for (c = 0; c < SHAPES_NCAT; c++) {
      freq[c] = (double)f->w.count[c];
      co[c] = 0;
      for (k = 0; k < s->n; k++)
        co[c] += (double)f->w.co[s->obj[k].cat][c];
    }
    for (k = 0; k < POPE_NSAMPLER; k++) {
      na = pope_absent((enum pope_sampler)k, s, &f->w, f->p.seed, i, absent);
      assert_int_equal(na, POPE_K);
      for (j = 0; j < na; j++) {
        int m;
        assert_false(shapes_has(s, absent[j])); /* never a present object */
        for (m = 0; m < j; m++)
          assert_int_not_equal(absent[m], absent[j]);
      }
      if (k == POPE_POPULAR) {
        ranked(s, freq, f->w.count, want);
        assert_memory_equal(absent, want, sizeof want);
      } else if (k == POPE_ADVERSARIAL) {
        ranked(s, co, f->w.count, want);
        assert_memory_equal(absent, want, sizeof want);
        /* No absent category left out co-occurs more than one chosen. */
        for (c = 0; c < SHAPES_NCAT; c++)
          if (!shapes_has(s, c) && c != absent[0] && c != absent[1] && c != absent[2])
            assert_true(co[c] <= co[absent[2]]);
      } else {
        assert_int_equal(pope_absent(POPE_RANDOM, s, &f->w, f->p.seed, i, again), POPE_K);
        assert_memory_equal(absent, again, sizeof again);
        if (i == 0)
          memcpy(first_random, absent, sizeof first_random);
        else
          random_varies += memcmp(first_random, absent, sizeof absent) != 0;
      }
    }
  }
  assert_true(random_varies > (int)f->eval.n / 2);
}

static void test_adversarial_prefers_theme_mates(void **state)
{
  struct fix *f = *state;
  size_t i, mates = 0, all = 0;
  /* On-theme objects co-occur: an image's adversarial negatives are mostly
   * of its theme, popular ones need not be. */
  for (i = 0; i < f->eval.n; i++) {
    const struct shapes_scene *s = &f->eval.scenes[i];
    int absent[POPE_K], k;
    pope_absent(POPE_ADVERSARIAL, s, &f->w, f->p.seed, i, absent);
    for (k = 0; k < POPE_K; k++, all++)
      mates += shapes_categories[absent[k]].theme == shapes_categories[s->obj[0].cat].theme;
  }
  assert_true(mates * 3 > all); /* a theme is 4 of 12 categories */
}

static void test_files(void **state)
{
  struct fix *f = *state;
  struct pd_err err = { 0 };
  char *dir = scratch_dir("pope_test"), *sub = xasprintf("%s/pope", dir);
  size_t want = 0, i;
  int k;
  for (i = 0; i < f->eval.n; i++)
    want += (size_t)(f->eval.scenes[i].n < POPE_K ? f->eval.scenes[i].n : POPE_K) + POPE_K;
  CHECK(pope_write(sub, &f->eval, &f->w, f->p.seed, &err));
  for (k = 0; k < POPE_NSAMPLER; k++) {
    char *path = xasprintf("%s/%s.jsonl", sub, pope_sampler_names[k]);
    char *text = read_all(path, NULL), *line, *save = NULL;
    size_t n = 0, yes = 0;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
      cJSON *q = cJSON_Parse(line);
      const char *image, *label, *cat;
      int c;
      assert_non_null(q);
      assert_int_equal(cJSON_GetObjectItem(q, "question_id")->valueint, (int)++n);
      image = cJSON_GetObjectItem(q, "image")->valuestring;
      label = cJSON_GetObjectItem(q, "label")->valuestring;
      cat = cJSON_GetObjectItem(q, "category")->valuestring;
      c = shapes_find_category(cat);
      assert_true(c >= 0);
      assert_true(strncmp(image, "eval-", 5) == 0);
      i = (size_t)atol(image + 5);
      assert_true(i < f->eval.n);
      /* The label is the ground truth. */
      assert_string_equal(label, shapes_has(&f->eval.scenes[i], c) ? "yes" : "no");
      yes += strcmp(label, "yes") == 0;
      assert_non_null(strstr(cJSON_GetObjectItem(q, "text")->valuestring, cat));
      cJSON_Delete(q);
    }
    assert_int_equal(n, want);
    assert_int_equal(yes, want - POPE_K * f->eval.n);
    free(text);
    free(path);
  }
  cache_rmtree(dir);
  free(sub);
  free(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_samplers),
    cmocka_unit_test(test_adversarial_prefers_theme_mates),
    cmocka_unit_test(test_files),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
