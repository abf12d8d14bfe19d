/* train_dpo_test.c - tests of the DPO arithmetic of tasks/train_dpo.c:
 *   - -log sigmoid and sigmoid, stable at any z, ln 2 at 0;
 *   - policy = reference: the loss is exactly ln 2 for every dispreference
 *     choice (weights normalised over the active terms), margins 0;
 *   - dL/ds of dpo_terms against central differences of its loss;
 *   - the whole chain through a tiny model: dpo_terms' dL/ds turned into
 *     per-token dL/dnll and pushed through llava_backward_dlosses (the
 *     cross-entropy backward with per-token weights) against finite
 *     differences of the DPO loss of the model's forward, for text,
 *     noise-like and anchored losses.
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
#include "train_dpo.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static double drand(void)
{
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1p-53;
}

static void test_loss_sigmoid(void **state)
{
  (void)state;
  assert_true(dpo_loss(0.0) == log(2.0));
  assert_true(fabs(dpo_loss(800.0)) < 1e-300 + 1e-200);
  assert_true(fabs(dpo_loss(-800.0) - 800.0) < 1e-9);
  assert_true(fabs(dpo_loss(1.5) - (-log(1.0 / (1.0 + exp(-1.5))))) < 1e-15);
  assert_true(dpo_sigmoid(0.0) == 0.5);
  assert_true(fabs(dpo_sigmoid(3.0) + dpo_sigmoid(-3.0) - 1.0) < 1e-15);
  assert_true(dpo_sigmoid(-1000.0) == 0.0 && dpo_sigmoid(1000.0) == 1.0);
}

/* With s = r every z is 0: the loss is ln 2 for each choice of terms. */
static void test_reference_is_ln2(void **state)
{
  enum { B = 5 };
  double s_w[B], s_t[B], s_n[B], ds_w[B], ds_t[B], ds_n[B];
  int ntok[B], b, mode;
  (void)state;
  for (b = 0; b < B; b++) {
    s_w[b] = -10.0 * drand() - 1;
    s_t[b] = -10.0 * drand() - 1;
    s_n[b] = -10.0 * drand() - 1;
    ntok[b] = 3 + b;
  }
  for (mode = 0; mode < 3; mode++) {
    struct dpo_config c = { 0.1, 0.5, 0.5, 0.0, mode != 1, mode != 0 };
    struct dpo_stats st;
    dpo_terms(&c, B, s_w, s_w, s_t, s_t, s_n, s_n, ntok, ds_w, ds_t, ds_n, &st);
    assert_true(fabs(st.loss - log(2.0)) < 1e-15);
    assert_true(st.margin_text == 0.0 && st.margin_image == 0.0);
    assert_true(st.reward_chosen == 0.0);
    /* the chosen rows are pushed up, the rejected down, by beta/2 each term */
    for (b = 0; b < B; b++)
      assert_true(ds_w[b] < 0.0);
  }
  { /* unequal weights: still ln 2, the normalisation */
    struct dpo_config c = { 0.1, 0.9, 0.3, 0.0, 1, 1 };
    struct dpo_stats st;
    dpo_terms(&c, B, s_w, s_w, s_t, s_t, s_n, s_n, ntok, ds_w, ds_t, ds_n, &st);
    assert_true(fabs(st.loss - log(2.0)) < 1e-15);
  }
}

static double terms_loss(const struct dpo_config *c, int B, const double *s_w, const double *r_w,
                         const double *s_t, const double *r_t, const double *s_n,
                         const double *r_n, const int *ntok)
{
  double ds[3 * 8];
  struct dpo_stats st;
  dpo_terms(c, B, s_w, r_w, s_t, r_t, s_n, r_n, ntok, ds, ds + 8, ds + 16, &st);
  return st.loss;
}

/* dL/ds against central differences, every term and the anchor on. */
static void test_terms_gradient(void **state)
{
  enum { B = 4 };
  double s[3][B], r[3][B], ds[3][B];
  int ntok[B] = { 3, 5, 7, 2 }, b, k;
  struct dpo_config c = { 0.7, 0.6, 0.4, 0.3, 1, 1 };
  struct dpo_stats st;
  (void)state;
  for (k = 0; k < 3; k++)
    for (b = 0; b < B; b++) {
      s[k][b] = -20.0 * drand();
      r[k][b] = -20.0 * drand();
    }
  dpo_terms(&c, B, s[0], r[0], s[1], r[1], s[2], r[2], ntok, ds[0], ds[1], ds[2], &st);
  for (k = 0; k < 3; k++)
    for (b = 0; b < B; b++) {
      const double h = 1e-5;
      double save = s[k][b], lp, lm, fd;
      s[k][b] = save + h;
      lp = terms_loss(&c, B, s[0], r[0], s[1], r[1], s[2], r[2], ntok);
      s[k][b] = save - h;
      lm = terms_loss(&c, B, s[0], r[0], s[1], r[1], s[2], r[2], ntok);
      s[k][b] = save;
      fd = (lp - lm) / (2 * h);
      assert_true(fabs(fd - ds[k][b]) < 1e-8);
    }
}

/* --- through the model ------------------------------------------------------------------- */

static void tiny_config(struct llava_config *c)
{
  llava_config_default(c);
  c->image_size = 8;
  c->patch_size = 4;
  c->channels = 3;
  c->v_width = 8;
  c->v_layers = 2;
  c->v_heads = 2;
  c->v_mlp = 16;
  c->feature_layer = -1;
  c->vocab = 11;
  c->width = 16;
  c->layers = 2;
  c->heads = 2;
  c->hidden = 12;
  c->max_seq = 16;
  c->image_token = 1;
  c->init_std = 0.3f;
}

