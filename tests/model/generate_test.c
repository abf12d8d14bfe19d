/* generate_test.c - tests of batched generation with a KV cache
 * (model/generate.h), on a tiny random model:
 *   - greedy generation with the cache equals greedy decoding by repeated
 *     full forward passes (llava_forward on the growing sequence, argmax of
 *     the last position's logits), several steps, two batch rows with the
 *     IMAGE token at different positions;
 *   - eos stops a sequence (and pads its row with eos);
 *   - same seed, same samples; another seed, other samples; top_p -> 0 is
 *     greedy;
 *   - an eos bias > 0 shortens the sampled answers on average;
 *   - a batch of 2 equals two batches of 1 (greedy).
 * OpenBLAS runs on one thread (bitwise reproducibility, kernels/cpu/matmul.c).
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
#include "generate.h"
#include "llava.h"

#define TP 5
#define NEW 10

static uint64_t rng_state = 0x2545f4914f6cdd1du;

static float frand01(void)
{
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  z ^= z >> 31;
  return (float)(z >> 40) * 0x1p-24f;
}

static void tiny_config(struct llava_config *c)
{
  llava_config_default(c);
  c->image_size = 8;
  c->patch_size = 4; /* P = 4 */
  c->channels = 3;
  c->v_width = 8;
  c->v_layers = 2;
  c->v_heads = 2;
  c->v_mlp = 16;
  c->feature_layer = -2;
  c->vocab = 13;
  c->width = 16;
  c->layers = 2;
  c->heads = 2;
  c->hidden = 12;
  c->max_seq = 32;
  c->image_token = 1;
  c->init_std = 0.5f; /* large: peaked, varied logits */
}

/* B images and prompts: IMAGE at position b % TP. */
static void make_inputs(const struct llava_config *c, int B, float *img, int *prompt)
{
  size_t n = (size_t)B * (size_t)c->image_size * (size_t)c->image_size * (size_t)c->channels, i;
  int b, t;
  for (i = 0; i < n; i++)
    img[i] = frand01();
  for (b = 0; b < B; b++)
    for (t = 0; t < TP; t++)
      prompt[b * TP + t] = t == (b % TP) ? c->image_token
                                         : 2 + (int)(frand01() * (float)(c->vocab - 2));
}

static void new_model(struct llava *m)
{
  struct llava_config c;
  tiny_config(&c);
  assert_int_equal(llava_init(m, &c, 1234, NULL), 0);
}

static int argmax_no_image(const float *z, int V, int ban)
{
  int i, best = -1;
  for (i = 0; i < V; i++)
    if (i != ban && (best < 0 || z[i] > z[best]))
      best = i;
  return best;
}

static void test_cache_equals_full_forward(void **state)
{
  struct llava m;
  enum { B = 2 };
  float img[B * 8 * 8 * 3];
  int prompt[B * TP], out[B * NEW], len[B], seq[B * (TP + NEW)];
  int V, b, s, t, P;
  (void)state;
  new_model(&m);
  V = m.cfg.vocab;
  P = m.num_patches;
  make_inputs(&m.cfg, B, img, prompt);
  /* eos = 0 (<pad>): each row is compared up to and including its eos */
  llava_generate(&m, img, prompt, B, TP, NEW, 0, 0.0f, 1.0f, 0, out, len);
  for (b = 0; b < B; b++)
    for (t = 0; t < TP; t++)
      seq[b * (TP + NEW) + t] = prompt[b * TP + t];
  for (s = 0; s < NEW; s++) {
    int T = TP + s, L = T - 1 + P;
    int tmp[B * (TP + NEW)];
    for (b = 0; b < B; b++)
      memcpy(tmp + b * T, seq + b * (TP + NEW), (size_t)T * sizeof(int));
    llava_forward(&m, img, tmp, NULL, NULL, B, T);
    for (b = 0; b < B; b++) {
      const float *z = m.acts.logits + ((size_t)b * (size_t)L + (size_t)(L - 1)) * (size_t)V;
      int ref = argmax_no_image(z, V, m.cfg.image_token);
      if (s < len[b] || (s == len[b] && len[b] < NEW))
        assert_int_equal(out[b * NEW + s], ref);
      seq[b * (TP + NEW) + T] = ref;
    }
  }
  /* the check covered several steps of each row */
  for (b = 0; b < B; b++)
    assert_true(len[b] >= 4);
  llava_free(&m);
}

