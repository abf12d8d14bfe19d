/* matmul.c - the fully connected layer (see nn.h): out = inp @ W^T + bias
 * through CBLAS sgemm, and the naive loops as reference.
 *
 * Reproducibility: for fixed shapes and a fixed OpenBLAS thread count the
 * results are the same bits run after run. OpenBLAS splits sgemm over its
 * threads by blocks of the output, and its kernels are picked by CPU type at
 * run time, so a different thread count or CPU may change the last bits
 * (the summation order of a block of the reduction). The tests set
 * openblas_set_num_threads(1) and compare 1 against 2 threads.
 *
 * The naive path is the fallback for empty shapes (sgemm rejects a leading
 * dimension of 0): there it writes the bias or nothing.
 */
#include "nn.h"

#include <cblas.h>
#include <stddef.h>

#include "err.h"

void matmul_forward_naive(float *out, const float *inp, const float *weight,
                          const float *bias, int B, int T, int C, int OC)
{
  int bt, o, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *x = inp + (size_t)bt * (size_t)C;
    float *y = out + (size_t)bt * (size_t)OC;
    for (o = 0; o < OC; o++) {
      const float *wrow = weight + (size_t)o * (size_t)C;
      float val = bias ? bias[o] : 0.0f;
      for (i = 0; i < C; i++)
        val += x[i] * wrow[i];
      y[o] = val;
    }
  }
}

void matmul_forward(float *out, const float *inp, const float *weight,
                    const float *bias, int B, int T, int C, int OC)
{
  int M = B * T, bt, o;
  ASSERT(B >= 0 && T >= 0 && C >= 0 && OC >= 0);
  if (M == 0 || OC == 0 || C == 0) {
    matmul_forward_naive(out, inp, weight, bias, B, T, C, OC);
    return;
  }
  if (bias)
    for (bt = 0; bt < M; bt++)
      for (o = 0; o < OC; o++)
        out[(size_t)bt * (size_t)OC + (size_t)o] = bias[o];
  /* (M, OC) = (M, C) @ (OC, C)^T, + bias already in out when beta = 1. */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, OC, C, 1.0f, inp, C, weight, C,
              bias ? 1.0f : 0.0f, out, OC);
}

void matmul_backward_naive(float *dinp, float *dweight, float *dbias,
                           const float *dout, const float *inp, const float *weight,
                           int B, int T, int C, int OC)
{
  int bt, o, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *dy = dout + (size_t)bt * (size_t)OC;
    const float *x = inp + (size_t)bt * (size_t)C;
    float *dx = dinp ? dinp + (size_t)bt * (size_t)C : NULL;
    for (o = 0; o < OC; o++) {
      const float *wrow = weight + (size_t)o * (size_t)C;
      float *dwrow = dweight ? dweight + (size_t)o * (size_t)C : NULL;
      float d = dy[o];
      for (i = 0; i < C; i++) {
        if (dx)
          dx[i] += wrow[i] * d;
        if (dwrow)
          dwrow[i] += x[i] * d;
      }
      if (dbias)
        dbias[o] += d;
    }
  }
}

void matmul_backward(float *dinp, float *dweight, float *dbias,
                     const float *dout, const float *inp, const float *weight,
                     int B, int T, int C, int OC)
{
  int M = B * T, bt, o;
  ASSERT(B >= 0 && T >= 0 && C >= 0 && OC >= 0);
  if (M == 0 || OC == 0 || C == 0) {
    matmul_backward_naive(dinp, dweight, dbias, dout, inp, weight, B, T, C, OC);
    return;
  }
  /* dinp (M, C) += dout (M, OC) @ W (OC, C) */
  if (dinp)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, C, OC, 1.0f, dout, OC, weight, C,
                1.0f, dinp, C);
  /* dW (OC, C) += dout^T (OC, M) @ inp (M, C) */
  if (dweight)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, M, 1.0f, dout, OC, inp, C,
                1.0f, dweight, C);
  if (dbias)
    for (bt = 0; bt < M; bt++)
      for (o = 0; o < OC; o++)
        dbias[o] += dout[(size_t)bt * (size_t)OC + (size_t)o];
}
