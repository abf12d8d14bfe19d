/* shapes_draw_test.c - tests of tasks/shapes_draw.c: every glyph is drawn,
 * inside its box, anti-aliased and distinct from every other; rendering is
 * deterministic, puts the object's colour where the object is, and the
 * noise follows the seed. */
#include "tasks_test_util.h"

#include <math.h>

#include "shapes.h"

#define W SHAPES_SIZE

/* Coverage of glyph cat, about centred in the image (off the pixel grid). */
static void mask(int cat, float size, float *m)
{
  int x, y;
  for (y = 0; y < W; y++)
    for (x = 0; x < W; x++)
      m[y * W + x] = shapes_glyph_coverage(cat, 16.3f, 15.8f, size, x, y);
}

static void test_glyphs_nonempty_and_distinct(void **state)
{
  static float m[SHAPES_NCAT][W * W];
  int a, b, i;
  (void)state;
  for (a = 0; a < SHAPES_NCAT; a++) {
    float sum = 0;
    int partial = 0;
    mask(a, 14.0f, m[a]);
    for (i = 0; i < W * W; i++) {
      int x = i % W, y = i / W;
      assert_true(m[a][i] >= 0.0f && m[a][i] <= 1.0f);
      sum += m[a][i];
      partial += m[a][i] > 0.0f && m[a][i] < 1.0f;
      if (m[a][i] > 0) /* inside the glyph's box [9.3, 23.3) x [8.8, 22.8) */
        assert_true(x >= 9 && x <= 23 && y >= 8 && y <= 22);
    }
    /* At least a fifth of the box, and anti-aliased edges. */
    if (sum < 14.0f * 14.0f / 5)
      fail_msg("glyph %s covers only %.1f pixels", shapes_categories[a].name, (double)sum);
    if (partial <= 4)
      fail_msg("glyph %s has %d anti-aliased pixels", shapes_categories[a].name, partial);
  }
  for (a = 0; a < SHAPES_NCAT; a++)
    for (b = a + 1; b < SHAPES_NCAT; b++) {
      float d = 0;
      for (i = 0; i < W * W; i++)
        d += fabsf(m[a][i] - m[b][i]);
      /* Different in at least 12 pixels' worth of coverage. */
      if (d < 12.0f)
        fail_msg("glyphs %s and %s differ by %.1f pixels only", shapes_categories[a].name,
                 shapes_categories[b].name, (double)d);
    }
}

static void test_glyphs_distinct_when_small(void **state)
{
  static float m[SHAPES_NCAT][W * W];
  int a, b, i;
  (void)state;
  for (a = 0; a < SHAPES_NCAT; a++)
    mask(a, 10.0f, m[a]);
  for (a = 0; a < SHAPES_NCAT; a++)
    for (b = a + 1; b < SHAPES_NCAT; b++) {
      float d = 0;
      for (i = 0; i < W * W; i++)
        d += fabsf(m[a][i] - m[b][i]);
      if (d < 6.0f)
        fail_msg("10px glyphs %s and %s differ by %.1f pixels only", shapes_categories[a].name,
                 shapes_categories[b].name, (double)d);
    }
}

static void test_render(void **state)
{
  struct shapes_params p;
  struct shapes_scene s;
  uint8_t a[SHAPES_PIXELS], b[SHAPES_PIXELS];
  const struct shapes_object *o;
  int c, x, y;
  (void)state;
  shapes_params_default(&p);
  shapes_scene_make(&p, SHAPES_TRAIN, 5, &s);
  shapes_render(&p, SHAPES_TRAIN, 5, &s, a);
  shapes_render(&p, SHAPES_TRAIN, 5, &s, b);
  assert_memory_equal(a, b, sizeof a);
  /* The noise is keyed by seed, split and index. */
  p.seed = 2;
  shapes_render(&p, SHAPES_TRAIN, 5, &s, b);
  assert_memory_not_equal(a, b, sizeof a);
  p.seed = 1;
  shapes_render(&p, SHAPES_EVAL, 5, &s, b);
  assert_memory_not_equal(a, b, sizeof a);

  /* Without noise and at full contrast: the glyph's centre pixel has its
   * colour (up to float rounding); with nothing drawn, pixels are the
   * background. */
  p.noise_sigma = 0;
  p.specks = 0;
  p.contrast_min = 1;
  for (c = 0; c < 50; c++) {
    int circle = -1, k;
    shapes_scene_make(&p, SHAPES_TRAIN, (uint64_t)c, &s);
    for (k = 0; k < s.n; k++)
      if (s.obj[k].cat == 0)
        circle = k;
    if (circle < 0)
      continue;
    shapes_render(&p, SHAPES_TRAIN, (uint64_t)c, &s, a);
    o = &s.obj[circle];
    x = (int)o->cx;
    y = (int)o->cy;
    for (k = 0; k < 3; k++) {
      int want = (int)(shapes_colours[o->colour].rgb[k] * 255.0f + 0.5f);
      assert_true(abs(a[(y * W + x) * 3 + k] - want) <= 1);
    }
  }
  shapes_scene_make(&p, SHAPES_TRAIN, 0, &s);
  assert_int_equal(s.nspeck, 0);
  memset(&s.obj, 0, sizeof s.obj);
  s.n = 0; /* background only */
  shapes_render(&p, SHAPES_TRAIN, 0, &s, a);
  for (c = 0; c < 3; c++)
    assert_int_equal(a[c], (int)(s.bg[c] * 255.0f + 0.5f));
}

static void test_noise_level(void **state)
{
  struct shapes_params p;
  struct shapes_scene s;
  uint8_t a[SHAPES_PIXELS], b[SHAPES_PIXELS];
  double sum = 0, sum2 = 0;
  int i;
  (void)state;
  shapes_params_default(&p);
  shapes_scene_make(&p, SHAPES_TRAIN, 9, &s);
  s.n = 0;
  s.nspeck = 0;
  s.bg[0] = s.bg[1] = s.bg[2] = 0.5f; /* away from the clamps */
  shapes_render(&p, SHAPES_TRAIN, 9, &s, a);
  p.noise_sigma = 0;
  shapes_render(&p, SHAPES_TRAIN, 9, &s, b);
  for (i = 0; i < SHAPES_PIXELS; i++) {
    double d = ((double)a[i] - (double)b[i]) / 255.0;
    sum += d;
    sum2 += d * d;
  }
  /* sd 0.06 from 3072 values: within 10% */
  assert_true(fabs(sum / SHAPES_PIXELS) < 0.01);
  assert_true(fabs(sqrt(sum2 / SHAPES_PIXELS) - 0.06) < 0.006);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_glyphs_nonempty_and_distinct),
    cmocka_unit_test(test_glyphs_distinct_when_small),
    cmocka_unit_test(test_render),
    cmocka_unit_test(test_noise_level),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
