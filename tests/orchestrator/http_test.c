/* http_test.c - tests orchestrator/http.c and http_retry.c against the fake
 * chat-completions server (tests/fakes/chat_server.py) on loopback: round
 * trips, concurrency with connection reuse, each scripted fault and the
 * retry that follows, validation, cancellation, shutdown with transfers in
 * flight, and that secrets never reach an error message. Every test ends
 * with the loop closed clean (uv_loop_close() == 0).
 */
#define _GNU_SOURCE /* pipe2 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "digest.h"
#include "err.h"
#include "http.h"
#include "http_retry.h"
#include "rate_limit.h"
#include "strbuf.h"

#ifndef PD_SRC_DIR
#define PD_SRC_DIR "."
#endif

#define SECRET "sk-test-SECRET-0123456789"

#define container_of(ptr, type, member) \
  ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Runs the loop until every handle is closed, then closes it. */
#define ASSERT_LOOP_CLEAN(loop)                      \
  do {                                               \
    uv_run((loop), UV_RUN_DEFAULT);                  \
    assert_int_equal(uv_loop_close(loop), 0);        \
  } while (0)

/* --- the fake server, one per group (or per test that needs a plan) ------- */

struct server {
  pid_t pid;
  int port;
  int in_fd; /* its stdin: closing it stops the server (--watch-stdin) */
};

static struct server srv;

static int server_start(struct server *s, const char *plan)
{
  const char *src = getenv("PD_SRC");
  char path[4096], line[64];
  int out[2], in[2];
  size_t n = 0;
  if (!src || !*src)
    src = PD_SRC_DIR;
  snprintf(path, sizeof path, "%s/tests/fakes/chat_server.py", src);
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(in, O_CLOEXEC) < 0)
    return -1;
  s->pid = fork();
  if (s->pid < 0)
    return -1;
  if (s->pid == 0) {
    const char *argv[] = { "python3", path, "--max-seconds", "60", "--watch-stdin",
                           plan ? "--fault-plan" : NULL, plan, NULL };
    dup2(in[0], 0);
    dup2(out[1], 1);
    execvp("python3", (char **)argv);
    _exit(127);
  }
  close(out[1]);
  close(in[0]);
  s->in_fd = in[1];
  while (n + 1 < sizeof line) {
    struct pollfd pfd = { .fd = out[0], .events = POLLIN };
    ssize_t k;
    if (poll(&pfd, 1, 10000) <= 0)
      break;
    k = read(out[0], line + n, 1);
    if (k <= 0 || line[n] == '\n')
      break;
    n++;
  }
  line[n] = '\0';
  close(out[0]);
  s->port = atoi(line);
  return s->port > 0 ? 0 : -1;
}

static void server_stop(struct server *s)
{
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGTERM);
  close(s->in_fd);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
}

static int group_setup(void **state)
{
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  return server_start(&srv, NULL);
}

static int group_teardown(void **state)
{
  (void)state;
  server_stop(&srv);
  return 0;
}

/* --- per-test fixture ---------------------------------------------------- */

struct fix {
  uv_loop_t loop;
  struct http h;
  uint64_t rng;
  char url[128];
  char stats_url[128];
  int ndone;
  int closed;      /* http_close already called by the test */
  int loop_closed; /* ASSERT_LOOP_CLEAN already done by the test */
  int close_cb_ran;
};

static int setup(void **state)
{
  struct fix *f = calloc(1, sizeof *f);
  struct pd_err err = { 0 };
  uv_loop_init(&f->loop);
  if (http_init(&f->h, &f->loop, 0, &err) < 0)
    return -1;
  f->h.data = f;
  f->rng = 42;
  snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d/v1/chat/completions", srv.port);
  snprintf(f->stats_url, sizeof f->stats_url, "http://127.0.0.1:%d/stats", srv.port);
  *state = f;
  return 0;
}

static void on_closed(struct http *h)
{
  struct fix *f = h->data;
  f->close_cb_ran++;
}

static int teardown(void **state)
{
  struct fix *f = *state;
  if (!f->closed)
    http_close(&f->h, on_closed);
  if (!f->loop_closed)
    ASSERT_LOOP_CLEAN(&f->loop);
  assert_int_equal(f->close_cb_ran, 1);
  free(f);
  return 0;
}

