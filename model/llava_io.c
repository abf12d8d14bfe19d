/* llava_io.c - safetensors save/load of the model (llava_io.h). */
#include "llava_io.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "safetensors.h"

struct hf_tensor {
  char name[160];
  float *data;
  int ndim;
  int64_t shape[4];
};

static void add(struct hf_tensor *t, size_t *n, float *data, int ndim, int64_t d0, int64_t d1,
                int64_t d2, int64_t d3, const char *fmt, ...) __attribute__((format(printf, 9, 10)));

static void add(struct hf_tensor *t, size_t *n, float *data, int ndim, int64_t d0, int64_t d1,
                int64_t d2, int64_t d3, const char *fmt, ...)
{
  va_list ap;
  struct hf_tensor *x = &t[(*n)++];
  va_start(ap, fmt);
  vsnprintf(x->name, sizeof x->name, fmt, ap);
  va_end(ap);
  x->data = data;
  x->ndim = ndim;
  x->shape[0] = d0;
  x->shape[1] = d1;
  x->shape[2] = d2;
  x->shape[3] = d3;
}

/* The HF tensors as views of m's parameters; returns how many (at most
 * max_tensors(m)). */
static size_t max_tensors(const struct llava *m)
{
  return 8 + 16 * (size_t)m->cfg.v_layers + 4 + 3 + 9 * (size_t)m->cfg.layers;
}

