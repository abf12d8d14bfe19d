/* http_retry.h - one logical API request: an http_req retried with backoff.
 *
 * Retried: timeouts, connection errors (refused, reset, nothing received,
 * cut short), HTTP 408, 425, 429 and 5xx except 501, and 2xx responses that
 * the caller's validator rejects (say, "not valid JSON" or "no usable
 * text"): a caller caches only what reaches done with status 0, so a
 * rejected response is never cached. The wait before a retry is the
 * server's Retry-After when it sent one (seconds or an HTTP date), else
 * exponential backoff with full jitter: uniform in [0, min(max_ms, base_ms *
 * 2^(retry-1))), drawn from a caller-seeded generator so that runs and tests
 * are reproducible. With a rate limiter, every attempt first takes its
 * request and tokens from it, and a Retry-After pauses the whole limiter.
 *
 * Left out: hedged requests, circuit breakers, a deadline across attempts
 * (max_attempts * (timeout + max_ms) bounds the total).
 */
#ifndef PD_HTTP_RETRY_H
#define PD_HTTP_RETRY_H

#include <stdint.h>
#include <time.h>

#include "http.h"

struct rate_limit;
struct http_retry;

struct retry_policy {
  int max_attempts;    /* in all, the first included: the retry budget + 1 */
  double base_ms;      /* backoff cap before the first retry, doubled each retry */
  double max_ms;       /* cap of any backoff */
  double max_wait_ms;  /* longest Retry-After honoured; a longer one fails at once */
};
#define RETRY_POLICY_DEFAULT { 5, 500.0, 30000.0, 120000.0 }

/* Returns 0 when the 2xx response in c->req is usable, else a negative code
 * with err set to why not (the text of the message, without the URL). */
typedef int http_validate_cb(struct http_retry *c, struct pd_err *err);
/* status: 0, or the last attempt's code (PD_ECURL...) or UV_ECANCELED, with
 * c->err set. */
typedef void http_retry_done_cb(struct http_retry *c, int status);

enum retry_state {
  RETRY_IDLE,     /* not started, or done called */
  RETRY_LIMITED,  /* waiting for the rate limiter */
  RETRY_SENDING,  /* an attempt is in flight */
  RETRY_BACKOFF,  /* waiting before the next attempt */
  RETRY_CLOSING   /* finished, closing the timer before done */
};

struct http_retry {
  /* Set by the caller: the request in req (method, url, headers, body,
   * timeouts; not req.done, which is ours), then these. */
  struct http_req req;
  struct retry_policy policy;
  uint64_t *rng;               /* generator state (seeded by the caller); shared is fine */
  struct rate_limit *limit;    /* or NULL */
  double tokens;               /* estimated tokens of one attempt, for limit */
  http_validate_cb *validate;  /* or NULL: every 2xx is usable */
  http_retry_done_cb *done;
  void *data;                  /* the caller's */

  /* Results, valid in done (the response itself is in req). */
  int attempts;                /* transfers started */
  double waited_ms;            /* time spent in backoff and limiter waits */
  struct pd_err err;

  /* Private. */
  struct http *h;
  uv_timer_t timer;            /* opened on the first wait, closed before done */
  int timer_open;
  enum retry_state state;
  int final;
};

/* http_req_init plus RETRY_POLICY_DEFAULT. */
void http_retry_init(struct http_retry *c);
/* Frees the response. c must be idle (done called, or never started). */
void http_retry_release(struct http_retry *c);
/* Starts the first attempt (or waits for the limiter). Returns 0, and done
 * is called exactly once, never from inside http_retry_start; or a negative
 * code with c->err set, and done is not called. */
int http_retry_start(struct http *h, struct http_retry *c);
/* Stops c: done gets UV_ECANCELED, possibly before this returns. No effect
 * on an idle c. */
void http_retry_cancel(struct http_retry *c);

/* splitmix64: the next value of the generator with state *s. */
uint64_t retry_rand(uint64_t *s);
/* The full-jitter backoff before retry number `retry` (1 = first retry). */
double retry_backoff_ms(const struct retry_policy *p, int retry, uint64_t *rng);
/* Parses a Retry-After value (delta seconds or HTTP date, read against the
 * wall clock `now`) into *ms (>= 0). Returns 1, or 0 when v is empty or
 * not understood. */
int retry_after_ms(const char *v, time_t now, double *ms);
/* 1 when the outcome of r (status from its done callback) is worth
 * another attempt. */
int http_retryable(const struct http_req *r, int status);

/* Validator for OpenAI-style chat completions: Content-Type JSON, a JSON
 * body, choices[0].message.content a string that is not blank. */
int http_validate_chat(struct http_retry *c, struct pd_err *err);

#endif
