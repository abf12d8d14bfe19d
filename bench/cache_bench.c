/* cache_bench.c - the cost of the no-op path of the cache: cache_action_get
 * hits with 2 outputs (one cas file, one inline blob) and cache_materialize
 * of outputs already in o/. Run by hand on a Release build:
 *   cache_bench [DIR] [ACTIONS] [CALLS]
 * DIR (default /tmp/povid-cache-bench) is deleted and recreated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "err.h"

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const struct pd_err *err)
{
  fprintf(stderr, "cache_bench: %s: %s\n", what, err->msg);
  exit(1);
}

int main(int argc, char **argv)
{
  const char *dir = argc > 1 ? argv[1] : "/tmp/povid-cache-bench";
  long nact = argc > 2 ? atol(argv[2]) : 10000, calls = argc > 3 ? atol(argv[3]) : 100000;
  struct pd_err err = { 0 };
  struct cache *c;
  uint8_t (*keys)[PD_DIGEST_LEN];
  char *big = calloc(1, 20000);
  double t0, t1;
  long i, hits = 0;

  if (nact < 1 || calls < 1 || !big)
    return 2;
  cache_rmtree(dir);
  if (cache_open(&c, dir, &err) < 0)
    die("open", &err);
  keys = calloc((size_t)nact, sizeof *keys);
  t0 = now();
  for (i = 0; i < nact; i++) {
    struct artifact outs[2] = { { .name = "big" }, { .name = "small" } };
    struct action_result r = { .outs = outs, .nouts = 2, .task = "bench" };
    char small[64];
    int n = snprintf(small, sizeof small, "small output %ld", i);
    memcpy(big, &i, sizeof i); /* each large blob distinct */
    if (cache_put_buf(c, big, 20000, outs[0].digest, &err) < 0 ||
        cache_put_buf(c, small, (size_t)n, outs[1].digest, &err) < 0)
      die("put_buf", &err);
    outs[0].size = 20000;
    outs[1].size = (uint64_t)n;
    digest_buf(&i, sizeof i, keys[i]);
    if (cache_action_put(c, keys[i], "{}", &r, &err) < 0)
      die("action_put", &err);
  }
  t1 = now();
  printf("setup: %ld actions in %.2f s\n", nact, t1 - t0);

  t0 = now();
  for (i = 0; i < calls; i++) {
    struct action_result r;
    int rc = cache_action_get(c, keys[i % nact], &r, &err);
    if (rc < 0)
      die("action_get", &err);
    hits += rc;
    action_result_release(&r);
  }
  t1 = now();
  printf("cache_action_get hit, 2 outputs: %ld calls, %.0f ns/call (%ld hits)\n", calls,
         (t1 - t0) * 1e9 / (double)calls, hits);

  /* The no-op rerun: per task one get plus materializing both outputs. */
  for (i = 0; i < nact; i++) { /* first materialization, untimed */
    struct action_result r;
    char *p;
    size_t k;
    if (cache_action_get(c, keys[i], &r, &err) != 1)
      die("action_get", &err);
    for (k = 0; k < r.nouts; k++) {
      if (cache_materialize(c, &r.outs[k], &p, &err) < 0)
        die("materialize", &err);
      free(p);
    }
    action_result_release(&r);
  }
  t0 = now();
  for (i = 0; i < nact; i++) {
    struct action_result r;
    char *p;
    size_t k;
    if (cache_action_get(c, keys[i], &r, &err) != 1)
      die("action_get", &err);
    for (k = 0; k < r.nouts; k++) {
      if (cache_materialize(c, &r.outs[k], &p, &err) < 0)
        die("materialize", &err);
      free(p);
    }
    action_result_release(&r);
  }
  t1 = now();
  printf("no-op rerun of %ld tasks (get + 2 materialize each): %.3f s\n", nact, t1 - t0);
  {
    struct action_result r;
    char *p;
    if (cache_action_get(c, keys[0], &r, &err) != 1)
      die("action_get", &err);
    t0 = now();
    for (i = 0; i < calls; i++) {
      if (cache_materialize(c, &r.outs[i & 1], &p, &err) < 0)
        die("materialize", &err);
      free(p);
    }
    t1 = now();
    printf("cache_materialize, already there: %.0f ns/call\n", (t1 - t0) * 1e9 / (double)calls);
    action_result_release(&r);
  }

  cache_close(c);
  cache_rmtree(dir);
  free(keys);
  free(big);
  return 0;
}
