/* adamw.c - the AdamW step (see nn.h), llm.c's loop: bias corrections in
 * float from powf, weight decay decoupled and applied with the learning
 * rate to the parameter before the step. */
#include "nn.h"

#include <math.h>

#include "err.h"

void adamw_update(float *params, float *m, float *v, const float *grads, long N,
                  float lr, float beta1, float beta2, float eps, float weight_decay, int t)
{
  float c1, c2;
  long i;
  ASSERT(t >= 1);
  c1 = 1.0f - powf(beta1, (float)t);
  c2 = 1.0f - powf(beta2, (float)t);
  for (i = 0; i < N; i++) {
    float g = grads[i], p = params[i];
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    float mhat = mi / c1, vhat = vi / c2;
    m[i] = mi;
    v[i] = vi;
    params[i] = p - lr * (mhat / (sqrtf(vhat) + eps) + weight_decay * p);
  }
}
