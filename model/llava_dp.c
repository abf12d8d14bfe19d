/* llava_dp.c - shards of a batch on threads (see llava_dp.h). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llava_dp.h"

void llava_dp_init(struct llava_dp *dp, struct llava *m, int shards, int threads)
{
  int s;
  ASSERT(shards >= 1 && shards <= LLAVA_DP_MAX_SHARDS && threads >= 1);
  memset(dp, 0, sizeof *dp);
  dp->m = m;
  dp->shards = shards;
  dp->threads = threads;
  if (shards > 1) {
    dp->rep = xcalloc((size_t)(shards - 1), sizeof *dp->rep);
    for (s = 1; s < shards; s++)
      llava_replica(&dp->rep[s - 1], m);
  }
}

void llava_dp_free(struct llava_dp *dp)
{
  int s;
  for (s = 1; s < dp->shards; s++)
    llava_free(&dp->rep[s - 1]);
  free(dp->rep);
  memset(dp, 0, sizeof *dp);
}

static struct llava *shard_model(struct llava_dp *dp, int s)
{
  return s == 0 ? dp->m : &dp->rep[s - 1];
}

/* --- running the shards ------------------------------------------------------ */

struct phase {
  struct llava_dp *dp;
  void (*fn)(struct llava_dp *dp, int s, void *arg);
  void *arg;
  int k; /* this thread takes shards k, k + threads, ... */
  int stride;
};

static void *phase_main(void *p_)
{
  struct phase *p = p_;
  int s;
  for (s = p->k; s < p->dp->used; s += p->stride)
    p->fn(p->dp, s, p->arg);
  return NULL;
}

/* Runs fn for every shard of the last forward on up to dp->threads threads
 * (this one included). Which thread runs a shard does not matter: shards
 * share nothing writable. */
static void run_phase(struct llava_dp *dp, void (*fn)(struct llava_dp *, int, void *), void *arg)
{
  struct phase ph[LLAVA_DP_MAX_SHARDS];
  pthread_t tid[LLAVA_DP_MAX_SHARDS];
  int started[LLAVA_DP_MAX_SHARDS] = {0};
  int n = dp->threads < dp->used ? dp->threads : dp->used, k;
  ASSERT(n >= 1);
  memset(ph, 0, sizeof ph);
  for (k = 0; k < n; k++) {
    ph[k].dp = dp;
    ph[k].fn = fn;
    ph[k].arg = arg;
    ph[k].k = k;
    ph[k].stride = n;
  }
  for (k = 1; k < n; k++)
    started[k] = pthread_create(&tid[k], NULL, phase_main, &ph[k]) == 0;
  phase_main(&ph[0]);
  for (k = 1; k < n; k++) {
    if (started[k])
      pthread_join(tid[k], NULL);
    else
      phase_main(&ph[k]); /* could not start a thread: do its shards here */
  }
}

/* --- forward ------------------------------------------------------------------ */

struct fwd {
  const float *images;
  const int *tokens, *targets;
  const float *weights;
  float loss[LLAVA_DP_MAX_SHARDS];
};

static void forward_shard(struct llava_dp *dp, int s, void *arg)
{
  struct fwd *f = arg;
  struct llava *m = shard_model(dp, s);
  const struct llava_config *c = &m->cfg;
  size_t img = (size_t)c->image_size * (size_t)c->image_size * (size_t)c->channels;
  size_t r0 = (size_t)dp->row[s], T = (size_t)dp->T;
  m->loss_batch = dp->B;
  m->freeze_vision = dp->m->freeze_vision;
  f->loss[s] = llava_forward(m, f->images + r0 * img, f->tokens + r0 * T,
                             f->targets ? f->targets + r0 * T : NULL,
                             f->weights ? f->weights + r0 * T : NULL, dp->row[s + 1] - dp->row[s],
                             dp->T);
}

float llava_dp_forward(struct llava_dp *dp, const float *images, const int *tokens,
                       const int *targets, const float *weights, int B, int T)
{
  struct fwd f;
  int s;
  double loss = 0.0;
  ASSERT(B >= 1);
  f.images = images;
  f.tokens = tokens;
  f.targets = targets;
  f.weights = weights;
  dp->B = B;
  dp->T = T;
  dp->used = dp->shards < B ? dp->shards : B;
  for (s = 0; s <= dp->used; s++)
    dp->row[s] = (int)((long)B * s / dp->used);
  run_phase(dp, forward_shard, &f);
  if (!targets)
    return -1.0f;
  for (s = 0; s < dp->used; s++)
    loss += (double)f.loss[s];
  return (float)loss;
}

/* --- backward ----------------------------------------------------------------- */

/* arg: the batch's dLoss/dnll (TEXT layout), or NULL for the model's own loss. */
static void backward_shard(struct llava_dp *dp, int s, void *arg)
{
  struct llava *m = shard_model(dp, s);
  const float *dlosses = arg;
  if (s > 0)
    llava_zero_grad(m);
  if (dlosses)
    llava_backward_dlosses(m, dlosses + (size_t)dp->row[s] * (size_t)dp->T);
  else
    llava_backward(m);
}

static void reduce(struct llava_dp *dp)
{
  struct llava *m = dp->m;
  size_t off = m->freeze_vision ? m->num_vision_parameters : 0, i, n = m->num_parameters;
  int s;
  for (s = 1; s < dp->used; s++) {
    const float *g = dp->rep[s - 1].grads_memory;
    float *acc = m->grads_memory;
    for (i = off; i < n; i++)
      acc[i] += g[i];
  }
}

void llava_dp_backward(struct llava_dp *dp)
{
  llava_dp_backward_dlosses(dp, NULL);
}

void llava_dp_backward_dlosses(struct llava_dp *dp, const float *dlosses)
{
  ASSERT(dp->used >= 1);
  run_phase(dp, backward_shard, (void *)(uintptr_t)dlosses);
  reduce(dp);
}

struct llava *llava_dp_row(struct llava_dp *dp, int b, int *local)
{
  int s = 0;
  ASSERT(b >= 0 && b < dp->B);
  while (b >= dp->row[s + 1])
    s++;
  *local = b - dp->row[s];
  return shard_model(dp, s);
}
