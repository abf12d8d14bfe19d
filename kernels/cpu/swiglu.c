/* swiglu.c - Llama's gated activation (see nn.h): out = silu(a) * b with
 * [a | b] the two halves of each row of inp.
 *   d/da = b * sig(a) (1 + a (1 - sig(a))),   d/db = silu(a)
 * exp comes from vmath.h, so the loops vectorise.
 */
#include "nn.h"

#include <math.h>
#include <stddef.h>

#include "vmath.h"

static inline float sigmoidf(float x)
{
  return 1.0f / (1.0f + vexpf(-x));
}

VM_CLONES void swiglu_forward(float *out, const float *inp, int B, int T, int H)
{
  int bt, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *a = inp + (size_t)bt * 2 * (size_t)H, *b = a + H;
    float *y = out + (size_t)bt * (size_t)H;
    for (i = 0; i < H; i++)
      y[i] = (a[i] * sigmoidf(a[i])) * b[i];
  }
}

VM_CLONES void swiglu_backward(float *dinp, const float *dout, const float *inp, int B, int T, int H)
{
  int bt, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *a = inp + (size_t)bt * 2 * (size_t)H, *b = a + H;
    float *da = dinp + (size_t)bt * 2 * (size_t)H, *db = da + H;
    const float *dy = dout + (size_t)bt * (size_t)H;
    for (i = 0; i < H; i++) {
      float sg = sigmoidf(a[i]);
      float silu = a[i] * sg;
      da[i] += dy[i] * b[i] * (sg * (1.0f + a[i] * (1.0f - sg)));
      db[i] += dy[i] * silu;
    }
  }
}
