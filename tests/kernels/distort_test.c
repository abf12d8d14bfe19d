/* distort_test.c - tests of kernels/cpu/distort.c: the schedules against
 * the formula, the noise's statistics, the same bits for any thread count
 * and instruction set, draws, seeds and ids, the fast kernel against the
 * naive reference, clamping, cancellation, and distort_forward_gpu (an
 * error saying why without a GPU, the CPU's bits with one). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "distort.h"
#include "err.h"

#define S 32
#define P (S * S * 3)

/* cmocka's assert_float_equal compares floats: this one, doubles. */
#define assert_near(a, b, tol)                                                   \
  do {                                                                           \
    double a_ = (a), b_ = (b);                                                   \
    if (!(fabs(a_ - b_) <= (tol)))                                               \
      fail_msg("%s = %.17g, expected %.17g within %g", #a, a_, b_, (double)(tol)); \
  } while (0)

/* Pixels of image i: a smooth pattern with bright and dark parts. */
static uint8_t *make_images(int n, int p)
{
  uint8_t *x = xmalloc((size_t)n * (size_t)p);
  size_t k;
  for (k = 0; k < (size_t)n * (size_t)p; k++)
    x[k] = (uint8_t)((k * 2654435761u) >> 13);
  return x;
}

static uint64_t *make_ids(int n, uint64_t first)
{
  uint64_t *ids = xmalloc((size_t)n * sizeof *ids);
  int i;
  for (i = 0; i < n; i++)
    ids[i] = (first + (uint64_t)i) * 0x9e3779b97f4a7c15ull;
  return ids;
}

static float *run(const uint8_t *x, const uint64_t *ids, const struct distort_coef *c, int n,
                  int d, int p)
{
  float *out = xmalloc((size_t)n * (size_t)d * (size_t)p * sizeof *out);
  distort_forward(out, x, ids, c, n, d, p);
  return out;
}

static void test_schedule(void **state)
{
  double beta[DISTORT_T], abar[DISTORT_T];
  static const int ts[] = { 0, 499, 999 };
  int k, t;
  (void)state;
  distort_schedule(DISTORT_SIGMOID, beta, abar);
  for (k = 0; k < 3; k++) {
    /* The formula, from scratch: sigmoid(linspace(-6, 6, 1000))[t] * (5e-3 - 1e-5) + 1e-5. */
    double x = -6.0 + 12.0 * ts[k] / 999.0, want = (5e-3 - 1e-5) / (1.0 + exp(-x)) + 1e-5;
    double prod = 1.0;
    for (t = 0; t <= ts[k]; t++)
      prod *= 1.0 - ((5e-3 - 1e-5) / (1.0 + exp(-(-6.0 + 12.0 * t / 999.0))) + 1e-5);
    printf("sigmoid t = %3d: beta %.9e abar %.9f\n", ts[k], beta[ts[k]], abar[ts[k]]);
    assert_near(beta[ts[k]], want, 1e-15);
    assert_near(abar[ts[k]], prod, 1e-12);
  }
  assert_near(beta[0], 2.2338389551607526e-05, 1e-15);
  assert_near(beta[999], 4.987661610448393e-03, 1e-15);
  /* POVID's default step: sqrt(abar) ~ 0.863, sqrt(1 - abar) ~ 0.505. */
  assert_near(sqrt(abar[500]), 0.863, 5e-4);
  assert_near(sqrt(1 - abar[500]), 0.505, 5e-4);
  {
    struct distort_coef c = { 0 };
    distort_coef_at(&c, DISTORT_SIGMOID, 500);
    assert_true(c.sa == (float)sqrt(abar[500]));
    assert_true(c.sb == (float)sqrt(1 - abar[500]));
    printf("sigmoid k = 500: sqrt(abar) %.6f sqrt(1 - abar) %.6f\n", (double)c.sa, (double)c.sb);
  }
  distort_schedule(DISTORT_LINEAR, beta, abar);
  assert_near(beta[0], 1e-4, 1e-15);
  assert_near(beta[999], 0.02, 1e-15);
  assert_near(beta[499], 1e-4 + (0.02 - 1e-4) * 499 / 999.0, 1e-15);
  assert_near(abar[0], 1 - 1e-4, 1e-15);
  assert_near(abar[999], 4.0358297653756754e-05, 1e-12);
}

/* x_k - sqrt(abar_k) x_0 has mean 0 and variance 1 - abar_k. */
static void test_statistics(void **state)
{
  static const int steps[] = { 100, 500, 999 };
  int n = 48, k, s;
  uint8_t *x = make_images(n, P);
  uint64_t *ids = make_ids(n, 0);
  (void)state;
  for (s = 0; s < 3; s++) {
    struct distort_coef c = { 42, 0, 0, 0 };
    double abar[DISTORT_T], sum = 0, sum2 = 0, within = 0, lag = 0, m, v, N = (double)n * P;
    float *out;
    distort_schedule(DISTORT_SIGMOID, NULL, abar);
    distort_coef_at(&c, DISTORT_SIGMOID, steps[s]);
    out = run(x, ids, &c, n, 1, P);
    for (k = 0; k < n * P; k++) {
      double r = (double)out[k] - (double)c.sa * ((double)x[k] / 255.0), e = r / c.sb;
      sum += r;
      sum2 += r * r;
      within += fabs(e) < 1.0;
      if (k % P)
        lag += e * ((double)out[k - 1] - (double)c.sa * ((double)x[k - 1] / 255.0)) / c.sb;
    }
    m = sum / N;
    v = sum2 / N - m * m;
    printf("k = %d: mean %.2e, variance %.6f (1 - abar = %.6f), P(|eps| < 1) %.4f, lag-1 "
           "correlation %.4f over %.0f values\n", steps[s], m, v, 1 - abar[steps[s]],
           within / N, lag / N, N);
    /* 5 standard errors: of the mean sigma / sqrt(N), of the variance sigma^2 sqrt(2 / N). */
    assert_true(fabs(m) < 5 * sqrt((1 - abar[steps[s]]) / N));
    assert_true(fabs(v / (1 - abar[steps[s]]) - 1) < 5 * sqrt(2 / N));
    assert_true(fabs(within / N - 0.682689) < 5 * sqrt(0.2166 / N));
    assert_true(fabs(lag / N) < 5 / sqrt(N));
    free(out);
  }
  free(ids);
  free(x);
}

static int count_calls(void *arg, size_t done, size_t total)
{
  int *calls = arg;
  assert_true(done <= total);
  (*calls)++;
  return 0;
}

static void test_threads_same_bits(void **state)
{
  static const int ps[] = { P, 7 * 5 * 3 };
  struct distort_coef c = { 3, 0.8f, 0.6f, 0 };
  int n = 70, t, q, calls;
  (void)state;
  for (q = 0; q < 2; q++) {
    uint8_t *x = make_images(n, ps[q]);
    uint64_t *ids = make_ids(n, 5);
    float *want = run(x, ids, &c, n, 2, ps[q]);
    float *got = xmalloc((size_t)n * 2 * (size_t)ps[q] * sizeof *got);
    for (t = 1; t <= 7; t += 2) {
      calls = 0;
      memset(got, 0, (size_t)n * 2 * (size_t)ps[q] * sizeof *got);
      assert_int_equal(distort_forward_threads(got, x, ids, &c, n, 2, ps[q], t, count_calls,
                                               &calls), 0);
      assert_memory_equal(got, want, (size_t)n * 2 * (size_t)ps[q] * sizeof *got);
      assert_true(calls >= 1);
    }
    free(got);
    free(want);
    free(ids);
    free(x);
  }
}

static int stop_now(void *arg, size_t done, size_t total)
{
  (void)arg, (void)done, (void)total;
  return 1;
}

static void test_cancel(void **state)
{
  struct distort_coef c = { 3, 0.8f, 0.6f, 0 };
  int n = 200;
  uint8_t *x = make_images(n, P);
  uint64_t *ids = make_ids(n, 0);
  float *out = xmalloc((size_t)n * P * sizeof *out);
  (void)state;
  assert_int_equal(distort_forward_threads(out, x, ids, &c, n, 1, P, 2, stop_now, NULL),
                   PD_EINTR);
  free(out);
  free(ids);
  free(x);
}

static double correlation(const float *a, const float *b, int n)
{
  double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
  int k;
  for (k = 0; k < n; k++) {
    sa += a[k];
    sb += b[k];
    sab += (double)a[k] * b[k];
    saa += (double)a[k] * a[k];
    sbb += (double)b[k] * b[k];
  }
  return (sab - sa * sb / n) / sqrt((saa - sa * sa / n) * (sbb - sb * sb / n));
}

/* Pure noise (sa = 0, sb = 1) of draw 0 and 1, seed 1 and 2: independent. */
static void test_draws_and_seeds_differ(void **state)
{
  struct distort_coef c = { 1, 0.0f, 1.0f, 0 }, c2 = { 2, 0.0f, 1.0f, 0 };
  int n = 4;
  uint8_t *x = make_images(n, P);
  uint64_t *ids = make_ids(n, 0);
  float *a = run(x, ids, &c, n, 2, P), *b = run(x, ids, &c2, n, 2, P);
  int i;
  (void)state;
  for (i = 0; i < n; i++) {
    const float *d0 = a + (size_t)(2 * i) * P, *d1 = d0 + P, *s2 = b + (size_t)(2 * i) * P;
    assert_true(memcmp(d0, d1, P * sizeof *d0) != 0);
    assert_true(memcmp(d0, s2, P * sizeof *d0) != 0);
    assert_true(fabs(correlation(d0, d1, P)) < 0.1);
    assert_true(fabs(correlation(d0, s2, P)) < 0.1);
    if (i > 0) /* and images differ from each other */
      assert_true(fabs(correlation(d0, a + (size_t)(2 * i - 2) * P, P)) < 0.1);
  }
  free(a);
  free(b);
  free(ids);
  free(x);
}

/* An image's noise depends on its id, not its row or batch: a subset (rows
 * 0..9 of ids 100..) and a shifted batch give the same rows. */
static void test_noise_follows_ids(void **state)
{
  struct distort_coef c = { 9, 0.86f, 0.5f, 0 };
  int n = 30;
  uint8_t *x = make_images(n, P);
  uint64_t *ids = make_ids(n, 100);
  float *all = run(x, ids, &c, n, 2, P);
  float *sub = run(x, ids, &c, 10, 2, P);
  float *mid = run(x + (size_t)17 * P, ids + 17, &c, 5, 2, P);
  (void)state;
  assert_memory_equal(sub, all, (size_t)10 * 2 * P * sizeof *all);
  assert_memory_equal(mid, all + (size_t)17 * 2 * P, (size_t)5 * 2 * P * sizeof *all);
  free(all);
  free(sub);
  free(mid);
  free(ids);
  free(x);
}

static double maxdiff(const float *a, const float *b, size_t n)
{
  double m = 0;
  size_t k;
  for (k = 0; k < n; k++)
    m = fmax(m, fabs((double)a[k] - (double)b[k]));
  return m;
}

static void test_fast_vs_naive(void **state)
{
  static const int ps[] = { P, 105, 2, 1 };
  int q, clamp, n = 9;
  (void)state;
  for (q = 0; q < 4; q++)
    for (clamp = 0; clamp < 2; clamp++) {
      struct distort_coef c = { 77, 0, 0, clamp };
      uint8_t *x = make_images(n, ps[q]);
      uint64_t *ids = make_ids(n, 1);
      float *fast, *ref = xmalloc((size_t)n * 3 * (size_t)ps[q] * sizeof *ref);
      double m;
      distort_coef_at(&c, DISTORT_SIGMOID, 500);
      fast = run(x, ids, &c, n, 3, ps[q]);
      distort_forward_naive(ref, x, ids, &c, n, 3, ps[q]);
      m = maxdiff(fast, ref, (size_t)n * 3 * (size_t)ps[q]);
      printf("P = %4d clamp %d (%s): maxdiff fast vs naive %.3g\n", ps[q], clamp, distort_isa(),
             m);
      assert_true(m < 1e-5);
      free(ref);
      free(fast);
      free(ids);
      free(x);
    }
}

/* Each instruction set's copy of the kernel gives the same bits. */
static void test_isa_same_bits(void **state)
{
  static const char *const isas[] = { "base", "avx2", "avx512" };
  struct distort_coef c = { 5, 0.86f, 0.5f, 0 };
  int n = 12, k;
  uint8_t *x = make_images(n, P + 9);
  uint64_t *ids = make_ids(n, 0);
  float *want, *got;
  char *old = getenv("PD_DISTORT_ISA") ? xstrdup(getenv("PD_DISTORT_ISA")) : NULL;
  (void)state;
  setenv("PD_DISTORT_ISA", "base", 1);
  assert_string_equal(distort_isa(), "base");
  want = run(x, ids, &c, n, 2, P + 9);
  for (k = 1; k < 3; k++) {
    setenv("PD_DISTORT_ISA", isas[k], 1);
    printf("PD_DISTORT_ISA=%s runs %s\n", isas[k], distort_isa());
    got = run(x, ids, &c, n, 2, P + 9);
    assert_memory_equal(got, want, (size_t)n * 2 * (P + 9) * sizeof *got);
    free(got);
  }
  if (old)
    setenv("PD_DISTORT_ISA", old, 1);
  else
    unsetenv("PD_DISTORT_ISA");
  free(old);
  free(want);
  free(ids);
  free(x);
}

static void test_clamp(void **state)
{
  struct distort_coef c = { 11, 0, 0, 0 };
  int n = 8, k, outside = 0;
  uint8_t *x = make_images(n, P);
  uint64_t *ids = make_ids(n, 0);
  float *free_, *clamped;
  (void)state;
  distort_coef_at(&c, DISTORT_SIGMOID, 500);
  free_ = run(x, ids, &c, n, 1, P);
  c.clamp = 1;
  clamped = run(x, ids, &c, n, 1, P);
  for (k = 0; k < n * P; k++) {
    outside += free_[k] < 0 || free_[k] > 1;
    assert_true(clamped[k] >= 0 && clamped[k] <= 1);
    assert_true(clamped[k] == (free_[k] < 0 ? 0 : free_[k] > 1 ? 1 : free_[k]));
  }
  printf("k = 500: %.1f%% of values outside [0, 1] before clamping\n", 100.0 * outside / (n * P));
  assert_true(outside > n * P / 10);
  free(free_);
  free(clamped);
  free(ids);
  free(x);
}

/* Without CUDA or a GPU: PD_ECUDA saying why. With one: the CPU's bits. */
static void test_gpu(void **state)
{
  struct distort_coef c = { 13, 0.86f, 0.5f, 0 };
  struct pd_err err = { 0 };
  int n = 16, rc;
  uint8_t *x = make_images(n, P);
  uint64_t *ids = make_ids(n, 0);
  float *want = run(x, ids, &c, n, 2, P), *got = xcalloc((size_t)n * 2 * P, sizeof *got);
  (void)state;
  rc = distort_forward_gpu(got, x, ids, &c, n, 2, P, &err);
  if (rc != 0) {
    printf("distort_forward_gpu: %s\n", err.msg);
    assert_int_equal(rc, PD_ECUDA);
    assert_non_null(strstr(err.msg, "device 'cuda' is not available"));
  } else {
    double m = maxdiff(got, want, (size_t)n * 2 * P);
    printf("distort_forward_gpu: maxdiff against the CPU %.3g\n", m);
    assert_true(m <= 1e-6);
  }
  free(got);
  free(want);
  free(ids);
  free(x);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_schedule),
    cmocka_unit_test(test_statistics),
    cmocka_unit_test(test_threads_same_bits),
    cmocka_unit_test(test_cancel),
    cmocka_unit_test(test_draws_and_seeds_differ),
    cmocka_unit_test(test_noise_follows_ids),
    cmocka_unit_test(test_fast_vs_naive),
    cmocka_unit_test(test_isa_same_bits),
    cmocka_unit_test(test_clamp),
    cmocka_unit_test(test_gpu),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
