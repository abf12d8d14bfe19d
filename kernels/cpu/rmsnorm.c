/* rmsnorm.c - root-mean-square normalisation over channels (see nn.h),
 * Llama's norm: no mean, no bias; saves rstd. The sums over channels run in
 * the fixed lanes of vmath.h, so that the loops vectorise. */
#include "nn.h"

#include <math.h>
#include <stddef.h>

#include "vmath.h"

VM_CLONES void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w,
                     int B, int T, int C)
{
  int bt, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *x = inp + (size_t)bt * (size_t)C;
    float *y = out + (size_t)bt * (size_t)C;
    float ss = vm_dot(x, x, C), s;
    s = 1.0f / sqrtf(ss / (float)C + RMSNORM_EPS);
    for (i = 0; i < C; i++)
      y[i] = (x[i] * s) * w[i];
    rstd[bt] = s;
  }
}

VM_CLONES void rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
                      const float *w, const float *rstd, int B, int T, int C)
{
  int bt, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *dy = dout + (size_t)bt * (size_t)C;
    const float *x = inp + (size_t)bt * (size_t)C;
    float *dx = dinp + (size_t)bt * (size_t)C;
    float s = rstd[bt];
    /* y = x s w: dx = s (g - norm mean(g * norm)), g = w dy, norm = x s. */
    float lane[VM_LANES] = {0}, gn_mean;
    int j;
    for (i = 0; i + VM_LANES <= C; i += VM_LANES)
      for (j = 0; j < VM_LANES; j++)
        lane[j] += (w[i + j] * dy[i + j]) * (x[i + j] * s);
    for (j = 0; i < C; i++, j++)
      lane[j] += (w[i] * dy[i]) * (x[i] * s);
    for (j = 1; j < VM_LANES; j++)
      lane[0] += lane[j];
    gn_mean = lane[0] / (float)C;
    for (i = 0; i < C; i++) {
      float norm = x[i] * s;
      if (dw)
        dw[i] += norm * dy[i];
      dx[i] += (w[i] * dy[i] - norm * gn_mean) * s;
    }
  }
}
