/* http_retry_test.c - the pure parts of orchestrator/http_retry.c: the
 * generator and full-jitter backoff (deterministic for a seed, bounded by
 * the doubling cap), Retry-After parsing (seconds and HTTP dates against a
 * fixed clock) and which outcomes are worth a retry. The transfers
 * themselves are tested in http_test.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "http_retry.h"

static void test_rand_deterministic(void **state)
{
  uint64_t a = 7, b = 7, c = 8;
  (void)state;
  for (int i = 0; i < 100; i++) {
    uint64_t x = retry_rand(&a);
    assert_true(x == retry_rand(&b));
    assert_true(x != retry_rand(&c));
  }
  /* splitmix64's published first output for seed 0. */
  a = 0;
  assert_true(retry_rand(&a) == 0xe220a8397b1dcdafULL);
}

static void test_backoff_full_jitter(void **state)
{
  struct retry_policy p = { 10, 100.0, 1000.0, 60000.0 };
  uint64_t r1 = 1234, r2 = 1234;
  double caps[] = { 100, 200, 400, 800, 1000, 1000, 1000 };
  (void)state;
  for (int retry = 1; retry <= 7; retry++) {
    double lo = 1e9, hi = 0, sum = 0;
    for (int i = 0; i < 2000; i++) {
      double d = retry_backoff_ms(&p, retry, &r1);
      assert_true(d == retry_backoff_ms(&p, retry, &r2)); /* same seed, same waits */
      assert_true(d >= 0 && d < caps[retry - 1]);
      lo = d < lo ? d : lo;
      hi = d > hi ? d : hi;
      sum += d;
    }
    /* Full jitter spreads over the whole range, mean near cap / 2. */
    assert_true(lo < caps[retry - 1] * 0.02);
    assert_true(hi > caps[retry - 1] * 0.98);
    assert_true(sum / 2000 > caps[retry - 1] * 0.45 && sum / 2000 < caps[retry - 1] * 0.55);
  }
  /* Huge retry numbers stay at the cap without overflowing. */
  assert_true(retry_backoff_ms(&p, 100000, &r1) < 1000);
}

static void test_retry_after(void **state)
{
  const time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
  double ms = -1;
  (void)state;
  assert_int_equal(retry_after_ms("3", now, &ms), 1);
  assert_true(ms == 3000);
  assert_int_equal(retry_after_ms(" 120 ", now, &ms), 1);
  assert_true(ms == 120000);
  assert_int_equal(retry_after_ms("0", now, &ms), 1);
  assert_true(ms == 0);
  assert_int_equal(retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT", now, &ms), 1);
  assert_true(ms == 10000);
  assert_int_equal(retry_after_ms("Sunday, 06-Nov-94 08:50:37 GMT", now, &ms), 1); /* RFC 850 */
  assert_true(ms == 60000);
  assert_int_equal(retry_after_ms("Sun Nov  6 08:49:39 1994", now, &ms), 1); /* asctime */
  assert_true(ms == 2000);
  /* A date in the past means now. */
  assert_int_equal(retry_after_ms("Sun, 06 Nov 1994 08:00:00 GMT", now, &ms), 1);
  assert_true(ms == 0);
  ms = -1;
  assert_int_equal(retry_after_ms("", now, &ms), 0);
  assert_int_equal(retry_after_ms("soon", now, &ms), 0);
  assert_int_equal(retry_after_ms("1.5", now, &ms), 0);
  assert_int_equal(retry_after_ms("-1", now, &ms), 0);
  assert_true(ms == -1);
}

static void test_retryable(void **state)
{
  struct http_req r;
  static const long yes[] = { 408, 425, 429, 500, 502, 503, 504, 599 };
  static const long no[] = { 200, 301, 400, 401, 403, 404, 413, 422, 501 };
  static const CURLcode cyes[] = { CURLE_OPERATION_TIMEDOUT, CURLE_COULDNT_CONNECT,
                                   CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING,
                                   CURLE_PARTIAL_FILE, CURLE_HTTP2_STREAM };
  static const CURLcode cno[] = { CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL,
                                  CURLE_WRITE_ERROR, CURLE_PEER_FAILED_VERIFICATION };
  (void)state;
  http_req_init(&r);
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
    r.status = yes[i];
    assert_int_equal(http_retryable(&r, PD_ECURL), 1);
  }
  for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
    r.status = no[i];
    assert_int_equal(http_retryable(&r, PD_ECURL), 0);
  }
  r.status = 0;
  for (size_t i = 0; i < sizeof cyes / sizeof *cyes; i++) {
    r.result = cyes[i];
    assert_int_equal(http_retryable(&r, PD_ECURL), 1);
    assert_int_equal(http_retryable(&r, UV_ECANCELED), 0);
  }
  for (size_t i = 0; i < sizeof cno / sizeof *cno; i++) {
    r.result = cno[i];
    assert_int_equal(http_retryable(&r, PD_ECURL), 0);
  }
  r.result = CURLE_OK;
  r.status = 200;
  assert_int_equal(http_retryable(&r, 0), 0);
  http_req_release(&r);
}

/* The chat validator on canned responses. */
static void test_validate_chat(void **state)
{
  static const struct {
    const char *ctype, *body, *why; /* why == NULL: accepted */
  } cases[] = {
    { "application/json", "{\"choices\":[{\"message\":{\"content\":\"ok\"}}]}", NULL },
    { "application/json; charset=utf-8", "{\"choices\":[{\"message\":{\"content\":\"ok\"}}]}",
      NULL },
    { "text/html", "{\"choices\":[{\"message\":{\"content\":\"ok\"}}]}", "content type" },
    { "application/json", "{\"choices\":[{\"mess", "not valid JSON" },
    { "application/json", "{nope}", "not valid JSON" },
    { "application/json", "{\"choices\":[]}", "no choices[0]" },
    { "application/json", "{\"choices\":[{\"message\":{\"content\":null}}]}", "no choices[0]" },
    { "application/json", "{\"choices\":[{\"message\":{\"content\":\" \\n\\t\"}}]}",
      "no usable text" },
  };
  struct http_retry c;
  (void)state;
  http_retry_init(&c);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct pd_err err = { 0 };
    strbuf_reset(&c.req.resp);
    strbuf_addstr(&c.req.resp, cases[i].body);
    strcpy(c.req.content_type, cases[i].ctype);
    if (!cases[i].why)
      assert_int_equal(http_validate_chat(&c, &err), 0);
    else {
      assert_int_equal(http_validate_chat(&c, &err), PD_ECURL);
      assert_non_null(strstr(err.msg, cases[i].why));
    }
  }
  http_retry_release(&c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rand_deterministic),
    cmocka_unit_test(test_backoff_full_jitter),
    cmocka_unit_test(test_retry_after),
    cmocka_unit_test(test_retryable),
    cmocka_unit_test(test_validate_chat),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
