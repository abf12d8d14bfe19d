/* distort_cuda.h - the CUDA launcher of the forward diffusion noise (see
 * distort.h for the formula and the noise's definition). Only for code
 * built with CUDA: it needs cuda_runtime_api.h. */
#ifndef PD_DISTORT_CUDA_H
#define PD_DISTORT_CUDA_H

#include <cuda_runtime_api.h>

#include "distort.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel distort_forward_kernel on stream s, all pointers on the
 * device: one thread per block of 4 values of one draw of one image.
 * Asserts its preconditions (non-NULL pointers, N >= 0, D >= 1, P >= 1,
 * and when P % 4 == 0, inp 4-byte and out 16-byte aligned: cudaMalloc's are).
 * Returns 0, or PD_ECUDA with cudaGetErrorString in err when the launch
 * fails. Asynchronous: errors of the kernel's execution show at the next
 * synchronisation. */
int distort_forward_cuda(float *out,                   /* (N,D,P) */
                         const uint8_t *inp,           /* (N,P) */
                         const uint64_t *ids,          /* (N) */
                         const struct distort_coef *c, int N, int D, int P, cudaStream_t s,
                         struct pd_err *err);

#ifdef __cplusplus
}
#endif

#endif
