/* adamw.c - the AdamW step (see nn.h), llm.c's loop: bias corrections in
 * float from powf, weight decay decoupled and applied with the learning
 * rate to the parameter before the step.
 *
 * On x86-64 the loop runs four parameters at a time through SSE
 * intrinsics: sqrtf is a libm call (it may set errno) that stops the
 * compiler from vectorising, while _mm_sqrt_ps is the same correctly
 * rounded square root. Every lane does the scalar loop's operations in the
 * scalar loop's order, so the bits are those of the scalar loop, which
 * takes the remainder (and everything elsewhere).
 */
#include "nn.h"

#include <math.h>

#include "err.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void adamw_update(float *params, float *m, float *v, const float *grads, long N,
                  float lr, float beta1, float beta2, float eps, float weight_decay, int t)
{
  float c1, c2;
  long i = 0;
  ASSERT(t >= 1);
  c1 = 1.0f - powf(beta1, (float)t);
  c2 = 1.0f - powf(beta2, (float)t);
#if defined(__SSE2__)
  {
    const __m128 b1 = _mm_set1_ps(beta1), nb1 = _mm_set1_ps(1.0f - beta1);
    const __m128 b2 = _mm_set1_ps(beta2), nb2 = _mm_set1_ps(1.0f - beta2);
    const __m128 vc1 = _mm_set1_ps(c1), vc2 = _mm_set1_ps(c2), veps = _mm_set1_ps(eps);
    const __m128 vlr = _mm_set1_ps(lr), vwd = _mm_set1_ps(weight_decay);
    for (; i + 4 <= N; i += 4) {
      __m128 g = _mm_loadu_ps(grads + i), p = _mm_loadu_ps(params + i);
      __m128 mi = _mm_add_ps(_mm_mul_ps(b1, _mm_loadu_ps(m + i)), _mm_mul_ps(nb1, g));
      __m128 vi = _mm_add_ps(_mm_mul_ps(b2, _mm_loadu_ps(v + i)),
                             _mm_mul_ps(_mm_mul_ps(nb2, g), g));
      __m128 mhat = _mm_div_ps(mi, vc1), vhat = _mm_div_ps(vi, vc2);
      __m128 step = _mm_add_ps(_mm_div_ps(mhat, _mm_add_ps(_mm_sqrt_ps(vhat), veps)),
                               _mm_mul_ps(vwd, p));
      _mm_storeu_ps(m + i, mi);
      _mm_storeu_ps(v + i, vi);
      _mm_storeu_ps(params + i, _mm_sub_ps(p, _mm_mul_ps(vlr, step)));
    }
  }
#endif
  for (; i < N; i++) {
    float g = grads[i], p = params[i];
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    float mhat = mi / c1, vhat = vi / c2;
    m[i] = mi;
    v[i] = vi;
    params[i] = p - lr * (mhat / (sqrtf(vhat) + eps) + weight_decay * p);
  }
}
