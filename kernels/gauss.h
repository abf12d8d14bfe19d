/* gauss.h - standard normal deviates from random words by Box-Muller, in
 * float, with our own polynomial log, sine and cosine, header-only for C and
 * CUDA.
 *
 * Why not libm: the noise must be the same bits on every machine, for any
 * vector width and on the GPU (a cached artifact may be re-made anywhere,
 * and audits compare bytes). libm's logf/sinf and glibc's vector variants
 * (libmvec) differ in their last bits between versions and ISAs, and CUDA's
 * differ again. These functions use only +, -, *, sqrtf, integer and bit
 * operations, each correctly rounded under IEEE 754, so they give the same
 * result everywhere provided the compiler fuses no multiply-add (C: the
 * build's -ffp-contract=off; CUDA: -fmad=false on the files that use them).
 * They vectorise: no branches, no tables.
 *
 * Accuracy against double libm (tests/kernels/philox_test.c): gauss_log
 * within 0.82 ulp, gauss_sincos within 9.1e-8 absolute; x_k within 2.4e-7
 * of the double-precision reference on the same words (distort_test.c).
 * Polynomials: Cephes logf and sinf/cosf (S. Moshier), minimax on
 * [sqrt(1/2), sqrt(2)) and [-pi/4, pi/4].
 *
 * Words to uniforms: u = (w >> 8) + 1 over 2^24, in (0, 1] (so log u is
 * finite), and the angle's 24 top bits in [0, 1) turns. The radius is then
 * at most sqrt(2 * 24 ln 2) = 5.77: the tails beyond 5.77 sigma (a 8e-9
 * probability) are cut off.
 */
#ifndef PD_GAUSS_H
#define PD_GAUSS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "philox.h" /* PD_HD */

PD_HD uint32_t gauss_f2u(float x)
{
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
#endif
}

PD_HD float gauss_u2f(uint32_t u)
{
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
#endif
}

/* Natural log of a positive normal float x (no zero, infinity, NaN or
 * subnormal: the callers pass u in [2^-24, 1]). x = z 2^k with z in
 * [sqrt(1/2), sqrt(2)) by integer arithmetic on the bits (as musl's logf
 * does), then log x = k ln 2 + log(1 + f), f = z - 1. */
PD_HD float gauss_log(float x)
{
  uint32_t ix = gauss_f2u(x), tmp = ix - 0x3f3504f3u; /* 0x3f3504f3 = sqrt(1/2) */
  float fe = (float)((int32_t)tmp >> 23);             /* k */
  float f = gauss_u2f(ix - (tmp & 0xff800000u)) - 1.0f; /* [sqrt(1/2) - 1, sqrt(2) - 1) */
  float z = f * f;
  float y = 7.0376836292e-2f;
  y = y * f - 1.1514610310e-1f;
  y = y * f + 1.1676998740e-1f;
  y = y * f - 1.2420140846e-1f;
  y = y * f + 1.4249322787e-1f;
  y = y * f - 1.6668057665e-1f;
  y = y * f + 2.0000714765e-1f;
  y = y * f - 2.4999993993e-1f;
  y = y * f + 3.3333331174e-1f;
  y = y * f * z;
  y = y + -2.12194440e-4f * fe; /* ln 2 = 0.693359375 - 2.12194440e-4, the first part exact */
  y = y + -0.5f * z;
  return (f + y) + 0.693359375f * fe;
}

/* sin and cos of 2 pi t for t = k / 2^24, k in [0, 2^24): the reduction to
 * [-pi/4, pi/4] is exact integer arithmetic on k, the quadrant's swap and
 * signs are bit operations (no branch, so loops of it vectorise). */
PD_HD void gauss_sincos(uint32_t k, float *s, float *c)
{
  uint32_t q = (k + (1u << 21)) >> 22;         /* nearest quarter turn, 0..4 */
  int32_t r = (int32_t)k - (int32_t)(q << 22); /* [-2^21, 2^21) */
  float x = (float)r * 0x1.921fb6p-22f;        /* 2 pi / 2^24: x in [-pi/4, pi/4] */
  float z = x * x;
  float sp = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * x + x;
  float cp = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) *
             z * z - 0.5f * z + 1.0f;
  /* Rotate by q quarter turns: (sin, cos) = (s, c), (c, -s), (-s, -c), (-c, s). */
  uint32_t swap = 0u - (q & 1u), bs = gauss_f2u(sp), bc = gauss_f2u(cp);
  uint32_t sn = (bs & ~swap) | (bc & swap), cs = (bc & ~swap) | (bs & swap);
  *s = gauss_u2f(sn ^ ((q & 2u) << 30));
  *c = gauss_u2f(cs ^ (((q + 1u) & 2u) << 30));
}

/* Two independent N(0, 1) deviates from two random words: radius from wu,
 * angle from wv. */
PD_HD void gauss_box_muller(uint32_t wu, uint32_t wv, float *z0, float *z1)
{
  float u = (float)((wu >> 8) + 1u) * 0x1p-24f; /* (0, 1], exact */
  float r = sqrtf(-2.0f * gauss_log(u));
  float s, c;
  gauss_sincos(wv >> 8, &s, &c);
  *z0 = r * c;
  *z1 = r * s;
}

#endif
