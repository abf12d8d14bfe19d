/* distort_bench.c - throughput of the CPU forward diffusion noise kernel
 * (kernels/cpu/distort.c) against this machine's memory bandwidth, measured
 * by a copy in the same run. Run by hand on a Release build, or through
 * bench/distort_bench.sh, which adds the NumPy comparison:
 *
 *   distort_bench [N] [THREADS...] [--repeats R]
 *
 * For each thread count: the best of R (default 5) runs of
 * distort_forward_threads on N (default 20000) 32x32x3 images, one draw,
 * k = 500, as images/s and as bytes moved per second (u8 in, f32 out: 5
 * bytes per value), then the best of R parallel memcpy's of a buffer the
 * size of the kernel's output on as many threads, counted as read + write.
 * Lines start with "distort" or "copy" and hold key=value pairs for the
 * script.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "distort.h"
#include "err.h"

#define P (32 * 32 * 3)

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct slice {
  char *dst;
  const char *src;
  size_t n;
};

static void *copy_slice(void *arg)
{
  struct slice *s = arg;
  memcpy(s->dst, s->src, s->n);
  return NULL;
}

/* Seconds for one memcpy of n bytes split over t threads. */
static double copy_once(char *dst, const char *src, size_t n, int t)
{
  pthread_t tid[64];
  struct slice s[64];
  size_t per = (n / (size_t)t + 63) & ~(size_t)63;
  double t0 = now();
  int k;
  for (k = 0; k < t; k++) {
    size_t off = (size_t)k * per;
    s[k].dst = dst + off;
    s[k].src = src + off;
    s[k].n = off >= n ? 0 : (n - off < per ? n - off : per);
    if (k > 0)
      pthread_create(&tid[k], NULL, copy_slice, &s[k]);
  }
  copy_slice(&s[0]);
  for (k = 1; k < t; k++)
    pthread_join(tid[k], NULL);
  return now() - t0;
}

int main(int argc, char **argv)
{
  int threads[16], nthreads = 0, repeats = 5, n = 20000, npos = 0, i, r;
  struct distort_coef c = { 1, 0, 0, 0 };
  uint8_t *x;
  uint64_t *ids;
  float *out;
  char *src, *dst;
  size_t bytes_out;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
      repeats = atoi(argv[++i]);
    else if (npos++ == 0)
      n = atoi(argv[i]);
    else if (nthreads < 16)
      threads[nthreads++] = atoi(argv[i]);
  }
  if (nthreads == 0) {
    threads[0] = 1;
    threads[1] = 2;
    nthreads = 2;
  }
  if (n < 1 || repeats < 1) {
    fprintf(stderr, "usage: distort_bench [N] [THREADS...] [--repeats R]\n");
    return 2;
  }
  bytes_out = (size_t)n * P * sizeof *out;
  x = xmalloc((size_t)n * P);
  ids = xmalloc((size_t)n * sizeof *ids);
  out = xmalloc(bytes_out);
  src = xmalloc(bytes_out);
  dst = xmalloc(bytes_out);
  for (i = 0; i < n * P; i++)
    x[i] = (uint8_t)((unsigned)i * 2654435761u >> 13);
  for (i = 0; i < n; i++)
    ids[i] = (uint64_t)i;
  memset(src, 1, bytes_out);
  memset(dst, 2, bytes_out); /* fault the pages in before timing */
  memset(out, 0, bytes_out);
  distort_coef_at(&c, DISTORT_SIGMOID, 500);
  printf("# %d images of 32x32x3, one draw, k = 500; kernel: %s; best of %d\n", n, distort_isa(),
         repeats);

  for (i = 0; i < nthreads; i++) {
    int t = threads[i] < 1 ? 1 : (threads[i] > 64 ? 64 : threads[i]);
    double best = 1e30, cbest = 1e30, s;
    for (r = 0; r < repeats; r++) {
      double t0 = now();
      distort_forward_threads(out, x, ids, &c, n, 1, P, t, NULL, NULL);
      s = now() - t0;
      best = s < best ? s : best;
    }
    for (r = 0; r < repeats; r++) {
      s = copy_once(dst, src, bytes_out, t);
      cbest = s < cbest ? s : cbest;
    }
    printf("distort threads=%d isa=%s seconds=%.4f images_per_s=%.0f gb_per_s=%.2f\n", t,
           distort_isa(), best, n / best, (double)n * P * 5 / best / 1e9);
    printf("copy threads=%d bytes=%zu seconds=%.4f gb_per_s=%.2f\n", t, bytes_out, cbest,
           2.0 * (double)bytes_out / cbest / 1e9);
  }
  free(x);
  free(ids);
  free(out);
  free(src);
  free(dst);
  return 0;
}
