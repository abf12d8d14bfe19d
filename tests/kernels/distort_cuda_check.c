/* distort_cuda_check.c - the CUDA forward diffusion noise against the CPU
 * kernel (llm.c's check_tensor): prints maxdiff and the number of values
 * that differ at all for several shapes, the clamp and the host-buffer
 * entry point, then the kernel's throughput. Built only with CUDA; prints
 * "skipped: ..." and exits 0 when there is no device, so CPU-only machines
 * pass (ctest shows it as skipped).
 *
 * Tolerance 1e-6: both sides run the same float operations without fused
 * multiply-adds (gauss.h), so 0 is expected.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "distort.h"
#include "distort_cuda.h"
#include "err.h"

#define TOL 1e-6

static int failures;

static uint8_t *make_images(size_t n)
{
  uint8_t *x = xmalloc(n);
  size_t k;
  for (k = 0; k < n; k++)
    x[k] = (uint8_t)((k * 2654435761u) >> 13);
  return x;
}

static uint64_t *make_ids(int n)
{
  uint64_t *ids = xmalloc((size_t)n * sizeof *ids);
  int i;
  for (i = 0; i < n; i++)
    ids[i] = (uint64_t)i * 0x9e3779b97f4a7c15ull + 1;
  return ids;
}

static void check(const char *what, const float *gpu, const float *cpu, size_t n)
{
  double m = 0;
  size_t k, differ = 0;
  for (k = 0; k < n; k++) {
    double d = fabs((double)gpu[k] - (double)cpu[k]);
    m = d > m ? d : m;
    differ += gpu[k] != cpu[k];
  }
  printf("%-44s maxdiff %.3g, %zu of %zu values differ%s\n", what, m, differ, n,
         m <= TOL ? "" : "  FAIL");
  failures += m > TOL;
}

#define CK(call)                                                                 \
  do {                                                                           \
    cudaError_t e_ = (call);                                                     \
    if (e_ != cudaSuccess) {                                                     \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,              \
              cudaGetErrorString(e_));                                           \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

/* One case on device buffers through distort_forward_cuda. */
static void run_case(int N, int D, int P, int step, int clamp)
{
  struct distort_coef c = { 1234, 0, 0, clamp };
  struct pd_err err = { 0 };
  size_t nin = (size_t)N * P, nout = nin * (size_t)D;
  uint8_t *x = make_images(nin), *dx;
  uint64_t *ids = make_ids(N), *dids;
  float *cpu = xmalloc(nout * sizeof *cpu), *gpu = xmalloc(nout * sizeof *gpu), *dout;
  char what[96];

  distort_coef_at(&c, DISTORT_SIGMOID, step);
  distort_forward(cpu, x, ids, &c, N, D, P);
  CK(cudaMalloc((void **)&dx, nin));
  CK(cudaMalloc((void **)&dids, (size_t)N * sizeof *dids));
  CK(cudaMalloc((void **)&dout, nout * sizeof *dout));
  CK(cudaMemcpy(dx, x, nin, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dids, ids, (size_t)N * sizeof *dids, cudaMemcpyHostToDevice));
  if (distort_forward_cuda(dout, dx, dids, &c, N, D, P, 0, &err) < 0) {
    fprintf(stderr, "distort_forward_cuda: %s\n", err.msg);
    exit(1);
  }
  CK(cudaDeviceSynchronize());
  CK(cudaMemcpy(gpu, dout, nout * sizeof *gpu, cudaMemcpyDeviceToHost));
  snprintf(what, sizeof what, "N %d D %d P %d k %d%s:", N, D, P, step, clamp ? " clamp" : "");
  check(what, gpu, cpu, nout);

  memset(gpu, 0, nout * sizeof *gpu);
  if (distort_forward_gpu(gpu, x, ids, &c, N, D, P, &err) < 0) {
    fprintf(stderr, "distort_forward_gpu: %s\n", err.msg);
    exit(1);
  }
  snprintf(what, sizeof what, "  the same through distort_forward_gpu:");
  check(what, gpu, cpu, nout);
  cudaFree(dx);
  cudaFree(dids);
  cudaFree(dout);
  free(x);
  free(ids);
  free(cpu);
  free(gpu);
}

static void bench(int N)
{
  struct distort_coef c = { 1, 0, 0, 0 };
  struct pd_err err = { 0 };
  size_t nin = (size_t)N * 3072;
  uint8_t *x = make_images(nin), *dx;
  uint64_t *ids = make_ids(N), *dids;
  float *dout, ms, best = 1e30f;
  cudaEvent_t a, b;
  int r;

  distort_coef_at(&c, DISTORT_SIGMOID, 500);
  CK(cudaMalloc((void **)&dx, nin));
  CK(cudaMalloc((void **)&dids, (size_t)N * sizeof *dids));
  CK(cudaMalloc((void **)&dout, nin * sizeof *dout));
  CK(cudaMemcpy(dx, x, nin, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dids, ids, (size_t)N * sizeof *dids, cudaMemcpyHostToDevice));
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  for (r = 0; r < 6; r++) { /* the first is a warm-up */
    CK(cudaEventRecord(a, 0));
    if (distort_forward_cuda(dout, dx, dids, &c, N, 1, 3072, 0, &err) < 0) {
      fprintf(stderr, "distort_forward_cuda: %s\n", err.msg);
      exit(1);
    }
    CK(cudaEventRecord(b, 0));
    CK(cudaEventSynchronize(b));
    CK(cudaEventElapsedTime(&ms, a, b));
    if (r > 0 && ms < best)
      best = ms;
  }
  printf("throughput: %d images of 32x32x3 in %.3f ms: %.0f images/s, %.1f GB/s moved "
         "(u8 in, f32 out)\n", N, (double)best, N / (best * 1e-3), (double)nin * 5 / (best * 1e-3) / 1e9);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaFree(dx);
  cudaFree(dids);
  cudaFree(dout);
  free(x);
  free(ids);
}

int main(void)
{
  struct cudaDeviceProp p;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    printf("skipped: no CUDA device (%s)\n",
           e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount is 0");
    return 0;
  }
  CK(cudaGetDeviceProperties(&p, 0));
  printf("device: %s (sm_%d%d); CPU kernel: %s\n", p.name, p.major, p.minor, distort_isa());
  run_case(37, 2, 3072, 500, 0);
  run_case(37, 2, 3072, 500, 1);
  run_case(5, 3, 105, 250, 0);
  run_case(3, 1, 2, 999, 0);
  run_case(1000, 1, 3072, 0, 0);
  bench(100000);
  if (failures) {
    printf("FAIL: %d case%s beyond %.0e\n", failures, failures == 1 ? "" : "s", TOL);
    return 1;
  }
  printf("ok: CUDA matches the CPU within %.0e\n", TOL);
  return 0;
}
