/* sft_bench.c - training and generation speed of the C model (model/llava.h)
 * at the default config (llava_config_default, about 1M parameters), the
 * C side of bench/torch_bench.sh (bench/torch_train.py is the PyTorch side,
 * same config, batch and step). Run by hand on a Release build:
 *
 *   sft_bench [--steps N] [--warmup N] [--batch B] [--text T] [--full]
 *             [--threads N] [--shards S] [--blas-threads N]
 *             [--gen-batch B] [--gen-prompt T] [--gen-new N]
 *
 * Training: one step is train_sft's: forward, zero_grad, backward, clip the
 * global gradient norm to 1, AdamW (lr 1e-3, wd 0.01); the vision tower is
 * frozen as in train_sft's default (--full trains it too). The batch: B
 * (16) random images, T (40) text positions with the IMAGE token at
 * position 3, loss weights 1 on the answer positions from T/2 on, so the LM
 * sees L = T - 1 + P = 103 positions. Prints examples/s over --steps (20)
 * steps after --warmup (2), and the GFLOP/s of the matmuls and attention,
 * counted analytically (flops_per_step below: 2 m k n per matmul forward,
 * 4 m k n backward, 2 m k n where only the weight gradient is wanted; the
 * attention's scores and weighted sums likewise, causal ones over the
 * L (L + 1) / 2 pairs).
 * Generation: llava_generate_bias, greedy, --gen-batch (32) prompts of
 * --gen-prompt (20) tokens, --gen-new (32) new tokens each (the eos logit
 * biased to -1e30 so that every row makes all of them); tokens/s counts the
 * new tokens, the prefill's time included.
 * Threads: as train_sft, the batch is cut into --shards (2, train_sft's
 * default) slices run on up to --threads (1) threads (model/llava_dp.h),
 * each with OpenBLAS at one thread unless --blas-threads says otherwise (0:
 * leave it as OPENBLAS_NUM_THREADS set it). Generation runs on one thread.
 * The last line is machine readable: RESULT key=value... */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "err.h"
#include "generate.h"
#include "llava.h"
#include "llava_dp.h"

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x73667462656e6368u;