static size_t hf_tensors(const struct llava *m, struct hf_tensor *t)
{
  const struct llava_config *c = &m->cfg;
  const struct llava_params *p = &m->params;
  int64_t Cv = c->v_width, Hv = c->v_mlp, C = c->width, H = c->hidden, V = c->vocab;
  int64_t ch = c->channels, ps = c->patch_size, P = m->num_patches;
  size_t n = 0, l;
  const char *vp = "vision_tower.vision_model";
  static const char *qkv[3] = {"q_proj", "k_proj", "v_proj"};
  int j;

  add(t, &n, p->v_patch_w, 4, Cv, ch, ps, ps, "%s.embeddings.patch_embedding.weight", vp);
  add(t, &n, p->v_pos, 2, P, Cv, 0, 0, "%s.embeddings.position_embedding.weight", vp);
  add(t, &n, p->v_pre_w, 1, Cv, 0, 0, 0, "%s.pre_layrnorm.weight", vp);
  add(t, &n, p->v_pre_b, 1, Cv, 0, 0, 0, "%s.pre_layrnorm.bias", vp);
  for (l = 0; l < (size_t)c->v_layers; l++) {
    size_t w = l * (size_t)Cv;
    add(t, &n, p->v_ln1w + w, 1, Cv, 0, 0, 0, "%s.encoder.layers.%zu.layer_norm1.weight", vp, l);
    add(t, &n, p->v_ln1b + w, 1, Cv, 0, 0, 0, "%s.encoder.layers.%zu.layer_norm1.bias", vp, l);
    for (j = 0; j < 3; j++) {
      add(t, &n, p->v_qkvw + (l * 3 + (size_t)j) * (size_t)(Cv * Cv), 2, Cv, Cv, 0, 0,
          "%s.encoder.layers.%zu.self_attn.%s.weight", vp, l, qkv[j]);
      add(t, &n, p->v_qkvb + (l * 3 + (size_t)j) * (size_t)Cv, 1, Cv, 0, 0, 0,
          "%s.encoder.layers.%zu.self_attn.%s.bias", vp, l, qkv[j]);
    }
    add(t, &n, p->v_attprojw + l * (size_t)(Cv * Cv), 2, Cv, Cv, 0, 0,
        "%s.encoder.layers.%zu.self_attn.out_proj.weight", vp, l);
    add(t, &n, p->v_attprojb + w, 1, Cv, 0, 0, 0, "%s.encoder.layers.%zu.self_attn.out_proj.bias",
        vp, l);
    add(t, &n, p->v_ln2w + w, 1, Cv, 0, 0, 0, "%s.encoder.layers.%zu.layer_norm2.weight", vp, l);
    add(t, &n, p->v_ln2b + w, 1, Cv, 0, 0, 0, "%s.encoder.layers.%zu.layer_norm2.bias", vp, l);
    add(t, &n, p->v_fcw + l * (size_t)(Hv * Cv), 2, Hv, Cv, 0, 0,
        "%s.encoder.layers.%zu.mlp.fc1.weight", vp, l);
    add(t, &n, p->v_fcb + l * (size_t)Hv, 1, Hv, 0, 0, 0, "%s.encoder.layers.%zu.mlp.fc1.bias", vp,
        l);
    add(t, &n, p->v_fcprojw + l * (size_t)(Cv * Hv), 2, Cv, Hv, 0, 0,
        "%s.encoder.layers.%zu.mlp.fc2.weight", vp, l);
    add(t, &n, p->v_fcprojb + w, 1, Cv, 0, 0, 0, "%s.encoder.layers.%zu.mlp.fc2.bias", vp, l);
  }
  add(t, &n, p->p_fc1w, 2, C, Cv, 0, 0, "multi_modal_projector.linear_1.weight");
  add(t, &n, p->p_fc1b, 1, C, 0, 0, 0, "multi_modal_projector.linear_1.bias");
  add(t, &n, p->p_fc2w, 2, C, C, 0, 0, "multi_modal_projector.linear_2.weight");
  add(t, &n, p->p_fc2b, 1, C, 0, 0, 0, "multi_modal_projector.linear_2.bias");
  add(t, &n, p->wte, 2, V, C, 0, 0, "language_model.model.embed_tokens.weight");
  for (l = 0; l < (size_t)c->layers; l++) {
    const char *lp = "language_model.model.layers";
    add(t, &n, p->ln1w + l * (size_t)C, 1, C, 0, 0, 0, "%s.%zu.input_layernorm.weight", lp, l);
    for (j = 0; j < 3; j++)
      add(t, &n, p->qkvw + (l * 3 + (size_t)j) * (size_t)(C * C), 2, C, C, 0, 0,
          "%s.%zu.self_attn.%s.weight", lp, l, qkv[j]);
    add(t, &n, p->attprojw + l * (size_t)(C * C), 2, C, C, 0, 0, "%s.%zu.self_attn.o_proj.weight",
        lp, l);
    add(t, &n, p->ln2w + l * (size_t)C, 1, C, 0, 0, 0, "%s.%zu.post_attention_layernorm.weight",
        lp, l);
    add(t, &n, p->fcw + l * 2 * (size_t)(H * C), 2, H, C, 0, 0, "%s.%zu.mlp.gate_proj.weight", lp,
        l);
    add(t, &n, p->fcw + (l * 2 + 1) * (size_t)(H * C), 2, H, C, 0, 0, "%s.%zu.mlp.up_proj.weight",
        lp, l);
    add(t, &n, p->fcprojw + l * (size_t)(C * H), 2, C, H, 0, 0, "%s.%zu.mlp.down_proj.weight", lp,
        l);
  }
  add(t, &n, p->lnfw, 1, C, 0, 0, 0, "language_model.model.norm.weight");
  add(t, &n, p->lm_head, 2, V, C, 0, 0, "language_model.lm_head.weight");
  return n;
}

#define CONFIG_FIELDS(XX)                                                                  \
  XX(image_size) XX(patch_size) XX(channels) XX(v_width) XX(v_layers) XX(v_heads) XX(v_mlp) \
  XX(feature_layer) XX(vocab) XX(width) XX(layers) XX(heads) XX(hidden) XX(max_seq)         \
  XX(image_token)
#define COUNT(f) +1
enum { NUM_CONFIG_FIELDS = 0 CONFIG_FIELDS(COUNT) };

