/* llava.c - the small LLaVA-style model (llava.h): config, parameter and
 * activation layout, init, forward, backward, AdamW update. */
#include "llava.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "nn.h"

/* CLIP's image normalization (openai/clip-vit-large-patch14-336); channels
 * beyond the third (not used by LLaVA) get mean 0.5, std 0.5. */
static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

void llava_config_default(struct llava_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->image_size = 32;
  cfg->patch_size = 4;
  cfg->channels = 3;
  cfg->v_width = 64;
  cfg->v_layers = 4;
  cfg->v_heads = 4;
  cfg->v_mlp = 256;
  cfg->feature_layer = -2;
  cfg->vocab = 512;
  cfg->width = 128;
  cfg->layers = 4;
  cfg->heads = 4;
  cfg->hidden = 344;
  cfg->max_seq = 256;
  cfg->image_token = 1;
  cfg->init_std = 0.02f;
}

int llava_vision_layers_run(const struct llava_config *cfg)
{
  return cfg->feature_layer < 0 ? cfg->v_layers + 1 + cfg->feature_layer : cfg->feature_layer;
}

static int check_config(const struct llava_config *c, struct pd_err *err)
{
  int nr = llava_vision_layers_run(c);
  if (c->image_size <= 0 || c->patch_size <= 0 || c->channels <= 0 ||
      c->image_size % c->patch_size != 0)
    return ERR_SET(err, PD_EUSAGE, "llava: image_size %d not a positive multiple of patch_size %d",
                   c->image_size, c->patch_size);
  if (c->v_width <= 0 || c->v_layers < 0 || c->v_heads <= 0 || c->v_mlp <= 0 ||
      c->v_width % c->v_heads != 0)
    return ERR_SET(err, PD_EUSAGE, "llava: vision width %d, heads %d, mlp %d invalid",
                   c->v_width, c->v_heads, c->v_mlp);
  if (nr < 0 || nr > c->v_layers)
    return ERR_SET(err, PD_EUSAGE, "llava: feature_layer %d outside the %d vision layers",
                   c->feature_layer, c->v_layers);
  if (c->vocab <= 1 || c->width <= 0 || c->layers <= 0 || c->heads <= 0 || c->hidden <= 0 ||
      c->width % c->heads != 0 || (c->width / c->heads) % 2 != 0)
    return ERR_SET(err, PD_EUSAGE,
                   "llava: language model vocab %d, width %d, heads %d, hidden %d invalid "
                   "(head size must be even)", c->vocab, c->width, c->heads, c->hidden);
  if (c->image_token < 0 || c->image_token >= c->vocab)
    return ERR_SET(err, PD_EUSAGE, "llava: image_token %d outside the vocabulary", c->image_token);
  int P = (c->image_size / c->patch_size) * (c->image_size / c->patch_size);
  if (c->max_seq < P)
    return ERR_SET(err, PD_EUSAGE, "llava: max_seq %d shorter than the %d image patches",
                   c->max_seq, P);
  if (!(c->init_std > 0.0f))
    return ERR_SET(err, PD_EUSAGE, "llava: init_std must be positive");
  return 0;
}

/* --- parameters ---------------------------------------------------------------- */

static void param_ptrs(struct llava_params *p, float **out[LLAVA_NUM_PARAM_TENSORS])
{
  float **ptrs[LLAVA_NUM_PARAM_TENSORS] = {
      &p->v_patch_w, &p->v_pos, &p->v_pre_w, &p->v_pre_b, &p->v_ln1w, &p->v_ln1b,
      &p->v_qkvw, &p->v_qkvb, &p->v_attprojw, &p->v_attprojb, &p->v_ln2w, &p->v_ln2b,
      &p->v_fcw, &p->v_fcb, &p->v_fcprojw, &p->v_fcprojb,
      &p->p_fc1w, &p->p_fc1b, &p->p_fc2w, &p->p_fc2b,
      &p->wte, &p->ln1w, &p->qkvw, &p->attprojw, &p->ln2w, &p->fcw, &p->fcprojw, &p->lnfw,
      &p->lm_head};
  memcpy(out, ptrs, sizeof ptrs);
}
#define NUM_VISION_TENSORS 16

static void fill_param_sizes(size_t *s, const struct llava_config *c, int P, int K)
{
  size_t Cv = (size_t)c->v_width, Nv = (size_t)c->v_layers, Hv = (size_t)c->v_mlp;
  size_t C = (size_t)c->width, Nl = (size_t)c->layers, H = (size_t)c->hidden;
  size_t V = (size_t)c->vocab;
  size_t sizes[LLAVA_NUM_PARAM_TENSORS] = {
      Cv * (size_t)K, (size_t)P * Cv, Cv, Cv, Nv * Cv, Nv * Cv,
      Nv * 3 * Cv * Cv, Nv * 3 * Cv, Nv * Cv * Cv, Nv * Cv, Nv * Cv, Nv * Cv,
      Nv * Hv * Cv, Nv * Hv, Nv * Cv * Hv, Nv * Cv,
      C * Cv, C, C * C, C,
      V * C, Nl * C, Nl * 3 * C * C, Nl * C * C, Nl * C, Nl * 2 * H * C, Nl * C * H, C,
      V * C};
  memcpy(s, sizes, sizeof sizes);
}

static float *carve(struct llava_params *p, const size_t *sizes, size_t total)
{
  float **ptrs[LLAVA_NUM_PARAM_TENSORS];
  float *mem = xcalloc(total + 1, sizeof *mem);
  float *q = mem;
  int i;
  param_ptrs(p, ptrs);
  for (i = 0; i < LLAVA_NUM_PARAM_TENSORS; i++) {
    *ptrs[i] = q;
    q += sizes[i];
  }
  return mem;
}

