/* rate_limit_test.c - tests orchestrator/rate_limit.c with a clock driven
 * by hand: bursts up to the bucket, refill at the rate, the delay it
 * reports, token estimates corrected after the fact, oversized requests,
 * and pauses from a server's Retry-After.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>

#include "rate_limit.h"

static double fake_now;

static double fake_clock(void *arg)
{
  (void)arg;
  return fake_now;
}

#define assert_near(a, b) assert_true(fabs((a) - (b)) < 1e-6)

static void test_requests_per_minute(void **state)
{
  struct rate_limit l;
  (void)state;
  fake_now = 1000;
  /* 60 rpm, a 10 s burst: 10 at once, then one a second. */
  rate_limit_init(&l, 60, 0, 10, fake_clock, NULL);
  for (int i = 0; i < 10; i++)
    assert_near(rate_limit_acquire(&l, 0), 0);
  assert_near(rate_limit_acquire(&l, 0), 1000);
  fake_now += 400;
  assert_near(rate_limit_acquire(&l, 0), 600); /* nothing taken while waiting */
  fake_now += 600;
  assert_near(rate_limit_acquire(&l, 0), 0);
  assert_near(rate_limit_acquire(&l, 0), 1000);
  /* A long idle refills to the bucket size, not beyond. */
  fake_now += 3600 * 1000;
  for (int i = 0; i < 10; i++)
    assert_near(rate_limit_acquire(&l, 0), 0);
  assert_true(rate_limit_acquire(&l, 0) > 0);
}

static void test_tokens_per_minute(void **state)
{
  struct rate_limit l;
  (void)state;
  fake_now = 0;
  /* Unlimited requests, 6000 tokens a minute (100 a second), 60 s bucket. */
  rate_limit_init(&l, 0, 6000, 0, fake_clock, NULL);
  assert_near(rate_limit_acquire(&l, 5000), 0);
  assert_near(rate_limit_acquire(&l, 1000), 0);
  assert_near(rate_limit_acquire(&l, 500), 5000); /* 500 tokens at 100/s */
  fake_now += 5000;
  assert_near(rate_limit_acquire(&l, 500), 0);
  /* The estimate was 500 but the response used 800: 300 more are owed. */
  rate_limit_adjust(&l, 300);
  assert_near(rate_limit_acquire(&l, 100), 4000);
  fake_now += 4000;
  assert_near(rate_limit_acquire(&l, 100), 0);
  /* Over-estimates come back (up to the bucket size). */
  rate_limit_adjust(&l, -100);
  assert_near(rate_limit_acquire(&l, 100), 0);
}

static void test_both_limits(void **state)
{
  struct rate_limit l;
  (void)state;
  fake_now = 0;
  rate_limit_init(&l, 120, 1200, 1, fake_clock, NULL); /* buckets: 2 requests, 20 tokens */
  assert_near(rate_limit_acquire(&l, 15), 0);
  /* A request is available, tokens are not: 10 more at 20/s = 500 ms. */
  assert_near(rate_limit_acquire(&l, 15), 500);
  fake_now += 500;
  assert_near(rate_limit_acquire(&l, 15), 0);
  /* Tokens would be back after 750 ms, requests after 500 ms: the larger wins. */
  assert_near(rate_limit_acquire(&l, 15), 750);
}

static void test_oversized_request(void **state)
{
  struct rate_limit l;
  (void)state;
  fake_now = 0;
  rate_limit_init(&l, 0, 600, 1, fake_clock, NULL); /* a 10-token bucket */
  /* 50 tokens can never fit: it goes once the bucket is full... */
  assert_near(rate_limit_acquire(&l, 50), 0);
  /* ...and the debt delays the next one: -40 + 5 needed = 45 tokens = 4.5 s. */
  assert_near(rate_limit_acquire(&l, 5), 4500);
}

static void test_pause(void **state)
{
  struct rate_limit l;
  (void)state;
  fake_now = 0;
  rate_limit_init(&l, 6000, 0, 0, fake_clock, NULL);
  rate_limit_pause(&l, 2000);
  assert_near(rate_limit_acquire(&l, 0), 2000);
  fake_now += 1500;
  assert_near(rate_limit_acquire(&l, 0), 500);
  rate_limit_pause(&l, 100); /* a shorter pause does not shorten the longer one */
  assert_near(rate_limit_acquire(&l, 0), 500);
  fake_now += 500;
  assert_near(rate_limit_acquire(&l, 0), 0);
}

static void test_unlimited_and_real_clock(void **state)
{
  struct rate_limit l;
  double t0, t1;
  (void)state;
  rate_limit_init(&l, 0, 0, 0, NULL, NULL);
  for (int i = 0; i < 1000; i++)
    assert_near(rate_limit_acquire(&l, 1e6), 0);
  t0 = rate_limit_clock_mono(NULL);
  t1 = rate_limit_clock_mono(NULL);
  assert_true(t1 >= t0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_requests_per_minute),
    cmocka_unit_test(test_tokens_per_minute),
    cmocka_unit_test(test_both_limits),
    cmocka_unit_test(test_oversized_request),
    cmocka_unit_test(test_pause),
    cmocka_unit_test(test_unlimited_and_real_clock),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