int llava_save(const struct llava *m, const char *path, struct pd_err *err)
{
  struct hf_tensor *t = xcalloc(max_tensors(m), sizeof *t);
  size_t n = hf_tensors(m, t), i, k = 0;
  struct st_write_tensor *w = xcalloc(n, sizeof *w);
  char vals[NUM_CONFIG_FIELDS + 1][32];
  const char *meta[2 * (NUM_CONFIG_FIELDS + 2) + 1];
  int rc;
  ASSERT(n <= max_tensors(m));
  for (i = 0; i < n; i++) {
    w[i].name = t[i].name;
    w[i].dtype = "F32";
    w[i].ndim = t[i].ndim;
    w[i].shape = t[i].shape;
    w[i].data = t[i].data;
  }
#define META(f)                                                  \
  snprintf(vals[k / 2], sizeof vals[0], "%d", m->cfg.f);         \
  meta[k] = "llava." #f;                                         \
  meta[k + 1] = vals[k / 2];                                     \
  k += 2;
  CONFIG_FIELDS(META)
#undef META
  snprintf(vals[NUM_CONFIG_FIELDS], sizeof vals[0], "%.9g", (double)m->cfg.init_std);
  meta[k++] = "llava.init_std";
  meta[k++] = vals[NUM_CONFIG_FIELDS];
  meta[k++] = "format";
  meta[k++] = "pt";
  meta[k] = NULL;
  rc = safetensors_write(path, w, n, meta, err);
  free(w);
  free(t);
  return rc;
}

static int meta_int(const struct safetensors *st, const char *key, int *out, struct pd_err *err)
{
  const char *v = safetensors_meta(st, key);
  char *end;
  long x;
  if (!v)
    return ERR_SET(err, PD_ECORRUPT, "%s: no %s in __metadata__", st->path, key);
  x = strtol(v, &end, 10);
  if (*v == 0 || *end != 0 || x < -1000000000L || x > 1000000000L)
    return ERR_SET(err, PD_ECORRUPT, "%s: %s = \"%s\" is not an integer", st->path, key, v);
  *out = (int)x;
  return 0;
}

int llava_load(struct llava *m, const char *path, struct pd_err *err)
{
  struct safetensors st;
  struct llava_config cfg;
  struct hf_tensor *t = NULL;
  size_t n, i;
  int rc, d;
  const char *s;

  memset(m, 0, sizeof *m);
  if ((rc = safetensors_open(&st, path, err)) != 0)
    return rc;
  llava_config_default(&cfg);
#define META(f)                                                    \
  if ((rc = meta_int(&st, "llava." #f, &cfg.f, err)) != 0)         \
    goto out;
  CONFIG_FIELDS(META)
#undef META
  if ((s = safetensors_meta(&st, "llava.init_std")) != NULL)
    cfg.init_std = strtof(s, NULL);
  if ((rc = llava_init(m, &cfg, 0, err)) != 0) {
    ERR_WRAP(err, "%s", path);
    goto out;
  }
  t = xcalloc(max_tensors(m), sizeof *t);
  n = hf_tensors(m, t);
  if (st.nt != n) {
    rc = ERR_SET(err, PD_ECORRUPT, "%s: %zu tensors, the config wants %zu", path, st.nt, n);
    goto out;
  }
  for (i = 0; i < n; i++) {
    const struct st_tensor *x = safetensors_find(&st, t[i].name);
    size_t count = 1;
    if (!x) {
      rc = ERR_SET(err, PD_ECORRUPT, "%s: no tensor %s", path, t[i].name);
      goto out;
    }
    if (strcmp(x->dtype, "F32") != 0 || x->ndim != t[i].ndim) {
      rc = ERR_SET(err, PD_ECORRUPT, "%s: %s is %s with %d dims, want F32 with %d", path,
                   t[i].name, x->dtype, x->ndim, t[i].ndim);
      goto out;
    }
    for (d = 0; d < x->ndim; d++) {
      if (x->shape[d] != t[i].shape[d]) {
        rc = ERR_SET(err, PD_ECORRUPT, "%s: %s dim %d is %lld, want %lld", path, t[i].name, d,
                     (long long)x->shape[d], (long long)t[i].shape[d]);
        goto out;
      }
      count *= (size_t)t[i].shape[d];
    }
    if ((rc = safetensors_read(&st, x, 0, t[i].data, count * sizeof(float), err)) != 0)
      goto out;
  }
  rc = 0;
out:
  free(t);
  safetensors_close(&st);
  if (rc)
    llava_free(m);
  return rc;
}
