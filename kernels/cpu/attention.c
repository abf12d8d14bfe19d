/* attention.c - multi-head attention on a fused qkv buffer (see nn.h).
 *
 * The fast path works per (b, h) on whole matrices through CBLAS, the way
 * PyTorch's math path does: Q, K and V are strided views into the qkv
 * buffer (leading dimension 3C, no copies), and
 *   forward:  S = scale Q K^T (sgemm), mask, row softmax, Y = A V (sgemm)
 *   backward: dA = dY V^T, dV += A^T dY, dS = A (dA - rowsum(A dA)),
 *             dQ += scale dS K, dK += scale dS^T Q (four sgemms)
 * The softmax gradient is O(T) per row:
 *   dpreatt[t2] = att[t2] (datt[t2] - sum_t3 att[t3] datt[t3])
 * Causal attention goes in blocks of ATT_BLOCK query rows: block [r0, r1)
 * needs the keys [0, r1) only, so the products skip most of the masked
 * upper triangle (and the backward's products over keys, dV and dK, take
 * key blocks [c0, c1) against the queries [c0, T)).
 *
 * Reproducibility: the sgemm calls and the loops run in a fixed order for
 * given shapes, so at a fixed OpenBLAS thread count the bits repeat (as for
 * matmul.c). The row softmax takes exp from vmath.h and its sums in
 * fixed-order lanes (vm_sum, vm_dot), so that its loops vectorise.
 *
 * The naive references keep the plain llm.c loops: the forward as three
 * explicit passes, the backward the scalar per-row version of the above.
 */
#include "nn.h"

#include <cblas.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "err.h"
#include "vmath.h"

#define ATT_BLOCK 32
/* Softmax of rows [r0, r1) of pre (T wide) into att; row t sees the keys
 * up to last = t (causal) or T - 1, the others are masked (pre = -inf,
 * att = 0). pre holds the scaled scores of the keys it sees on entry. */
static VM_CLONES void softmax_rows(float *pre, float *att, int T, int r0, int r1, int causal)
{
  int t, t2;
  for (t = r0; t < r1; t++) {
    float *p = pre + (size_t)t * (size_t)T, *a = att + (size_t)t * (size_t)T;
    int last = causal ? t : T - 1;
    float maxv, sum, inv;
    for (t2 = last + 1; t2 < T; t2++) {
      p[t2] = -INFINITY;
      a[t2] = 0.0f;
    }
    maxv = vm_max(p, last + 1);
    for (t2 = 0; t2 <= last; t2++)
      a[t2] = vexpf(p[t2] - maxv);
    sum = vm_sum(a, last + 1);
    inv = sum == 0.0f ? 0.0f : 1.0f / sum;
    for (t2 = 0; t2 <= last; t2++)
      a[t2] *= inv;
  }
}

/* The softmax backward of rows [r0, r1): dpre = att (datt - sum att datt),
 * masked entries of datt and dpre set to 0. */
static VM_CLONES void softmax_backward_rows(float *dpre, float *datt, const float *att, int T,
                                            int r0, int r1, int causal)
{
  int t, t2;
  for (t = r0; t < r1; t++) {
    const float *a = att + (size_t)t * (size_t)T;
    float *da = datt + (size_t)t * (size_t)T, *dp = dpre + (size_t)t * (size_t)T;
    int last = causal ? t : T - 1;
    float dot = vm_dot(a, da, last + 1);
    for (t2 = 0; t2 <= last; t2++)
      dp[t2] = a[t2] * (da[t2] - dot);
    for (t2 = last + 1; t2 < T; t2++)
      da[t2] = dp[t2] = 0.0f;
  }
}

