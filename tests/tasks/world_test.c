/* world_test.c - tests of tasks/world.c: statistics counted by hand on
 * made-up scenes, top pairs in order, the measured noise rate, and
 * world.json read back with cJSON. */
#include "tasks_test_util.h"

#include <cjson/cJSON.h>

#include "dataset.h"
#include "world.h"

static struct shapes_scene scene(int n, const int *cats, int noise_cat)
{
  struct shapes_scene s;
  int k;
  memset(&s, 0, sizeof s);
  s.n = n;
  for (k = 0; k < n; k++) {
    s.obj[k].cat = cats[k];
    s.obj[k].slot = k;
    s.obj[k].colour = shapes_categories[cats[k]].typical;
    s.mention[s.nmention++] = (struct shapes_mention){ cats[k], s.obj[k].colour, k, 0 };
    if (k == 0 && noise_cat >= 0)
      s.mention[s.nmention++] = (struct shapes_mention){ noise_cat, 0, 3, 1 };
  }
  s.eligible = noise_cat >= 0 || !shapes_has(&s, shapes_categories[cats[0]].partner);
  return s;
}

static void test_counts(void **state)
{
  static const int a[] = { 0, 2 }, b[] = { 0 }, c[] = { 2, 3, 4 };
  struct world_stats w;
  struct shapes_scene s;
  struct world_pair top[4];
  size_t n;
  (void)state;
  memset(&w, 0, sizeof w);
  s = scene(2, a, 1); /* circle, triangle; noise: square */
  world_stats_add(&w, &s);
  s = scene(1, b, -1); /* circle alone, eligible but clean */
  world_stats_add(&w, &s);
  s = scene(3, c, -1); /* triangle, diamond (its partner): not eligible */
  world_stats_add(&w, &s);
  assert_int_equal(w.images, 3);
  assert_int_equal(w.objects, 6);
  assert_int_equal(w.count[0], 2);
  assert_int_equal(w.count[2], 2);
  assert_int_equal(w.count[1], 0);
  assert_int_equal(w.co[0][2], 1);
  assert_int_equal(w.co[2][0], 1);
  assert_int_equal(w.co[2][3], 1);
  assert_int_equal(w.co[0][0], 2); /* diagonal = counts */
  assert_int_equal(w.nobj[1], 1);
  assert_int_equal(w.nobj[3], 1);
  assert_int_equal(w.mentioned[1], 1); /* the noise is counted among mentions only */
  assert_int_equal(w.mention_co[0][1], 1);
  assert_int_equal(w.eligible, 2);
  assert_int_equal(w.noisy, 1);
  assert_int_equal(w.mentions, 7);
  assert_int_equal(w.typical, 6);

  /* P(b | a) = 1 for the four ordered pairs among diamond and cross and
   * triangle's (1 image each): ties go by category order. */
  n = world_top_pairs(&w, 0, top, 4);
  assert_int_equal(n, 4);
  assert_int_equal(top[0].a, 3);
  assert_int_equal(top[0].b, 2);
  assert_true(top[0].p == 1.0);
  assert_int_equal(top[1].a, 3);
  assert_int_equal(top[1].b, 4);
  assert_int_equal(top[2].a, 4);
  assert_int_equal(top[2].b, 2);
  assert_int_equal(top[3].a, 4);
  assert_int_equal(top[3].b, 3);
  n = world_top_pairs(&w, 1, top, 1);
  assert_int_equal(n, 1);
  assert_true(top[0].p == 1.0);
}

