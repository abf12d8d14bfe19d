/* rope.c - rotary position embeddings, Llama style with half-split pairs
 * (see nn.h). The rotation of pair (i, i + HS/2) by angle p f_i; the
 * backward applies the inverse rotation (angle -p f_i) to dout. cos and sin
 * are taken in double per (position, i) and rounded to float, so forward
 * and backward use the same float factors. */
#include "nn.h"

#include <math.h>
#include <stddef.h>

#include "err.h"

static void rope_apply(float *out, const float *inp, const int *pos, int B, int T, int NH,
                       int HS, int stride, float sign, int accumulate)
{
  int half = HS / 2, b, t, h, i;
  ASSERT(HS % 2 == 0 && stride >= NH * HS);
  for (b = 0; b < B; b++)
    for (t = 0; t < T; t++) {
      size_t tok = (size_t)b * (size_t)T + (size_t)t;
      int p = pos ? pos[tok] : t;
      const float *x = inp + tok * (size_t)stride;
      float *y = out + tok * (size_t)stride;
      for (i = 0; i < half; i++) {
        double f = pow(ROPE_THETA, -2.0 * (double)i / (double)HS);
        float c = (float)cos((double)p * f), s = sign * (float)sin((double)p * f);
        for (h = 0; h < NH; h++) {
          size_t j = (size_t)(h * HS + i), k = j + (size_t)half;
          float x0 = x[j], x1 = x[k];
          float y0 = x0 * c - x1 * s, y1 = x1 * c + x0 * s;
          if (accumulate) {
            y[j] += y0;
            y[k] += y1;
          } else {
            y[j] = y0;
            y[k] = y1;
          }
        }
      }
    }
}

void rope_forward(float *out, const float *inp, const int *pos, int B, int T, int NH, int HS,
                  int stride)
{
  rope_apply(out, inp, pos, B, T, NH, HS, stride, 1.0f, 0);
}

void rope_backward(float *dinp, const float *dout, const int *pos, int B, int T, int NH,
                   int HS, int stride)
{
  ASSERT(dinp != dout);
  rope_apply(dinp, dout, pos, B, T, NH, HS, stride, -1.0f, 1);
}