enum { NP = 2, TT = 6 };
/* rows: chosen 0, chosen 1, rejected 0, rejected 1 (same prompts, other answers) */
static const int tok[2 * NP * TT] = { 2, 1, 3, 4, 5, 6, 1, 2, 3, 5, 8, 9,
                                      2, 1, 3, 4, 7, 8, 1, 2, 3, 5, 10, 4 };
static const int tgt[2 * NP * TT] = { 1, 3, 4, 5, 6, 7, 2, 3, 5, 8, 9, 10,
                                      1, 3, 4, 7, 8, 9, 2, 3, 5, 10, 4, 6 };
static const float wts[2 * NP * TT] = { 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0,
                                        0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0 };
static const double refs[2 * NP] = { -7.5, -9.0, -8.0, -6.5 };

/* The DPO loss of the 4 rows (text term, anchored when c->sft_w > 0). */
static double model_loss(struct llava *m, const float *img, const struct dpo_config *c,
                         double *ds)
{
  double s[2 * NP], dsbuf[2 * NP];
  int ntok[NP], b, t;
  struct dpo_stats st;
  llava_forward(m, img, tok, tgt, wts, 2 * NP, TT);
  for (b = 0; b < 2 * NP; b++) {
    double sum = 0;
    for (t = 0; t < m->L; t++) {
      size_t q = (size_t)b * (size_t)m->L + (size_t)t;
      if (m->lm_weights[q] > 0)
        sum += (double)m->acts.losses[q];
    }
    s[b] = -sum;
  }
  for (b = 0; b < NP; b++) {
    ntok[b] = 0;
    for (t = 0; t < TT; t++)
      ntok[b] += wts[b * TT + t] > 0;
  }
  dpo_terms(c, NP, s, refs, s + NP, refs + NP, NULL, NULL, ntok, ds ? ds : dsbuf,
            ds ? ds + NP : dsbuf + NP, NULL, &st);
  return st.loss;
}

static void model_gradient(double sft_w)
{
  struct llava_config cfg;
  struct llava m;
  struct pd_err err = { 0 };
  struct dpo_config c = { 0.5, 0.5, 0.5, sft_w, 1, 0 };
  size_t nimg, i, off = 0;
  float *img, *analytic, dl[2 * NP * TT];
  double ds[2 * NP];
  int ti, b, t, checked = 0;

  tiny_config(&cfg);
  assert_int_equal(llava_init(&m, &cfg, 11, &err), 0);
  nimg = (size_t)2 * NP * 8 * 8 * 3;
  img = malloc(nimg * sizeof *img);
  analytic = malloc(m.num_parameters * sizeof *analytic);
  assert_non_null(img);
  assert_non_null(analytic);
  for (i = 0; i < nimg; i++)
    img[i] = (float)drand();
  /* the same image for a pair's chosen and rejected rows */
  memcpy(img + nimg / 2, img, nimg / 2 * sizeof *img);

  model_loss(&m, img, &c, ds);
  for (b = 0; b < 2 * NP; b++)
    for (t = 0; t < TT; t++)
      dl[b * TT + t] = wts[b * TT + t] > 0 ? (float)(-ds[b]) : 0.0f;
  llava_zero_grad(&m);
  llava_backward_dlosses(&m, dl);
  memcpy(analytic, m.grads_memory, m.num_parameters * sizeof *analytic);

  for (ti = 0; ti < LLAVA_NUM_PARAM_TENSORS; ti++) {
    size_t n = m.param_sizes[ti], k;
    for (k = 0; k < 3 && n > 0; k++) {
      const float h = 1e-2f;
      size_t j = off + (size_t)(drand() * (double)n);
      float p0 = m.params_memory[j];
      double f[4], fd, a = analytic[j];
      const float hs[4] = { h, -h, 2 * h, -2 * h };
      int q;
      for (q = 0; q < 4; q++) {
        m.params_memory[j] = p0 + hs[q];
        f[q] = model_loss(&m, img, &c, NULL);
      }
      m.params_memory[j] = p0;
      fd = (8.0 * (f[0] - f[1]) - (f[2] - f[3])) / (12.0 * (double)h);
      if (fabs(a - fd) > 2e-4 + 2e-2 * fabs(fd))
        fprintf(stderr, "tensor %d [%zu]: analytic %.6g fd %.6g\n", ti, j - off, a, fd);
      assert_true(fabs(a - fd) <= 2e-4 + 2e-2 * fabs(fd));
      checked += fabs(fd) > 1e-4;
    }
    off += m.param_sizes[ti];
  }
  assert_true(checked > 20); /* the check saw real gradients */
  free(img);
  free(analytic);
  llava_free(&m);
}

static void test_model_gradient(void **state)
{
  (void)state;
  model_gradient(0.0);
}

static void test_model_gradient_anchored(void **state)
{
  (void)state;
  model_gradient(1.0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_loss_sigmoid),
    cmocka_unit_test(test_reference_is_ln2),
    cmocka_unit_test(test_terms_gradient),
    cmocka_unit_test(test_model_gradient),
    cmocka_unit_test(test_model_gradient_anchored),
  };
  openblas_set_num_threads(1);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
