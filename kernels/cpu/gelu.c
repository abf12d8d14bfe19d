/* gelu.c - GELU, tanh approximation (see nn.h), as in llm.c and GPT-2/CLIP:
 *   gelu(x)  = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
 *   gelu'(x) = 0.5 (1 + tanh(u)) + 0.5 x sech^2(u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
 * tanh comes from vmath.h, so the loops vectorise.
 */
#include "nn.h"

#include <math.h>

#include "vmath.h"

#define GELU_SCALE 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_CUBE 0.044715f

VM_CLONES void gelu_forward(float *out, const float *inp, int N)
{
  int i;
  for (i = 0; i < N; i++) {
    float x = inp[i];
    float cube = GELU_CUBE * x * x * x;
    out[i] = 0.5f * x * (1.0f + vtanhf(GELU_SCALE * (x + cube)));
  }
}

VM_CLONES void gelu_backward(float *dinp, const float *inp, const float *dout, int N)
{
  int i;
  for (i = 0; i < N; i++) {
    float x = inp[i];
    float cube = GELU_CUBE * x * x * x;
    float u = GELU_SCALE * (x + cube);
    float th = vtanhf(u);
    float sech2 = 1.0f - th * th;
    float local = 0.5f * (1.0f + th) +
                  x * 0.5f * sech2 * GELU_SCALE * (1.0f + 3.0f * GELU_CUBE * x * x);
    dinp[i] += local * dout[i];
  }
}
