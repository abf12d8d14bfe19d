/* rate_limit.h - token buckets for an API's requests and tokens per minute.
 *
 * Two buckets refilled continuously: one for requests (rpm), one for model
 * tokens (tpm). Each holds at most burst_s seconds' worth of its rate (60 s
 * by default, the window providers count in). A request takes one request
 * and its estimated tokens; once the real count is known (the response's
 * usage), rate_limit_adjust corrects the bucket, which may then go negative
 * and so delays later requests. A 429 from the server is a signal that
 * applies to every caller of the endpoint: rate_limit_pause holds them all.
 *
 * Time comes from a clock function (milliseconds, monotonic) so that tests
 * drive it by hand. There is no queue: callers that are told to wait retry
 * after the delay, so the order among waiters is not guaranteed.
 */
#ifndef PD_RATE_LIMIT_H
#define PD_RATE_LIMIT_H

typedef double rate_clock_fn(void *arg); /* now, in milliseconds */

struct rate_limit {
  double rpm, tpm;           /* rates per minute; 0 = unlimited */
  double req_cap, tok_cap;   /* bucket sizes */
  double req, tok;           /* current levels (tok may be negative) */
  double last;               /* clock at the last refill */
  double paused_until;       /* clock before which nothing is granted */
  rate_clock_fn *clock;
  void *clock_arg;
};

/* clock NULL: rate_limit_clock_mono. burst_s <= 0: 60. The buckets start
 * full. */
void rate_limit_init(struct rate_limit *l, double rpm, double tpm, double burst_s,
                     rate_clock_fn *clock, void *clock_arg);
/* Takes one request and `tokens` tokens and returns 0, or takes nothing and
 * returns the delay in milliseconds (> 0) after which to ask again. A
 * request larger than the token bucket is let through when the bucket is
 * full (it could never be granted otherwise). */
double rate_limit_acquire(struct rate_limit *l, double tokens);
/* Adds delta tokens to what was taken (real usage minus the estimate). */
void rate_limit_adjust(struct rate_limit *l, double delta);
/* Grants nothing for the next ms milliseconds (a server's Retry-After). */
void rate_limit_pause(struct rate_limit *l, double ms);

/* CLOCK_MONOTONIC in milliseconds. */
double rate_limit_clock_mono(void *arg);

#endif