/* splitmix64 + Box-Muller in double: the same seed gives the same weights
 * on every machine. */
static uint64_t rng_next(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static void fill_normal(float *x, size_t n, double std, uint64_t *s)
{
  size_t i;
  for (i = 0; i < n; i += 2) {
    double u1 = ((double)(rng_next(s) >> 11) + 1.0) * 0x1p-53; /* (0, 1] */
    double u2 = (double)(rng_next(s) >> 11) * 0x1p-53;
    double r = sqrt(-2.0 * log(u1));
    x[i] = (float)(std * r * cos(2.0 * M_PI * u2));
    if (i + 1 < n)
      x[i + 1] = (float)(std * r * sin(2.0 * M_PI * u2));
  }
}

static void fill_const(float *x, size_t n, float v)
{
  size_t i;
  for (i = 0; i < n; i++)
    x[i] = v;
}

int llava_init(struct llava *m, const struct llava_config *cfg, uint64_t seed,
               struct pd_err *err)
{
  int rc, i;
  size_t total = 0;
  memset(m, 0, sizeof *m);
  if ((rc = check_config(cfg, err)) != 0)
    return rc;
  m->cfg = *cfg;
  m->num_patches = (cfg->image_size / cfg->patch_size) * (cfg->image_size / cfg->patch_size);
  m->patch_dim = cfg->channels * cfg->patch_size * cfg->patch_size;
  m->v_run = llava_vision_layers_run(cfg);
  fill_param_sizes(m->param_sizes, cfg, m->num_patches, m->patch_dim);
  for (i = 0; i < LLAVA_NUM_PARAM_TENSORS; i++) {
    total += m->param_sizes[i];
    if (i == NUM_VISION_TENSORS - 1)
      m->num_vision_parameters = total;
  }
  m->num_parameters = total;
  m->params_memory = carve(&m->params, m->param_sizes, total);
  m->grads_memory = carve(&m->grads, m->param_sizes, total);
  m->mean_loss = -1.0f;

  /* Init, in tensor order, matrices from one stream. */
  {
    struct llava_params *p = &m->params;
    const struct llava_config *c = cfg;
    uint64_t s = seed;
    double std = (double)c->init_std;
    double v_res_std = c->v_layers > 0 ? std / sqrt(2.0 * c->v_layers) : std;
    double res_std = std / sqrt(2.0 * c->layers);
    size_t Cv = (size_t)c->v_width, Nv = (size_t)c->v_layers, C = (size_t)c->width;
    size_t Nl = (size_t)c->layers;
    fill_normal(p->v_patch_w, m->param_sizes[0], std, &s);
    fill_normal(p->v_pos, m->param_sizes[1], std, &s);
    fill_const(p->v_pre_w, Cv, 1.0f);
    fill_const(p->v_ln1w, Nv * Cv, 1.0f);
    fill_normal(p->v_qkvw, m->param_sizes[6], std, &s);
    fill_normal(p->v_attprojw, m->param_sizes[8], v_res_std, &s);
    fill_const(p->v_ln2w, Nv * Cv, 1.0f);
    fill_normal(p->v_fcw, m->param_sizes[12], std, &s);
    fill_normal(p->v_fcprojw, m->param_sizes[14], v_res_std, &s);
    fill_normal(p->p_fc1w, m->param_sizes[16], std, &s);
    fill_normal(p->p_fc2w, m->param_sizes[18], std, &s);
    fill_normal(p->wte, m->param_sizes[20], std, &s);
    fill_const(p->ln1w, Nl * C, 1.0f);
    fill_normal(p->qkvw, m->param_sizes[22], std, &s);
    fill_normal(p->attprojw, m->param_sizes[23], res_std, &s);
    fill_const(p->ln2w, Nl * C, 1.0f);
    fill_normal(p->fcw, m->param_sizes[25], std, &s);
    fill_normal(p->fcprojw, m->param_sizes[26], res_std, &s);
    fill_const(p->lnfw, C, 1.0f);
    fill_normal(p->lm_head, m->param_sizes[28], std, &s);
  }
  return 0;
}

void llava_replica(struct llava *r, const struct llava *m)
{
  memset(r, 0, sizeof *r);
  r->cfg = m->cfg;
  r->num_patches = m->num_patches;
  r->patch_dim = m->patch_dim;
  r->v_run = m->v_run;
  memcpy(r->param_sizes, m->param_sizes, sizeof r->param_sizes);
  r->num_parameters = m->num_parameters;
  r->num_vision_parameters = m->num_vision_parameters;
  r->params = m->params;
  r->params_memory = m->params_memory;
  r->grads_memory = carve(&r->grads, r->param_sizes, r->num_parameters);
  r->mean_loss = -1.0f;
  r->freeze_vision = m->freeze_vision;
  r->shares_params = 1;
}

void llava_free(struct llava *m)
{
  if (!m->shares_params)
    free(m->params_memory);
  free(m->grads_memory);
  free(m->m_memory);
  free(m->v_memory);
  free(m->acts_memory);
  free(m->grads_acts_memory);
  free(m->lm_targets);
  free(m->lm_weights);
  free(m->image_pos);
  free(m->lm_tokens);
  memset(m, 0, sizeof *m);
}

/* --- activations ------------------------------------------------------------------ */

static void act_ptrs(struct llava_acts *a, float **out[LLAVA_NUM_ACT_TENSORS])
{
  float **ptrs[LLAVA_NUM_ACT_TENSORS] = {
      &a->img, &a->patches, &a->v_emb, &a->v_pre, &a->v_pre_mean, &a->v_pre_rstd,
      &a->v_ln1, &a->v_ln1_mean, &a->v_ln1_rstd, &a->v_qkv, &a->v_atty, &a->v_preatt,
      &a->v_att, &a->v_res2, &a->v_ln2, &a->v_ln2_mean, &a->v_ln2_rstd, &a->v_fch,
      &a->v_fch_gelu, &a->v_res3,
      &a->p_h, &a->p_g, &a->p_out,
      &a->x0, &a->ln1, &a->ln1_rstd, &a->qkv, &a->atty, &a->preatt, &a->att, &a->res2,
      &a->ln2, &a->ln2_rstd, &a->fch, &a->fch_sw, &a->res3,
      &a->lnf, &a->lnf_rstd, &a->logits, &a->probs, &a->losses, &a->dlosses};
  memcpy(out, ptrs, sizeof ptrs);
}

/* img .. v_res3: the vision tower's activations come first */
#define NUM_VISION_ACT_TENSORS 20

static void fill_act_sizes(size_t *s, const struct llava *m, size_t B, size_t L)
{
  const struct llava_config *c = &m->cfg;
  size_t S = (size_t)c->image_size, ch = (size_t)c->channels, P = (size_t)m->num_patches;
  size_t K = (size_t)m->patch_dim, Cv = (size_t)c->v_width, Nr = (size_t)m->v_run;
  size_t NHv = (size_t)c->v_heads, Hv = (size_t)c->v_mlp;
  size_t C = (size_t)c->width, Nl = (size_t)c->layers, NH = (size_t)c->heads;
  size_t H = (size_t)c->hidden, V = (size_t)c->vocab;
  size_t BP = B * P, BL = B * L;
  size_t sizes[LLAVA_NUM_ACT_TENSORS] = {
      B * S * S * ch, BP * K, BP * Cv, BP * Cv, BP, BP,
      Nr * BP * Cv, Nr * BP, Nr * BP, Nr * BP * 3 * Cv, Nr * BP * Cv, Nr * B * NHv * P * P,
      Nr * B * NHv * P * P, Nr * BP * Cv, Nr * BP * Cv, Nr * BP, Nr * BP, Nr * BP * Hv,
      Nr * BP * Hv, Nr * BP * Cv,
      BP * C, BP * C, BP * C,
      BL * C, Nl * BL * C, Nl * BL, Nl * BL * 3 * C, Nl * BL * C, Nl * B * NH * L * L,
      Nl * B * NH * L * L, Nl * BL * C,
      Nl * BL * C, Nl * BL, Nl * BL * 2 * H, Nl * BL * H, Nl * BL * C,
      BL * C, BL, BL * V, BL * V, BL, BL};
  memcpy(s, sizes, sizeof sizes);
}

static float *carve_acts(struct llava_acts *a, const size_t *sizes, size_t total)
{
  float **ptrs[LLAVA_NUM_ACT_TENSORS];
  float *mem = xcalloc(total + 1, sizeof *mem);
  float *q = mem;
  int i;
  act_ptrs(a, ptrs);
  for (i = 0; i < LLAVA_NUM_ACT_TENSORS; i++) {
    *ptrs[i] = q;
    q += sizes[i];
  }
  return mem;
}

/* (Re)allocates for (B, L) when the current buffers are for another shape.
 * Every tensor is carved for exactly this (B, L), so per-layer strides of
 * B * L * C index them directly. */
static void ensure_acts(struct llava *m, int B, int L)
{
  size_t sizes[LLAVA_NUM_ACT_TENSORS], total = 0;
  int i;
  if (m->acts_memory && m->B == B && m->L == L)
    return;
  free(m->acts_memory);
  free(m->grads_acts_memory);
  free(m->lm_targets);
  free(m->lm_weights);
  free(m->image_pos);
  free(m->lm_tokens);
  fill_act_sizes(sizes, m, (size_t)B, (size_t)L);
  for (i = 0; i < LLAVA_NUM_ACT_TENSORS; i++)
    total += sizes[i];
  m->num_activations = total;
  m->acts_memory = carve_acts(&m->acts, sizes, total);
  m->grads_acts_memory = carve_acts(&m->grads_acts, sizes, total);
  m->act_capacity_bl = (size_t)B * (size_t)L;
  m->lm_targets = xcalloc((size_t)B * (size_t)L, sizeof *m->lm_targets);
  m->lm_weights = xcalloc((size_t)B * (size_t)L, sizeof *m->lm_weights);
  m->image_pos = xcalloc((size_t)B, sizeof *m->image_pos);
  m->lm_tokens = xcalloc((size_t)B * (size_t)L, sizeof *m->lm_tokens);
  m->B = B;
  m->L = L;
}

/* --- unfold / fold ------------------------------------------------------------------ */

void llava_unfold(float *patches, const float *img, int B, int S, int ch, int ps)
{
  int n = S / ps, b, py, px, c, ky, kx;
  size_t K = (size_t)ch * (size_t)ps * (size_t)ps;
  for (b = 0; b < B; b++)
    for (py = 0; py < n; py++)
      for (px = 0; px < n; px++) {
        float *out = patches + ((size_t)b * (size_t)n * (size_t)n + (size_t)(py * n + px)) * K;
        for (c = 0; c < ch; c++)
          for (ky = 0; ky < ps; ky++)
            for (kx = 0; kx < ps; kx++) {
              size_t y = (size_t)(py * ps + ky), x = (size_t)(px * ps + kx);
              out[(c * ps + ky) * ps + kx] =
                  img[(((size_t)b * (size_t)S + y) * (size_t)S + x) * (size_t)ch + (size_t)c];
            }
      }
}

void llava_fold(float *dimg, const float *dpatches, int B, int S, int ch, int ps)
{
  int n = S / ps, b, py, px, c, ky, kx;
  size_t K = (size_t)ch * (size_t)ps * (size_t)ps;
  for (b = 0; b < B; b++)
    for (py = 0; py < n; py++)
      for (px = 0; px < n; px++) {
        const float *in =
            dpatches + ((size_t)b * (size_t)n * (size_t)n + (size_t)(py * n + px)) * K;
        for (c = 0; c < ch; c++)
          for (ky = 0; ky < ps; ky++)
            for (kx = 0; kx < ps; kx++) {
              size_t y = (size_t)(py * ps + ky), x = (size_t)(px * ps + kx);
              dimg[(((size_t)b * (size_t)S + y) * (size_t)S + x) * (size_t)ch + (size_t)c] +=
                  in[(c * ps + ky) * ps + kx];
            }
      }
}

static void add_inplace(float *y, const float *x, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    y[i] += x[i];
}

/* --- forward -------------------------------------------------------------------------- */

int llava_text_pos(const struct llava *m, int b, int lm_pos)
{
  int k = m->image_pos[b], P = m->num_patches;
  if (lm_pos < k)
    return lm_pos;
  if (lm_pos < k + P)
    return k;
  return lm_pos - P + 1;
}

/* LM position of text position t's prediction. */
static int lm_pos_of(int k, int P, int t)
{
  return t < k ? t : t == k ? k + P - 1 : t + P - 1;
}

int llava_lm_pos(const struct llava *m, int b, int t)
{
  return lm_pos_of(m->image_pos[b], m->num_patches, t);
}

float llava_forward(struct llava *m, const float *images, const int *tokens,
                    const int *targets, const float *weights, int B, int T)
{
  const struct llava_config *c = &m->cfg;
  const struct llava_params *p = &m->params;
  struct llava_acts *a;
  int P = m->num_patches, K = m->patch_dim, S = c->image_size, ch = c->channels;
  int Cv = c->v_width, NHv = c->v_heads, Hv = c->v_mlp, Nr = m->v_run;
  int C = c->width, NH = c->heads, HS = C / NH, H = c->hidden, V = c->vocab;
  int L = T - 1 + P, b, t, l, i;
  size_t BP, BL;
  const float *feat;

  ASSERT(B > 0 && T > 0 && L <= c->max_seq);
  ASSERT((targets == NULL) == (weights == NULL));
  ensure_acts(m, B, L);
  a = &m->acts;
  m->T = T;
  BP = (size_t)B * (size_t)P;
  BL = (size_t)B * (size_t)L;

  /* vision tower */
  {
    size_t npix = (size_t)B * (size_t)S * (size_t)S, q;
    for (q = 0; q < npix; q++)
      for (i = 0; i < ch; i++) {
        float mu = i < 3 ? clip_mean[i] : 0.5f, sd = i < 3 ? clip_std[i] : 0.5f;
        a->img[q * (size_t)ch + (size_t)i] = (images[q * (size_t)ch + (size_t)i] - mu) / sd;
      }
  }
  llava_unfold(a->patches, a->img, B, S, ch, c->patch_size);
  matmul_forward(a->v_emb, a->patches, p->v_patch_w, NULL, B, P, K, Cv);
  for (b = 0; b < B; b++)
    add_inplace(a->v_emb + (size_t)b * (size_t)P * (size_t)Cv, p->v_pos, (size_t)P * (size_t)Cv);
  layernorm_forward(a->v_pre, a->v_pre_mean, a->v_pre_rstd, a->v_emb, p->v_pre_w, p->v_pre_b,
                    B, P, Cv);
  for (l = 0; l < Nr; l++) {
    size_t lu = (size_t)l;
    const float *res = l == 0 ? a->v_pre : a->v_res3 + (lu - 1) * BP * (size_t)Cv;
    float *ln1 = a->v_ln1 + lu * BP * (size_t)Cv, *ln1m = a->v_ln1_mean + lu * BP;
    float *ln1r = a->v_ln1_rstd + lu * BP, *qkv = a->v_qkv + lu * BP * 3 * (size_t)Cv;
    float *atty = a->v_atty + lu * BP * (size_t)Cv;
    float *preatt = a->v_preatt + lu * (size_t)B * (size_t)NHv * (size_t)P * (size_t)P;
    float *att = a->v_att + lu * (size_t)B * (size_t)NHv * (size_t)P * (size_t)P;
    float *res2 = a->v_res2 + lu * BP * (size_t)Cv, *ln2 = a->v_ln2 + lu * BP * (size_t)Cv;
    float *ln2m = a->v_ln2_mean + lu * BP, *ln2r = a->v_ln2_rstd + lu * BP;
    float *fch = a->v_fch + lu * BP * (size_t)Hv, *fchg = a->v_fch_gelu + lu * BP * (size_t)Hv;
    float *res3 = a->v_res3 + lu * BP * (size_t)Cv;
    layernorm_forward(ln1, ln1m, ln1r, res, p->v_ln1w + lu * (size_t)Cv,
                      p->v_ln1b + lu * (size_t)Cv, B, P, Cv);
    matmul_forward(qkv, ln1, p->v_qkvw + lu * 3 * (size_t)Cv * (size_t)Cv,
                   p->v_qkvb + lu * 3 * (size_t)Cv, B, P, Cv, 3 * Cv);
    attention_forward(atty, preatt, att, qkv, B, P, Cv, NHv, 0);
    matmul_forward(res2, atty, p->v_attprojw + lu * (size_t)Cv * (size_t)Cv,
                   p->v_attprojb + lu * (size_t)Cv, B, P, Cv, Cv);
    add_inplace(res2, res, BP * (size_t)Cv);
    layernorm_forward(ln2, ln2m, ln2r, res2, p->v_ln2w + lu * (size_t)Cv,
                      p->v_ln2b + lu * (size_t)Cv, B, P, Cv);
    matmul_forward(fch, ln2, p->v_fcw + lu * (size_t)Hv * (size_t)Cv,
                   p->v_fcb + lu * (size_t)Hv, B, P, Cv, Hv);
    gelu_forward(fchg, fch, (int)(BP * (size_t)Hv));
    matmul_forward(res3, fchg, p->v_fcprojw + lu * (size_t)Cv * (size_t)Hv,
                   p->v_fcprojb + lu * (size_t)Cv, B, P, Hv, Cv);
    add_inplace(res3, res2, BP * (size_t)Cv);
  }
  feat = Nr == 0 ? a->v_pre : a->v_res3 + (size_t)(Nr - 1) * BP * (size_t)Cv;

  /* projector */
  matmul_forward(a->p_h, feat, p->p_fc1w, p->p_fc1b, B, P, Cv, C);
  gelu_forward(a->p_g, a->p_h, (int)(BP * (size_t)C));
  matmul_forward(a->p_out, a->p_g, p->p_fc2w, p->p_fc2b, B, P, C, C);

  /* embeddings, with the image features where the IMAGE token stands */
  for (b = 0; b < B; b++) {
    const int *tok = tokens + (size_t)b * (size_t)T;
    int k = -1;
    for (t = 0; t < T; t++)
      if (tok[t] == c->image_token) {
        ASSERT(k < 0); /* exactly one image per example */
        k = t;
      }
    ASSERT(k >= 0);
    m->image_pos[b] = k;
    for (t = 0; t < T; t++) {
      float *dst;
      if (t == k) {
        for (i = 0; i < P; i++)
          m->lm_tokens[(size_t)b * (size_t)L + (size_t)(k + i)] = -1;
        memcpy(a->x0 + ((size_t)b * (size_t)L + (size_t)k) * (size_t)C,
               a->p_out + (size_t)b * (size_t)P * (size_t)C, (size_t)P * (size_t)C * sizeof(float));
        continue;
      }
      ASSERT(tok[t] >= 0 && tok[t] < V);
      m->lm_tokens[(size_t)b * (size_t)L + (size_t)lm_pos_of(k, P, t)] = tok[t];
      dst = a->x0 + ((size_t)b * (size_t)L + (size_t)lm_pos_of(k, P, t)) * (size_t)C;
      memcpy(dst, p->wte + (size_t)tok[t] * (size_t)C, (size_t)C * sizeof(float));
    }
  }

  /* language model */
  for (l = 0; l < c->layers; l++) {
    size_t lu = (size_t)l;
    const float *res = l == 0 ? a->x0 : a->res3 + (lu - 1) * BL * (size_t)C;
    float *ln1 = a->ln1 + lu * BL * (size_t)C, *ln1r = a->ln1_rstd + lu * BL;
    float *qkv = a->qkv + lu * BL * 3 * (size_t)C, *atty = a->atty + lu * BL * (size_t)C;
    float *preatt = a->preatt + lu * (size_t)B * (size_t)NH * (size_t)L * (size_t)L;
    float *att = a->att + lu * (size_t)B * (size_t)NH * (size_t)L * (size_t)L;
    float *res2 = a->res2 + lu * BL * (size_t)C, *ln2 = a->ln2 + lu * BL * (size_t)C;
    float *ln2r = a->ln2_rstd + lu * BL, *fch = a->fch + lu * BL * 2 * (size_t)H;
    float *fchs = a->fch_sw + lu * BL * (size_t)H, *res3 = a->res3 + lu * BL * (size_t)C;
    rmsnorm_forward(ln1, ln1r, res, p->ln1w + lu * (size_t)C, B, L, C);
    matmul_forward(qkv, ln1, p->qkvw + lu * 3 * (size_t)C * (size_t)C, NULL, B, L, C, 3 * C);
    rope_forward(qkv, qkv, NULL, B, L, NH, HS, 3 * C);
    rope_forward(qkv + C, qkv + C, NULL, B, L, NH, HS, 3 * C);
    attention_forward(atty, preatt, att, qkv, B, L, C, NH, 1);
    matmul_forward(res2, atty, p->attprojw + lu * (size_t)C * (size_t)C, NULL, B, L, C, C);
    add_inplace(res2, res, BL * (size_t)C);
    rmsnorm_forward(ln2, ln2r, res2, p->ln2w + lu * (size_t)C, B, L, C);
    matmul_forward(fch, ln2, p->fcw + lu * 2 * (size_t)H * (size_t)C, NULL, B, L, C, 2 * H);
    swiglu_forward(fchs, fch, B, L, H);
    matmul_forward(res3, fchs, p->fcprojw + lu * (size_t)C * (size_t)H, NULL, B, L, H, C);
    add_inplace(res3, res2, BL * (size_t)C);
  }
  rmsnorm_forward(a->lnf, a->lnf_rstd, a->res3 + (size_t)(c->layers - 1) * BL * (size_t)C,
                  p->lnfw, B, L, C);
  matmul_forward(a->logits, a->lnf, p->lm_head, NULL, B, L, C, V);

  m->has_targets = targets != NULL;
  if (!targets) {
    m->mean_loss = -1.0f;
    return -1.0f;
  }

  /* loss: targets and weights moved into the LM layout */
  for (i = 0; i < (int)BL; i++) {
    m->lm_targets[i] = -1;
    m->lm_weights[i] = 0.0f;
  }
  for (b = 0; b < B; b++)
    for (t = 0; t < T; t++) {
      size_t src = (size_t)b * (size_t)T + (size_t)t;
      size_t dst = (size_t)b * (size_t)L + (size_t)lm_pos_of(m->image_pos[b], P, t);
      ASSERT(weights[src] >= 0.0f);
      if (weights[src] > 0.0f) {
        ASSERT(targets[src] >= 0 && targets[src] < V);
        m->lm_targets[dst] = targets[src];
        m->lm_weights[dst] = weights[src];
      }
    }
  crossentropy_forward(a->losses, a->probs, a->logits, m->lm_targets, m->lm_weights, B, L, V);
  {
    double total = 0.0;
    for (b = 0; b < B; b++) {
      double wsum = 0.0, lsum = 0.0;
      for (t = 0; t < L; t++) {
        size_t q = (size_t)b * (size_t)L + (size_t)t;
        wsum += (double)m->lm_weights[q];
        lsum += (double)m->lm_weights[q] * (double)a->losses[q];
      }
      if (wsum > 0.0)
        total += lsum / wsum;
    }
    m->mean_loss = (float)(total / (double)(m->loss_batch > 0 ? m->loss_batch : B));
  }
  return m->mean_loss;
}

/* --- backward ------------------------------------------------------------------------- */

void llava_zero_grad(struct llava *m)
{
  memset(m->grads_memory, 0, m->num_parameters * sizeof(float));
}

/* Backward from m->acts.dlosses (LM layout). */
void llava_vision_backward(struct llava *m)
{
  const struct llava_config *c = &m->cfg;
  const struct llava_params *p = &m->params;
  struct llava_params *gp = &m->grads;
  const struct llava_acts *a = &m->acts;
  struct llava_acts *g = &m->grads_acts;
  int B = m->B, P = m->num_patches, K = m->patch_dim;
  int Cv = c->v_width, NHv = c->v_heads, Hv = c->v_mlp, Nr = m->v_run;
  size_t BP = (size_t)B * (size_t)P;
  int b, l;

  for (l = Nr - 1; l >= 0; l--) {
    size_t lu = (size_t)l;
    const float *res = l == 0 ? a->v_pre : a->v_res3 + (lu - 1) * BP * (size_t)Cv;
    float *dres = l == 0 ? g->v_pre : g->v_res3 + (lu - 1) * BP * (size_t)Cv;
    size_t oC = lu * BP * (size_t)Cv, oS = lu * BP, o3 = lu * BP * 3 * (size_t)Cv;
    size_t oH = lu * BP * (size_t)Hv, oA = lu * (size_t)B * (size_t)NHv * (size_t)P * (size_t)P;
    size_t wC = lu * (size_t)Cv;

    add_inplace(g->v_res2 + oC, g->v_res3 + oC, BP * (size_t)Cv);
    matmul_backward(g->v_fch_gelu + oH, gp->v_fcprojw + lu * (size_t)Cv * (size_t)Hv,
                    gp->v_fcprojb + wC, g->v_res3 + oC, a->v_fch_gelu + oH,
                    p->v_fcprojw + lu * (size_t)Cv * (size_t)Hv, B, P, Hv, Cv);
    gelu_backward(g->v_fch + oH, a->v_fch + oH, g->v_fch_gelu + oH, (int)(BP * (size_t)Hv));
    matmul_backward(g->v_ln2 + oC, gp->v_fcw + lu * (size_t)Hv * (size_t)Cv,
                    gp->v_fcb + lu * (size_t)Hv, g->v_fch + oH, a->v_ln2 + oC,
                    p->v_fcw + lu * (size_t)Hv * (size_t)Cv, B, P, Cv, Hv);
    layernorm_backward(g->v_res2 + oC, gp->v_ln2w + wC, gp->v_ln2b + wC, g->v_ln2 + oC,
                       a->v_res2 + oC, p->v_ln2w + wC, a->v_ln2_mean + oS, a->v_ln2_rstd + oS,
                       B, P, Cv);
    add_inplace(dres, g->v_res2 + oC, BP * (size_t)Cv);
    matmul_backward(g->v_atty + oC, gp->v_attprojw + lu * (size_t)Cv * (size_t)Cv,
                    gp->v_attprojb + wC, g->v_res2 + oC, a->v_atty + oC,
                    p->v_attprojw + lu * (size_t)Cv * (size_t)Cv, B, P, Cv, Cv);
    attention_backward(g->v_qkv + o3, g->v_preatt + oA, g->v_att + oA, g->v_atty + oC,
                       a->v_qkv + o3, a->v_att + oA, B, P, Cv, NHv, 0);
    matmul_backward(g->v_ln1 + oC, gp->v_qkvw + lu * 3 * (size_t)Cv * (size_t)Cv,
                    gp->v_qkvb + 3 * wC, g->v_qkv + o3, a->v_ln1 + oC,
                    p->v_qkvw + lu * 3 * (size_t)Cv * (size_t)Cv, B, P, Cv, 3 * Cv);
    layernorm_backward(dres, gp->v_ln1w + wC, gp->v_ln1b + wC, g->v_ln1 + oC, res,
                       p->v_ln1w + wC, a->v_ln1_mean + oS, a->v_ln1_rstd + oS, B, P, Cv);
  }
  layernorm_backward(g->v_emb, gp->v_pre_w, gp->v_pre_b, g->v_pre, a->v_emb, p->v_pre_w,
                     a->v_pre_mean, a->v_pre_rstd, B, P, Cv);
  for (b = 0; b < B; b++)
    add_inplace(gp->v_pos, g->v_emb + (size_t)b * (size_t)P * (size_t)Cv, (size_t)P * (size_t)Cv);
  matmul_backward(NULL, gp->v_patch_w, NULL, g->v_emb, a->patches, p->v_patch_w, B, P, K, Cv);
}

/* Zeroes the activation gradients that the backward accumulates into.
 * Left alone: the attention scratch (preatt, att: attention_backward
 * overwrites it), the statistics of the norms, probs, losses and dlosses
 * (no gradient flows into them), img and patches (the patch embedding takes
 * no input gradient), and with m->freeze_vision the whole vision tower,
 * whose backward does not run. */
static void zero_grad_acts(struct llava *m)
{
  /* indices into act_ptrs' order */
  _Static_assert(LLAVA_NUM_ACT_TENSORS == 42, "update skip[] with the activation list");
  static const int skip[] = {0, 1, 4, 5, 7, 8, 11, 12, 15, 16,     /* vision */
                             25, 28, 29, 32, 37, 39, 40, 41};      /* language model */
  size_t sizes[LLAVA_NUM_ACT_TENSORS];
  float **ptrs[LLAVA_NUM_ACT_TENSORS];
  int i, j, first = m->freeze_vision ? NUM_VISION_ACT_TENSORS : 0;
  fill_act_sizes(sizes, m, (size_t)m->B, (size_t)m->L);
  act_ptrs(&m->grads_acts, ptrs);
  for (i = first; i < LLAVA_NUM_ACT_TENSORS; i++) {
    int zero = sizes[i] > 0;
    for (j = 0; j < (int)(sizeof skip / sizeof skip[0]); j++)
      if (skip[j] == i)
        zero = 0;
    if (zero)
      memset(*ptrs[i], 0, sizes[i] * sizeof(float));
  }
}

static void backward_lm_layout(struct llava *m)
{
  const struct llava_config *c = &m->cfg;
  const struct llava_params *p = &m->params;
  struct llava_params *gp = &m->grads;
  const struct llava_acts *a = &m->acts;
  struct llava_acts *g = &m->grads_acts;
  int B = m->B, L = m->L, P = m->num_patches;
  int Cv = c->v_width, Nr = m->v_run;
  int C = c->width, NH = c->heads, HS = C / NH, H = c->hidden, V = c->vocab;
  size_t BP = (size_t)B * (size_t)P, BL = (size_t)B * (size_t)L;
  int b, t, l;

  zero_grad_acts(m);

  crossentropy_backward(g->logits, a->dlosses, a->probs, m->lm_targets, B, L, V);
  /* The head's gradient comes from the rows with a loss gradient only (the
   * answer tokens; image and prompt rows of dlogits stay 0): take it run by
   * run of such rows. Zero rows would add nothing but time. */
  {
    size_t r0 = 0, r1;
    while (r0 < BL) {
      if (a->dlosses[r0] == 0.0f) {
        r0++;
        continue;
      }
      for (r1 = r0 + 1; r1 < BL && a->dlosses[r1] != 0.0f; r1++)
        ;
      matmul_backward(g->lnf + r0 * (size_t)C, gp->lm_head, NULL, g->logits + r0 * (size_t)V,
                      a->lnf + r0 * (size_t)C, p->lm_head, 1, (int)(r1 - r0), C, V);
      r0 = r1;
    }
  }
  rmsnorm_backward(g->res3 + (size_t)(c->layers - 1) * BL * (size_t)C, gp->lnfw, g->lnf,
                   a->res3 + (size_t)(c->layers - 1) * BL * (size_t)C, p->lnfw, a->lnf_rstd,
                   B, L, C);
  for (l = c->layers - 1; l >= 0; l--) {
    size_t lu = (size_t)l;
    const float *res = l == 0 ? a->x0 : a->res3 + (lu - 1) * BL * (size_t)C;
    float *dres = l == 0 ? g->x0 : g->res3 + (lu - 1) * BL * (size_t)C;
    size_t oC = lu * BL * (size_t)C, oA = lu * (size_t)B * (size_t)NH * (size_t)L * (size_t)L;
    size_t o3 = lu * BL * 3 * (size_t)C, oH = lu * BL * (size_t)H, o2H = lu * BL * 2 * (size_t)H;
    const float *qkvw = p->qkvw + lu * 3 * (size_t)C * (size_t)C;
    const float *attprojw = p->attprojw + lu * (size_t)C * (size_t)C;
    const float *fcw = p->fcw + lu * 2 * (size_t)H * (size_t)C;
    const float *fcprojw = p->fcprojw + lu * (size_t)C * (size_t)H;

    add_inplace(g->res2 + oC, g->res3 + oC, BL * (size_t)C);
    matmul_backward(g->fch_sw + oH, gp->fcprojw + lu * (size_t)C * (size_t)H, NULL,
                    g->res3 + oC, a->fch_sw + oH, fcprojw, B, L, H, C);
    swiglu_backward(g->fch + o2H, g->fch_sw + oH, a->fch + o2H, B, L, H);
    matmul_backward(g->ln2 + oC, gp->fcw + lu * 2 * (size_t)H * (size_t)C, NULL, g->fch + o2H,
                    a->ln2 + oC, fcw, B, L, C, 2 * H);
    rmsnorm_backward(g->res2 + oC, gp->ln2w + lu * (size_t)C, g->ln2 + oC, a->res2 + oC,
                     p->ln2w + lu * (size_t)C, a->ln2_rstd + lu * BL, B, L, C);
    add_inplace(dres, g->res2 + oC, BL * (size_t)C);
    matmul_backward(g->atty + oC, gp->attprojw + lu * (size_t)C * (size_t)C, NULL,
                    g->res2 + oC, a->atty + oC, attprojw, B, L, C, C);
    attention_backward(g->qkv + o3, g->preatt + oA, g->att + oA, g->atty + oC, a->qkv + o3,
                       a->att + oA, B, L, C, NH, 1);
    /* through RoPE: q and k rotate back (in place), v passes */
    rope_backward_inplace(g->qkv + o3, NULL, B, L, NH, HS, 3 * C);
    rope_backward_inplace(g->qkv + o3 + C, NULL, B, L, NH, HS, 3 * C);
    matmul_backward(g->ln1 + oC, gp->qkvw + lu * 3 * (size_t)C * (size_t)C, NULL,
                    g->qkv + o3, a->ln1 + oC, qkvw, B, L, C, 3 * C);
    rmsnorm_backward(dres, gp->ln1w + lu * (size_t)C, g->ln1 + oC, res, p->ln1w + lu * (size_t)C,
                     a->ln1_rstd + lu * BL, B, L, C);
  }
  /* embeddings: text rows into wte, image rows into the projector output */
  for (b = 0; b < B; b++) {
    int k = m->image_pos[b];
    for (t = 0; t < L; t++) {
      const float *d = g->x0 + ((size_t)b * (size_t)L + (size_t)t) * (size_t)C;
      if (t >= k && t < k + P) {
        add_inplace(g->p_out + ((size_t)b * (size_t)P + (size_t)(t - k)) * (size_t)C, d,
                    (size_t)C);
      } else {
        add_inplace(gp->wte + (size_t)m->lm_tokens[(size_t)b * (size_t)L + (size_t)t] * (size_t)C,
                    d, (size_t)C);
      }
    }
  }

  /* projector */
  {
    const float *feat = Nr == 0 ? a->v_pre : a->v_res3 + (size_t)(Nr - 1) * BP * (size_t)Cv;
    float *dfeat = Nr == 0 ? g->v_pre : g->v_res3 + (size_t)(Nr - 1) * BP * (size_t)Cv;
    matmul_backward(g->p_g, gp->p_fc2w, gp->p_fc2b, g->p_out, a->p_g, p->p_fc2w, B, P, C, C);
    gelu_backward(g->p_h, a->p_h, g->p_g, (int)(BP * (size_t)C));
    matmul_backward(m->freeze_vision ? NULL : dfeat, gp->p_fc1w, gp->p_fc1b, g->p_h, feat,
                    p->p_fc1w, B, P, Cv, C);
  }
  if (m->freeze_vision)
    return;

  llava_vision_backward(m);
}

void llava_backward(struct llava *m)
{
  int b, t, B = m->B, L = m->L;
  double nb = (double)(m->loss_batch > 0 ? m->loss_batch : B);
  ASSERT(m->acts_memory && m->has_targets);
  /* d mean_loss / d nll[b,t] = w[b,t] / (sum_t w[b,t] * B) (B: loss_batch if set) */
  for (b = 0; b < B; b++) {
    double wsum = 0.0;
    for (t = 0; t < L; t++)
      wsum += (double)m->lm_weights[(size_t)b * (size_t)L + (size_t)t];
    for (t = 0; t < L; t++) {
      size_t q = (size_t)b * (size_t)L + (size_t)t;
      m->acts.dlosses[q] =
          wsum > 0.0 ? (float)((double)m->lm_weights[q] / (wsum * nb)) : 0.0f;
    }
  }
  backward_lm_layout(m);
}

void llava_backward_dlosses(struct llava *m, const float *dlosses)
{
  int b, t, P = m->num_patches;
  ASSERT(m->acts_memory && m->has_targets);
  memset(m->acts.dlosses, 0, (size_t)m->B * (size_t)m->L * sizeof(float));
  for (b = 0; b < m->B; b++)
    for (t = 0; t < m->T; t++) {
      size_t src = (size_t)b * (size_t)m->T + (size_t)t;
      size_t dst = (size_t)b * (size_t)m->L + (size_t)lm_pos_of(m->image_pos[b], P, t);
      if (dlosses[src] != 0.0f) {
        ASSERT(m->lm_weights[dst] > 0.0f);
        m->acts.dlosses[dst] = dlosses[src];
      }
    }
  backward_lm_layout(m);
}

/* --- update --------------------------------------------------------------------------- */

void llava_update(struct llava *m, float lr, float beta1, float beta2, float eps,
                  float weight_decay, int t)
{
  size_t off = m->freeze_vision ? m->num_vision_parameters : 0;
  if (!m->m_memory) {
    m->m_memory = xcalloc(m->num_parameters + 1, sizeof(float));
    m->v_memory = xcalloc(m->num_parameters + 1, sizeof(float));
  }
  adamw_update(m->params_memory + off, m->m_memory + off, m->v_memory + off,
               m->grads_memory + off, (long)(m->num_parameters - off), lr, beta1, beta2, eps,
               weight_decay, t);
}
