/* llava_dp_test.c - data parallelism (model/llava_dp.h):
 *   - one shard is bit for bit llava_forward + llava_backward;
 *   - for a fixed number of shards the loss and every gradient are the same
 *     bits on 1, 2 and 3 threads, over several AdamW steps (the threads
 *     read the updated shared parameters);
 *   - the shards' sum is the batch gradient (loss_batch = the batch's B):
 *     2 and 3 shards agree with 1 shard to float rounding;
 *   - more shards than rows, uneven shards, the frozen vision tower (its
 *     gradients untouched), and the dlosses path (DPO's) against the plain
 *     backward's own dlosses.
 * OpenBLAS at one thread (kernels/cpu/matmul.c).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cmocka.h>

#include "err.h"
#include "llava.h"
#include "llava_dp.h"

static uint64_t rng_state = 0x9b1c2d3e4f506172u;

static uint64_t next_u64(void)
{
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static void small_config(struct llava_config *c)
{
  llava_config_default(c);
  c->image_size = 8;
  c->patch_size = 4; /* P = 4 */
  c->v_width = 8;
  c->v_layers = 2;
  c->v_heads = 2;
  c->v_mlp = 16;
  c->vocab = 13;
  c->width = 16;
  c->layers = 2;
  c->heads = 2;
  c->hidden = 24;
  c->max_seq = 32;
  c->init_std = 0.2f;
}

enum { MAXB = 7, T = 9 };

struct batch {
  int B;
  float img[MAXB * 8 * 8 * 3];
  int tok[MAXB * T], tgt[MAXB * T];
  float w[MAXB * T];
};

/* B examples: the image token at a varying position, answers of varying
 * length (so that the per-example mean matters), one example without any
 * weighted position. */
static void make_batch(struct batch *x, int B, int vocab)
{
  int b, t;
  x->B = B;
  for (b = 0; b < B * 8 * 8 * 3; b++)
    x->img[b] = (float)(next_u64() >> 40) * 0x1p-24f;
  for (b = 0; b < B; b++) {
    int k = (int)(next_u64() % 3), a0 = 4 + b % 3;
    for (t = 0; t < T; t++) {
      int i = b * T + t;
      x->tok[i] = t == k ? 1 : 2 + (int)(next_u64() % (uint64_t)(vocab - 2));
      x->w[i] = t >= a0 && t + 1 < T && b != 5 ? 1.0f : 0.0f;
      x->tgt[i] = x->w[i] > 0 ? 2 + (int)(next_u64() % (uint64_t)(vocab - 2)) : -1;
    }
  }
}

static void new_model(struct llava *m, int freeze)
{
  struct llava_config c;
  struct pd_err err = {0};
  small_config(&c);
  assert_int_equal(llava_init(m, &c, 7, &err), 0);
  m->freeze_vision = freeze;
}

/* Runs `steps` AdamW steps of the batch through dp (shards, threads);
 * returns the last loss, leaves the last gradient in m->grads. */
static float train(struct llava *m, const struct batch *x, int shards, int threads, int steps)
{
  struct llava_dp dp;
  float loss = 0;
  int s;
  llava_dp_init(&dp, m, shards, threads);
  for (s = 0; s < steps; s++) {
    llava_zero_grad(m);
    loss = llava_dp_forward(&dp, x->img, x->tok, x->tgt, x->w, x->B, T);
    llava_dp_backward(&dp);
    if (s + 1 < steps)
      llava_update(m, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, s + 1);
  }
  llava_dp_free(&dp);
  return loss;
}

static void test_one_shard_is_plain(void **state)
{
  struct batch x;
  struct llava a, b;
  float la, lb;
  (void)state;
  make_batch(&x, 6, 13);
  new_model(&a, 0);
  new_model(&b, 0);
  la = train(&a, &x, 1, 2, 1);
  llava_zero_grad(&b);
  lb = llava_forward(&b, x.img, x.tok, x.tgt, x.w, x.B, T);
  llava_backward(&b);
  assert_memory_equal(&la, &lb, sizeof la);
  assert_memory_equal(a.grads_memory, b.grads_memory, a.num_parameters * sizeof(float));
  llava_free(&a);
  llava_free(&b);
}

