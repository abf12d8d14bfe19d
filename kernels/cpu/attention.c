/* attention.c - multi-head attention on a fused qkv buffer (see nn.h),
 * llm.c's loops with a causal flag. The forward fuses scores, max, exp,
 * normalisation and the weighted sum of values per (b, t, h); the backward
 * takes the softmax gradient in O(T) per row:
 *   dpreatt[t2] = att[t2] (datt[t2] - sum_t3 att[t3] datt[t3])
 * instead of llm.c's O(T^2) Jacobian loop.
 */
#include "nn.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "err.h"

void attention_forward(float *out, float *preatt, float *att, const float *inp,
                       int B, int T, int C, int NH, int causal)
{
  int C3 = C * 3, hs, b, t, h, t2, i;
  float scale;
  ASSERT(NH > 0 && C % NH == 0);
  hs = C / NH;
  scale = 1.0f / sqrtf((float)hs);
  for (b = 0; b < B; b++)
    for (t = 0; t < T; t++)
      for (h = 0; h < NH; h++) {
        const float *q = inp + ((size_t)b * (size_t)T + (size_t)t) * (size_t)C3 + (size_t)(h * hs);
        size_t row = (((size_t)b * (size_t)NH + (size_t)h) * (size_t)T + (size_t)t) * (size_t)T;
        float *pre = preatt + row, *a = att + row;
        float *o = out + ((size_t)b * (size_t)T + (size_t)t) * (size_t)C + (size_t)(h * hs);
        int last = causal ? t : T - 1;
        float maxv = -INFINITY, sum = 0.0f, inv;
        /* pass 1: q.k, scaled, and the row maximum */
        for (t2 = 0; t2 <= last; t2++) {
          const float *k = inp + ((size_t)b * (size_t)T + (size_t)t2) * (size_t)C3 +
                           (size_t)(h * hs + C);
          float val = 0.0f;
          for (i = 0; i < hs; i++)
            val += q[i] * k[i];
          val *= scale;
          if (val > maxv)
            maxv = val;
          pre[t2] = val;
        }
        for (t2 = last + 1; t2 < T; t2++)
          pre[t2] = -INFINITY;
        /* pass 2: exp and sum; pass 3: normalise (masked: 0) */
        for (t2 = 0; t2 <= last; t2++) {
          float e = expf(pre[t2] - maxv);
          sum += e;
          a[t2] = e;
        }
        inv = sum == 0.0f ? 0.0f : 1.0f / sum;
        for (t2 = 0; t2 < T; t2++)
          a[t2] = t2 <= last ? a[t2] * inv : 0.0f;
        /* pass 4: out = att @ v */
        for (i = 0; i < hs; i++)
          o[i] = 0.0f;
        for (t2 = 0; t2 <= last; t2++) {
          const float *v = inp + ((size_t)b * (size_t)T + (size_t)t2) * (size_t)C3 +
                           (size_t)(h * hs + 2 * C);
          float w = a[t2];
          for (i = 0; i < hs; i++)
            o[i] += w * v[i];
        }
      }
}

