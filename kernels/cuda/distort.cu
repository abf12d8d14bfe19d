// distort.cu - forward diffusion noise on the GPU (see distort.h): the
// kernel, its launcher and distort_forward_gpu() for host buffers.
//
// One thread per block of 4 values of one draw of one image: it runs
// Philox on its counter, two Box-Muller pairs (gauss.h) and the
// combination (distort_value), the very code the CPU kernels run. Built
// with -fmad=false (kernels/CMakeLists.txt), so no multiply-add is fused
// and the output matches the CPU's to the bit (tests/kernels/
// distort_cuda_check.c prints the largest difference).
//
// Left out: streaming host buffers through pinned memory in chunks
// (distort_forward_gpu holds the whole batch on the device at once).
#include <cuda_runtime.h>
#include <stdint.h>

#include "distort_cuda.h"

extern "C" {
#include "err.h"
}

__global__ void distort_forward_kernel(float *out, const uint8_t *inp, const uint64_t *ids,
                                       struct distort_coef c, int N, int D, int P)
{
  long long nb = (P + 3) / 4, total = (long long)N * D * nb;
  long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  long long stride = (long long)gridDim.x * blockDim.x;
  uint32_t key[2];
  distort_key(c.seed, key);
  for (; g < total; g += stride) {
    long long row = g / nb; // i * D + d
    int b = (int)(g - row * nb), d = (int)(row % D), i = (int)(row / D);
    const uint8_t *x = inp + (size_t)i * P + 4 * (size_t)b;
    float *o = out + (size_t)row * P + 4 * (size_t)b;
    float eps[4];
    distort_block_noise(key, ids[i], (uint32_t)d, (uint32_t)b, eps);
    if ((P & 3) == 0) { // rows are 16-byte aligned: one 4-byte load, one 16-byte store
      uchar4 px = *reinterpret_cast<const uchar4 *>(x);
      *reinterpret_cast<float4 *>(o) =
          make_float4(distort_value(px.x, eps[0], &c), distort_value(px.y, eps[1], &c),
                      distort_value(px.z, eps[2], &c), distort_value(px.w, eps[3], &c));
    } else {
      for (int j = 0; j < 4 && 4 * b + j < P; j++)
        o[j] = distort_value(x[j], eps[j], &c);
    }
  }
}

extern "C" int distort_forward_cuda(float *out, const uint8_t *inp, const uint64_t *ids,
                                    const struct distort_coef *c, int N, int D, int P,
                                    cudaStream_t s, struct pd_err *err)
{
  ASSERT(c && N >= 0 && D >= 1 && P >= 1);
  ASSERT(N == 0 || (out && inp && ids));
  // The vector path's loads and stores (P % 4 == 0) need aligned rows.
  ASSERT(P % 4 != 0 || (((uintptr_t)inp & 3) == 0 && ((uintptr_t)out & 15) == 0));
  long long total = (long long)N * D * ((P + 3) / 4);
  if (total == 0)
    return 0;
  const int threads = 256;
  long long blocks = (total + threads - 1) / threads;
  if (blocks > (1LL << 20)) // grid-stride beyond a million blocks
    blocks = 1LL << 20;
  distort_forward_kernel<<<(unsigned)blocks, threads, 0, s>>>(out, inp, ids, *c, N, D, P);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    return ERR_SET(err, PD_ECUDA, "distort_forward_kernel: %s", cudaGetErrorString(e));
  return 0;
}

#define CK(call)                                                                      \
  do {                                                                                \
    cudaError_t e_ = (call);                                                          \
    if (e_ != cudaSuccess) {                                                          \
      rc = ERR_SET(err, PD_ECUDA, "%s: %s", #call, cudaGetErrorString(e_));           \
      goto out;                                                                       \
    }                                                                                 \
  } while (0)

extern "C" int distort_forward_gpu(float *out, const uint8_t *inp, const uint64_t *ids,
                                   const struct distort_coef *c, int N, int D, int P,
                                   struct pd_err *err)
{
  size_t nin = (size_t)N * P, nout = (size_t)N * D * P;
  uint8_t *dinp = NULL;
  uint64_t *dids = NULL;
  float *dout = NULL;
  int count = 0, rc = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError(); // clear the sticky error
    if (e != cudaSuccess)
      return ERR_SET(err, PD_ECUDA,
                     "device 'cuda' is not available: no usable GPU or driver "
                     "(cudaGetDeviceCount: %s)", cudaGetErrorString(e));
    return ERR_SET(err, PD_ECUDA, "device 'cuda' is not available: no CUDA device");
  }
  if (N == 0)
    return 0;
  CK(cudaMalloc((void **)&dinp, nin));
  CK(cudaMalloc((void **)&dids, (size_t)N * sizeof *dids));
  CK(cudaMalloc((void **)&dout, nout * sizeof *dout));
  CK(cudaMemcpy(dinp, inp, nin, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dids, ids, (size_t)N * sizeof *dids, cudaMemcpyHostToDevice));
  if ((rc = distort_forward_cuda(dout, dinp, dids, c, N, D, P, 0, err)) < 0)
    goto out;
  CK(cudaDeviceSynchronize());
  CK(cudaMemcpy(out, dout, nout * sizeof *dout, cudaMemcpyDeviceToHost));
out:
  cudaFree(dinp);
  cudaFree(dids);
  cudaFree(dout);
  return rc;
}
