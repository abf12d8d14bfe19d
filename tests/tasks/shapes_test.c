/* shapes_test.c - tests of tasks/shapes.c: the Philox RNG against Random123's
 * known answers, scene rules (counts, slots, categories, geometry, salience),
 * the partner label noise (train only, at the configured rate), questions
 * and the text of descriptions. */
#include "tasks_test_util.h"

#include <math.h>

#include "shapes.h"
#include "strbuf.h"

static void test_philox_known_answers(void **state)
{
  /* Random123 tests/kat_vectors, "philox4x32 10": ctr[4] key[2] -> out[4]. */
  static const uint32_t kat[3][10] = {
    { 0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 },
    { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd },
    { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 },
  };
  uint32_t out[4];
  int i;
  (void)state;
  for (i = 0; i < 3; i++) {
    shapes_philox(kat[i], kat[i] + 4, out);
    assert_memory_equal(out, kat[i] + 6, sizeof out);
  }
}

static void test_rng_streams(void **state)
{
  struct shapes_rng a, b;
  uint32_t x[8], y[8];
  double sum = 0, sum2 = 0;
  int i, n = 20000;
  (void)state;
  /* Same key and counter: same words, across block boundaries. */
  shapes_rng_init(&a, 7, SHAPES_TRAIN, SHAPES_S_LAYOUT, 12345);
  shapes_rng_init(&b, 7, SHAPES_TRAIN, SHAPES_S_LAYOUT, 12345);
  for (i = 0; i < 8; i++)
    assert_int_equal(shapes_rng_u32(&a), shapes_rng_u32(&b));
  /* Any part of the key or counter changes them. */
  shapes_rng_init(&a, 7, SHAPES_TRAIN, SHAPES_S_LAYOUT, 12345);
  for (i = 0; i < 8; i++)
    x[i] = shapes_rng_u32(&a);
  shapes_rng_init(&b, 8, SHAPES_TRAIN, SHAPES_S_LAYOUT, 12345);
  for (i = 0; i < 8; i++)
    y[i] = shapes_rng_u32(&b);
  assert_memory_not_equal(x, y, sizeof x);
  shapes_rng_init(&b, 7, SHAPES_EVAL, SHAPES_S_LAYOUT, 12345);
  for (i = 0; i < 8; i++)
    y[i] = shapes_rng_u32(&b);
  assert_memory_not_equal(x, y, sizeof x);
  shapes_rng_init(&b, 7, SHAPES_TRAIN, SHAPES_S_TEXT, 12345);
  for (i = 0; i < 8; i++)
    y[i] = shapes_rng_u32(&b);
  assert_memory_not_equal(x, y, sizeof x);
  shapes_rng_init(&b, 7, SHAPES_TRAIN, SHAPES_S_LAYOUT, 12345 + (1ull << 32));
  for (i = 0; i < 8; i++)
    y[i] = shapes_rng_u32(&b);
  assert_memory_not_equal(x, y, sizeof x);

  /* Distributions: uniform in [0, 1), below in range, normal ~ N(0, 1). */
  for (i = 0; i < n; i++) {
    double u = shapes_rng_uniform(&a), z = shapes_rng_normal(&a);
    assert_true(u >= 0 && u < 1);
    assert_true(shapes_rng_below(&a, 5) < 5);
    sum += z;
    sum2 += z * z;
  }
  assert_true(fabs(sum / n) < 0.03);
  assert_true(fabs(sum2 / n - 1) < 0.05);
}

