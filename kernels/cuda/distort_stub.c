/* distort_stub.c - distort_forward_gpu() in builds without CUDA (CMake found
 * no nvcc): says so. The real one is in distort.cu. */
#include "distort.h"

#include "err.h"

int distort_forward_gpu(float *out, const uint8_t *inp, const uint64_t *ids,
                        const struct distort_coef *c, int N, int D, int P, struct pd_err *err)
{
  (void)out, (void)inp, (void)ids, (void)c, (void)N, (void)D, (void)P;
  return ERR_SET(err, PD_ECUDA,
                 "device 'cuda' is not available: this build has no CUDA kernels (CMake found "
                 "no CUDA compiler, or PD_WITH_CUDA=OFF)");
}