static void run_until(struct fix *f, int n)
{
  while (f->ndone < n)
    uv_run(&f->loop, UV_RUN_ONCE);
}

static char *chat_body(const char *text, int seed)
{
  struct strbuf sb;
  strbuf_init(&sb, 128);
  strbuf_addstr(&sb, "{\"model\":\"fake-1\",\"messages\":[{\"role\":\"user\",\"content\":");
  strbuf_add_json_str(&sb, text, strlen(text));
  strbuf_addf(&sb, "}],\"temperature\":0,\"max_tokens\":64,\"seed\":%d}", seed);
  return strbuf_detach(&sb, NULL);
}

/* choices[0].message.content of a response, or "" (static buffer). */
static const char *reply_text(const struct http_req *r)
{
  static char out[512];
  cJSON *root = cJSON_ParseWithLength(r->resp.buf, r->resp.len);
  cJSON *c = cJSON_GetObjectItem(
      cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0), "message"),
      "content");
  snprintf(out, sizeof out, "%s", cJSON_IsString(c) ? c->valuestring : "");
  cJSON_Delete(root);
  return out;
}


/* Times the server saw exactly this body at the chat path, from GET /stats. */
static int server_count(struct fix *f, const char *body);

/* --- one plain transfer --------------------------------------------------- */

struct one {
  struct http_req r;
  struct fix *f;
  int status;
  int calls;
  char *body;
  char fault[128];
  const char *hdrs[4];
};

static void on_one_done(struct http_req *r, int status)
{
  struct one *o = r->data;
  o->status = status;
  o->calls++;
  o->f->ndone++;
}

static void one_init(struct one *o, struct fix *f, const char *text, const char *fault)
{
  int k = 0;
  http_req_init(&o->r);
  o->f = f;
  o->status = 1;
  o->calls = 0;
  o->body = chat_body(text, 7);
  o->r.url = f->url;
  o->r.body = o->body;
  o->r.body_len = strlen(o->body);
  o->hdrs[k++] = "Authorization: Bearer " SECRET;
  if (fault) {
    snprintf(o->fault, sizeof o->fault, "X-Fault: %s", fault);
    o->hdrs[k++] = o->fault;
  }
  o->hdrs[k] = NULL;
  o->r.headers = o->hdrs;
  o->r.timeout_ms = 20000; /* generous: a loaded CI machine starves the Python server */
  o->r.done = on_one_done;
  o->r.data = o;
}

static void one_release(struct one *o)
{
  http_req_release(&o->r);
  free(o->body);
}

/* --- one call with retries ------------------------------------------------ */

struct call {
  struct http_retry c;
  struct fix *f;
  int status;
  int calls;
  char *body;
  char fault[128];
  const char *hdrs[4];
};

static void on_call_done(struct http_retry *c, int status)
{
  struct call *k = c->data;
  k->status = status;
  k->calls++;
  k->f->ndone++;
}

static void call_init(struct call *k, struct fix *f, const char *text, const char *fault)
{
  int n = 0;
  http_retry_init(&k->c);
  k->f = f;
  k->status = 1;
  k->calls = 0;
  k->body = chat_body(text, 7);
  k->c.req.url = f->url;
  k->c.req.body = k->body;
  k->c.req.body_len = strlen(k->body);
  k->hdrs[n++] = "Authorization: Bearer " SECRET;
  if (fault) {
    snprintf(k->fault, sizeof k->fault, "X-Fault: %s", fault);
    k->hdrs[n++] = k->fault;
  }
  k->hdrs[n] = NULL;
  k->c.req.headers = k->hdrs;
  k->c.req.timeout_ms = 5000;
  k->c.policy.base_ms = 10;
  k->c.policy.max_ms = 50;
  k->c.rng = &f->rng;
  k->c.validate = http_validate_chat;
  k->c.done = on_call_done;
  k->c.data = k;
}

static void call_release(struct call *k)
{
  http_retry_release(&k->c);
  free(k->body);
}

/* Starts k and runs the loop until it is done. */
static void call_run(struct call *k)
{
  int before = k->f->ndone;
  assert_int_equal(http_retry_start(&k->f->h, &k->c), 0);
  run_until(k->f, before + 1);
  assert_int_equal(k->calls, 1);
}