static void test_scene_rules(void **state)
{
  struct shapes_params p;
  int counts[SHAPES_MAXOBJ + 1] = { 0 }, split, n = 4000, on = 0, typical = 0, objs = 0;
  uint64_t i;
  (void)state;
  shapes_params_default(&p);
  for (split = SHAPES_TRAIN; split <= SHAPES_EVAL; split++)
    for (i = 0; i < (uint64_t)n; i++) {
      struct shapes_scene s;
      int slots = 0, cats = 0, k;
      shapes_scene_make(&p, split, i, &s);
      assert_true(s.n >= 1 && s.n <= SHAPES_MAXOBJ);
      counts[s.n]++;
      for (k = 0; k < s.n; k++) {
        const struct shapes_object *o = &s.obj[k];
        float sx = (float)(o->slot % 2) * 16 + 8, sy = (float)(o->slot / 2) * 16 + 8;
        assert_false(slots & (1 << o->slot)); /* distinct slots */
        assert_false(cats & (1 << o->cat));   /* distinct categories */
        slots |= 1 << o->slot;
        cats |= 1 << o->cat;
        assert_true(fabsf(o->cx - sx) <= 2.0f && fabsf(o->cy - sy) <= 2.0f);
        assert_true(o->size >= 10.0f && o->size <= 14.0f);
        assert_true(o->contrast >= 0.6f && o->contrast <= 1.0f);
        assert_true(o->colour >= 0 && o->colour < SHAPES_NCOLOUR);
        if (k > 0) /* slot order (the default) */
          assert_true(s.obj[k - 1].slot < o->slot);
        on += shapes_categories[o->cat].theme == s.theme;
        typical += shapes_categories[o->cat].typical == o->colour;
        objs++;
      }
      assert_true(s.nspeck >= 0 && s.nspeck <= SHAPES_MAXSPECK);
      /* Questions: one present, one absent and never mentioned. */
      assert_true(shapes_has(&s, s.yes_cat));
      assert_false(shapes_has(&s, s.no_cat));
      for (k = 0; k < s.nmention; k++)
        assert_int_not_equal(s.mention[k].cat, s.no_cat);
    }
  /* P(n) = .15 .30 .35 .20 over 8000 scenes: within 0.025. */
  assert_true(fabs(counts[1] / 8000.0 - 0.15) < 0.025);
  assert_true(fabs(counts[2] / 8000.0 - 0.30) < 0.025);
  assert_true(fabs(counts[3] / 8000.0 - 0.35) < 0.025);
  assert_true(fabs(counts[4] / 8000.0 - 0.20) < 0.025);
  /* on_theme .85 and typical .5 over ~21000 objects. */
  assert_true(fabs((double)on / objs - 0.85) < 0.02);
  assert_true(fabs((double)typical / objs - 0.5) < 0.02);
}

static void test_partner_noise(void **state)
{
  struct shapes_params p;
  int eligible = 0, noisy = 0, n = 4000, k;
  uint64_t i;
  (void)state;
  shapes_params_default(&p);
  for (i = 0; i < (uint64_t)n; i++) {
    struct shapes_scene s, e;
    int partner, nnoise = 0;
    shapes_scene_make(&p, SHAPES_TRAIN, i, &s);
    partner = shapes_categories[s.obj[0].cat].partner;
    assert_int_equal(s.eligible, !shapes_has(&s, partner));
    for (k = 0; k < s.nmention; k++) {
      const struct shapes_mention *m = &s.mention[k];
      if (!m->noise) { /* a clean mention is an object, in order */
        assert_int_equal(m->cat, s.obj[k - nnoise].cat);
        assert_int_equal(m->slot, s.obj[k - nnoise].slot);
        continue;
      }
      /* Noise: right after the first object, the absent partner, typical colour. */
      nnoise++;
      assert_int_equal(k, 1);
      assert_int_equal(m->cat, partner);
      assert_false(shapes_has(&s, m->cat));
      assert_int_equal(m->colour, shapes_categories[partner].typical);
      assert_true(s.eligible);
    }
    assert_int_equal(s.nmention, s.n + nnoise);
    eligible += s.eligible;
    noisy += nnoise;
    /* Eval is clean: mentions are exactly the objects. */
    shapes_scene_make(&p, SHAPES_EVAL, i, &e);
    assert_int_equal(e.eligible, 0);
    assert_int_equal(e.nmention, e.n);
    for (k = 0; k < e.nmention; k++) {
      assert_int_equal(e.mention[k].noise, 0);
      assert_int_equal(e.mention[k].cat, e.obj[k].cat);
      assert_int_equal(e.mention[k].colour, e.obj[k].colour);
    }
  }
  /* About the configured 0.6 (sd of the rate at ~2400 eligible: 0.01). */
  assert_true(eligible > n / 3);
  assert_true(fabs((double)noisy / eligible - 0.6) < 0.04);
}

