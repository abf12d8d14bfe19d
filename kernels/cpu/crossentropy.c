/* crossentropy.c - fused softmax + cross-entropy over the vocabulary with
 * per-token selection (see nn.h). The loss is logsumexp - logit[target],
 * which stays finite where the target's probability underflows in float;
 * the naive reference takes -logf(prob) after a separate softmax. The fused
 * one takes exp from vmath.h and its max and sum in fixed-order lanes, so
 * that its loops vectorise. */
#include "nn.h"

#include <math.h>
#include <stddef.h>

#include "err.h"
#include "vmath.h"

VM_CLONES void crossentropy_forward(float *losses, float *probs, const float *logits,
                          const int *targets, const float *weights, int B, int T, int V)
{
  int bt, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *z = logits + (size_t)bt * (size_t)V;
    float *p = probs + (size_t)bt * (size_t)V;
    float maxv, sum;
    int tg;
    if (weights && weights[bt] == 0.0f) {
      losses[bt] = 0.0f;
      continue;
    }
    tg = targets[bt];
    ASSERT(tg >= 0 && tg < V);
    maxv = vm_max(z, V);
    for (i = 0; i < V; i++)
      p[i] = vexpf(z[i] - maxv);
    sum = vm_sum(p, V);
    for (i = 0; i < V; i++)
      p[i] = p[i] / sum;
    losses[bt] = logf(sum) - (z[tg] - maxv);
  }
}

VM_CLONES void crossentropy_backward(float *dlogits, const float *dlosses, const float *probs,
                           const int *targets, int B, int T, int V)
{
  int bt, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *p = probs + (size_t)bt * (size_t)V;
    float *dz = dlogits + (size_t)bt * (size_t)V;
    float d = dlosses[bt];
    int tg;
    if (d == 0.0f)
      continue;
    tg = targets[bt];
    ASSERT(tg >= 0 && tg < V);
    for (i = 0; i < V; i++)
      dz[i] += (p[i] - (i == tg ? 1.0f : 0.0f)) * d;
  }
}

void crossentropy_forward_naive(float *losses, float *probs, const float *logits,
                                const int *targets, const float *weights,
                                int B, int T, int V)
{
  int bt, i;
  for (bt = 0; bt < B * T; bt++) {
    const float *z = logits + (size_t)bt * (size_t)V;
    float *p = probs + (size_t)bt * (size_t)V;
    float maxv = -INFINITY, sum = 0.0f;
    if (weights && weights[bt] == 0.0f) {
      losses[bt] = 0.0f;
      continue;
    }
    for (i = 0; i < V; i++)
      maxv = fmaxf(maxv, z[i]);
    for (i = 0; i < V; i++)
      sum += expf(z[i] - maxv);
    for (i = 0; i < V; i++)
      p[i] = expf(z[i] - maxv) / sum;
    losses[bt] = -logf(p[targets[bt]]);
  }
}
