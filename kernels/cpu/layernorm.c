/* layernorm.c - layer normalisation over channels (see nn.h), llm.c's
 * loops: two-pass mean and biased variance in float, saving mean and rstd.
 * The forward's sums run in the fixed lanes of vmath.h, so that its loops
 * vectorise. */
#include "nn.h"

#include <math.h>
#include <stddef.h>

#include "vmath.h"

VM_CLONES void layernorm_forward(float *out, float *mean, float *rstd,
                       const float *inp, const float *w, const float *b,
                       int B, int T, int C)
{
  int bt, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *x = inp + (size_t)bt * (size_t)C;
    float *y = out + (size_t)bt * (size_t)C;
    float lane[VM_LANES] = {0}, m, v, s;
    int j;
    m = vm_sum(x, C) / (float)C;
    for (i = 0; i + VM_LANES <= C; i += VM_LANES)
      for (j = 0; j < VM_LANES; j++)
        lane[j] += (x[i + j] - m) * (x[i + j] - m);
    for (j = 0; i < C; i++, j++)
      lane[j] += (x[i] - m) * (x[i] - m);
    for (j = 1; j < VM_LANES; j++)
      lane[0] += lane[j];
    v = lane[0] / (float)C;
    s = 1.0f / sqrtf(v + LAYERNORM_EPS);
    for (i = 0; i < C; i++)
      y[i] = (s * (x[i] - m)) * w[i] + b[i];
    mean[bt] = m;
    rstd[bt] = s;
  }
}

void layernorm_backward(float *dinp, float *dw, float *db,
                        const float *dout, const float *inp, const float *w,
                        const float *mean, const float *rstd, int B, int T, int C)
{
  int bt, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *dy = dout + (size_t)bt * (size_t)C;
    const float *x = inp + (size_t)bt * (size_t)C;
    float *dx = dinp + (size_t)bt * (size_t)C;
    float m = mean[bt], s = rstd[bt];
    /* Two reductions: mean(dnorm) and mean(dnorm * norm), norm = (x - m) s. */
    float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
    for (i = 0; i < C; i++) {
      float norm = (x[i] - m) * s;
      float dnorm = w[i] * dy[i];
      dnorm_mean += dnorm;
      dnorm_norm_mean += dnorm * norm;
    }
    dnorm_mean = dnorm_mean / (float)C;
    dnorm_norm_mean = dnorm_norm_mean / (float)C;
    for (i = 0; i < C; i++) {
      float norm = (x[i] - m) * s;
      float dnorm = w[i] * dy[i];
      if (db)
        db[i] += dy[i];
      if (dw)
        dw[i] += norm * dy[i];
      dx[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
    }
  }
}
