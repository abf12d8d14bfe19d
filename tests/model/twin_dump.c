/* twin_dump.c - the C side of the PyTorch twin (tests/torch_twin.py).
 *
 *   twin_dump OUTDIR
 *
 * Builds a small random model (seeded; norm weights and biases perturbed
 * away from 1 / 0 so that the twin sees them used), saves it with
 * llava_save, makes a deterministic batch and writes what the model
 * computes on it, for the twin to recompute in PyTorch:
 *
 *   model.safetensors          the parameters (llava_io's Hugging Face names)
 *   batch.safetensors          the SFT batch (images, tokens, targets,
 *                              weights), the DPO batch (rows [chosen |
 *                              text-rejected | noise-rejected]) with its
 *                              reference log-probs r, and in __metadata__
 *                              the AdamW and DPO hyper-parameters
 *   out.safetensors            SFT logits (B, L, V) and loss; DPO s per row,
 *                              loss and its two terms
 *   grads.safetensors          every gradient of the SFT loss, in the same
 *                              layout and names as the parameters
 *   params_after3.safetensors  the parameters after 3 AdamW steps on the
 *                              SFT batch (zero_grad, forward, backward,
 *                              update, t = 1, 2, 3)
 *   dpo_grads.safetensors      every gradient of the DPO loss
 *                              (tasks/train_dpo.h dpo_terms, then
 *                              llava_backward_dlosses with dL/dnll = -dL/ds)
 *
 * The SFT batch has the IMAGE token at different positions (first, middle,
 * last), a weight on the IMAGE token's own prediction (which moves to the
 * last image position), non-0/1 weights, padding with weight 0 and a row
 * whose weights are all 0 (it contributes 0 and still counts in B).
 * OpenBLAS runs on one thread (bitwise reproducible output).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "err.h"
#include "llava.h"
#include "llava_io.h"
#include "safetensors.h"
#include "train_dpo.h"

#define B_SFT 4
#define T_SFT 10
#define NPAIR 2
#define T_DPO 9

#define ADAM_LR 1e-2f
#define ADAM_B1 0.9f
#define ADAM_B2 0.999f
#define ADAM_EPS 1e-8f
#define ADAM_WD 0.1f

static uint64_t rng = 0x7477696e64756d70u; /* "twindump" */

