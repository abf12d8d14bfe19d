/* http_retry.c - retries, backoff, Retry-After and validation on top of
 * http.c (see http_retry.h).
 *
 * States: IDLE -> [LIMITED ->] SENDING -> (done | BACKOFF -> [LIMITED ->]
 * SENDING ...). The timer is opened only when a first wait is needed, so a
 * request that succeeds at once costs no handle; once opened it is closed
 * before done runs, so that the caller may free c from done.
 */
#include "http_retry.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "rate_limit.h"

#define container_of(ptr, type, member) \
  ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* --- policy --------------------------------------------------------------- */

uint64_t retry_rand(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double retry_backoff_ms(const struct retry_policy *p, int retry, uint64_t *rng)
{
  double cap = p->base_ms, u;
  for (int i = 1; i < retry && cap < p->max_ms; i++)
    cap *= 2;
  if (cap > p->max_ms)
    cap = p->max_ms;
  u = (double)(retry_rand(rng) >> 11) * 0x1.0p-53; /* [0, 1) */
  return cap * u;
}

int retry_after_ms(const char *v, time_t now, double *ms)
{
  const char *p = v;
  time_t t;
  while (*p == ' ' || *p == '\t')
    p++;
  if (!*p)
    return 0;
  if (isdigit((unsigned char)*p)) {
    double secs = 0;
    for (; isdigit((unsigned char)*p); p++)
      secs = secs * 10 + (*p - '0');
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p)
      return 0;
    *ms = secs * 1000.0;
    return 1;
  }
  t = curl_getdate(p, NULL);
  if (t == (time_t)-1)
    return 0;
  *ms = t > now ? (double)(t - now) * 1000.0 : 0;
  return 1;
}

int http_retryable(const struct http_req *r, int status)
{
  if (status == 0 || status == UV_ECANCELED)
    return 0;
  switch (r->result) {
  case CURLE_OK:
    return r->status == 408 || r->status == 425 || r->status == 429 ||
           (r->status >= 500 && r->status <= 599 && r->status != 501);
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_WEIRD_SERVER_REPLY:
    return 1;
  default:
    return 0; /* bad URL, TLS verification, response too large... */
  }
}

int http_validate_chat(struct http_retry *c, struct pd_err *err)
{
  const struct http_req *r = &c->req;
  cJSON *root, *choices, *msg, *content;
  const char *s;
  int rc = 0;
  if (strncasecmp(r->content_type, "application/json", 16) != 0)
    return ERR_SET(err, PD_ECURL, "unexpected content type '%s'", r->content_type);
  root = cJSON_ParseWithLength(r->resp.buf, r->resp.len);
  if (!root)
    return ERR_SET(err, PD_ECURL, "response is not valid JSON (%zu bytes)", r->resp.len);
  choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
  msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(choices, 0), "message");
  content = cJSON_GetObjectItemCaseSensitive(msg, "content");
  if (!cJSON_IsString(content)) {
    rc = ERR_SET(err, PD_ECURL, "response has no choices[0].message.content");
    goto out;
  }
  for (s = content->valuestring; *s && isspace((unsigned char)*s); s++)
    ;
  if (!*s)
    rc = ERR_SET(err, PD_ECURL, "response has no usable text (blank content)");
out:
  cJSON_Delete(root);
  return rc;
}

/* --- the state machine ---------------------------------------------------- */

void http_retry_init(struct http_retry *c)
{
  struct retry_policy def = RETRY_POLICY_DEFAULT;
  memset(c, 0, sizeof *c);
  http_req_init(&c->req);
  c->policy = def;
}

void http_retry_release(struct http_retry *c)
{
  ASSERT(c->state == RETRY_IDLE);
  http_req_release(&c->req);
}

static void on_timer_closed(uv_handle_t *handle)
{
  struct http_retry *c = container_of((uv_timer_t *)handle, struct http_retry, timer);
  c->timer_open = 0;
  c->state = RETRY_IDLE;
  c->done(c, c->final);
}

static void finish(struct http_retry *c, int status)
{
  c->final = status;
  if (c->timer_open) {
    c->state = RETRY_CLOSING;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    return;
  }
  c->state = RETRY_IDLE;
  c->done(c, status);
}

static void attempt(struct http_retry *c);

static void on_wait(uv_timer_t *t)
{
  attempt(container_of(t, struct http_retry, timer));
}

static void wait_ms(struct http_retry *c, double ms, enum retry_state state)
{
  if (!c->timer_open) {
    uv_timer_init(c->h->loop, &c->timer);
    c->timer_open = 1;
  }
  c->state = state;
  c->waited_ms += ms;
  uv_timer_start(&c->timer, on_wait, (uint64_t)ceil(ms), 0);
}

