/* vmath.h - exp and tanh for the model's kernels, written so that loops
 * calling them vectorise (plain float and integer arithmetic the compiler
 * turns into SIMD; a call into libm stops vectorisation, and the build
 * forbids -ffast-math, which would let it use libmvec).
 *
 * Accuracy: vexpf is within 2 ulp of exp over the whole float range
 * (Cephes' range reduction and degree-6 polynomial), with exp(-inf) = 0,
 * exp(+inf) = inf, exp(NaN) = NaN, overflow to inf and gradual underflow
 * like libm. vtanhf is 1 - 2 / (exp(2|x|) + 1) with the sign of x: absolute
 * error below 1e-7 (its relative error grows as x -> 0, where callers add
 * it to 1 or multiply it by x). The bits are the same on every x86-64 (no
 * libm version or FMA dispatch involved), given -ffp-contract=off.
 *
 * Also the fixed-order lane reductions shared by the kernels: VM_LANES
 * partial sums combined in lane order, so the compiler can vectorise them
 * and the result is still the same bits run to run.
 */
#ifndef PD_VMATH_H
#define PD_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float vm_from_bits(uint32_t u)
{
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint32_t vm_to_bits(float f)
{
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float vexpf(float x)
{
  const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  float xc, t, nf, r, y;
  uint32_t ux = vm_to_bits(x), uc, j;
  int32_t n, n1, n2;
  uint32_t nan_mask = 0u - (uint32_t)((ux & 0x7fffffffu) > 0x7f800000u);
  /* Beyond [-104, 89] the result is 0 or inf anyway: clamp there. On the
   * bits, because GCC does not if-convert float compares (they may trap)
   * and so would not vectorise: below -104 the bits are larger unsigned
   * numbers than -104's, above 89 larger signed ones than 89's. */
  uc = ux > 0xc2d00000u ? 0xc2d00000u : ux;
  uc = (int32_t)uc > (int32_t)0x42b20000 ? 0x42b20000u : uc;
  xc = vm_from_bits(uc);
  t = xc * 1.44269504088896341f + magic;
  j = vm_to_bits(t);
  nf = t - magic;                                /* round(x / ln 2) */
  n = (int32_t)(j - vm_to_bits(magic));          /* the same, as an integer */
  r = xc - nf * 0.693359375f;                    /* x - n ln 2, in two steps */
  r = r - nf * -2.12194440e-4f;
  y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  /* times 2^n as 2^n1 * 2^n2, both normal: results that underflow round
   * once (in the second product), results that overflow become inf */
  n1 = n >> 1;
  n2 = n - n1;
  y = y * vm_from_bits((uint32_t)(n1 + 127) << 23);
  y = y * vm_from_bits((uint32_t)(n2 + 127) << 23);
  /* NaN in, NaN out (a mask, not a select: that GCC would not vectorise) */
  return vm_from_bits((ux & nan_mask) | (vm_to_bits(y) & ~nan_mask));
}

static inline float vtanhf(float x)
{
  float th = 1.0f - 2.0f / (vexpf(2.0f * fabsf(x)) + 1.0f);
  return copysignf(th, x);
}

/* VM_CLONES: on x86-64 with GCC, a function marked so is compiled three
 * times (AVX-512, AVX2, baseline SSE2) and the loader picks the widest the
 * CPU has. The clones compute the same bits: the build has no FMA
 * contraction (-ffp-contract=off) and no reassociation, so vectorising only
 * changes how many lanes run at once, never the operations per element or
 * the order of a reduction (the lanes of vm_sum are fixed in the source).
 * Mark functions with loops worth it, not the helpers they inline. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__) && \
    !defined(PD_NO_CLONES)
#define VM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VM_CLONES
#endif

#define VM_LANES 8

/* sum of x[0..n-1]: VM_LANES partial sums, then lane 0 + 1 + ... */
static inline float vm_sum(const float *x, int n)
{
  float s[VM_LANES] = {0};
  int i, j;
  for (i = 0; i + VM_LANES <= n; i += VM_LANES)
    for (j = 0; j < VM_LANES; j++)
      s[j] += x[i + j];
  for (j = 0; i < n; i++, j++)
    s[j] += x[i];
  for (j = 1; j < VM_LANES; j++)
    s[0] += s[j];
  return s[0];
}

/* sum of x[i] * y[i], as vm_sum */
static inline float vm_dot(const float *x, const float *y, int n)
{
  float s[VM_LANES] = {0};
  int i, j;
  for (i = 0; i + VM_LANES <= n; i += VM_LANES)
    for (j = 0; j < VM_LANES; j++)
      s[j] += x[i + j] * y[i + j];
  for (j = 0; i < n; i++, j++)
    s[j] += x[i] * y[i];
  for (j = 1; j < VM_LANES; j++)
    s[0] += s[j];
  return s[0];
}

/* max of x[0..n-1], -inf for n = 0 (exact, so the order does not matter) */
static inline float vm_max(const float *x, int n)
{
  float m[VM_LANES];
  int i, j;
  for (j = 0; j < VM_LANES; j++)
    m[j] = -INFINITY;
  for (i = 0; i + VM_LANES <= n; i += VM_LANES)
    for (j = 0; j < VM_LANES; j++)
      m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
  for (; i < n; i++)
    m[0] = x[i] > m[0] ? x[i] : m[0];
  for (j = 1; j < VM_LANES; j++)
    m[0] = m[j] > m[0] ? m[j] : m[0];
  return m[0];
}

#endif