static void test_eos_stops(void **state)
{
  struct llava m;
  enum { B = 2 };
  float img[B * 8 * 8 * 3];
  int prompt[B * TP], out[B * NEW], len[B], out2[B * NEW], len2[B], b, t, eos, first;
  (void)state;
  new_model(&m);
  make_inputs(&m.cfg, B, img, prompt);
  llava_generate(&m, img, prompt, B, TP, NEW, 0, 0.0f, 1.0f, 0, out, len);
  assert_true(len[0] > 2);
  /* make row 0's third token the eos */
  eos = out[2];
  assert_int_not_equal(eos, 0);
  llava_generate(&m, img, prompt, B, TP, NEW, eos, 0.0f, 1.0f, 0, out2, len2);
  for (b = 0; b < B; b++) {
    first = -1;
    for (t = 0; t < len[b]; t++)
      if (out[b * NEW + t] == eos) {
        first = t;
        break;
      }
    if (first >= 0) {
      /* stops at the first eos, the rest of the row is eos */
      assert_int_equal(len2[b], first);
      for (t = 0; t < NEW; t++)
        assert_int_equal(out2[b * NEW + t], t < first ? out[b * NEW + t] : eos);
    } else {
      /* the first run stopped at its own eos (0), which is now a token */
      int upto = len[b] < NEW ? len[b] + 1 : NEW;
      for (t = 0; t < upto; t++)
        assert_int_equal(out2[b * NEW + t], out[b * NEW + t]);
      assert_true(len2[b] > len[b] || len[b] == NEW);
    }
  }
  assert_true(len2[0] <= 2);
  llava_free(&m);
}

static void test_sampling_seeded(void **state)
{
  struct llava m;
  enum { B = 4 };
  float img[B * 8 * 8 * 3];
  int prompt[B * TP], a[B * NEW], la[B], c[B * NEW], lc[B], d[B * NEW], ld[B];
  int g[B * NEW], lg[B];
  (void)state;
  new_model(&m);
  make_inputs(&m.cfg, B, img, prompt);
  llava_generate(&m, img, prompt, B, TP, NEW, 0, 1.0f, 0.9f, 42, a, la);
  llava_generate(&m, img, prompt, B, TP, NEW, 0, 1.0f, 0.9f, 42, c, lc);
  assert_memory_equal(a, c, sizeof a);
  assert_memory_equal(la, lc, sizeof la);
  llava_generate(&m, img, prompt, B, TP, NEW, 0, 1.0f, 0.9f, 43, d, ld);
  assert_memory_not_equal(a, d, sizeof a);
  /* a nucleus of one token is greedy */
  llava_generate(&m, img, prompt, B, TP, NEW, 0, 1.0f, 1e-6f, 42, c, lc);
  llava_generate(&m, img, prompt, B, TP, NEW, 0, 0.0f, 1.0f, 0, g, lg);
  assert_memory_equal(c, g, sizeof c);
  assert_memory_equal(lc, lg, sizeof lc);
  llava_free(&m);
}

static void test_eos_bias_shortens(void **state)
{
  struct llava m;
  enum { B = 8, N = 16 };
  float img[B * 8 * 8 * 3];
  int prompt[B * TP], out[B * N], len[B], b, seed;
  double sum0 = 0.0, sum1 = 0.0;
  (void)state;
  new_model(&m);
  make_inputs(&m.cfg, B, img, prompt);
  for (seed = 0; seed < 4; seed++) {
    llava_generate_bias(&m, img, prompt, B, TP, N, 3, 1.0f, 1.0f, (uint64_t)seed, 0.0f, out, len);
    for (b = 0; b < B; b++)
      sum0 += len[b];
    llava_generate_bias(&m, img, prompt, B, TP, N, 3, 1.0f, 1.0f, (uint64_t)seed, 3.0f, out, len);
    for (b = 0; b < B; b++)
      sum1 += len[b];
  }
  print_message("mean length: bias 0 %.2f, bias 3 %.2f\n", sum0 / (4 * B), sum1 / (4 * B));
  assert_true(sum1 < sum0);
  llava_free(&m);
}

static void test_batch_equals_singles(void **state)
{
  struct llava m;
  enum { B = 2 };
  size_t isz = 8 * 8 * 3;
  float img[B * 8 * 8 * 3];
  int prompt[B * TP], out[B * NEW], len[B], o1[NEW], l1, b;
  (void)state;
  new_model(&m);
  make_inputs(&m.cfg, B, img, prompt);
  llava_generate(&m, img, prompt, B, TP, NEW, 3, 0.0f, 1.0f, 0, out, len);
  for (b = 0; b < B; b++) {
    llava_generate(&m, img + (size_t)b * isz, prompt + b * TP, 1, TP, NEW, 3, 0.0f, 1.0f, 0, o1,
                   &l1);
    assert_int_equal(l1, len[b]);
    assert_memory_equal(o1, out + b * NEW, sizeof o1);
  }
  llava_free(&m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cache_equals_full_forward),
      cmocka_unit_test(test_eos_stops),
      cmocka_unit_test(test_sampling_seeded),
      cmocka_unit_test(test_eos_bias_shortens),
      cmocka_unit_test(test_batch_equals_singles),
  };
  openblas_set_num_threads(1);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
