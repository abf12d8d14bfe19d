/* philox_test.c - tests of kernels/philox.h and kernels/gauss.h: Philox
 * against Random123's known answers, the accuracy of the float log, sine
 * and cosine against double libm, and the noise of one block as distort.h
 * defines it. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "distort.h"
#include "gauss.h"
#include "philox.h"

static void test_known_answers(void **state)
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
    philox4x32_10(kat[i], kat[i] + 4, out);
    assert_memory_equal(out, kat[i] + 6, sizeof out);
  }
}

/* Units in the last place of float y. */
static double ulps(double err, float y)
{
  return err / (double)(nextafterf(fabsf(y), INFINITY) - fabsf(y));
}

static void test_log_accuracy(void **state)
{
  double worst = 0;
  uint32_t k;
  (void)state;
  /* Every u the Box-Muller can see is (k + 1) / 2^24; sample a third of them. */
  for (k = 0; k < (1u << 24); k += 3) {
    float u = (float)(k + 1) * 0x1p-24f, y = gauss_log(u);
    double e = ulps(fabs((double)y - log((double)u)), y);
    if (k + 1 < (1u << 24) && e > worst)
      worst = e;
  }
  assert_float_equal(gauss_log(1.0f), 0.0f, 0.0f);
  printf("gauss_log: max error %.2f ulp\n", worst);
  assert_true(worst <= 2.0);
}

static void test_sincos_accuracy(void **state)
{
  double worst = 0;
  uint32_t k;
  (void)state;
  for (k = 0; k < (1u << 24); k += 5) {
    double t = 2.0 * M_PI * (double)k / 16777216.0;
    float s, c;
    gauss_sincos(k, &s, &c);
    worst = fmax(worst, fmax(fabs((double)s - sin(t)), fabs((double)c - cos(t))));
  }
  printf("gauss_sincos: max abs error %.3g\n", worst);
  assert_true(worst < 2e-7);
}

static void test_block_noise(void **state)
{
  uint32_t key[2], ctr[4] = { 7, 2, 0x89abcdefu, 0x01234567u }, w[4];
  float eps[4], z[4];
  (void)state;
  distort_key(0x1234567890ull, key);
  assert_int_equal(key[0], 0x34567890u);
  assert_int_equal(key[1], 0x12u ^ DISTORT_DOMAIN);
  distort_block_noise(key, 0x0123456789abcdefull, 2, 7, eps);
  philox4x32_10(ctr, key, w);
  gauss_box_muller(w[0], w[1], &z[0], &z[1]);
  gauss_box_muller(w[2], w[3], &z[2], &z[3]);
  assert_memory_equal(eps, z, sizeof z);
  /* Box-Muller by hand on the first pair, in double. */
  {
    double u = (double)((w[0] >> 8) + 1) / 16777216.0, t = (double)(w[1] >> 8) / 16777216.0;
    double r = sqrt(-2.0 * log(u));
    assert_true(fabs((double)eps[0] - r * cos(2 * M_PI * t)) < 4e-6);
    assert_true(fabs((double)eps[1] - r * sin(2 * M_PI * t)) < 4e-6);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_known_answers),
    cmocka_unit_test(test_log_accuracy),
    cmocka_unit_test(test_sincos_accuracy),
    cmocka_unit_test(test_block_noise),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