void attention_forward(float *out, float *preatt, float *att, const float *inp,
                       int B, int T, int C, int NH, int causal)
{
  int C3 = C * 3, hs, b, h, r0, r1;
  float scale;
  ASSERT(NH > 0 && C % NH == 0 && B >= 0 && T >= 0);
  hs = C / NH;
  scale = 1.0f / sqrtf((float)hs);
  if (T == 0 || hs == 0)
    return;
  for (b = 0; b < B; b++)
    for (h = 0; h < NH; h++) {
      const float *q = inp + (size_t)b * (size_t)T * (size_t)C3 + (size_t)(h * hs);
      const float *k = q + C, *v = q + 2 * C;
      size_t mat = ((size_t)b * (size_t)NH + (size_t)h) * (size_t)T * (size_t)T;
      float *pre = preatt + mat, *a = att + mat;
      float *o = out + (size_t)b * (size_t)T * (size_t)C + (size_t)(h * hs);
      for (r0 = 0; r0 < T; r0 = r1) {
        /* rows [r0, r1) see the keys [0, nk) */
        int nk;
        r1 = causal ? (r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T) : T;
        nk = causal ? r1 : T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, nk, hs, scale,
                    q + (size_t)r0 * (size_t)C3, C3, k, C3, 0.0f,
                    pre + (size_t)r0 * (size_t)T, T);
        softmax_rows(pre, a, T, r0, r1, causal);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, hs, nk, 1.0f,
                    a + (size_t)r0 * (size_t)T, T, v, C3, 0.0f, o + (size_t)r0 * (size_t)C, C);
      }
    }
}

void attention_backward(float *dinp, float *dpreatt, float *datt, const float *dout,
                        const float *inp, const float *att,
                        int B, int T, int C, int NH, int causal)
{
  int C3 = C * 3, hs, b, h, r0, r1;
  float scale;
  ASSERT(NH > 0 && C % NH == 0 && B >= 0 && T >= 0);
  hs = C / NH;
  scale = 1.0f / sqrtf((float)hs);
  if (T == 0 || hs == 0)
    return;
  for (b = 0; b < B; b++)
    for (h = 0; h < NH; h++) {
      size_t off3 = (size_t)b * (size_t)T * (size_t)C3 + (size_t)(h * hs);
      const float *q = inp + off3, *k = q + C, *v = q + 2 * C;
      float *dq = dinp + off3, *dk = dq + C, *dv = dq + 2 * C;
      const float *dy = dout + (size_t)b * (size_t)T * (size_t)C + (size_t)(h * hs);
      size_t mat = ((size_t)b * (size_t)NH + (size_t)h) * (size_t)T * (size_t)T;
      const float *a = att + mat;
      float *da = datt + mat, *dpre = dpreatt + mat;

      /* per query block: dA = dY V^T, the softmax backward, dQ += scale dS K */
      for (r0 = 0; r0 < T; r0 = r1) {
        int nk;
        r1 = causal ? (r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T) : T;
        nk = causal ? r1 : T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, nk, hs, 1.0f,
                    dy + (size_t)r0 * (size_t)C, C, v, C3, 0.0f, da + (size_t)r0 * (size_t)T, T);
        softmax_backward_rows(dpre, da, a, T, r0, r1, causal);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, hs, nk, scale,
                    dpre + (size_t)r0 * (size_t)T, T, k, C3, 1.0f,
                    dq + (size_t)r0 * (size_t)C3, C3);
      }
      /* per key block [c0, c1): the queries [c0, T) see it (causal), all
       * of them otherwise. dV += A^T dY, dK += scale dS^T Q. */
      for (r0 = 0; r0 < T; r0 = r1) {
        int q0;
        r1 = causal ? (r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T) : T;
        q0 = causal ? r0 : 0;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1 - r0, hs, T - q0, 1.0f,
                    a + (size_t)q0 * (size_t)T + (size_t)r0, T, dy + (size_t)q0 * (size_t)C, C,
                    1.0f, dv + (size_t)r0 * (size_t)C3, C3);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1 - r0, hs, T - q0, scale,
                    dpre + (size_t)q0 * (size_t)T + (size_t)r0, T,
                    q + (size_t)q0 * (size_t)C3, C3, 1.0f, dk + (size_t)r0 * (size_t)C3, C3);
      }
    }
}

void attention_backward_naive(float *dinp, float *dpreatt, float *datt, const float *dout,
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