static uint64_t next_u64(void)
{
  uint64_t z = (rng += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Floating-point operations of one training step's matmuls and attention
 * (norms, activations, softmax, AdamW left out). */
static double flops_per_step(const struct llava *m, int B, int T, int full)
{
  const struct llava_config *c = &m->cfg;
  double P = m->num_patches, K = m->patch_dim, Cv = c->v_width, Hv = c->v_mlp;
  double C = c->width, H = c->hidden, V = c->vocab, L = T - 1 + m->num_patches;
  double Nr = m->v_run, Nl = c->layers, rv = B * P, rl = B * L;
  double fwd_v = 2 * rv * (K * Cv + Nr * (3 * Cv * Cv + Cv * Cv + 2 * Hv * Cv)) +
                 Nr * 4 * B * P * P * Cv;
  double fwd_p = 2 * rv * (Cv * C + C * C);
  double fwd_l = 2 * rl * (Nl * (3 * C * C + C * C + 3 * H * C) + V * C) +
                 Nl * 4 * B * (L * (L + 1) / 2) * C;
  /* backward: 2x the forward (input and weight gradients); the patch
   * embedding has no input gradient; a frozen tower has none, and then the
   * projector's first matmul has no input gradient either */
  double bwd = 2 * fwd_l + 2 * fwd_p;
  if (full)
    bwd += 2 * fwd_v - 2 * rv * K * Cv;
  else
    bwd -= 2 * rv * Cv * C;
  return fwd_v + fwd_p + fwd_l + bwd;
}

static float clip_grads(struct llava *m, float clip)
{
  size_t i0 = m->freeze_vision ? m->num_vision_parameters : 0, i;
  double sum = 0;
  float norm;
  for (i = i0; i < m->num_parameters; i++)
    sum += (double)m->grads_memory[i] * (double)m->grads_memory[i];
  norm = (float)sqrt(sum);
  if (norm > clip)
    for (i = i0; i < m->num_parameters; i++)
      m->grads_memory[i] *= clip / norm;
  return norm;
}

int main(int argc, char **argv)
{
  struct llava_config cfg;
  struct llava m;
  struct pd_err err = {0};
  int steps = 20, warmup = 2, B = 16, T = 40, full = 0, blas = 1, gB = 32, gT = 20, gN = 32;
  int threads = 1, shards = 2;
  struct llava_dp dp;
  int i, b, t, s, *tok, *tgt, *gtok, *gout, *glen;
  float *img, *w, *gimg, loss = 0;
  size_t Sz;
  double t0 = 0, train_s, gen_s, flops;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    int *dst = strcmp(a, "--steps") == 0        ? &steps
               : strcmp(a, "--warmup") == 0     ? &warmup
               : strcmp(a, "--batch") == 0      ? &B
               : strcmp(a, "--text") == 0       ? &T
               : strcmp(a, "--blas-threads") == 0 ? &blas
               : strcmp(a, "--threads") == 0    ? &threads
               : strcmp(a, "--shards") == 0     ? &shards
               : strcmp(a, "--gen-batch") == 0  ? &gB
               : strcmp(a, "--gen-prompt") == 0 ? &gT
               : strcmp(a, "--gen-new") == 0    ? &gN
                                                : NULL;
    if (strcmp(a, "--full") == 0) {
      full = 1;
      continue;
    }
    if (!dst || i + 1 >= argc) {
      fprintf(stderr, "sft_bench: unknown or incomplete option '%s'\n", a);
      return 2;
    }
    *dst = atoi(argv[++i]);
  }
  if (steps < 1 || B < 1 || T < 5 || gB < 1 || gT < 5 || gN < 1 || threads < 1 || shards < 1 ||
      shards > LLAVA_DP_MAX_SHARDS) {
    fprintf(stderr, "sft_bench: sizes must be positive (T, gen-prompt >= 5; shards <= %d)\n",
            LLAVA_DP_MAX_SHARDS);
    return 2;
  }
  if (blas > 0)
    openblas_set_num_threads(blas);
  llava_config_default(&cfg);
  if (llava_init(&m, &cfg, 1, &err) != 0) {
    fprintf(stderr, "sft_bench: %s\n", err.msg);
    return 1;
  }
  m.freeze_vision = !full;
  llava_dp_init(&dp, &m, shards, threads);
  Sz = (size_t)cfg.image_size * (size_t)cfg.image_size * (size_t)cfg.channels;

  img = xmalloc((size_t)B * Sz * sizeof *img);
  tok = xmalloc((size_t)B * (size_t)T * sizeof *tok);
  tgt = xmalloc((size_t)B * (size_t)T * sizeof *tgt);
  w = xmalloc((size_t)B * (size_t)T * sizeof *w);
  for (i = 0; i < B * (int)Sz; i++)
    img[i] = (float)(next_u64() >> 40) * 0x1p-24f;
  for (b = 0; b < B; b++) {
    int *row = tok + (size_t)b * (size_t)T;
    for (t = 0; t < T; t++)
      row[t] = 2 + (int)(next_u64() % (uint64_t)(cfg.vocab - 2));
    row[3] = cfg.image_token;
    for (t = 0; t < T; t++) {
      int weighted = t >= T / 2 && t + 1 < T;
      w[b * T + t] = weighted ? 1.0f : 0.0f;
      tgt[b * T + t] = weighted ? row[t + 1] : -1;
    }
  }

  for (s = 0; s < warmup + steps; s++) {
    if (s == warmup)
      t0 = now();
    loss = llava_dp_forward(&dp, img, tok, tgt, w, B, T);
    llava_zero_grad(&m);
    llava_dp_backward(&dp);
    clip_grads(&m, 1.0f);
    llava_update(&m, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, s + 1);
  }
  train_s = now() - t0;
  flops = flops_per_step(&m, B, T, full);

  /* generation */
  gimg = xmalloc((size_t)gB * Sz * sizeof *gimg);
  gtok = xmalloc((size_t)gB * (size_t)gT * sizeof *gtok);
  gout = xmalloc((size_t)gB * (size_t)gN * sizeof *gout);
  glen = xmalloc((size_t)gB * sizeof *glen);
  for (i = 0; i < gB * (int)Sz; i++)
    gimg[i] = (float)(next_u64() >> 40) * 0x1p-24f;
  for (i = 0; i < gB * gT; i++)
    gtok[i] = 3 + (int)(next_u64() % (uint64_t)(cfg.vocab - 3));
  for (b = 0; b < gB; b++)
    gtok[b * gT + 3] = cfg.image_token;
  llava_generate_bias(&m, gimg, gtok, gB, gT, 2, 2, 0.0f, 1.0f, 1, -1e30f, gout, glen); /* warm */
  t0 = now();
  llava_generate_bias(&m, gimg, gtok, gB, gT, gN, 2, 0.0f, 1.0f, 1, -1e30f, gout, glen);
  gen_s = now() - t0;
  for (b = 0; b < gB; b++)
    ASSERT(glen[b] == gN);

  printf("C model: %zu parameters (%zu trainable), batch %d, T %d (L %d), %s, %d shards on %d "
         "threads, OpenBLAS threads %d\n",
         m.num_parameters, full ? m.num_parameters : m.num_parameters - m.num_vision_parameters,
         B, T, T - 1 + m.num_patches, full ? "whole model trained" : "vision tower frozen (train_sft default)",
         dp.used, threads, openblas_get_num_threads());
  printf("  train: %d steps in %.3f s: %.1f examples/s, %.2f GFLOP/s (%.3f GFLOP/step), last loss %.4f\n",
         steps, train_s, steps * B / train_s, flops * steps / train_s * 1e-9, flops * 1e-9,
         (double)loss);
  printf("  generate: batch %d, prompt %d, %d new tokens, greedy: %.3f s, %.1f tokens/s\n", gB,
         gT, gN, gen_s, gB * gN / gen_s);
  printf("RESULT train_ex_per_s=%.3f gflops=%.3f gflop_per_step=%.6f gen_tok_per_s=%.2f\n",
         steps * B / train_s, flops * steps / train_s * 1e-9, flops * 1e-9, gB * gN / gen_s);
  free(img);
  free(tok);
  free(tgt);
  free(w);
  free(gimg);
  free(gtok);
  free(gout);
  free(glen);
  llava_dp_free(&dp);
  llava_free(&m);
  return 0;
}
