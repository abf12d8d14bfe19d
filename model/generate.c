/* generate.c - batched generation with a KV cache (generate.h). */
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llava.h"
#include "nn.h"
#include "philox.h"

struct tokprob {
  float p;
  int id;
};

/* Descending probability, ascending id on ties: a total order, so qsort's
 * result does not depend on its algorithm. */
static int cmp_tokprob(const void *x, const void *y)
{
  const struct tokprob *a = x, *b = y;
  if (a->p != b->p)
    return a->p > b->p ? -1 : 1;
  return (a->id > b->id) - (a->id < b->id);
}

static int argmax_banned(const float *z, int V, int ban)
{
  int i, best = -1;
  for (i = 0; i < V; i++)
    if (i != ban && (best < 0 || z[i] > z[best]))
      best = i;
  return best;
}

/* Temperature + top-p choice (generate.h); u in [0,1). */
static int pick_token(const float *z, int V, int ban, float temperature, float top_p, float u,
                      struct tokprob *work)
{
  int i, n = 0, keep;
  double zmax, sum = 0.0, cum, target;
  int best = argmax_banned(z, V, ban);
  if (temperature <= 0.0f)
    return best;
  zmax = (double)z[best];
  for (i = 0; i < V; i++) {
    if (i == ban)
      continue;
    work[n].p = (float)exp(((double)z[i] - zmax) / (double)temperature);
    work[n].id = i;
    sum += (double)work[n].p;
    n++;
  }
  qsort(work, (size_t)n, sizeof *work, cmp_tokprob);
  /* nucleus: the smallest prefix whose probability reaches top_p */
  keep = n;
  if (top_p < 1.0f) {
    cum = 0.0;
    for (i = 0; i < n; i++) {
      cum += (double)work[i].p / sum;
      if (cum >= (double)top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  sum = 0.0;
  for (i = 0; i < keep; i++)
    sum += (double)work[i].p;
  target = (double)u * sum;
  cum = 0.0;
  for (i = 0; i < keep; i++) {
    cum += (double)work[i].p;
    if (target < cum)
      return work[i].id;
  }
  return work[keep - 1].id; /* rounding: u * sum == sum */
}

/* Uniform in [0,1) from Philox, key = seed, counter = (b, step, 0, 0). */
static float philox_uniform(uint64_t seed, int b, int step)
{
  uint32_t ctr[4], key[2], w[4];
  ctr[0] = (uint32_t)b;
  ctr[1] = (uint32_t)step;
  ctr[2] = 0;
  ctr[3] = 0;
  key[0] = (uint32_t)seed;
  key[1] = (uint32_t)(seed >> 32);
  philox4x32_10(ctr, key, w);
  return (float)(w[0] >> 8) * 0x1p-24f;
}

static void add_rows(float *y, const float *x, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    y[i] += x[i];
}

struct kv_state {
  int B, Lmax, C, NH, HS, H, V;
  float *k, *v;          /* (Nl, B, Lmax, C) each */
  float *x, *ln, *rstd;  /* (B,C) (B,C) (B) */
  float *qkv;            /* (B,3C) */
  float *atty, *tmp;     /* (B,C) (B,C) */
  float *fch, *fchs;     /* (B,2H) (B,H) */
  float *logits;         /* (B,V) */
  float *att;            /* (Lmax) */
  int *pos;              /* (B) */
};

/* One decode step: tokens (B) at position `p` (the same for all rows, as the
 * prompts have equal lengths); writes the cache at p and s->logits. */
static void decode_step(struct llava *m, struct kv_state *s, const int *tokens, int p)
{
  const struct llava_params *w = &m->params;
  int B = s->B, C = s->C, NH = s->NH, HS = s->HS, H = s->H, V = s->V, Lmax = s->Lmax;
  int b, l, h, t, i;
  float scale = 1.0f / sqrtf((float)HS);
  for (b = 0; b < B; b++) {
    memcpy(s->x + (size_t)b * (size_t)C, w->wte + (size_t)tokens[b] * (size_t)C,
           (size_t)C * sizeof(float));
    s->pos[b] = p;
  }
  for (l = 0; l < m->cfg.layers; l++) {
    size_t lu = (size_t)l;
    float *kc = s->k + lu * (size_t)B * (size_t)Lmax * (size_t)C;
    float *vc = s->v + lu * (size_t)B * (size_t)Lmax * (size_t)C;
    rmsnorm_forward(s->ln, s->rstd, s->x, w->ln1w + lu * (size_t)C, B, 1, C);
    matmul_forward(s->qkv, s->ln, w->qkvw + lu * 3 * (size_t)C * (size_t)C, NULL, B, 1, C, 3 * C);
    rope_forward(s->qkv, s->qkv, s->pos, B, 1, NH, HS, 3 * C);
    rope_forward(s->qkv + C, s->qkv + C, s->pos, B, 1, NH, HS, 3 * C);
    for (b = 0; b < B; b++) {
      const float *q = s->qkv + (size_t)b * 3 * (size_t)C;
      size_t row = ((size_t)b * (size_t)Lmax + (size_t)p) * (size_t)C;
      float *kb = kc + (size_t)b * (size_t)Lmax * (size_t)C;
      float *vb = vc + (size_t)b * (size_t)Lmax * (size_t)C;
      memcpy(kc + row, q + C, (size_t)C * sizeof(float));
      memcpy(vc + row, q + 2 * C, (size_t)C * sizeof(float));
      for (h = 0; h < NH; h++) {
        const float *qh = q + h * HS;
        float *o = s->atty + (size_t)b * (size_t)C + (size_t)(h * HS);
        float mx = -INFINITY, sum = 0.0f;
        for (t = 0; t <= p; t++) {
          const float *kt = kb + (size_t)t * (size_t)C + (size_t)(h * HS);
          float d = 0.0f;
          for (i = 0; i < HS; i++)
            d += qh[i] * kt[i];
          d *= scale;
          s->att[t] = d;
          if (d > mx)
            mx = d;
        }
        for (t = 0; t <= p; t++) {
          s->att[t] = expf(s->att[t] - mx);
          sum += s->att[t];
        }
        for (i = 0; i < HS; i++)
          o[i] = 0.0f;
        for (t = 0; t <= p; t++) {
          const float *vt = vb + (size_t)t * (size_t)C + (size_t)(h * HS);
          float a = s->att[t] / sum;
          for (i = 0; i < HS; i++)
            o[i] += a * vt[i];
        }
      }
    }
    matmul_forward(s->tmp, s->atty, w->attprojw + lu * (size_t)C * (size_t)C, NULL, B, 1, C, C);
    add_rows(s->x, s->tmp, (size_t)B * (size_t)C);
    rmsnorm_forward(s->ln, s->rstd, s->x, w->ln2w + lu * (size_t)C, B, 1, C);
    matmul_forward(s->fch, s->ln, w->fcw + lu * 2 * (size_t)H * (size_t)C, NULL, B, 1, C, 2 * H);
    swiglu_forward(s->fchs, s->fch, B, 1, H);
    matmul_forward(s->tmp, s->fchs, w->fcprojw + lu * (size_t)C * (size_t)H, NULL, B, 1, H, C);
    add_rows(s->x, s->tmp, (size_t)B * (size_t)C);
  }
  rmsnorm_forward(s->ln, s->rstd, s->x, w->lnfw, B, 1, C);
  matmul_forward(s->logits, s->ln, w->lm_head, NULL, B, 1, C, V);
}

void llava_generate(struct llava *m, const float *images, const int *prompt, int B, int Tp,
                    int max_new_tokens, int eos_id, float temperature, float top_p,
                    uint64_t seed, int *out, int *out_len)
{
  llava_generate_bias(m, images, prompt, B, Tp, max_new_tokens, eos_id, temperature, top_p,
                      seed, 0.0f, out, out_len);
}

void llava_generate_bias(struct llava *m, const float *images, const int *prompt, int B,
                         int Tp, int max_new_tokens, int eos_id, float temperature, float top_p,
                         uint64_t seed, float eos_bias, int *out, int *out_len)
{
  const struct llava_config *c = &m->cfg;
  int P = m->num_patches, C = c->width, V = c->vocab, Nl = c->layers;
  int L = Tp - 1 + P, Lmax, b, l, t, step, live;
  struct kv_state s;
  struct tokprob *work;
  int *cur, *done;

  ASSERT(B > 0 && Tp > 0 && max_new_tokens >= 1);
  ASSERT(eos_id >= 0 && eos_id < V && eos_id != c->image_token);
  ASSERT(temperature >= 0.0f && top_p > 0.0f);
  Lmax = L + max_new_tokens - 1; /* the last token is chosen, never fed */

  memset(&s, 0, sizeof s);
  s.B = B;
  s.Lmax = Lmax;
  s.C = C;
  s.NH = c->heads;
  s.HS = C / c->heads;
  s.H = c->hidden;
  s.V = V;
  s.k = xcalloc((size_t)Nl * (size_t)B * (size_t)Lmax * (size_t)C, sizeof(float));
  s.v = xcalloc((size_t)Nl * (size_t)B * (size_t)Lmax * (size_t)C, sizeof(float));
  s.x = xcalloc((size_t)B * (size_t)C, sizeof(float));
  s.ln = xcalloc((size_t)B * (size_t)C, sizeof(float));
  s.rstd = xcalloc((size_t)B, sizeof(float));
  s.qkv = xcalloc((size_t)B * 3 * (size_t)C, sizeof(float));
  s.atty = xcalloc((size_t)B * (size_t)C, sizeof(float));
  s.tmp = xcalloc((size_t)B * (size_t)C, sizeof(float));
  s.fch = xcalloc((size_t)B * 2 * (size_t)s.H, sizeof(float));
  s.fchs = xcalloc((size_t)B * (size_t)s.H, sizeof(float));
  s.logits = xcalloc((size_t)B * (size_t)V, sizeof(float));
  s.att = xcalloc((size_t)Lmax, sizeof(float));
  s.pos = xcalloc((size_t)B, sizeof(int));
  work = xcalloc((size_t)V, sizeof *work);
  cur = xcalloc((size_t)B, sizeof *cur);
  done = xcalloc((size_t)B, sizeof *done);

  /* prefill: one forward; cache k, v (after RoPE) from its saved qkv */
  llava_forward(m, images, prompt, NULL, NULL, B, Tp);
  ASSERT(m->L == L);
  for (l = 0; l < Nl; l++) {
    const float *qkv = m->acts.qkv + (size_t)l * (size_t)B * (size_t)L * 3 * (size_t)C;
    for (b = 0; b < B; b++)
      for (t = 0; t < L; t++) {
        const float *src = qkv + ((size_t)b * (size_t)L + (size_t)t) * 3 * (size_t)C;
        size_t dst = (((size_t)l * (size_t)B + (size_t)b) * (size_t)Lmax + (size_t)t) * (size_t)C;
        memcpy(s.k + dst, src + C, (size_t)C * sizeof(float));
        memcpy(s.v + dst, src + 2 * C, (size_t)C * sizeof(float));
      }
  }
  for (b = 0; b < B; b++)
    memcpy(s.logits + (size_t)b * (size_t)V,
           m->acts.logits + ((size_t)b * (size_t)L + (size_t)(L - 1)) * (size_t)V,
           (size_t)V * sizeof(float));

  for (b = 0; b < B; b++) {
    out_len[b] = max_new_tokens;
    for (t = 0; t < max_new_tokens; t++)
      out[(size_t)b * (size_t)max_new_tokens + (size_t)t] = eos_id;
  }
  live = B;
  for (step = 0; step < max_new_tokens && live > 0; step++) {
    if (step > 0)
      decode_step(m, &s, cur, L + step - 1);
    for (b = 0; b < B; b++) {
      float *z = s.logits + (size_t)b * (size_t)V;
      int tok;
      if (done[b]) {
        cur[b] = eos_id; /* fed, ignored */
        continue;
      }
      z[eos_id] += eos_bias;
      tok = pick_token(z, V, c->image_token, temperature, top_p,
                       temperature > 0.0f ? philox_uniform(seed, b, step) : 0.0f, work);
      out[(size_t)b * (size_t)max_new_tokens + (size_t)step] = tok;
      cur[b] = tok;
      if (tok == eos_id) {
        done[b] = 1;
        out_len[b] = step;
        live--;
      }
    }
  }

  free(s.k);
  free(s.v);
  free(s.x);
  free(s.ln);
  free(s.rstd);
  free(s.qkv);
  free(s.atty);
  free(s.tmp);
  free(s.fch);
  free(s.fchs);
  free(s.logits);
  free(s.att);
  free(s.pos);
  free(work);
  free(cur);
  free(done);
}