static void on_req_done(struct http_req *r, int status);

static void attempt(struct http_retry *c)
{
  int rc;
  if (c->limit) {
    double d = rate_limit_acquire(c->limit, c->tokens);
    if (d > 0) {
      wait_ms(c, d, RETRY_LIMITED);
      return;
    }
  }
  c->req.done = on_req_done;
  c->attempts++;
  c->state = RETRY_SENDING;
  rc = http_submit(c->h, &c->req);
  if (rc < 0) {
    pd_err_clear(&c->err);
    ERR_SET(&c->err, rc, "%s", c->req.err.msg);
    finish(c, rc);
  }
}

static void on_req_done(struct http_req *r, int status)
{
  struct http_retry *c = container_of(r, struct http_retry, req);
  struct pd_err why = { 0 };
  char url[512];
  double ms = 0;
  int retryable;

  http_url_for_msg(r->url, url, sizeof url);
  if (status == 0 && c->validate) {
    struct pd_err verr = { 0 };
    if (c->validate(c, &verr) < 0) {
      status = verr.code ? verr.code : PD_ECURL;
      http__redact(r, verr.msg);
      ERR_SET(&why, status, "cannot %s '%s': invalid response: %s",
              http_method_name(r->method), url, verr.msg);
      retryable = 1;
    } else
      retryable = 0;
  } else {
    retryable = http_retryable(r, status);
    if (status)
      ERR_SET(&why, status, "%s", r->err.msg);
  }
  pd_err_clear(&c->err);
  if (status == 0) {
    finish(c, 0);
    return;
  }
  if (!retryable) {
    ERR_SET(&c->err, status, "%s", why.msg);
    finish(c, status);
    return;
  }
  if (c->attempts >= c->policy.max_attempts) {
    ERR_SET(&c->err, status, "gave up after %d attempts: %s", c->attempts, why.msg);
    finish(c, status);
    return;
  }
  if (retry_after_ms(r->retry_after, time(NULL), &ms)) {
    if (ms > c->policy.max_wait_ms) {
      ERR_SET(&c->err, status, "server asks to retry after %.0f s (more than %.0f s): %s",
              ms / 1000, c->policy.max_wait_ms / 1000, why.msg);
      finish(c, status);
      return;
    }
    if (c->limit)
      rate_limit_pause(c->limit, ms);
  } else
    ms = retry_backoff_ms(&c->policy, c->attempts, c->rng);
  wait_ms(c, ms, RETRY_BACKOFF);
}

int http_retry_start(struct http *h, struct http_retry *c)
{
  char url[512];
  ASSERT(c->state == RETRY_IDLE && c->done && c->rng);
  c->h = h;
  c->attempts = 0;
  c->waited_ms = 0;
  c->final = 0;
  pd_err_clear(&c->err);
  if (h->closing) {
    http_url_for_msg(c->req.url, url, sizeof url);
    return ERR_SET(&c->err, UV_ECANCELED, "cannot %s '%s': client is shutting down",
                   http_method_name(c->req.method), url);
  }
  /* The first attempt starts from the loop, so that done never runs inside
   * this call: a 0 ms wait, or the transfer that curl starts on its timer. */
  if (c->limit) {
    wait_ms(c, 0, RETRY_LIMITED);
    return 0;
  }
  c->req.done = on_req_done;
  c->attempts = 1;
  c->state = RETRY_SENDING;
  if (http_submit(h, &c->req) < 0) {
    c->state = RETRY_IDLE;
    ERR_SET(&c->err, c->req.err.code, "%s", c->req.err.msg);
    return c->err.code;
  }
  return 0;
}

void http_retry_cancel(struct http_retry *c)
{
  char url[512];
  switch (c->state) {
  case RETRY_SENDING:
    http_cancel(&c->req); /* -> on_req_done(UV_ECANCELED) -> finish */
    break;
  case RETRY_LIMITED:
  case RETRY_BACKOFF:
    uv_timer_stop(&c->timer);
    http_url_for_msg(c->req.url, url, sizeof url);
    pd_err_clear(&c->err);
    ERR_SET(&c->err, UV_ECANCELED, "cannot %s '%s': cancelled after %d attempts",
            http_method_name(c->req.method), url, c->attempts);
    finish(c, UV_ECANCELED);
    break;
  case RETRY_IDLE:
  case RETRY_CLOSING:
    break;
  }
}
