/* philox.h - the Philox4x32-10 counter-based RNG (Salmon et al., "Parallel
 * random numbers: as easy as 1, 2, 3", SC 2011; Random123's philox4x32_R
 * with R = 10), header-only so that C, vectorised C loops and CUDA kernels
 * share one definition and produce the same words.
 *
 * A counter-based RNG is a keyed bijection: word block = philox(counter,
 * key). There is no state to carry, so any element of any stream can be
 * computed on its own, in any order, on any thread or device. Callers give
 * each quantity its own counter (tasks/shapes.c: (block, index, split,
 * stream); kernels/cpu/distort.c: (block, draw, image id)).
 *
 * The 32x32 -> 64 bit products are written as uint64_t multiplications:
 * compilers turn them into pmuludq / mul.hi, and GCC vectorises loops of
 * philox4x32_10() calls over independent counters.
 */
#ifndef PD_PHILOX_H
#define PD_PHILOX_H

#include <stdint.h>

#if defined(__CUDACC__)
#define PD_HD static __host__ __device__ __forceinline__
#else
#define PD_HD static inline
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

/* One block: out = Philox4x32-10(ctr, key). Matches Random123's known
 * answers (tests/kernels/philox_test.c, tests/tasks/shapes_test.c). */
PD_HD void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  int r;
  for (r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
    if (r > 0) {
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    c0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    c1 = (uint32_t)p1;
    c2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c3 = (uint32_t)p0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

#endif