static int server_count(struct fix *f, const char *body)
{
  struct one o;
  uint8_t d[PD_DIGEST_LEN];
  char hex[PD_DIGEST_HEX], key[128];
  cJSON *root, *n;
  int count, before = f->ndone;
  one_init(&o, f, "", NULL);
  o.r.method = HTTP_GET;
  o.r.url = f->stats_url;
  assert_int_equal(http_submit(&f->h, &o.r), 0);
  run_until(f, before + 1);
  assert_int_equal(o.status, 0);
  digest_buf(body, strlen(body), d);
  digest_hex(d, hex);
  snprintf(key, sizeof key, "POST /v1/chat/completions %s", hex);
  root = cJSON_ParseWithLength(o.r.resp.buf, o.r.resp.len);
  assert_non_null(root);
  n = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "by_key"), key);
  count = cJSON_IsNumber(n) ? n->valueint : 0;
  cJSON_Delete(root);
  one_release(&o);
  return count;
}

/* The server's count of TCP connections accepted so far. */
static int server_connections(struct fix *f)
{
  struct one o;
  cJSON *root;
  int n, before = f->ndone;
  one_init(&o, f, "", NULL);
  o.r.method = HTTP_GET;
  o.r.url = f->stats_url;
  assert_int_equal(http_submit(&f->h, &o.r), 0);
  run_until(f, before + 1);
  assert_int_equal(o.status, 0);
  root = cJSON_ParseWithLength(o.r.resp.buf, o.r.resp.len);
  n = cJSON_GetObjectItem(root, "connections")->valueint;
  cJSON_Delete(root);
  one_release(&o);
  return n;
}

/* --- tests ---------------------------------------------------------------- */

static void test_post_roundtrip(void **state)
{
  struct fix *f = *state;
  struct one o;
  one_init(&o, f, "hello", NULL);
  assert_int_equal(http_submit(&f->h, &o.r), 0);
  assert_int_equal(http_active(&o.r), 1);
  run_until(f, 1);
  assert_int_equal(o.status, 0);
  assert_int_equal(o.calls, 1);
  assert_int_equal(http_active(&o.r), 0);
  assert_int_equal(o.r.status, 200);
  assert_int_equal(o.r.result, CURLE_OK);
  assert_string_equal(o.r.content_type, "application/json");
  assert_string_equal(reply_text(&o.r), "reply to: hello [seed 7]");
  assert_int_equal(server_count(f, o.body), 1);
  one_release(&o);
}

#define NCONC 50

static void test_concurrent_reuse(void **state)
{
  struct fix *f = *state;
  struct one *o = calloc(NCONC, sizeof *o);
  char text[64];
  int i, c0, c1 = 0, c2, reused = 0;
  c0 = server_connections(f);
  for (int wave = 0; wave < 2; wave++) {
    int base = f->ndone;
    for (i = 0; i < NCONC; i++) {
      snprintf(text, sizeof text, "concurrent %d/%d", wave, i);
      one_init(&o[i], f, text, NULL);
      assert_int_equal(http_submit(&f->h, &o[i].r), 0);
    }
    assert_int_equal((int)f->h.nactive, NCONC);
    run_until(f, base + NCONC);
    for (i = 0; i < NCONC; i++) {
      snprintf(text, sizeof text, "reply to: concurrent %d/%d [seed 7]", wave, i);
      assert_int_equal(o[i].status, 0);
      assert_int_equal(o[i].calls, 1);
      assert_string_equal(reply_text(&o[i].r), text);
      if (wave == 1)
        reused += o[i].r.new_conns == 0;
    }
    /* Nothing completed is asked for again. */
    for (i = 0; i < NCONC; i += 7)
      assert_int_equal(server_count(f, o[i].body), 1);
    for (i = 0; i < NCONC; i++)
      one_release(&o[i]);
    if (wave == 0)
      c1 = server_connections(f);
  }
  c2 = server_connections(f);
  /* HTTP/1.1 over loopback: at most one connection per concurrent transfer
   * (plus the one for /stats). The first wave may need fewer (a transfer
   * that starts after another finished takes its connection), so the second
   * may open the few that are missing, but reuses the rest. */
  assert_true(c1 - c0 <= NCONC + 1);
  assert_true(c2 - c0 <= NCONC + 1);
  assert_true(reused >= NCONC - (NCONC + 1 - (c1 - c0)));
  assert_true(reused >= NCONC * 3 / 4);
  free(o);
}

