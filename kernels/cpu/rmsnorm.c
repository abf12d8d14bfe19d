/* rmsnorm.c - root-mean-square normalisation over channels (see nn.h),
 * Llama's norm: no mean, no bias; saves rstd. */
#include "nn.h"

#include <math.h>
#include <stddef.h>

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w,
                     int B, int T, int C)
{
  int bt, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *x = inp + (size_t)bt * (size_t)C;
    float *y = out + (size_t)bt * (size_t)C;
    float ss = 0.0f, s;
    for (i = 0; i < C; i++)
      ss += x[i] * x[i];
    s = 1.0f / sqrtf(ss / (float)C + RMSNORM_EPS);
    for (i = 0; i < C; i++)
      y[i] = (x[i] * s) * w[i];
    rstd[bt] = s;
  }
}

void rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
                      const float *w, const float *rstd, int B, int T, int C)
{
  int bt, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *dy = dout + (size_t)bt * (size_t)C;
    const float *x = inp + (size_t)bt * (size_t)C;
    float *dx = dinp + (size_t)bt * (size_t)C;
    float s = rstd[bt];
    /* y = x s w: dx = s (g - norm mean(g * norm)), g = w dy, norm = x s. */
    float gn_mean = 0.0f;
    for (i = 0; i < C; i++)
      gn_mean += (w[i] * dy[i]) * (x[i] * s);
    gn_mean = gn_mean / (float)C;
    for (i = 0; i < C; i++) {
      float norm = x[i] * s;
      if (dw)
        dw[i] += norm * dy[i];
      dx[i] += (w[i] * dy[i] - norm * gn_mean) * s;
    }
  }
}