void attention_backward(float *dinp, float *dpreatt, float *datt, const float *dout,
                        const float *inp, const float *att,
                        int B, int T, int C, int NH, int causal)
{
  int C3 = C * 3, hs, b, t, h, t2, i;
  float scale;
  ASSERT(NH > 0 && C % NH == 0);
  hs = C / NH;
  scale = 1.0f / sqrtf((float)hs);
  for (b = 0; b < B; b++)
    for (t = 0; t < T; t++)
      for (h = 0; h < NH; h++) {
        size_t tok = (size_t)b * (size_t)T + (size_t)t;
        const float *q = inp + tok * (size_t)C3 + (size_t)(h * hs);
        float *dq = dinp + tok * (size_t)C3 + (size_t)(h * hs);
        size_t row = (((size_t)b * (size_t)NH + (size_t)h) * (size_t)T + (size_t)t) * (size_t)T;
        const float *a = att + row;
        float *da = datt + row, *dpre = dpreatt + row;
        const float *dy = dout + tok * (size_t)C + (size_t)(h * hs);
        int last = causal ? t : T - 1;
        float dot = 0.0f;
        /* backward through out = att @ v */
        for (t2 = 0; t2 <= last; t2++) {
          size_t tok2 = (size_t)b * (size_t)T + (size_t)t2;
          const float *v = inp + tok2 * (size_t)C3 + (size_t)(h * hs + 2 * C);
          float *dv = dinp + tok2 * (size_t)C3 + (size_t)(h * hs + 2 * C);
          float val = 0.0f;
          for (i = 0; i < hs; i++) {
            val += v[i] * dy[i];
            dv[i] += a[t2] * dy[i];
          }
          da[t2] = val;
          dot += a[t2] * val;
        }
        /* backward through the softmax */
        for (t2 = 0; t2 <= last; t2++)
          dpre[t2] = a[t2] * (da[t2] - dot);
        for (t2 = last + 1; t2 < T; t2++)
          da[t2] = dpre[t2] = 0.0f;
        /* backward through preatt = q.k * scale */
        for (t2 = 0; t2 <= last; t2++) {
          size_t tok2 = (size_t)b * (size_t)T + (size_t)t2;
          const float *k = inp + tok2 * (size_t)C3 + (size_t)(h * hs + C);
          float *dk = dinp + tok2 * (size_t)C3 + (size_t)(h * hs + C);
          float d = dpre[t2] * scale;
          for (i = 0; i < hs; i++) {
            dq[i] += k[i] * d;
            dk[i] += q[i] * d;
          }
        }
      }
}

void attention_forward_naive(float *out, const float *inp, int B, int T, int C, int NH,
                             int causal)
{
  int C3 = C * 3, hs, b, h, t, t2, i;
  float scale, *S;
  ASSERT(NH > 0 && C % NH == 0);
  hs = C / NH;
  scale = 1.0f / sqrtf((float)hs);
  S = xmalloc((size_t)T * (size_t)T * sizeof *S + 1);
  for (b = 0; b < B; b++)
    for (h = 0; h < NH; h++) {
      const float *base = inp + (size_t)b * (size_t)T * (size_t)C3 + (size_t)(h * hs);
#define Q(tt, ii) base[(size_t)(tt) * (size_t)C3 + (size_t)(ii)]
#define K(tt, ii) base[(size_t)(tt) * (size_t)C3 + (size_t)C + (size_t)(ii)]
#define VV(tt, ii) base[(size_t)(tt) * (size_t)C3 + 2 * (size_t)C + (size_t)(ii)]
      /* S = Q K^T * scale, masked */
      for (t = 0; t < T; t++)
        for (t2 = 0; t2 < T; t2++) {
          float val = 0.0f;
          for (i = 0; i < hs; i++)
            val += Q(t, i) * K(t2, i);
          S[(size_t)t * (size_t)T + (size_t)t2] = causal && t2 > t ? -INFINITY : val * scale;
        }
      /* row softmax */
      for (t = 0; t < T; t++) {
        float *s = S + (size_t)t * (size_t)T, maxv = -INFINITY, sum = 0.0f;
        for (t2 = 0; t2 < T; t2++)
          maxv = fmaxf(maxv, s[t2]);
        for (t2 = 0; t2 < T; t2++) {
          s[t2] = expf(s[t2] - maxv);
          sum += s[t2];
        }
        for (t2 = 0; t2 < T; t2++)
          s[t2] /= sum;
      }
      /* out = S V */
      for (t = 0; t < T; t++)
        for (i = 0; i < hs; i++) {
          float val = 0.0f;
          for (t2 = 0; t2 < T; t2++)
            val += S[(size_t)t * (size_t)T + (size_t)t2] * VV(t2, i);
          out[((size_t)b * (size_t)T + (size_t)t) * (size_t)C + (size_t)(h * hs + i)] = val;
        }
#undef Q
#undef K
#undef VV
    }
  free(S);
}