static void test_retry_429_retry_after(void **state)
{
  struct fix *f = *state;
  struct call k;
  uint64_t t0;
  call_init(&k, f, "rate limited", "429; retry-after=1; times=1");
  t0 = uv_hrtime();
  call_run(&k);
  assert_int_equal(k.status, 0);
  assert_int_equal(k.c.attempts, 2);
  /* The advertised second, not the 10-50 ms backoff of the policy. */
  assert_true(k.c.waited_ms >= 1000);
  assert_true(uv_hrtime() - t0 >= 995u * 1000000u);
  assert_string_equal(reply_text(&k.c.req), "reply to: rate limited [seed 7]");
  assert_int_equal(server_count(f, k.body), 2);
  call_release(&k);
}

static void test_retry_500(void **state)
{
  struct fix *f = *state;
  struct call k;
  call_init(&k, f, "server error", "500; times=2");
  call_run(&k);
  assert_int_equal(k.status, 0);
  assert_int_equal(k.c.attempts, 3);
  assert_true(k.c.waited_ms <= 100); /* two backoffs of at most 10 and 20 ms */
  call_release(&k);
}

static void test_retry_reset(void **state)
{
  struct fix *f = *state;
  struct call k;
  call_init(&k, f, "reset", "reset; times=1");
  call_run(&k);
  assert_int_equal(k.status, 0);
  assert_int_equal(k.c.attempts, 2);
  call_release(&k);
  /* A body cut short by the server (Content-Length not reached). */
  call_init(&k, f, "short", "short; times=1");
  call_run(&k);
  assert_int_equal(k.status, 0);
  assert_int_equal(k.c.attempts, 2);
  call_release(&k);
}

static void test_timeout_budget(void **state)
{
  struct fix *f = *state;
  struct call k;
  uint64_t t0;
  call_init(&k, f, "too slow", "slow; ms=1500");
  k.c.req.timeout_ms = 150;
  k.c.policy.max_attempts = 3;
  t0 = uv_hrtime();
  call_run(&k);
  assert_int_equal(k.status, PD_ECURL);
  assert_int_equal(k.c.attempts, 3);
  assert_int_equal(k.c.req.result, CURLE_OPERATION_TIMEDOUT);
  assert_true(uv_hrtime() - t0 < 1200u * 1000000u);
  assert_non_null(strstr(k.c.err.msg, "gave up after 3 attempts"));
  assert_non_null(strstr(k.c.err.msg, f->url));
  assert_non_null(strstr(k.c.err.msg, "timed out"));
  assert_null(strstr(k.c.err.msg, SECRET));
  assert_null(strstr(k.c.err.msg, "Authorization"));
  call_release(&k);
}

static void test_validator_rejects(void **state)
{
  struct fix *f = *state;
  static const char *const faults[] = { "truncated; times=1", "malformed; times=2",
                                        "blank; times=1" };
  static const int attempts[] = { 2, 3, 2 };
  struct call k;
  char text[64];
  for (int i = 0; i < 3; i++) {
    snprintf(text, sizeof text, "validate %d", i);
    call_init(&k, f, text, faults[i]);
    call_run(&k);
    assert_int_equal(k.status, 0);
    assert_int_equal(k.c.attempts, attempts[i]);
    assert_int_equal(server_count(f, k.body), attempts[i]);
    call_release(&k);
  }
  /* Budget exhausted on responses that never validate: an error, no data. */
  call_init(&k, f, "always malformed", "malformed");
  k.c.policy.max_attempts = 2;
  call_run(&k);
  assert_int_equal(k.status, PD_ECURL);
  assert_non_null(strstr(k.c.err.msg, "not valid JSON"));
  assert_non_null(strstr(k.c.err.msg, f->url));
  call_release(&k);
}

static void test_wrong_content_type(void **state)
{
  struct fix *f = *state;
  struct call k;
  call_init(&k, f, "html", "content-type");
  k.c.policy.max_attempts = 2;
  call_run(&k);
  assert_int_equal(k.status, PD_ECURL);
  assert_int_equal(k.c.attempts, 2);
  assert_non_null(strstr(k.c.err.msg, "unexpected content type 'text/html'"));
  assert_int_equal(server_count(f, k.body), 2);
  call_release(&k);
}

