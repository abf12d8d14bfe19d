/* rope.c - rotary position embeddings, Llama style with half-split pairs
 * (see nn.h). The rotation of pair (i, i + HS/2) by angle p f_i; the
 * backward applies the inverse rotation (angle -p f_i) to dout. cos and sin
 * are taken in double per (position, i) and rounded to float, so forward
 * and backward use the same float factors.
 *
 * Cost: the factors depend on the position and i only, so each call takes
 * them once per distinct position, not per (b, t): with pos == NULL (the
 * positions 0..T-1 of every row) a table of T x HS/2 cos/sin pairs, with
 * explicit positions once per row (B T of them). Either way the values are
 * the same doubles rounded the same way, so the bits do not depend on the
 * path.
 *
 * In place (out == inp, the forward and rope_backward_inplace) is safe:
 * each pair is read before it is written.
 */
#include "nn.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "err.h"
#include "vmath.h"

/* cs[i] = cos(p f_i), cs[half + i] = sin(p f_i), i < half */
static void rope_factors(float *cs, const double *freq, int half, int p)
{
  int i;
  for (i = 0; i < half; i++) {
    double ang = (double)p * freq[i];
    cs[i] = (float)cos(ang);
    cs[half + i] = (float)sin(ang);
  }
}

static inline void rope_row(float *y, const float *x, const float *cs, int NH, int HS, float sign,
                     int accumulate)
{
  int half = HS / 2, h, i;
  for (h = 0; h < NH; h++) {
    const float *x0 = x + (size_t)(h * HS), *x1 = x0 + half;
    float *y0 = y + (size_t)(h * HS), *y1 = y0 + half;
    if (accumulate)
      for (i = 0; i < half; i++) {
        float c = cs[i], s = sign * cs[half + i];
        float a = x0[i], b = x1[i];
        y0[i] += a * c - b * s;
        y1[i] += b * c + a * s;
      }
    else
      for (i = 0; i < half; i++) {
        float c = cs[i], s = sign * cs[half + i];
        float a = x0[i], b = x1[i];
        y0[i] = a * c - b * s;
        y1[i] = b * c + a * s;
      }
  }
}

static VM_CLONES void rope_apply(float *out, const float *inp, const int *pos, int B, int T, int NH,
                       int HS, int stride, float sign, int accumulate)
{
  int half = HS / 2, b, t, i;
  double *freq;
  float *cs;
  ASSERT(HS % 2 == 0 && stride >= NH * HS && B >= 0 && T >= 0);
  if (half == 0 || B == 0 || T == 0)
    return;
  freq = xmalloc((size_t)half * sizeof *freq);
  for (i = 0; i < half; i++)
    freq[i] = pow(ROPE_THETA, -2.0 * (double)i / (double)HS);
  /* pos == NULL: one row of factors per t, shared by the B rows */
  cs = xmalloc((size_t)(pos ? 1 : T) * (size_t)HS * sizeof *cs);
  if (!pos)
    for (t = 0; t < T; t++)
      rope_factors(cs + (size_t)t * (size_t)HS, freq, half, t);
  for (b = 0; b < B; b++)
    for (t = 0; t < T; t++) {
      size_t tok = (size_t)b * (size_t)T + (size_t)t;
      const float *f = cs + (pos ? 0 : (size_t)t * (size_t)HS);
      if (pos)
        rope_factors(cs, freq, half, pos[tok]);
      rope_row(out + tok * (size_t)stride, inp + tok * (size_t)stride, f, NH, HS, sign,
               accumulate);
    }
  free(cs);
  free(freq);
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

void rope_backward_inplace(float *d, const int *pos, int B, int T, int NH, int HS, int stride)
{
  rope_apply(d, d, pos, B, T, NH, HS, stride, -1.0f, 0);
}
