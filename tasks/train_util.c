/* train_util.c - small pieces the training tasks share (train_sft,
 * train_vision): a seeded shuffle, the learning-rate schedule, parameter
 * access, reading a whole text file. */
#include "train_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "graph.h"
#include "llava.h"
#include "strbuf.h"

char *train_read_text(const char *path, struct pd_err *err)
{
  FILE *f = fopen(path, "rb");
  struct strbuf sb;
  char buf[8192];
  size_t got;
  if (!f) {
    ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  strbuf_init(&sb, 0);
  while ((got = fread(buf, 1, sizeof buf, f)) > 0)
    strbuf_add(&sb, buf, got);
  fclose(f);
  return strbuf_detach(&sb, NULL);
}

uint64_t train_rng_next(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void train_shuffle(size_t *perm, size_t n, uint64_t *rng)
{
  size_t i;
  for (i = 0; i < n; i++)
    perm[i] = i;
  for (i = n; i > 1; i--) {
    size_t j = (size_t)(train_rng_next(rng) % i), x = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = x;
  }
}

double train_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

float train_lr_at(int s, int steps, int warmup, float lr, float lr_min)
{
  double p;
  if (s < warmup)
    return lr * (float)(s + 1) / (float)warmup;
  if (steps - warmup <= 1)
    return lr;
  p = (double)(s - warmup) / (double)(steps - warmup - 1);
  return lr_min + (float)(0.5 * (1.0 + cos(M_PI * p))) * (lr - lr_min);
}

int train_iparam(const struct task *t, const char *name)
{
  return (int)task_param(t, name)->u.i;
}

float train_fparam(const struct task *t, const char *name)
{
  const struct val *v = task_param(t, name);
  return v->kind == V_INT ? (float)v->u.i : (float)v->u.f;
}

float train_clip_grads(struct llava *m, float clip)
{
  size_t i0 = m->freeze_vision ? m->num_vision_parameters : 0, i;
  double sum = 0;
  float norm;
  for (i = i0; i < m->num_parameters; i++)
    sum += (double)m->grads_memory[i] * (double)m->grads_memory[i];
  norm = (float)sqrt(sum);
  if (clip > 0 && norm > clip) {
    float sc = clip / norm;
    for (i = i0; i < m->num_parameters; i++)
      m->grads_memory[i] *= sc;
  }
  return norm;
}