static void test_secrets_redacted(void **state)
{
  struct fix *f = *state;
  struct one o;
  struct call k;
  /* The server echoes the Authorization header in its 401 body. */
  one_init(&o, f, "echo", "echo-auth");
  assert_int_equal(http_submit(&f->h, &o.r), 0);
  run_until(f, 1);
  assert_int_equal(o.status, PD_ECURL);
  assert_int_equal(o.r.status, 401);
  assert_non_null(strstr(o.r.resp.buf, SECRET)); /* it is in the body... */
  assert_null(strstr(o.r.err.msg, SECRET));      /* ...but not in the message */
  assert_non_null(strstr(o.r.err.msg, "http status 401"));
  assert_non_null(strstr(o.r.err.msg, "***"));
  one_release(&o);
  /* Messages show only the start of the body: a secret across the cut does
   * not show in part either. */
  one_init(&o, f, "echo padded", "echo-auth; pad=146");
  assert_int_equal(http_submit(&f->h, &o.r), 0);
  run_until(f, 2);
  assert_int_equal(o.status, PD_ECURL);
  assert_non_null(strstr(o.r.err.msg, "..."));
  assert_null(strstr(o.r.err.msg, "sk-"));
  one_release(&o);
  /* 401 is not retried. */
  call_init(&k, f, "echo retry", "echo-auth");
  call_run(&k);
  assert_int_equal(k.status, PD_ECURL);
  assert_int_equal(k.c.attempts, 1);
  assert_null(strstr(k.c.err.msg, SECRET));
  call_release(&k);
  /* Credentials in the URL do not reach messages either. */
  {
    char url[256];
    http_url_for_msg("https://user:pw@api.example.com:8443/v1/x?key=abc#f", url, sizeof url);
    assert_string_equal(url, "https://api.example.com:8443/v1/x");
    http_url_for_msg("http://127.0.0.1/a@b", url, sizeof url);
    assert_string_equal(url, "http://127.0.0.1/a@b");
  }
}

static void test_max_response(void **state)
{
  struct fix *f = *state;
  struct call k;
  call_init(&k, f, "big", "big; bytes=200000");
  k.c.req.max_response = 100000;
  call_run(&k);
  assert_int_equal(k.status, PD_ECURL);
  assert_int_equal(k.c.attempts, 1); /* not worth retrying */
  assert_non_null(strstr(k.c.err.msg, "larger than 100000 bytes"));
  call_release(&k);
}

static int free_port(void);

static void test_connect_refused(void **state)
{
  struct fix *f = *state;
  struct call k;
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", free_port());
  call_init(&k, f, "refused", NULL);
  k.c.req.url = url;
  k.c.policy.max_attempts = 2;
  call_run(&k);
  assert_int_equal(k.status, PD_ECURL);
  assert_int_equal(k.c.attempts, 2);
  assert_int_equal(k.c.req.result, CURLE_COULDNT_CONNECT);
  assert_non_null(strstr(k.c.err.msg, url));
  call_release(&k);
}

struct canceller {
  uv_timer_t timer;
  struct one *o;
  struct call *k;
  struct fix *f;
};

static void on_cancel(uv_timer_t *t)
{
  struct canceller *c = container_of(t, struct canceller, timer);
  if (c->o)
    http_cancel(&c->o->r);
  if (c->k)
    http_retry_cancel(&c->k->c);
  if (c->f) {
    c->f->closed = 1;
    http_close(&c->f->h, on_closed);
  }
  uv_close((uv_handle_t *)t, NULL);
}

static void cancel_after(struct fix *f, struct canceller *c, uint64_t ms)
{
  uv_timer_init(&f->loop, &c->timer);
  uv_timer_start(&c->timer, on_cancel, ms, 0);
}

