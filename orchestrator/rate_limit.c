/* rate_limit.c - token buckets for requests and tokens per minute (see
 * rate_limit.h). */
#include "rate_limit.h"

#include <time.h>

double rate_limit_clock_mono(void *arg)
{
  struct timespec ts;
  (void)arg;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

void rate_limit_init(struct rate_limit *l, double rpm, double tpm, double burst_s,
                     rate_clock_fn *clock, void *clock_arg)
{
  if (burst_s <= 0)
    burst_s = 60;
  l->rpm = rpm > 0 ? rpm : 0;
  l->tpm = tpm > 0 ? tpm : 0;
  l->req_cap = l->rpm * burst_s / 60;
  l->tok_cap = l->tpm * burst_s / 60;
  /* A bucket smaller than one request would never grant anything. */
  if (l->rpm > 0 && l->req_cap < 1)
    l->req_cap = 1;
  l->req = l->req_cap;
  l->tok = l->tok_cap;
  l->clock = clock ? clock : rate_limit_clock_mono;
  l->clock_arg = clock_arg;
  l->last = l->clock(l->clock_arg);
  l->paused_until = l->last;
}

static void refill(struct rate_limit *l, double now)
{
  double dt = now - l->last;
  if (dt <= 0)
    return;
  l->last = now;
  l->req += dt * l->rpm / 60000.0;
  if (l->req > l->req_cap)
    l->req = l->req_cap;
  l->tok += dt * l->tpm / 60000.0;
  if (l->tok > l->tok_cap)
    l->tok = l->tok_cap;
}

double rate_limit_acquire(struct rate_limit *l, double tokens)
{
  double now = l->clock(l->clock_arg), wait = 0, need;
  if (tokens < 0)
    tokens = 0;
  refill(l, now);
  if (now < l->paused_until)
    wait = l->paused_until - now;
  if (l->rpm > 0 && l->req < 1) {
    double w = (1 - l->req) * 60000.0 / l->rpm;
    if (w > wait)
      wait = w;
  }
  if (l->tpm > 0) {
    need = tokens < l->tok_cap ? tokens : l->tok_cap;
    if (l->tok < need) {
      double w = (need - l->tok) * 60000.0 / l->tpm;
      if (w > wait)
        wait = w;
    }
  }
  if (wait > 0)
    return wait < 1e-3 ? 1e-3 : wait;
  if (l->rpm > 0)
    l->req -= 1;
  if (l->tpm > 0)
    l->tok -= tokens;
  return 0;
}

void rate_limit_adjust(struct rate_limit *l, double delta)
{
  if (l->tpm <= 0)
    return;
  refill(l, l->clock(l->clock_arg));
  l->tok -= delta;
  if (l->tok > l->tok_cap)
    l->tok = l->tok_cap;
}

void rate_limit_pause(struct rate_limit *l, double ms)
{
  double until = l->clock(l->clock_arg) + ms;
  if (until > l->paused_until)
    l->paused_until = until;
}
