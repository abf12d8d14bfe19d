/* shapes_bench.c - generation speed of the built-in world (fetch_subset's
 * builtin:shapes) and what its training split measures. Run by hand on a
 * Release build (bench/shapes_bench.sh builds and runs it):
 *   shapes_bench [TRAIN] [THREADS...] [--repeats N] [--dir DIR]
 * For each thread count: the best of N runs (default 5) of generating TRAIN
 * (default 8000) training images (scenes, pixels), then of writing them
 * (items.jsonl, images.safetensors, index.tsv under DIR, default a fresh
 * folder in /tmp, removed afterwards). Checks that every thread count gives
 * the same bytes. Then prints the achieved label-noise rate and the top
 * co-occurring pairs of objects and of description mentions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "dataset.h"
#include "err.h"
#include "shapes.h"
#include "world.h"

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const struct pd_err *err)
{
  fprintf(stderr, "shapes_bench: %s: %s\n", what, err->msg);
  exit(1);
}

static void print_pairs(const struct world_stats *w, int mentions)
{
  struct world_pair top[8];
  size_t n = world_top_pairs(w, mentions, top, 8), k;
  for (k = 0; k < n; k++)
    printf("  P(%s | %s) = %.3f  (%zu images)\n", shapes_categories[top[k].b].name,
           shapes_categories[top[k].a].name, top[k].p, top[k].n);
}

int main(int argc, char **argv)
{
  struct pd_err err = { 0 };
  struct shapes_params p;
  struct dataset d, ref = { 0 };
  struct world_stats w;
  int threads[16], nthreads = 0, repeats = 5, npos = 0, i, k;
  size_t n = 8000;
  char dir[256] = "";
  uint8_t *ref_pixels = NULL;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
      repeats = atoi(argv[++i]);
    else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
      snprintf(dir, sizeof dir, "%s", argv[++i]);
    else if (npos++ == 0)
      n = (size_t)atol(argv[i]);
    else if (nthreads < 16)
      threads[nthreads++] = atoi(argv[i]);
  }
  if (n < 1 || repeats < 1) {
    fprintf(stderr, "usage: shapes_bench [TRAIN] [THREADS...] [--repeats N] [--dir DIR]\n");
    return 2;
  }
  if (nthreads == 0) {
    threads[nthreads++] = 1;
    threads[nthreads++] = 2;
  }
  if (!dir[0])
    snprintf(dir, sizeof dir, "/tmp/shapes-bench-%d", (int)getpid());
  shapes_params_default(&p);
  printf("builtin:shapes, %zu training images of %dx%d, best of %d\n", n, SHAPES_SIZE,
         SHAPES_SIZE, repeats);
  for (k = 0; k < nthreads; k++) {
    double best_gen = 1e30, best_write = 1e30;
    for (i = 0; i < repeats; i++) {
      double t0 = now(), t1, t2;
      if (dataset_generate(&d, &p, SHAPES_TRAIN, n, threads[k], NULL, NULL, &err) < 0)
        die("generate", &err);
      t1 = now();
      cache_rmtree(dir);
      if (dataset_write(&d, &p, "builtin:shapes", dir, &err) < 0)
        die("write", &err);
      t2 = now();
      if (t1 - t0 < best_gen)
        best_gen = t1 - t0;
      if (t2 - t1 < best_write)
        best_write = t2 - t1;
      if (!ref_pixels) {
        ref = d;
        ref_pixels = d.pixels;
        continue;
      }
      if (memcmp(ref.pixels, d.pixels, n * SHAPES_PIXELS) != 0 ||
          memcmp(ref.scenes, d.scenes, n * sizeof *d.scenes) != 0) {
        fprintf(stderr, "shapes_bench: %d threads gave different bytes\n", threads[k]);
        return 1;
      }
      dataset_release(&d);
    }
    printf("threads %2d: generate %.3fs (%.0f images/s), write %.3fs, total %.0f images/s\n",
           threads[k], best_gen, (double)n / best_gen, best_write,
           (double)n / (best_gen + best_write));
  }
  cache_rmtree(dir);
  world_stats_of(&w, &ref);
  printf("label noise: %zu of %zu eligible descriptions name the absent partner: %.4f "
         "(configured %.2f)\n", w.noisy, w.eligible, (double)w.noisy / (double)w.eligible,
         p.partner_noise);
  printf("top co-occurring object pairs (ground truth):\n");
  print_pairs(&w, 0);
  printf("top co-occurring pairs in the training descriptions (label noise included):\n");
  print_pairs(&w, 1);
  dataset_release(&ref);
  return 0;
}