static void test_cancel(void **state)
{
  struct fix *f = *state;
  struct canceller c = { 0 };
  struct one o;
  struct call k;
  uint64_t t0 = uv_hrtime();
  /* In flight. */
  one_init(&o, f, "cancel me", "slow; ms=2000");
  assert_int_equal(http_submit(&f->h, &o.r), 0);
  c.o = &o;
  cancel_after(f, &c, 50);
  run_until(f, 1);
  assert_int_equal(o.status, UV_ECANCELED);
  assert_int_equal(o.calls, 1);
  assert_true(uv_hrtime() - t0 < 1000u * 1000000u);
  http_cancel(&o.r); /* no longer active: nothing happens */
  assert_int_equal(o.calls, 1);
  one_release(&o);
  uv_run(&f->loop, UV_RUN_NOWAIT); /* let the canceller's close run */
  /* Waiting out a 30 s Retry-After. */
  memset(&c, 0, sizeof c);
  call_init(&k, f, "cancel in backoff", "429; retry-after=30");
  assert_int_equal(http_retry_start(&f->h, &k.c), 0);
  c.k = &k;
  cancel_after(f, &c, 100);
  run_until(f, 2);
  assert_int_equal(k.status, UV_ECANCELED);
  assert_int_equal(k.calls, 1);
  assert_int_equal(k.c.attempts, 1);
  assert_non_null(strstr(k.c.err.msg, "cancelled"));
  assert_true(uv_hrtime() - t0 < 2000u * 1000000u);
  call_release(&k);
}

static void test_close_inflight(void **state)
{
  struct fix *f = *state;
  struct canceller c = { 0 };
  struct one o[5];
  char text[32];
  for (int i = 0; i < 5; i++) {
    snprintf(text, sizeof text, "close %d", i);
    one_init(&o[i], f, text, "slow; ms=2000");
    assert_int_equal(http_submit(&f->h, &o[i].r), 0);
  }
  c.f = f;
  cancel_after(f, &c, 50);
  ASSERT_LOOP_CLEAN(&f->loop);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(o[i].status, UV_ECANCELED);
    assert_int_equal(o[i].calls, 1);
    one_release(&o[i]);
  }
  assert_int_equal(f->close_cb_ran, 1);
  f->loop_closed = 1;
}

/* http_close from inside a done callback, with other transfers active. */
static void on_done_then_close(struct http_req *r, int status)
{
  struct one *o = r->data;
  on_one_done(r, status);
  o->f->closed = 1;
  http_close(&o->f->h, on_closed);
  /* Submitting now fails cleanly. */
  assert_int_equal(http_submit(&o->f->h, r), UV_ECANCELED);
}

static void test_close_from_done(void **state)
{
  struct fix *f = *state;
  struct one fast, slow[2];
  one_init(&fast, f, "fast", NULL);
  fast.r.done = on_done_then_close;
  one_init(&slow[0], f, "slow 0", "slow; ms=2000");
  one_init(&slow[1], f, "slow 1", "slow; ms=2000");
  assert_int_equal(http_submit(&f->h, &slow[0].r), 0);
  assert_int_equal(http_submit(&f->h, &slow[1].r), 0);
  assert_int_equal(http_submit(&f->h, &fast.r), 0);
  ASSERT_LOOP_CLEAN(&f->loop);
  assert_int_equal(fast.status, 0);
  assert_int_equal(slow[0].status, UV_ECANCELED);
  assert_int_equal(slow[1].status, UV_ECANCELED);
  assert_int_equal(f->close_cb_ran, 1);
  one_release(&fast);
  one_release(&slow[0]);
  one_release(&slow[1]);
  f->loop_closed = 1;
}

static void test_rate_limited_calls(void **state)
{
  struct fix *f = *state;
  struct rate_limit l;
  struct call k[3];
  char text[32];
  uint64_t t0 = uv_hrtime();
  /* 600 per minute with a bucket of one: one request every 100 ms. */
  rate_limit_init(&l, 600, 0, 0.1, NULL, NULL);
  for (int i = 0; i < 3; i++) {
    snprintf(text, sizeof text, "limited %d", i);
    call_init(&k[i], f, text, NULL);
    k[i].c.limit = &l;
    assert_int_equal(http_retry_start(&f->h, &k[i].c), 0);
  }
  run_until(f, 3);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(k[i].status, 0);
    call_release(&k[i]);
  }
  assert_true(uv_hrtime() - t0 >= 195u * 1000000u);
}

static void test_fault_plan(void **state)
{
  struct fix *f = *state;
  struct server s2;
  struct call k;
  char plan[256], url[128];
  const char *tmp = getenv("PD_TEST_TMP");
  FILE *fp;
  snprintf(plan, sizeof plan, "%s/http_test_plan.%d.json", tmp && *tmp ? tmp : "/tmp",
           (int)getpid());
  fp = fopen(plan, "w");
  if (!fp) { /* PD_TEST_TMP may not exist yet */
    snprintf(plan, sizeof plan, "/tmp/http_test_plan.%d.json", (int)getpid());
    fp = fopen(plan, "w");
  }
  assert_non_null(fp);
  fputs("[\"503\", \"truncated\", null]\n", fp);
  fclose(fp);
  assert_int_equal(server_start(&s2, plan), 0);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", s2.port);
  call_init(&k, f, "planned", NULL);
  k.c.req.url = url;
  call_run(&k);
  server_stop(&s2);
  unlink(plan);
  assert_int_equal(k.status, 0);
  assert_int_equal(k.c.attempts, 3);
  call_release(&k);
}