static void test_top_pairs_sorted(void **state)
{
  struct shapes_params p;
  struct dataset d;
  struct world_stats w;
  struct world_pair top[20];
  struct pd_err err = { 0 };
  size_t n, k;
  int a, b;
  (void)state;
  shapes_params_default(&p);
  CHECK(dataset_generate(&d, &p, SHAPES_TRAIN, 600, 2, NULL, NULL, &err));
  world_stats_of(&w, &d);
  n = world_top_pairs(&w, 0, top, 20);
  assert_int_equal(n, 20);
  for (k = 1; k < n; k++)
    assert_true(top[k - 1].p >= top[k].p);
  /* Nothing left out beats the last one kept. */
  k = 0;
  for (a = 0; a < SHAPES_NCAT; a++)
    for (b = 0; b < SHAPES_NCAT; b++)
      if (a != b && w.count[a])
        k += (double)w.co[a][b] / (double)w.count[a] > top[n - 1].p;
  assert_true(k <= n);
  /* Symmetric counts, diagonal = counts. */
  for (a = 0; a < SHAPES_NCAT; a++) {
    assert_int_equal(w.co[a][a], w.count[a]);
    for (b = 0; b < SHAPES_NCAT; b++)
      assert_int_equal(w.co[a][b], w.co[b][a]);
  }
  dataset_release(&d);
}

static void test_world_json(void **state)
{
  struct pd_err err = { 0 };
  struct shapes_params p;
  struct dataset d;
  struct world_stats w;
  char *dir = scratch_dir("world_test"), *path = xasprintf("%s/world.json", dir), *text;
  cJSON *root, *cats, *c, *train, *co, *noise, *partners;
  int k = 0;
  (void)state;
  shapes_params_default(&p);
  CHECK(dataset_generate(&d, &p, SHAPES_TRAIN, 300, 1, NULL, NULL, &err));
  world_stats_of(&w, &d);
  CHECK(world_write(path, &p, "builtin:shapes", &w, NULL, &err));
  text = read_all(path, NULL);
  root = cJSON_Parse(text);
  assert_non_null(root);
  assert_string_equal(cJSON_GetObjectItem(root, "source")->valuestring, "builtin:shapes");
  cats = cJSON_GetObjectItem(root, "categories");
  assert_int_equal(cJSON_GetArraySize(cats), SHAPES_NCAT);
  cJSON_ArrayForEach(c, cats) {
    cJSON *syn = cJSON_GetObjectItem(c, "synonyms");
    assert_string_equal(cJSON_GetObjectItem(c, "name")->valuestring, shapes_categories[k].name);
    assert_string_equal(cJSON_GetArrayItem(syn, 0)->valuestring, shapes_categories[k].name);
    assert_string_equal(cJSON_GetObjectItem(c, "partner")->valuestring,
                        shapes_categories[shapes_categories[k].partner].name);
    k++;
  }
  assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cats, 1),
                                                             "synonyms"), 1)->valuestring, "box");
  partners = cJSON_GetObjectItem(root, "partners");
  assert_int_equal(cJSON_GetArraySize(partners), SHAPES_NCAT / 2);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "colours")), SHAPES_NCOLOUR);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "themes")), SHAPES_NTHEME);
  train = cJSON_GetObjectItem(root, "train");
  assert_int_equal(cJSON_GetObjectItem(train, "images")->valueint, 300);
  co = cJSON_GetObjectItem(cJSON_GetObjectItem(train, "objects_stats"), "cooccurrence");
  assert_int_equal(cJSON_GetArraySize(co), SHAPES_NCAT);
  assert_int_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(co, 0), 1)->valueint, (int)w.co[0][1]);
  assert_int_equal(cJSON_GetArrayItem(cJSON_GetArrayItem(co, 5), 5)->valueint, (int)w.count[5]);
  noise = cJSON_GetObjectItem(train, "label_noise");
  assert_int_equal(cJSON_GetObjectItem(noise, "noisy")->valueint, (int)w.noisy);
  assert_int_equal(cJSON_GetObjectItem(noise, "eligible")->valueint, (int)w.eligible);
  assert_null(cJSON_GetObjectItem(root, "eval"));
  cJSON_Delete(root);
  free(text);
  dataset_release(&d);
  cache_rmtree(dir);
  free(path);
  free(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_counts),
    cmocka_unit_test(test_top_pairs_sorted),
    cmocka_unit_test(test_world_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
