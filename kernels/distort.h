/* distort.h - forward diffusion noise on images (POVID's image-side
 * dispreference, after DDPM's q(x_k | x_0)):
 *
 *   x_k = sqrt(abar_k) x_0 + sqrt(1 - abar_k) eps,   eps ~ N(0, I)
 *
 * with x_0 the pixels scaled to [0, 1] (u8 / 255), T = 1000 steps and
 * abar_k = prod_{t <= k} (1 - beta_t). Schedules: "sigmoid" (POVID's and
 * VCD's released code: beta_t = sigmoid(linspace(-6, 6, 1000))[t] * (5e-3 -
 * 1e-5) + 1e-5), "linear" (DDPM: beta from 1e-4 to 0.02).
 *
 * The noise is counter based: value v of draw d of the image whose noise id
 * is `id` comes from block v / 4 of Philox4x32-10 with
 *   key     = (seed low 32 bits, seed high 32 bits ^ DISTORT_DOMAIN)
 *   counter = (v / 4, d, id low 32 bits, id high 32 bits)
 * and Box-Muller (gauss.h) on the block's words: (w0, w1) give values 4b and
 * 4b + 1 (r cos, r sin), (w2, w3) values 4b + 2 and 4b + 3. So an image's
 * noise depends on (seed, id, draw) only: not on its row, the batch, the
 * thread count or the device. The CPU kernels (cpu/distort.c) and the CUDA
 * kernel (cuda/distort.cu) compute the same float operations and agree to
 * the bit when nvcc fuses no multiply-add (-fmad=false, as built here).
 *
 * Results stay float and are not clamped unless asked: the released POVID
 * code casts to bytes, which wraps values outside [0, 1].
 */
#ifndef PD_DISTORT_H
#define PD_DISTORT_H

#include <stddef.h>
#include <stdint.h>

#include "gauss.h"
#include "philox.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pd_err;

#define DISTORT_T 1000
#define DISTORT_DOMAIN 0x64697374u /* "dist": keeps this noise apart from other Philox users */

enum distort_schedule {
  DISTORT_SIGMOID = 0, /* POVID / VCD */
  DISTORT_LINEAR = 1   /* DDPM */
};

/* What one call applies: the noise key and the step's coefficients. */
struct distort_coef {
  uint64_t seed;
  float sa;  /* sqrt(abar_k) */
  float sb;  /* sqrt(1 - abar_k) */
  int clamp; /* nonzero: clamp x_k to [0, 1] */
};

/* beta_t and abar_t for t = 0..T-1 of schedule s, computed in double.
 * Either array may be NULL. */
void distort_schedule(enum distort_schedule s, double *beta, double *abar); /* (T) (T) */
/* Fills c->sa, c->sb for step k (0..T-1) of schedule s; leaves the rest. */
void distort_coef_at(struct distort_coef *c, enum distort_schedule s, int k);

/* N = images, D = draws per image, P = values per image (H*W*C).
 * Row i*D + d of out is draw d of image i. The fast kernel processes
 * blocks of values in vectorisable passes (Philox, Box-Muller, combine),
 * compiled once per x86 instruction set and chosen at run time. */
void distort_forward(float *out,                   /* (N,D,P) */
                     const uint8_t *inp,           /* (N,P) pixels 0..255 */
                     const uint64_t *ids,          /* (N) noise id of each image */
                     const struct distort_coef *c, int N, int D, int P);
/* The instruction set distort_forward runs with here: "avx512", "avx2" or
 * "base" (the same bits from each). PD_DISTORT_ISA=base|avx2 in the
 * environment caps it (tests and benches). */
const char *distort_isa(void);
/* The reference: one value at a time, Philox recomputed per value,
 * Box-Muller and the combination in double with libm. Agrees with
 * distort_forward within 1e-5 (the fast kernel's float rounding). */
void distort_forward_naive(float *out, const uint8_t *inp, const uint64_t *ids,
                           const struct distort_coef *c, int N, int D, int P);

/* Called on the caller's thread between chunks of images; a nonzero return
 * stops the work. */
typedef int distort_progress_cb(void *arg, size_t done, size_t total);
/* distort_forward over chunks of images on up to `threads` threads (the
 * caller's included). The bytes do not depend on threads. Returns 0, or
 * PD_EINTR when cb asked to stop (out is then partly written). */
int distort_forward_threads(float *out, const uint8_t *inp, const uint64_t *ids,
                            const struct distort_coef *c, int N, int D, int P, int threads,
                            distort_progress_cb *cb, void *arg);

/* The same on the GPU from host buffers: copies in, runs
 * distort_forward_cuda (distort_cuda.h), copies out. Returns 0, or PD_ECUDA
 * with err saying why: no CUDA in this build (kernels/cuda/distort_stub.c),
 * no device, or a CUDA error. */
int distort_forward_gpu(float *out, const uint8_t *inp, const uint64_t *ids,
                        const struct distort_coef *c, int N, int D, int P, struct pd_err *err);

/* --- the noise, shared by the CPU and CUDA kernels ------------------------- */

PD_HD void distort_key(uint64_t seed, uint32_t key[2])
{
  key[0] = (uint32_t)seed;
  key[1] = (uint32_t)(seed >> 32) ^ DISTORT_DOMAIN;
}

/* The four N(0, 1) values of block b of draw d of image id. */
PD_HD void distort_block_noise(const uint32_t key[2], uint64_t id, uint32_t d, uint32_t b,
                               float eps[4])
{
  uint32_t ctr[4], w[4];
  ctr[0] = b;
  ctr[1] = d;
  ctr[2] = (uint32_t)id;
  ctr[3] = (uint32_t)(id >> 32);
  philox4x32_10(ctr, key, w);
  gauss_box_muller(w[0], w[1], &eps[0], &eps[1]);
  gauss_box_muller(w[2], w[3], &eps[2], &eps[3]);
}

/* x_k of one value, in float: the operations every kernel performs. */
PD_HD float distort_value(uint8_t x, float eps, const struct distort_coef *c)
{
  float v = c->sa * ((float)x / 255.0f) + c->sb * eps;
  if (c->clamp)
    v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
  return v;
}

#ifdef __cplusplus
}
#endif

#endif