/* A free loopback port (free a moment ago; nothing listens there). */
static int free_port(void)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

static int port_open(int port)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                           .sin_port = htons((uint16_t)port) };
  int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
  ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

/* HTTP/2 over TLS (nghttpd, with a throw-away certificate): 50 concurrent
 * transfers share one connection. Skipped without nghttpd (Debian's
 * nghttp2-server) or the openssl command. */
static void test_http2_multiplex(void **state)
{
  struct fix *f = *state;
  struct one o[NCONC];
  char dir[] = "/tmp/http_test_h2.XXXXXX", cmd[1024], url[128], cert[64], key[64], www[64];
  const char *www_file;
  long conns = 0;
  pid_t pid;
  int port, i;
  FILE *fp;
  if (system("command -v nghttpd >/dev/null 2>&1 && command -v openssl >/dev/null 2>&1") != 0)
    skip();
  assert_non_null(mkdtemp(dir));
  snprintf(cert, sizeof cert, "%s/cert.pem", dir);
  snprintf(key, sizeof key, "%s/key.pem", dir);
  snprintf(www, sizeof www, "%s/www", dir);
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
           "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 && mkdir %s",
           key, cert, www);
  assert_int_equal(system(cmd), 0);
  www_file = "/hello.txt";
  snprintf(cmd, sizeof cmd, "%s%s", www, www_file);
  fp = fopen(cmd, "w");
  assert_non_null(fp);
  fputs("hello over h2\n", fp);
  fclose(fp);
  port = free_port();
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    if (!freopen("/dev/null", "w", stdout))
      _exit(127);
    execlp("nghttpd", "nghttpd", "-a", "127.0.0.1", "-d", www, portstr, key, cert, (char *)NULL);
    _exit(127);
  }
  for (i = 0; i < 200 && !port_open(port); i++)
    usleep(10000);
  snprintf(url, sizeof url, "https://127.0.0.1:%d%s", port, www_file);
  for (i = 0; i < NCONC; i++) {
    one_init(&o[i], f, "", NULL);
    o[i].r.method = HTTP_GET;
    o[i].r.url = url;
    o[i].r.cainfo = cert;
    assert_int_equal(http_submit(&f->h, &o[i].r), 0);
  }
  run_until(f, NCONC);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
  for (i = 0; i < NCONC; i++) {
    if (o[i].status)
      fail_msg("%s", o[i].r.err.msg);
    assert_int_equal(o[i].r.http_version, CURL_HTTP_VERSION_2_0);
    assert_string_equal(o[i].r.resp.buf, "hello over h2\n");
    conns += o[i].r.new_conns;
    one_release(&o[i]);
  }
  assert_int_equal(conns, 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_post_roundtrip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_concurrent_reuse, setup, teardown),
    cmocka_unit_test_setup_teardown(test_retry_429_retry_after, setup, teardown),
    cmocka_unit_test_setup_teardown(test_retry_500, setup, teardown),
    cmocka_unit_test_setup_teardown(test_retry_reset, setup, teardown),
    cmocka_unit_test_setup_teardown(test_timeout_budget, setup, teardown),
    cmocka_unit_test_setup_teardown(test_validator_rejects, setup, teardown),
    cmocka_unit_test_setup_teardown(test_wrong_content_type, setup, teardown),
    cmocka_unit_test_setup_teardown(test_secrets_redacted, setup, teardown),
    cmocka_unit_test_setup_teardown(test_max_response, setup, teardown),
    cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
    cmocka_unit_test_setup_teardown(test_close_inflight, setup, teardown),
    cmocka_unit_test_setup_teardown(test_close_from_done, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rate_limited_calls, setup, teardown),
    cmocka_unit_test_setup_teardown(test_fault_plan, setup, teardown),
    cmocka_unit_test_setup_teardown(test_http2_multiplex, setup, teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
