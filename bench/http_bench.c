/* http_bench.c - throughput of orchestrator/http.c: N chat-completion
 * requests at a fixed concurrency against a server (tests/fakes/
 * chat_server.py with --latency-ms, see bench/http_bench.sh), each through
 * http_retry with the chat validator (what an API task does), or bare
 * http_req with --raw. Reports wall time against the floor N * latency /
 * concurrency, latency percentiles, and CPU time per request (getrusage: all
 * of this process, libcurl and the JSON validation included).
 *
 *   http_bench URL [N] [CONCURRENCY] [--latency-ms L] [--raw]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "err.h"
#include "http.h"
#include "http_retry.h"
#include "strbuf.h"

struct slot {
  struct http_retry c; /* c.req is used alone with --raw */
  char *body;
  const char *hdrs[2];
  uint64_t t0;
};

static struct http h;
static struct slot *slots;
static const char *url;
static long n, issued, finished, failed;
static int raw;
static double *lat; /* ms, per request */
static uint64_t rng = 1;

static void start(struct slot *s);

static void on_finish(struct slot *s, int status, const char *msg)
{
  lat[finished++] = (double)(uv_hrtime() - s->t0) * 1e-6;
  if (status) {
    if (failed++ < 5)
      fprintf(stderr, "http_bench: %s\n", msg);
  }
  if (issued < n)
    start(s);
}

static void on_retry_done(struct http_retry *c, int status)
{
  on_finish(c->data, status, c->err.msg);
}

static void on_req_done(struct http_req *r, int status)
{
  on_finish(r->data, status, r->err.msg);
}

static void start(struct slot *s)
{
  struct strbuf sb;
  char text[64];
  int rc;
  snprintf(text, sizeof text, "bench item %ld", issued++);
  strbuf_init(&sb, 160);
  strbuf_addstr(&sb, "{\"model\":\"fake-1\",\"messages\":[{\"role\":\"user\",\"content\":");
  strbuf_add_json_str(&sb, text, strlen(text));
  strbuf_addstr(&sb, "}],\"temperature\":0,\"max_tokens\":16,\"seed\":1}");
  free(s->body);
  s->body = strbuf_detach(&sb, NULL);
  s->c.req.body = s->body;
  s->c.req.body_len = strlen(s->body);
  s->t0 = uv_hrtime();
  if (raw) {
    s->c.req.done = on_req_done;
    rc = http_submit(&h, &s->c.req);
  } else
    rc = http_retry_start(&h, &s->c);
  if (rc < 0) {
    fprintf(stderr, "http_bench: cannot start: %s\n", raw ? s->c.req.err.msg : s->c.err.msg);
    exit(1);
  }
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double tv_s(struct timeval tv)
{
  return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
  struct pd_err err = { 0 };
  struct rusage ru0, ru1;
  uv_loop_t loop;
  long conc = 64, i;
  double latency = 0, wall, cpu, floor_s;
  uint64_t t0;
  int pos = 0;

  for (int a = 1; a < argc; a++) {
    if (strcmp(argv[a], "--raw") == 0)
      raw = 1;
    else if (strcmp(argv[a], "--latency-ms") == 0 && a + 1 < argc)
      latency = atof(argv[++a]);
    else if (pos == 0)
      url = argv[a], pos++;
    else if (pos == 1)
      n = atol(argv[a]), pos++;
    else if (pos == 2)
      conc = atol(argv[a]), pos++;
  }
  if (!url) {
    fprintf(stderr, "usage: http_bench URL [N] [CONCURRENCY] [--latency-ms L] [--raw]\n");
    return 2;
  }
  if (n <= 0)
    n = 10000;
  if (conc <= 0)
    conc = 64;
  if (conc > n)
    conc = n;

  uv_loop_init(&loop);
  if (http_init(&h, &loop, conc * 2, &err) < 0) {
    fprintf(stderr, "http_bench: %s\n", err.msg);
    return 1;
  }
  slots = xcalloc((size_t)conc, sizeof *slots);
  lat = xcalloc((size_t)n, sizeof *lat);
  for (i = 0; i < conc; i++) {
    struct slot *s = &slots[i];
    http_retry_init(&s->c);
    s->hdrs[0] = "Authorization: Bearer sk-bench-not-a-secret";
    s->c.req.url = url;
    s->c.req.headers = s->hdrs;
    s->c.req.timeout_ms = 30000;
    s->c.req.data = s;
    s->c.rng = &rng;
    s->c.validate = http_validate_chat;
    s->c.done = on_retry_done;
    s->c.data = s;
  }
  getrusage(RUSAGE_SELF, &ru0);
  t0 = uv_hrtime();
  for (i = 0; i < conc; i++)
    start(&slots[i]);
  while (finished < n)
    uv_run(&loop, UV_RUN_ONCE);
  wall = (double)(uv_hrtime() - t0) * 1e-9;
  getrusage(RUSAGE_SELF, &ru1);
  cpu = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime) + tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime);

  qsort(lat, (size_t)n, sizeof *lat, cmp_double);
  printf("http_bench: %ld requests, concurrency %ld, %s\n", n, conc,
         raw ? "raw http_req" : "http_retry + chat validator");
  printf("  wall       %.3f s  (%.0f req/s)\n", wall, (double)n / wall);
  if (latency > 0) {
    floor_s = (double)n * latency / 1000.0 / (double)conc;
    printf("  floor      %.3f s  (%ld x %.0f ms / %ld)  -> wall/floor = %.2fx\n", floor_s, n,
           latency, conc, wall / floor_s);
  }
  printf("  latency    p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n", lat[n / 2],
         lat[n * 9 / 10], lat[n * 99 / 100], lat[n - 1]);
  printf("  client cpu %.3f s  (user %.3f, sys %.3f)  = %.1f us/request\n", cpu,
         tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime), tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime),
         cpu / (double)n * 1e6);
  printf("  failed     %ld\n", failed);

  http_close(&h, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  for (i = 0; i < conc; i++) {
    http_retry_release(&slots[i].c);
    free(slots[i].body);
  }
  free(slots);
  free(lat);
  if (uv_loop_close(&loop) != 0) {
    fprintf(stderr, "http_bench: loop not clean\n");
    return 1;
  }
  return failed ? 1 : 0;
}