static void test_threads_same_bits(void **state)
{
  struct batch x;
  int shards, threads, freeze;
  (void)state;
  make_batch(&x, 7, 13); /* 7 rows: uneven shards */
  for (freeze = 0; freeze <= 1; freeze++)
    for (shards = 2; shards <= 3; shards++) {
      struct llava ref;
      float lref;
      new_model(&ref, freeze);
      lref = train(&ref, &x, shards, 1, 4);
      for (threads = 2; threads <= 3; threads++) {
        struct llava m;
        float l;
        new_model(&m, freeze);
        l = train(&m, &x, shards, threads, 4);
        printf("freeze %d, %d shards: 1 vs %d threads: loss %.9g vs %.9g\n", freeze, shards,
               threads, (double)lref, (double)l);
        assert_memory_equal(&l, &lref, sizeof l);
        assert_memory_equal(m.grads_memory, ref.grads_memory, m.num_parameters * sizeof(float));
        assert_memory_equal(m.params_memory, ref.params_memory, m.num_parameters * sizeof(float));
        llava_free(&m);
      }
      llava_free(&ref);
    }
}

/* max |g_a - g_b| / (max |g_b| + tiny) over the trainable parameters */
static double rel_diff(const struct llava *a, const struct llava *b, size_t off)
{
  double d = 0, s = 0;
  size_t i;
  for (i = off; i < a->num_parameters; i++) {
    d = fmax(d, fabs((double)a->grads_memory[i] - (double)b->grads_memory[i]));
    s = fmax(s, fabs((double)b->grads_memory[i]));
  }
  return d / (s + 1e-30);
}

static void test_sum_is_batch_gradient(void **state)
{
  struct batch x;
  struct llava one;
  float l1;
  int shards;
  (void)state;
  make_batch(&x, 7, 13);
  new_model(&one, 0);
  l1 = train(&one, &x, 1, 1, 1);
  for (shards = 2; shards <= 9; shards += 7) { /* 9 > B: one row per shard */
    struct llava m;
    float l;
    double r;
    new_model(&m, 0);
    l = train(&m, &x, shards, 2, 1);
    r = rel_diff(&m, &one, 0);
    printf("%d shards vs 1: loss %.9g vs %.9g, gradient max rel diff %.3g\n", shards, (double)l,
           (double)l1, r);
    assert_true(fabs((double)l - (double)l1) <= 1e-6 * fabs((double)l1));
    assert_true(r < 1e-5);
    llava_free(&m);
  }
  llava_free(&one);
}

static void test_frozen_tower_untouched(void **state)
{
  struct batch x;
  struct llava m;
  size_t i;
  (void)state;
  make_batch(&x, 6, 13);
  new_model(&m, 1);
  train(&m, &x, 3, 2, 1);
  for (i = 0; i < m.num_vision_parameters; i++)
    assert_true(m.grads_memory[i] == 0.0f);
  for (i = m.num_vision_parameters; i < m.num_parameters; i++)
    if (m.grads_memory[i] != 0.0f)
      break;
  assert_true(i < m.num_parameters); /* the rest did get a gradient */
  llava_free(&m);
}

/* The dlosses path: the plain backward's dlosses (w / (sum w * B)), moved
 * back to the text layout, through llava_dp_backward_dlosses give the
 * same gradient as llava_dp_backward, and llava_dp_row finds each row. */
static void test_dlosses_path(void **state)
{
  struct batch x;
  struct llava a, b;
  struct llava_dp dp;
  float dl[MAXB * T];
  int r, t;
  (void)state;
  make_batch(&x, 7, 13);
  new_model(&a, 0);
  new_model(&b, 0);
  train(&a, &x, 3, 2, 1);
  for (r = 0; r < x.B; r++) {
    double ws = 0;
    for (t = 0; t < T; t++)
      ws += (double)x.w[r * T + t];
    for (t = 0; t < T; t++)
      dl[r * T + t] = ws > 0 ? (float)((double)x.w[r * T + t] / (ws * (double)x.B)) : 0.0f;
  }
  llava_dp_init(&dp, &b, 3, 2);
  llava_zero_grad(&b);
  llava_dp_forward(&dp, x.img, x.tok, x.tgt, x.w, x.B, T);
  for (r = 0; r < x.B; r++) {
    int local;
    struct llava *sm = llava_dp_row(&dp, r, &local);
    /* rows 0-1 in shard 0, 2-3 in shard 1, 4-6 in shard 2 (7 * s / 3) */
    assert_ptr_equal(sm, r < 2 ? &b : r < 4 ? &dp.rep[0] : &dp.rep[1]);
    assert_int_equal(local, r < 2 ? r : r < 4 ? r - 2 : r - 4);
  }
  llava_dp_backward_dlosses(&dp, dl);
  assert_memory_equal(a.grads_memory, b.grads_memory, a.num_parameters * sizeof(float));
  llava_dp_free(&dp);
  llava_free(&a);
  llava_free(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_shard_is_plain),
      cmocka_unit_test(test_threads_same_bits),
      cmocka_unit_test(test_sum_is_batch_gradient),
      cmocka_unit_test(test_frozen_tower_untouched),
      cmocka_unit_test(test_dlosses_path),
  };
  openblas_set_num_threads(1);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