static void test_noise_leaves_layout(void **state)
{
  struct shapes_params p0, p1;
  int always = 0, eligible = 0;
  uint64_t i;
  (void)state;
  shapes_params_default(&p0);
  shapes_params_default(&p1);
  p0.partner_noise = 0;
  p1.partner_noise = 1;
  for (i = 0; i < 500; i++) {
    struct shapes_scene a, b;
    shapes_scene_make(&p0, SHAPES_TRAIN, i, &a);
    shapes_scene_make(&p1, SHAPES_TRAIN, i, &b);
    /* The text stream is separate: objects, background, specks unchanged. */
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.obj, b.obj, sizeof a.obj);
    assert_memory_equal(a.bg, b.bg, sizeof a.bg);
    assert_int_equal(a.nmention, a.n); /* p = 0: never noisy */
    eligible += b.eligible;
    always += b.eligible && b.nmention == b.n + 1;
  }
  assert_int_equal(always, eligible); /* p = 1: noisy whenever eligible */
}

static void test_scene_depends_on_index_only(void **state)
{
  struct shapes_params p;
  struct shapes_scene a, b, c;
  (void)state;
  shapes_params_default(&p);
  shapes_scene_make(&p, SHAPES_TRAIN, 77, &a);
  shapes_scene_make(&p, SHAPES_TRAIN, 3, &c);
  shapes_scene_make(&p, SHAPES_TRAIN, 77, &b);
  assert_memory_equal(&a, &b, sizeof a);
  p.seed = 2;
  shapes_scene_make(&p, SHAPES_TRAIN, 77, &b);
  assert_memory_not_equal(&a, &b, sizeof a);
}

static void test_text(void **state)
{
  struct shapes_scene s;
  struct strbuf sb;
  (void)state;
  memset(&s, 0, sizeof s);
  strbuf_init(&sb, 64);
  s.n = 1;
  s.nmention = 1;
  s.mention[0] = (struct shapes_mention){ 0, 0, 0, 0 };
  shapes_describe(&s, &sb);
  assert_string_equal(sb.buf, "There is a red circle in the top left.");
  s.nmention = 2;
  s.mention[1] = (struct shapes_mention){ 1, 2, 3, 1 };
  strbuf_reset(&sb);
  shapes_describe(&s, &sb);
  assert_string_equal(sb.buf,
                      "There is a red circle in the top left and a blue square in the bottom right.");
  s.nmention = 3;
  s.mention[2] = (struct shapes_mention){ 7, 5, 1, 0 };
  strbuf_reset(&sb);
  shapes_describe(&s, &sb);
  assert_string_equal(sb.buf, "There is a red circle in the top left, a blue square in the "
                              "bottom right and a white arrow in the top right.");
  strbuf_reset(&sb);
  shapes_question(6, &sb);
  assert_string_equal(sb.buf, "Is there a star in the image?");
  strbuf_reset(&sb);
  shapes_question(7, &sb);
  assert_string_equal(sb.buf, "Is there an arrow in the image?");
  strbuf_release(&sb);
}

static void test_world_tables(void **state)
{
  int c, t, k, seen[SHAPES_NCAT] = { 0 };
  (void)state;
  for (c = 0; c < SHAPES_NCAT; c++) {
    const struct shapes_category *k0 = &shapes_categories[c];
    int p = k0->partner;
    assert_int_equal(shapes_categories[p].partner, c); /* pairs */
    assert_int_not_equal(p, c);
    assert_int_equal(shapes_categories[p].theme, k0->theme);
    assert_int_not_equal(shapes_categories[p].typical, k0->typical);
    assert_string_equal(k0->synonyms[0], k0->name);
    assert_int_equal(shapes_find_category(k0->name), c);
  }
  for (t = 0; t < SHAPES_NTHEME; t++)
    for (k = 0; k < SHAPES_THEME_SIZE; k++) {
      assert_int_equal(shapes_categories[shapes_themes[t].cats[k]].theme, t);
      seen[shapes_themes[t].cats[k]]++;
    }
  for (c = 0; c < SHAPES_NCAT; c++)
    assert_int_equal(seen[c], 1);
  assert_int_equal(shapes_find_category("box"), 1);
  assert_int_equal(shapes_find_category("plus sign"), 5);
  assert_int_equal(shapes_find_category("giraffe"), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_philox_known_answers),
    cmocka_unit_test(test_rng_streams),
    cmocka_unit_test(test_scene_rules),
    cmocka_unit_test(test_partner_noise),
    cmocka_unit_test(test_noise_leaves_layout),
    cmocka_unit_test(test_scene_depends_on_index_only),
    cmocka_unit_test(test_text),
    cmocka_unit_test(test_world_tables),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