static uint64_t next_u64(void)
{
  uint64_t z = (rng += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static float frand01(void)
{
  return (float)(next_u64() >> 40) * 0x1p-24f;
}

static int irand(int lo, int hi) /* [lo, hi) */
{
  return lo + (int)(next_u64() % (uint64_t)(hi - lo));
}

static void config(struct llava_config *c)
{
  llava_config_default(c);
  c->image_size = 8;
  c->patch_size = 2; /* P = 16 */
  c->channels = 3;
  c->v_width = 16;
  c->v_layers = 3; /* feature_layer -2: blocks 0, 1 run, block 2 never */
  c->v_heads = 2;
  c->v_mlp = 40;
  c->feature_layer = -2;
  c->vocab = 48;
  c->width = 32;
  c->layers = 2;
  c->heads = 4; /* head size 8 */
  c->hidden = 56;
  c->max_seq = 40;
  c->image_token = 1;
  c->init_std = 0.15f;
}

/* Norm weights around 1 and biases around 0, not exactly there. */
static void perturb(struct llava *m)
{
  static const int vec[] = {2, 3, 4, 5, 7, 9, 10, 11, 13, 15, 17, 19, 21, 24, 27};
  float *base[LLAVA_NUM_PARAM_TENSORS + 1];
  size_t i, j;
  base[0] = m->params_memory;
  for (i = 0; i < LLAVA_NUM_PARAM_TENSORS; i++)
    base[i + 1] = base[i] + m->param_sizes[i];
  for (i = 0; i < sizeof vec / sizeof vec[0]; i++)
    for (j = 0; j < m->param_sizes[vec[i]]; j++)
      base[vec[i]][j] += 0.3f * (frand01() - 0.5f);
}

static void fill_images(float *img, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    img[i] = frand01();
}

/* A row of T tokens with the IMAGE token at k; answer weights from a0 on
 * (up to len text tokens, the rest padding with weight 0). */
static void make_row(const struct llava_config *c, int T, int k, int a0, int len, int *tok,
                     int *tgt, float *w)
{
  int t;
  for (t = 0; t < T; t++)
    tok[t] = t < len ? irand(2, c->vocab) : 0;
  tok[k] = c->image_token;
  for (t = 0; t < T; t++) {
    int next = t + 1 < len ? tok[t + 1] : -1;
    if (next == c->image_token)
      next = -1;
    w[t] = t >= a0 && next >= 0 ? 1.0f : 0.0f;
    tgt[t] = w[t] > 0.0f ? next : -1;
  }
}

static int save_grads(const struct llava *m, const char *path, struct pd_err *err)
{
  struct llava g;
  int rc;
  if ((rc = llava_init(&g, &m->cfg, 0, err)) != 0)
    return rc;
  memcpy(g.params_memory, m->grads_memory, m->num_parameters * sizeof(float));
  rc = llava_save(&g, path, err);
  llava_free(&g);
  return rc;
}

static void join(char *buf, size_t n, const char *dir, const char *name)
{
  snprintf(buf, n, "%s/%s", dir, name);
}

int main(int argc, char **argv)
{
  struct llava_config cfg;
  struct llava m;
  struct pd_err err = {0};
  struct dpo_config dc = {.beta = 0.5, .w_text = 1.0, .w_image = 0.5, .sft_w = 0.2,
                          .text = 1, .image = 1};
  struct dpo_stats st;
  enum { NR = 3 * NPAIR };
  int tok[B_SFT * T_SFT], tgt[B_SFT * T_SFT];
  float w[B_SFT * T_SFT];
  int dtok[NR * T_DPO], dtgt[NR * T_DPO], ntok[NPAIR];
  float dw[NR * T_DPO], dl[NR * T_DPO], loss, *img, *dimg;
  double r[NR], s[NR], ds[NR], dpo_out[4], loss_d;
  size_t Sz;
  int b, t, step, rc = 1;
  char path[4096];
  const char *dir;

  if (argc != 2) {
    fprintf(stderr, "usage: twin_dump OUTDIR\n");
    return 2;
  }
  dir = argv[1];
  openblas_set_num_threads(1);
  config(&cfg);
  if (llava_init(&m, &cfg, 1234, &err) != 0) {
    fprintf(stderr, "twin_dump: %s\n", err.msg);
    return 1;
  }
  perturb(&m);
  Sz = (size_t)cfg.image_size * (size_t)cfg.image_size * (size_t)cfg.channels;
  img = xmalloc(B_SFT * Sz * sizeof *img);
  dimg = xmalloc(NR * Sz * sizeof *dimg);

  /* SFT batch: image first / middle / last / middle with no weights; row 1
   * weighs the IMAGE token's own prediction and is padded; row 2 has
   * weights 2 and 0.5. */
  fill_images(img, B_SFT * Sz);
  make_row(&cfg, T_SFT, 0, 3, T_SFT, tok, tgt, w);
  make_row(&cfg, T_SFT, 3, 3, 7, tok + T_SFT, tgt + T_SFT, w + T_SFT);
  make_row(&cfg, T_SFT, T_SFT - 1, 2, T_SFT, tok + 2 * T_SFT, tgt + 2 * T_SFT, w + 2 * T_SFT);
  w[2 * T_SFT + 4] = 2.0f;
  w[2 * T_SFT + 6] = 0.5f;
  make_row(&cfg, T_SFT, 5, T_SFT, T_SFT, tok + 3 * T_SFT, tgt + 3 * T_SFT, w + 3 * T_SFT);

  /* DPO batch: per pair, chosen and text-rejected share the prompt (image
   * at 1 or 4) and the clean image; the noise row is the chosen answer
   * with another image (any answer will do for the arithmetic). */
  fill_images(dimg, NPAIR * Sz);
  for (b = 0; b < NPAIR; b++) {
    int k = b == 0 ? 1 : 4, a0 = k + 2, len = T_DPO - b;
    int *cw = dtok + b * T_DPO, *ct = dtok + (NPAIR + b) * T_DPO;
    make_row(&cfg, T_DPO, k, a0, len, cw, dtgt + b * T_DPO, dw + b * T_DPO);
    memcpy(ct, cw, T_DPO * sizeof *ct);
    for (t = a0 + 1; t < len; t++)
      ct[t] = irand(2, cfg.vocab);
    for (t = 0; t < T_DPO; t++) {
      dw[(NPAIR + b) * T_DPO + t] = dw[b * T_DPO + t];
      dtgt[(NPAIR + b) * T_DPO + t] = dw[b * T_DPO + t] > 0.0f ? ct[t + 1] : -1;
    }
    memcpy(dtok + (2 * NPAIR + b) * T_DPO, cw, T_DPO * sizeof *cw);
    memcpy(dtgt + (2 * NPAIR + b) * T_DPO, dtgt + b * T_DPO, T_DPO * sizeof *dtgt);
    memcpy(dw + (2 * NPAIR + b) * T_DPO, dw + b * T_DPO, T_DPO * sizeof *dw);
    memcpy(dimg + (size_t)(NPAIR + b) * Sz, dimg + (size_t)b * Sz, Sz * sizeof *dimg);
    fill_images(dimg + (size_t)(2 * NPAIR + b) * Sz, Sz);
  }
  {
    static const double rfix[NR] = {-27.0, -25.5, -26.0, -28.0, -24.0, -29.5};
    memcpy(r, rfix, sizeof r);
  }

  join(path, sizeof path, dir, "model.safetensors");
  if (llava_save(&m, path, &err) != 0)
    goto fail;
  {
    int64_t sh_img[4] = {B_SFT, cfg.image_size, cfg.image_size, cfg.channels};
    int64_t sh_bt[2] = {B_SFT, T_SFT};
    int64_t sh_dimg[4] = {NR, cfg.image_size, cfg.image_size, cfg.channels};
    int64_t sh_dbt[2] = {NR, T_DPO}, sh_r[1] = {NR};
    struct st_write_tensor tw[] = {
        {"images", "F32", 4, sh_img, img},      {"tokens", "I32", 2, sh_bt, tok},
        {"targets", "I32", 2, sh_bt, tgt},      {"weights", "F32", 2, sh_bt, w},
        {"dpo_images", "F32", 4, sh_dimg, dimg}, {"dpo_tokens", "I32", 2, sh_dbt, dtok},
        {"dpo_targets", "I32", 2, sh_dbt, dtgt}, {"dpo_weights", "F32", 2, sh_dbt, dw},
        {"dpo_r", "F64", 1, sh_r, r}};
    char v[9][32];
    const char *meta[] = {"adam.lr", v[0], "adam.beta1", v[1], "adam.beta2", v[2],
                          "adam.eps", v[3], "adam.weight_decay", v[4], "dpo.beta", v[5],
                          "dpo.w_text", v[6], "dpo.w_image", v[7], "dpo.sft_w", v[8], NULL};
    snprintf(v[0], sizeof v[0], "%.9g", (double)ADAM_LR);
    snprintf(v[1], sizeof v[1], "%.9g", (double)ADAM_B1);
    snprintf(v[2], sizeof v[2], "%.9g", (double)ADAM_B2);
    snprintf(v[3], sizeof v[3], "%.9g", (double)ADAM_EPS);
    snprintf(v[4], sizeof v[4], "%.9g", (double)ADAM_WD);
    snprintf(v[5], sizeof v[5], "%.17g", dc.beta);
    snprintf(v[6], sizeof v[6], "%.17g", dc.w_text);
    snprintf(v[7], sizeof v[7], "%.17g", dc.w_image);
    snprintf(v[8], sizeof v[8], "%.17g", dc.sft_w);
    join(path, sizeof path, dir, "batch.safetensors");
    if (safetensors_write(path, tw, sizeof tw / sizeof tw[0], meta, &err) != 0)
      goto fail;
  }

  /* SFT: logits, loss, gradients */
  llava_zero_grad(&m);
  loss = llava_forward(&m, img, tok, tgt, w, B_SFT, T_SFT);
  llava_backward(&m);
  {
    float *logits = xmalloc((size_t)m.B * (size_t)m.L * (size_t)cfg.vocab * sizeof *logits);
    memcpy(logits, m.acts.logits, (size_t)m.B * (size_t)m.L * (size_t)cfg.vocab * sizeof *logits);
    join(path, sizeof path, dir, "grads.safetensors");
    if (save_grads(&m, path, &err) != 0) {
      free(logits);
      goto fail;
    }

    /* DPO: s per row, dpo_terms, dL/dnll = -dL/ds, backward */
    {
      struct llava d;
      if (llava_init(&d, &cfg, 0, &err) != 0) {
        free(logits);
        goto fail;
      }
      memcpy(d.params_memory, m.params_memory, m.num_parameters * sizeof(float));
      llava_zero_grad(&d);
      llava_forward(&d, dimg, dtok, dtgt, dw, NR, T_DPO);
      for (b = 0; b < NR; b++) {
        s[b] = 0.0;
        for (t = 0; t < T_DPO; t++)
          if (dw[b * T_DPO + t] > 0.0f)
            s[b] -= (double)dw[b * T_DPO + t] *
                    (double)d.acts.losses[(size_t)b * (size_t)d.L +
                                          (size_t)llava_lm_pos(&d, b, t)];
      }
      for (b = 0; b < NPAIR; b++) {
        ntok[b] = 0;
        for (t = 0; t < T_DPO; t++)
          ntok[b] += dw[b * T_DPO + t] > 0.0f;
      }
      dpo_terms(&dc, NPAIR, s, r, s + NPAIR, r + NPAIR, s + 2 * NPAIR, r + 2 * NPAIR, ntok,
                ds, ds + NPAIR, ds + 2 * NPAIR, &st);
      for (b = 0; b < NR; b++)
        for (t = 0; t < T_DPO; t++) {
          size_t q = (size_t)b * T_DPO + (size_t)t;
          dl[q] = dw[q] > 0.0f ? (float)(-ds[b] * (double)dw[q]) : 0.0f;
        }
      llava_backward_dlosses(&d, dl);
      loss_d = st.loss;
      dpo_out[0] = st.loss;
      dpo_out[1] = st.loss_text;
      dpo_out[2] = st.loss_image;
      dpo_out[3] = st.nll_chosen;
      join(path, sizeof path, dir, "dpo_grads.safetensors");
      rc = save_grads(&d, path, &err);
      llava_free(&d);
      if (rc != 0) {
        free(logits);
        goto fail;
      }
    }
    {
      int64_t sh_l[3] = {B_SFT, m.L, cfg.vocab}, sh1[1] = {1}, sh_s[1] = {NR}, sh4[1] = {4};
      struct st_write_tensor tw[] = {{"logits", "F32", 3, sh_l, logits},
                                     {"loss", "F32", 1, sh1, &loss},
                                     {"dpo_s", "F64", 1, sh_s, s},
                                     {"dpo_loss", "F64", 1, sh1, &loss_d},
                                     {"dpo_stats", "F64", 1, sh4, dpo_out}};
      join(path, sizeof path, dir, "out.safetensors");
      rc = safetensors_write(path, tw, sizeof tw / sizeof tw[0], NULL, &err);
      free(logits);
      if (rc != 0)
        goto fail;
    }
  }

  /* 3 AdamW steps on the SFT batch */
  for (step = 1; step <= 3; step++) {
    llava_zero_grad(&m);
    llava_forward(&m, img, tok, tgt, w, B_SFT, T_SFT);
    llava_backward(&m);
    llava_update(&m, ADAM_LR, ADAM_B1, ADAM_B2, ADAM_EPS, ADAM_WD, step);
  }
  join(path, sizeof path, dir, "params_after3.safetensors");
  if (llava_save(&m, path, &err) != 0)
    goto fail;
  printf("twin_dump: loss %.7g, dpo loss %.7g (text %.7g, image %.7g), %zu parameters -> %s\n",
         (double)loss, loss_d, dpo_out[1], dpo_out[2], m.num_parameters, dir);
  rc = 0;
  goto out;
fail:
  fprintf(stderr, "twin_dump: %s\n", err.msg);
  rc = 1;
out:
  free(img);
  free(dimg);
  llava_free(&m);
  return rc;
}
