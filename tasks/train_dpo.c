/* train_dpo.c - the `train_dpo` kind: POVID's preference optimisation of the
 * small LLaVA-style model (model/llava.h), from an SFT model.
 *
 * Data: corrupt_captions' pairs (prompt, chosen = the ground truth,
 * rejected = the corrupted answer), the split their images come from, and
 * distort_images' noisy images of that split. Each pair is one item.
 *
 * Per step, for a batch of B pairs:
 *   1. image dispreference: the policy, teacher-forced on the chosen answer
 *      with the NOISY image (a forward without gradient), gives its argmax
 *      token at every answer position (the <image> token excluded); that
 *      sequence, as long as the chosen answer, is the noise-dispreferred
 *      answer. Draw d = epoch % draws of the noisy image is used.
 *   2. one policy forward over 3B rows [chosen | text-rejected | noise]
 *      (fewer without a dispreference), every row with the CLEAN image, or
 *      the noise row with the noisy image when noise_scoring = "noisy"
 *      (the paper's formula; "clean" is the released POVID code); s = the
 *      summed log-probability of each row's answer tokens (</s> included).
 *   3. the reference's r for the same rows: chosen and text rows are fixed
 *      sequences, so their r comes from the per-item memo or is computed
 *      once (a forward of the pair's two rows) and memoized; the noise
 *      rows' r is computed in the step (one forward of the B noise rows).
 *   4. z = beta ((s_w - r_w) - (s_l - r_l)) per dispreference and
 *        L = (w_text DPO(z_text) + w_image DPO(z_image)) / (weights of the
 *            active terms) + sft_w * NLL(chosen) / its tokens,
 *      DPO(z) = -log sigmoid(z), averaged over the batch. Normalising by the
 *      active weights keeps L = ln 2 at policy = reference for every
 *      dispreference choice. The gradient reaches the logits through the
 *      cross-entropy backward with per-token weights dL/dnll = -dL/ds
 *      (+beta sigma(-z) on chosen tokens, -beta sigma(-z) on rejected ones,
 *      times the term's weight / B): llava_backward_dlosses, no second
 *      classifier backward.
 * AdamW (0.9, 0.999, eps 1e-8), warmup + cosine, global-norm clipping; the
 * vision tower frozen by default (as in SFT).
 *
 * POVID's two stages are two chained tasks: stage 1 with dispreference =
 * "text", stage 2 from stage 1's model with `reference` set to the SFT
 * model and dispreference = "both".
 *
 * Threads: the policy's forwards and backward run in `shards` slices of the
 * batch on up to `threads` threads (model/llava_dp.h, as train_sft): the
 * outputs depend on shards, never on threads.
 *
 * Determinism: one OpenBLAS thread (as train_sft). A forward's last bits
 * may depend on the shape of its batch (OpenBLAS chooses kernels by matrix
 * size), so every forward here has a shape fixed by the parameters: the
 * fixed rows' reference log-probs are always computed two rows at a time,
 * and a value served from the memo is the same bits as one computed now.
 * The same reason makes the policy's and the reference's log-probs of a
 * row differ in their last bits at step 1 (other batch shapes): the loss
 * there is ln 2 to about 1e-7, not exactly.
 *
 * Outputs: model/ (model.safetensors, vocab.json copied from the input) and
 * metrics (TSV per step: loss and its terms, rewards beta (s - r), margins,
 * preference accuracies, the chosen answer's per-token NLL, lr, grad norm).
 * Checkpoints into the per-item memo every checkpoint_every steps
 * (tasks/train_ckpt.h); a killed run resumes and ends bit-identical.
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cache.h"
#include "digest.h"
#include "graph.h"
#include "llava.h"
#include "llava_dp.h"
#include "llava_io.h"
#include "registry.h"
#include "run.h"
#include "safetensors.h"
#include "strbuf.h"
#include "tokenizer.h"
#include "train_ckpt.h"
#include "train_dpo.h"
#include "train_util.h"
#include "value.h"

static const struct kind_param dpo_params[] = {
  { "model", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "the policy's starting point: a model directory (model.safetensors, vocab.json), "
    "train_sft's or an earlier train_dpo's model" },
  { "reference", PT_ANY, "\"\"", 0, -1, NULL, 0,
    "the frozen reference model directory; \"\": the same as model (set it to the SFT "
    "model for POVID's second stage)" },
  { "pairs", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "corrupt_captions' pairs: a directory holding pairs.jsonl, or the file" },
  { "data", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "the split the pairs' images come from (images.safetensors, index.tsv)" },
  { "noisy", PT_ANY, "\"\"", 0, -1, NULL, 0,
    "distort_images' noisy images of that split (a directory: images.safetensors, "
    "index.tsv); needed for dispreference image or both" },
  { "dispreference", PT_STRING, "\"both\"", 0, -1, "text|image|both|none", 0,
    "which dispreferred answers train: the corrupted caption (text), the policy's "
    "answer to the noisy image (image), both (POVID), or none: only the sft_w anchor, i.e. "
    "SFT on the chosen answers with the same data order, steps and schedule (the control)" },
  { "noise_scoring", PT_STRING, "\"clean\"", 0, -1, "clean|noisy", 0,
    "the image the noise-dispreferred answer is scored with: clean (the released POVID "
    "code) or noisy (the paper's formula)" },
  { "beta", PT_FLOAT, "0.1", 0, 1e6, NULL, 0, "DPO temperature" },
  { "w_text", PT_FLOAT, "0.5", 0, 1e6, NULL, 0,
    "weight of the text term (weights are normalised over the active terms)" },
  { "w_image", PT_FLOAT, "0.5", 0, 1e6, NULL, 0, "weight of the image term" },
  { "sft_w", PT_FLOAT, "0", 0, 1e6, NULL, 0,
    "weight of an NLL anchor on the chosen answer (per-token mean), added to the loss; "
    "0 is faithful POVID" },
  { "max_len", PT_INT, "64", 4, 4096, NULL, 0,
    "text positions T per row: rows are padded (weight 0) or cut to min(max_len, the "
    "longest sequence)" },
  { "steps", PT_INT, "0", 0, 1e9, NULL, 0, "optimiser steps; 0: from epochs" },
  { "epochs", PT_INT, "1", 1, 1e6, NULL, 0,
    "passes over the pairs when steps = 0 (rounded up to whole batches)" },
  { "batch", PT_INT, "8", 1, 65536, NULL, 0, "pairs per step" },
  { "shards", PT_INT, "2", 1, 64, NULL, 0,
    "slices of each step's rows computed independently, on up to `threads` threads at once: "
    "the outputs depend on shards, never on threads" },
  { "lr", PT_FLOAT, "1e-4", 0, 10, NULL, 0, "peak learning rate" },
  { "lr_min", PT_FLOAT, "0", 0, 10, NULL, 0, "learning rate at the last step (cosine)" },
  { "warmup", PT_INT, "10", 0, 1e9, NULL, 0, "steps of linear warmup to lr" },
  { "weight_decay", PT_FLOAT, "0", 0, 10, NULL, 0, "AdamW weight decay" },
  { "clip", PT_FLOAT, "1.0", 0, 1e9, NULL, 0,
    "largest global gradient norm (larger gradients are scaled down); 0: no clipping" },
  { "freeze_vision", PT_BOOL, "true", 0, -1, NULL, 0,
    "keep the vision tower fixed (as LLaVA and POVID do)" },
  { "seed", PT_INT, "1", 0, 1e15, NULL, 0, "seed of the order of the pairs" },
  { "checkpoint_every", PT_INT, "50", 0, 1e9, NULL, KP_NOKEY,
    "steps between checkpoints into the cache's per-item memo, from which an interrupted "
    "run resumes (0: none); does not change the outputs" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

enum { OUT_MODEL, OUT_METRICS, NOUT };
static const struct kind_output dpo_outputs[NOUT + 1] = {
  { "model", "a directory: model.safetensors (the trained policy, as train_sft's) and "
             "vocab.json (copied from the input model)" },
  { "metrics", "per-step TSV: step, loss, then per active term loss_T, reward_T, margin_T "
               "(reward_chosen - reward_T), acc_T (share of pairs with margin > 0), and "
               "reward_chosen, nll_chosen (per token), lr, grad_norm" },
  { NULL, NULL },
};

/* --- data ------------------------------------------------------------------------------- */

struct key_row {
  char *key;
  int row;
};

static int cmp_key(const void *a, const void *b)
{
  return strcmp(((const struct key_row *)a)->key, ((const struct key_row *)b)->key);
}

/* A sorted key -> row table read from an index.tsv (header, then key TAB a
 * [TAB b]): with draws, rows are keyed by the first column where the second
 * (draw) is 0 and draws counts the distinct draws. */
struct index {
  struct key_row *map;
  size_t n;
  char *text;
};

static void index_release(struct index *x)
{
  free(x->map);
  free(x->text);
  memset(x, 0, sizeof *x);
}

static int index_read(struct index *x, const char *path, int nrows, int with_draw,
                      int *draws, struct pd_err *err)
{
  char *line;
  int maxd = 0;
  memset(x, 0, sizeof *x);
  if (!(x->text = train_read_text(path, err)))
    return err->code;
  line = strchr(x->text, '\n');
  while (line && *++line) {
    char *end = strchr(line, '\n'), *tab = strchr(line, '\t'), *p;
    long a, row, d = 0;
    if (end)
      *end = '\0';
    if (!tab)
      goto bad;
    *tab = '\0';
    a = strtol(tab + 1, &p, 10);
    if (with_draw) {
      if (*p != '\t')
        goto bad;
      d = a;
      row = strtol(p + 1, &p, 10);
    } else {
      row = a;
    }
    if (*p || row < 0 || row >= nrows || d < 0)
      goto bad;
    if (d > maxd)
      maxd = (int)d;
    if (d == 0) {
      x->map = xrealloc(x->map, (x->n + 1) * sizeof *x->map);
      x->map[x->n].key = line;
      x->map[x->n++].row = (int)row;
    }
    line = end;
    continue;
  bad:
    index_release(x);
    return ERR_SET(err, PD_EUSAGE, "'%s': bad line (expected image%s<TAB>row)", path,
                   with_draw ? "<TAB>draw" : "");
  }
  qsort(x->map, x->n, sizeof *x->map, cmp_key);
  if (draws)
    *draws = maxd + 1;
  return 0;
}

static int index_find(const struct index *x, const char *key)
{
  struct key_row k = { (char *)key, 0 }, *hit;
  hit = x->n ? bsearch(&k, x->map, x->n, sizeof *x->map, cmp_key) : NULL;
  return hit ? hit->row : -1;
}

/* An images.safetensors tensor "images" [N, S, S, 3] as floats in [0, 1]
 * (U8 / 255, or F32 as stored). */
static int read_images(const char *path, int want_f32, float **out, int *n, int *S,
                       struct pd_err *err)
{
  struct safetensors st;
  const struct st_tensor *t;
  size_t count, i;
  int rc;
  if ((rc = safetensors_open(&st, path, err)) < 0)
    return rc;
  t = safetensors_find(&st, "images");
  if (!t || strcmp(t->dtype, want_f32 ? "F32" : "U8") != 0 || t->ndim != 4 ||
      t->shape[1] != t->shape[2] || t->shape[3] != 3 || t->shape[0] < 1 ||
      t->shape[0] > 1 << 30 || t->shape[1] > 4096) {
    safetensors_close(&st);
    return ERR_SET(err, PD_EUSAGE, "'%s': expected a tensor \"images\" %s [N, S, S, 3]", path,
                   want_f32 ? "F32" : "U8");
  }
  *n = (int)t->shape[0];
  *S = (int)t->shape[1];
  count = (size_t)*n * (size_t)*S * (size_t)*S * 3;
  *out = xmalloc(count * sizeof(float));
  if (want_f32) {
    rc = safetensors_read(&st, t, 0, *out, count * sizeof(float), err);
  } else {
    uint8_t *px = xmalloc(count);
    if ((rc = safetensors_read(&st, t, 0, px, count, err)) == 0)
      for (i = 0; i < count; i++)
        (*out)[i] = (float)px[i] / 255.0f;
    free(px);
  }
  safetensors_close(&st);
  if (rc < 0) {
    free(*out);
    *out = NULL;
  }
  return rc;
}

struct pair {
  int row;       /* clean image row */
  int noisy_row; /* draw 0's row in the noisy images, -1 without */
  int len_w, len_l; /* sequence lengths before cutting */
};

struct dpo_data {
  struct pair *pairs;
  size_t n;
  int T;
  int *tok_w, *tgt_w, *tok_l, *tgt_l; /* (n, T) */
  float *w_w, *w_l;                   /* (n, T) */
  float *clean;                       /* (nimg, S, S, 3) */
  float *noisy;                       /* (nnoisy, S, S, 3) or NULL */
  int nimg, nnoisy, S, draws;
  uint8_t (*img_digest)[PD_DIGEST_LEN]; /* per clean row, for memo keys */
};

static void dpo_data_release(struct dpo_data *d)
{
  free(d->pairs);
  free(d->tok_w);
  free(d->tgt_w);
  free(d->tok_l);
  free(d->tgt_l);
  free(d->w_w);
  free(d->w_l);
  free(d->clean);
  free(d->noisy);
  free(d->img_digest);
  memset(d, 0, sizeof *d);
}

/* The pairs file: a directory's pairs.jsonl, or the file itself. */
static char *pairs_path(const char *p)
{
  struct stat sb;
  if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
    return xasprintf("%s/pairs.jsonl", p);
  return xstrdup(p);
}

struct text_pair {
  char *prompt, *chosen, *rejected;
};

static int read_pairs(const char *path, const struct index *ix, const struct index *nx,
                      struct dpo_data *d, struct text_pair **tp, struct pd_err *err)
{
  char *text = train_read_text(path, err), *line;
  size_t lineno = 0, alloc = 0;
  int rc = 0;
  if (!text)
    return err->code;
  for (line = text; line && *line; lineno++) {
    char *end = strchr(line, '\n');
    cJSON *j;
    const cJSON *img, *pr, *ch, *rj;
    if (end)
      *end = '\0';
    if (!*line) {
      line = end ? end + 1 : NULL;
      continue;
    }
    j = cJSON_Parse(line);
    img = cJSON_GetObjectItemCaseSensitive(j, "image");
    pr = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    ch = cJSON_GetObjectItemCaseSensitive(j, "chosen");
    rj = cJSON_GetObjectItemCaseSensitive(j, "rejected");
    if (!cJSON_IsString(img) || !cJSON_IsString(pr) || !cJSON_IsString(ch) ||
        !cJSON_IsString(rj)) {
      cJSON_Delete(j);
      rc = ERR_SET(err, PD_EUSAGE,
                   "'%s':%zu: not a pair with \"image\", \"prompt\", \"chosen\" and \"rejected\"",
                   path, lineno + 1);
      break;
    }
    if (d->n == alloc) {
      alloc = alloc ? 2 * alloc : 256;
      d->pairs = xrealloc(d->pairs, alloc * sizeof *d->pairs);
      *tp = xrealloc(*tp, alloc * sizeof **tp);
    }
    d->pairs[d->n].row = index_find(ix, img->valuestring);
    d->pairs[d->n].noisy_row = nx ? index_find(nx, img->valuestring) : -1;
    if (d->pairs[d->n].row < 0 || (nx && d->pairs[d->n].noisy_row < 0)) {
      rc = ERR_SET(err, PD_EUSAGE, "'%s':%zu: image '%s' is not in the %s images", path,
                   lineno + 1, img->valuestring, d->pairs[d->n].row < 0 ? "data" : "noisy");
      cJSON_Delete(j);
      break;
    }
    (*tp)[d->n].prompt = xstrdup(pr->valuestring);
    (*tp)[d->n].chosen = xstrdup(ch->valuestring);
    (*tp)[d->n].rejected = xstrdup(rj->valuestring);
    d->n++;
    cJSON_Delete(j);
    line = end ? end + 1 : NULL;
  }
  if (rc == 0 && d->n == 0)
    rc = ERR_SET(err, PD_EUSAGE, "'%s': no pairs", path);
  free(text);
  return rc;
}

/* Tokenises every pair at T = min(max_len, longest sequence - 1). */
static void tokenize_pairs(struct dpo_data *d, const struct tokenizer *tk,
                           const struct text_pair *tp, int max_len)
{
  int tk3[3], tg3[3], T = 3;
  float w3[3];
  size_t i, nT;
  for (i = 0; i < d->n; i++) {
    d->pairs[i].len_w = tokenizer_example(tk, tp[i].prompt, tp[i].chosen, 3, tk3, tg3, w3);
    d->pairs[i].len_l = tokenizer_example(tk, tp[i].prompt, tp[i].rejected, 3, tk3, tg3, w3);
    T = d->pairs[i].len_w - 1 > T ? d->pairs[i].len_w - 1 : T;
    T = d->pairs[i].len_l - 1 > T ? d->pairs[i].len_l - 1 : T;
  }
  d->T = T < max_len ? T : max_len;
  nT = d->n * (size_t)d->T;
  d->tok_w = xmalloc(nT * sizeof(int));
  d->tgt_w = xmalloc(nT * sizeof(int));
  d->tok_l = xmalloc(nT * sizeof(int));
  d->tgt_l = xmalloc(nT * sizeof(int));
  d->w_w = xmalloc(nT * sizeof(float));
  d->w_l = xmalloc(nT * sizeof(float));
  for (i = 0; i < d->n; i++) {
    size_t o = i * (size_t)d->T;
    tokenizer_example(tk, tp[i].prompt, tp[i].chosen, d->T, d->tok_w + o, d->tgt_w + o,
                      d->w_w + o);
    tokenizer_example(tk, tp[i].prompt, tp[i].rejected, d->T, d->tok_l + o, d->tgt_l + o,
                      d->w_l + o);
  }
}

/* --- the step ---------------------------------------------------------------------------- */

/* Summed NLL of row b's weighted positions (the last forward's). */
static double row_nll(const struct llava *m, int b)
{
  size_t q0 = (size_t)b * (size_t)m->L, l;
  ASSERT(b >= 0 && b < m->B);
  double s = 0.0;
  for (l = 0; l < (size_t)m->L; l++)
    if (m->lm_weights[q0 + l] > 0.0f)
      s += (double)m->lm_weights[q0 + l] * (double)m->acts.losses[q0 + l];
  return s;
}

double dpo_loss(double z)
{
  return z > 0 ? log1p(exp(-z)) : -z + log1p(exp(z));
}

double dpo_sigmoid(double z)
{
  return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

void dpo_terms(const struct dpo_config *c, int B, const double *s_w, const double *r_w,
               const double *s_t, const double *r_t, const double *s_n, const double *r_n,
               const int *ntok_w, double *ds_w, double *ds_t, double *ds_n,
               struct dpo_stats *st)
{
  double wsum = (c->text ? c->w_text : 0.0) + (c->image ? c->w_image : 0.0);
  double wt = c->text && wsum > 0 ? c->w_text / wsum : 0.0;
  double wi = c->image && wsum > 0 ? c->w_image / wsum : 0.0;
  int b;
  memset(st, 0, sizeof *st);
  for (b = 0; b < B; b++) {
    double rc = c->beta * (s_w[b] - r_w[b]), g_w = 0.0;
    st->reward_chosen += rc / B;
    if (c->text) {
      double rt = c->beta * (s_t[b] - r_t[b]), z = rc - rt, sg = dpo_sigmoid(-z);
      double l = dpo_loss(z);
      st->loss += wt * l / B;
      st->loss_text += l / B;
      st->reward_text += rt / B;
      st->margin_text += z / B;
      st->acc_text += (z > 0) / (double)B;
      /* dL/ds_w = -wt beta sigma(-z) / B; dL/ds_t = +wt beta sigma(-z) / B */
      g_w -= wt * c->beta * sg / B;
      ds_t[b] = wt * c->beta * sg / B;
    }
    if (c->image) {
      double rn = c->beta * (s_n[b] - r_n[b]), z = rc - rn, sg = dpo_sigmoid(-z);
      double l = dpo_loss(z);
      st->loss += wi * l / B;
      st->loss_image += l / B;
      st->reward_image += rn / B;
      st->margin_image += z / B;
      st->acc_image += (z > 0) / (double)B;
      g_w -= wi * c->beta * sg / B;
      ds_n[b] = wi * c->beta * sg / B;
    }
    if (ntok_w[b] > 0) {
      st->nll_chosen += -s_w[b] / ntok_w[b] / B;
      /* + sft_w * nll_w / ntok / B with nll_w = -s_w: dL/ds_w = -sft_w / (ntok B) */
      st->loss += c->sft_w * -s_w[b] / ntok_w[b] / B;
      g_w -= c->sft_w / ntok_w[b] / B;
    }
    ds_w[b] = g_w;
  }
}

/* --- the run ----------------------------------------------------------------------------- */

struct dpo_run {
  struct task_run *r;
  struct dpo_config cfg;
  struct dpo_data d;
  struct llava pol, ref;
  struct llava_dp dp;    /* the policy's shards */
  int have_pol, have_ref, have_dp;
  uint8_t ref_digest[PD_DIGEST_LEN];
  double *r_w, *r_t;     /* per pair, reference log-probs of the fixed rows */
  unsigned char *have_r; /* per pair: r_w and r_t known */
  int noisy_clean;       /* noise rows scored on the clean image */
  int B, nrow, Sz;
  /* step buffers, rows [chosen | text | noise] */
  int *tok, *tgt, *ntok;
  float *w, *img, *img_noisy, *dl;
  double *s, *ds, *rr;
  /* the reference's batch */
  int *rtok, *rtgt; /* (2, T): a pair's fixed rows */
  float *rw, *rimg; /* rw (2, T), rimg (B, S, S, 3) */
  size_t memo_hits, memo_misses;
};

static void copy_row(struct dpo_run *x, int dst, const int *tok, const int *tgt, const float *w,
                     size_t pair)
{
  size_t T = (size_t)x->d.T, o = pair * T;
  memcpy(x->tok + (size_t)dst * T, tok + o, T * sizeof(int));
  memcpy(x->tgt + (size_t)dst * T, tgt + o, T * sizeof(int));
  memcpy(x->w + (size_t)dst * T, w + o, T * sizeof(float));
}

static const float *clean_image(const struct dpo_run *x, size_t pair)
{
  return x->d.clean + (size_t)x->d.pairs[pair].row * (size_t)x->Sz;
}

/* Memo key of the reference's log-prob of a fixed row. */
static void ref_key(const struct dpo_run *x, size_t pair, int rejected, uint8_t key[PD_DIGEST_LEN])
{
  struct digest_ctx ctx;
  size_t T = (size_t)x->d.T, o = pair * T;
  int32_t t32 = (int32_t)T;
  digest_init(&ctx);
  digest_update(&ctx, "train_dpo/ref/1", 15);
  digest_update(&ctx, x->ref_digest, PD_DIGEST_LEN);
  digest_update(&ctx, x->d.img_digest[x->d.pairs[pair].row], PD_DIGEST_LEN);
  digest_update(&ctx, &t32, sizeof t32);
  digest_update(&ctx, (rejected ? x->d.tok_l : x->d.tok_w) + o, T * sizeof(int));
  digest_update(&ctx, (rejected ? x->d.tgt_l : x->d.tgt_w) + o, T * sizeof(int));
  digest_update(&ctx, (rejected ? x->d.w_l : x->d.w_w) + o, T * sizeof(float));
  digest_final(&ctx, key);
}

/* Fills r_w / r_t of the batch's pairs from the memo where it has them. */
static int ref_from_memo(struct dpo_run *x, const size_t *idx, struct pd_err *err)
{
  int b, k;
  if (!x->r->cache)
    return 0;
  for (b = 0; b < x->B; b++) {
    size_t i = idx[b];
    double v[2];
    int found = 0;
    if (x->have_r[i])
      continue;
    for (k = 0; k < 2; k++) {
      uint8_t key[PD_DIGEST_LEN];
      char *val;
      size_t n;
      int rc;
      ref_key(x, i, k, key);
      if ((rc = cache_memo_get(x->r->cache, key, &val, &n, err)) < 0)
        return rc;
      if (rc == 1 && n == sizeof(double)) {
        memcpy(&v[k], val, sizeof(double));
        found++;
      }
      free(val);
    }
    if (found == 2) {
      x->r_w[i] = v[0];
      x->r_t[i] = v[1];
      x->have_r[i] = 1;
      x->memo_hits++;
    }
  }
  return 0;
}

/* The reference's log-probs the step needs. A pair's fixed rows (chosen,
 * text-rejected) are computed once, in a forward of exactly those two rows,
 * and memoized: the forward's last bits may depend on the batch's shape
 * (OpenBLAS picks its kernels by matrix size), so a value computed in a
 * shape that never varies is the same bits whether it comes from the memo
 * or from this run. The noise rows (always B of them) get theirs in one
 * forward, into x->rr. */
static int ref_forward(struct dpo_run *x, const size_t *idx, int noise0, struct pd_err *err)
{
  size_t T = (size_t)x->d.T, Sz = (size_t)x->Sz;
  int b, k, rc = 0, nkeys = 0;
  uint8_t *keys = xmalloc((size_t)x->B * 2 * PD_DIGEST_LEN);
  const void **vals = xmalloc((size_t)x->B * 2 * sizeof *vals);
  size_t *lens = xmalloc((size_t)x->B * 2 * sizeof *lens);
  double *newv = xmalloc((size_t)x->B * 2 * sizeof *newv);
  if ((rc = ref_from_memo(x, idx, err)) < 0)
    goto out;
  for (b = 0; b < x->B; b++) {
    size_t i = idx[b], o = i * T;
    if (x->have_r[i])
      continue;
    for (k = 0; k < 2; k++) {
      memcpy(x->rtok + (size_t)k * T, (k ? x->d.tok_l : x->d.tok_w) + o, T * sizeof(int));
      memcpy(x->rtgt + (size_t)k * T, (k ? x->d.tgt_l : x->d.tgt_w) + o, T * sizeof(int));
      memcpy(x->rw + (size_t)k * T, (k ? x->d.w_l : x->d.w_w) + o, T * sizeof(float));
      memcpy(x->rimg + (size_t)k * Sz, clean_image(x, i), Sz * sizeof(float));
    }
    llava_forward(&x->ref, x->rimg, x->rtok, x->rtgt, x->rw, 2, x->d.T);
    x->r_w[i] = -row_nll(&x->ref, 0);
    x->r_t[i] = -row_nll(&x->ref, 1);
    x->have_r[i] = 1;
    x->memo_misses++;
    for (k = 0; k < 2; k++) {
      newv[nkeys] = k ? x->r_t[i] : x->r_w[i];
      ref_key(x, i, k, keys + (size_t)nkeys * PD_DIGEST_LEN);
      vals[nkeys] = &newv[nkeys];
      lens[nkeys++] = sizeof(double);
    }
  }
  if (x->r->cache && nkeys > 0 &&
      (rc = cache_memo_put_many(x->r->cache, keys, vals, lens, (size_t)nkeys, err)) < 0)
    goto out;
  if (noise0 >= 0) {
    for (b = 0; b < x->B; b++)
      memcpy(x->rimg + (size_t)b * Sz,
             x->noisy_clean ? clean_image(x, idx[b]) : x->img_noisy + (size_t)b * Sz,
             Sz * sizeof(float));
    llava_forward(&x->ref, x->rimg, x->tok + (size_t)noise0 * T, x->tgt + (size_t)noise0 * T,
                  x->w + (size_t)noise0 * T, x->B, x->d.T);
    for (b = 0; b < x->B; b++)
      x->rr[noise0 + b] = -row_nll(&x->ref, b);
  }
out:
  free(keys);
  free(vals);
  free(lens);
  free(newv);
  return rc;
}

/* The image dispreference: the policy's argmax answer to the noisy image,
 * teacher-forced on the chosen answer, into rows [noise0, noise0 + B). */
static void noise_rows(struct dpo_run *x, const size_t *idx, int draw, int noise0)
{
  size_t T = (size_t)x->d.T, Sz = (size_t)x->Sz;
  int b, t, V = x->pol.cfg.vocab;
  for (b = 0; b < x->B; b++) {
    size_t row = (size_t)x->d.pairs[idx[b]].noisy_row + (size_t)draw;
    memcpy(x->img_noisy + (size_t)b * Sz, x->d.noisy + row * Sz, Sz * sizeof(float));
    copy_row(x, noise0 + b, x->d.tok_w, x->d.tgt_w, x->d.w_w, idx[b]);
  }
  llava_dp_forward(&x->dp, x->img_noisy, x->tok + (size_t)noise0 * T, NULL, NULL, x->B, x->d.T);
  for (b = 0; b < x->B; b++) {
    int lb;
    const struct llava *m = llava_dp_row(&x->dp, b, &lb);
    int *tok = x->tok + (size_t)(noise0 + b) * T, *tgt = x->tgt + (size_t)(noise0 + b) * T;
    const float *w = x->w + (size_t)(noise0 + b) * T;
    for (t = 0; t < (int)T; t++) {
      const float *z;
      int v, best = -1;
      if (w[t] <= 0.0f)
        continue;
      z = m->acts.logits + ((size_t)lb * (size_t)m->L + (size_t)llava_lm_pos(m, lb, t)) * (size_t)V;
      for (v = 0; v < V; v++)
        if (v != TOK_IMAGE && (best < 0 || z[v] > z[best]))
          best = v;
      tgt[t] = best;
      if (t + 1 < (int)T && w[t + 1] > 0.0f)
        tok[t + 1] = best;
    }
  }
}

/* One optimiser step on the pairs idx[0..B). */
static int dpo_step(struct dpo_run *x, const size_t *idx, int draw, float clip,
                    struct dpo_stats *st, float *norm, struct pd_err *err)
{
  int B = x->B, b, t, n = 0, text0 = -1, noise0 = -1, rc;
  size_t T = (size_t)x->d.T, Sz = (size_t)x->Sz;
  for (b = 0; b < B; b++)
    copy_row(x, n++, x->d.tok_w, x->d.tgt_w, x->d.w_w, idx[b]);
  if (x->cfg.text) {
    text0 = n;
    for (b = 0; b < B; b++)
      copy_row(x, n++, x->d.tok_l, x->d.tgt_l, x->d.w_l, idx[b]);
  }
  if (x->cfg.image) {
    noise0 = n;
    noise_rows(x, idx, draw, noise0);
    n += B;
  }
  for (b = 0; b < n; b++) {
    const float *src = b >= noise0 && noise0 >= 0 && !x->noisy_clean
                           ? x->img_noisy + (size_t)(b - noise0) * Sz
                           : clean_image(x, idx[b % B]);
    memcpy(x->img + (size_t)b * Sz, src, Sz * sizeof(float));
  }
  llava_dp_forward(&x->dp, x->img, x->tok, x->tgt, x->w, n, x->d.T);
  for (b = 0; b < n; b++) {
    int lb;
    const struct llava *m = llava_dp_row(&x->dp, b, &lb);
    x->s[b] = -row_nll(m, lb);
  }
  if ((rc = ref_forward(x, idx, noise0, err)) < 0)
    return rc;
  {
    double *rw = xmalloc((size_t)B * 2 * sizeof(double)), *rt = rw + B;
    for (b = 0; b < B; b++) {
      rw[b] = x->r_w[idx[b]];
      rt[b] = x->r_t[idx[b]];
      x->ntok[b] = 0;
      for (t = 0; t < (int)T; t++)
        x->ntok[b] += x->w[(size_t)b * T + (size_t)t] > 0.0f;
    }
    dpo_terms(&x->cfg, B, x->s, rw, text0 >= 0 ? x->s + text0 : NULL, rt,
              noise0 >= 0 ? x->s + noise0 : NULL, noise0 >= 0 ? x->rr + noise0 : NULL,
              x->ntok, x->ds, text0 >= 0 ? x->ds + text0 : NULL,
              noise0 >= 0 ? x->ds + noise0 : NULL, st);
    free(rw);
  }
  /* dL/dnll = -dL/ds at every answer position of the row */
  for (b = 0; b < n; b++)
    for (t = 0; t < (int)T; t++) {
      size_t q = (size_t)b * T + (size_t)t;
      x->dl[q] = x->w[q] > 0.0f ? (float)(-x->ds[b] * (double)x->w[q]) : 0.0f;
    }
  llava_zero_grad(&x->pol);
  llava_dp_backward_dlosses(&x->dp, x->dl);
  *norm = train_clip_grads(&x->pol, clip);
  return 0;
}

static void dpo_run_release(struct dpo_run *x)
{
  if (x->have_dp)
    llava_dp_free(&x->dp);
  if (x->have_pol)
    llava_free(&x->pol);
  if (x->have_ref)
    llava_free(&x->ref);
  dpo_data_release(&x->d);
  free(x->r_w);
  free(x->r_t);
  free(x->have_r);
  free(x->tok);
  free(x->tgt);
  free(x->ntok);
  free(x->w);
  free(x->img);
  free(x->img_noisy);
  free(x->dl);
  free(x->s);
  free(x->ds);
  free(x->rr);
  free(x->rtok);
  free(x->rtgt);
  free(x->rw);
  free(x->rimg);
}

static const char *opt_input(struct task_run *r, const char *name)
{
  const struct val *v = task_param(r->task, name);
  if (v->kind == V_STR)
    return NULL; /* "" */
  return task_run_input(r, name);
}

/* Reads the model(s), the tokenizer, the pairs and the images. */
static int dpo_load(struct dpo_run *x, struct tokenizer *tk, int *have_tok, char **files,
                    size_t *nfiles, struct pd_err *err)
{
  struct task_run *r = x->r;
  const char *mdir = task_run_input(r, "model"), *rdir = opt_input(r, "reference");
  const char *ddir = task_run_input(r, "data"), *ndir = opt_input(r, "noisy");
  char *mpath = xasprintf("%s/model.safetensors", mdir);
  char *rpath = xasprintf("%s/model.safetensors", rdir ? rdir : mdir);
  char *vpath = xasprintf("%s/vocab.json", mdir), *ppath = pairs_path(task_run_input(r, "pairs"));
  char *ipath = xasprintf("%s/images.safetensors", ddir), *xpath = xasprintf("%s/index.tsv", ddir);
  char *nipath = ndir ? xasprintf("%s/images.safetensors", ndir) : NULL;
  char *nxpath = ndir ? xasprintf("%s/index.tsv", ndir) : NULL;
  struct index ix = { 0 }, nx = { 0 };
  struct text_pair *tp = NULL;
  size_t i;
  uint64_t size;
  int rc, S2 = 0, ndraws = 1;

  *nfiles = 0;
  files[(*nfiles)++] = mpath;
  files[(*nfiles)++] = rpath;
  files[(*nfiles)++] = ppath;
  files[(*nfiles)++] = ipath;
  files[(*nfiles)++] = xpath;
  if (x->cfg.image) {
    if (!ndir) {
      rc = ERR_SET(err, PD_EUSAGE, "dispreference \"%s\" needs 'noisy' (distort_images' noisy "
                   "images of the data split)", x->cfg.text ? "both" : "image");
      goto out;
    }
    files[(*nfiles)++] = nipath;
    files[(*nfiles)++] = nxpath;
    nipath = nxpath = NULL;
  }
  if ((rc = llava_load(&x->pol, mpath, err)) < 0)
    goto out;
  x->have_pol = 1;
  if ((rc = llava_load(&x->ref, rpath, err)) < 0)
    goto out;
  x->have_ref = 1;
  if ((rc = digest_file(rpath, x->ref_digest, &size, err)) < 0)
    goto out;
  if (memcmp(&x->pol.cfg, &x->ref.cfg, sizeof x->pol.cfg) != 0) {
    rc = ERR_SET(err, PD_EUSAGE, "'%s' and '%s' are models of different configurations",
                 mpath, rpath);
    goto out;
  }
  if ((rc = tokenizer_load(tk, vpath, err)) < 0)
    goto out;
  *have_tok = 1;
  if (tk->vocab != x->pol.cfg.vocab) {
    rc = ERR_SET(err, PD_EUSAGE, "'%s' has %d tokens, the model %d", vpath, tk->vocab,
                 x->pol.cfg.vocab);
    goto out;
  }
  if ((rc = read_images(ipath, 0, &x->d.clean, &x->d.nimg, &x->d.S, err)) < 0 ||
      (rc = index_read(&ix, xpath, x->d.nimg, 0, NULL, err)) < 0)
    goto out;
  if (x->d.S != x->pol.cfg.image_size) {
    rc = ERR_SET(err, PD_EUSAGE, "'%s' holds %dx%d images, the model takes %dx%d", ipath,
                 x->d.S, x->d.S, x->pol.cfg.image_size, x->pol.cfg.image_size);
    goto out;
  }
  if (x->cfg.image) {
    const char *np = files[*nfiles - 2], *nxp = files[*nfiles - 1];
    if ((rc = read_images(np, 1, &x->d.noisy, &x->d.nnoisy, &S2, err)) < 0 ||
        (rc = index_read(&nx, nxp, x->d.nnoisy, 1, &ndraws, err)) < 0)
      goto out;
    if (S2 != x->d.S) {
      rc = ERR_SET(err, PD_EUSAGE, "'%s' holds %dx%d images, the data %dx%d", np, S2, S2,
                   x->d.S, x->d.S);
      goto out;
    }
    x->d.draws = ndraws;
  }
  if ((rc = read_pairs(ppath, &ix, x->cfg.image ? &nx : NULL, &x->d, &tp, err)) < 0)
    goto out;
  for (i = 0; i < x->d.n && x->cfg.image; i++)
    if ((size_t)x->d.pairs[i].noisy_row + (size_t)x->d.draws > (size_t)x->d.nnoisy) {
      rc = ERR_SET(err, PD_EUSAGE, "'%s': rows of an image's draws are not consecutive",
                   files[*nfiles - 1]);
      goto out;
    }
  tokenize_pairs(&x->d, tk, tp, train_iparam(r->task, "max_len"));
  if (x->d.T - 1 + x->pol.num_patches > x->pol.cfg.max_seq) {
    rc = ERR_SET(err, PD_EUSAGE, "sequences of %d text positions do not fit the model's "
                 "max_seq %d (lower max_len)", x->d.T, x->pol.cfg.max_seq);
    goto out;
  }
  x->Sz = x->d.S * x->d.S * 3;
  x->d.img_digest = xmalloc((size_t)x->d.nimg * sizeof *x->d.img_digest);
  for (i = 0; i < (size_t)x->d.nimg; i++)
    digest_buf(x->d.clean + i * (size_t)x->Sz, (size_t)x->Sz * sizeof(float), x->d.img_digest[i]);
out:
  if (tp)
    for (i = 0; i < x->d.n; i++) {
      free(tp[i].prompt);
      free(tp[i].chosen);
      free(tp[i].rejected);
    }
  free(tp);
  index_release(&ix);
  index_release(&nx);
  free(vpath);
  free(nipath);
  free(nxpath);
  return rc;
}

static void dpo_alloc(struct dpo_run *x)
{
  size_t B = (size_t)x->B, T = (size_t)x->d.T, R = 3 * B, Sz = (size_t)x->Sz;
  x->tok = xmalloc(R * T * sizeof(int));
  x->tgt = xmalloc(R * T * sizeof(int));
  x->w = xmalloc(R * T * sizeof(float));
  x->dl = xmalloc(R * T * sizeof(float));
  x->img = xmalloc(R * Sz * sizeof(float));
  x->img_noisy = xmalloc(B * Sz * sizeof(float));
  x->ntok = xmalloc(R * sizeof(int));
  x->s = xcalloc(R, sizeof(double));
  x->ds = xcalloc(R, sizeof(double));
  x->rr = xcalloc(R, sizeof(double));
  x->rtok = xmalloc(2 * T * sizeof(int));
  x->rtgt = xmalloc(2 * T * sizeof(int));
  x->rw = xmalloc(2 * T * sizeof(float));
  x->rimg = xmalloc((B > 2 ? B : 2) * Sz * sizeof(float));
  x->r_w = xcalloc(x->d.n, sizeof(double));
  x->r_t = xcalloc(x->d.n, sizeof(double));
  x->have_r = xcalloc(x->d.n, 1);
}

static void tsv_header(struct strbuf *sb, const struct dpo_config *c)
{
  strbuf_addstr(sb, "step\tloss");
  if (c->text)
    strbuf_addstr(sb, "\tloss_text\treward_text\tmargin_text\tacc_text");
  if (c->image)
    strbuf_addstr(sb, "\tloss_image\treward_image\tmargin_image\tacc_image");
  strbuf_addstr(sb, "\treward_chosen\tnll_chosen\tlr\tgrad_norm\n");
}

static void tsv_line(struct strbuf *sb, const struct dpo_config *c, int step,
                     const struct dpo_stats *st, float lr, float norm)
{
  strbuf_addf(sb, "%d\t%.6f", step, st->loss);
  if (c->text)
    strbuf_addf(sb, "\t%.6f\t%.6f\t%.6f\t%.4f", st->loss_text, st->reward_text, st->margin_text,
                st->acc_text);
  if (c->image)
    strbuf_addf(sb, "\t%.6f\t%.6f\t%.6f\t%.4f", st->loss_image, st->reward_image,
                st->margin_image, st->acc_image);
  strbuf_addf(sb, "\t%.6f\t%.6f\t%.6g\t%.6f\n", st->reward_chosen, st->nll_chosen, (double)lr,
              (double)norm);
}

static int dpo_save(struct dpo_run *x, const struct strbuf *tsv, struct pd_err *err)
{
  struct task_run *r = x->r;
  char *mdir = task_run_output(r, "model"), *mpath = xasprintf("%s/model.safetensors", mdir);
  char *vpath = xasprintf("%s/vocab.json", mdir);
  char *vin = xasprintf("%s/vocab.json", task_run_input(r, "model"));
  char *tpath = task_run_output(r, "metrics"), *vocab = NULL;
  int rc;
  if ((rc = task_write_file(tpath, tsv->buf, tsv->len, err)) < 0)
    goto out;
  if (mkdir(mdir, 0755) != 0 && errno != EEXIST) {
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", mdir, strerror(errno));
    goto out;
  }
  if ((rc = llava_save(&x->pol, mpath, err)) < 0)
    goto out;
  if (!(vocab = train_read_text(vin, err))) {
    rc = err->code;
    goto out;
  }
  rc = task_write_file(vpath, vocab, strlen(vocab), err);
out:
  free(vocab);
  free(vin);
  free(vpath);
  free(mpath);
  free(mdir);
  free(tpath);
  return rc;
}

static int dpo_run(struct task_run *r)
{
  const struct task *t = r->task;
  static const char *const skip[] = { "model", "reference", "pairs", "data", "noisy", NULL };
  struct dpo_run x;
  struct tokenizer tk;
  struct strbuf tsv, id;
  struct train_ckpt ck;
  const char *disp = task_param(t, "dispreference")->u.str.s;
  char *files[8] = { NULL };
  size_t nfiles = 0, *perm = NULL, pos = 0, *idx = NULL, i;
  int steps = train_iparam(t, "steps"), warmup = train_iparam(t, "warmup");
  int every = train_iparam(t, "checkpoint_every"), have_tok = 0, s, s0 = 0, b, rc;
  float lr = train_fparam(t, "lr"), lr_min = train_fparam(t, "lr_min");
  float wd = train_fparam(t, "weight_decay"), clip = train_fparam(t, "clip");
  uint64_t seed = (uint64_t)task_param(t, "seed")->u.i, rng;
  double tstart, first = 0, last = 0;
  int nfirst = 0, nlast = 0;

  memset(&x, 0, sizeof x);
  memset(&ck, 0, sizeof ck);
  strbuf_init(&tsv, 0);
  strbuf_init(&id, 0);
  x.r = r;
  x.cfg.beta = train_fparam(t, "beta");
  x.cfg.w_text = train_fparam(t, "w_text");
  x.cfg.w_image = train_fparam(t, "w_image");
  x.cfg.sft_w = train_fparam(t, "sft_w");
  x.cfg.text = strcmp(disp, "text") == 0 || strcmp(disp, "both") == 0;
  x.cfg.image = strcmp(disp, "image") == 0 || strcmp(disp, "both") == 0;
  x.noisy_clean = strcmp(task_param(t, "noise_scoring")->u.str.s, "clean") == 0;
  x.B = train_iparam(t, "batch");
  if (!r->cache)
    every = 0;
  task_run_progress(r, 0, "reading data");
  if ((rc = dpo_load(&x, &tk, &have_tok, files, &nfiles, &r->err)) < 0)
    goto out;
  x.pol.freeze_vision = task_param(t, "freeze_vision")->u.b;
  if (steps == 0)
    steps = (int)(((size_t)train_iparam(t, "epochs") * x.d.n + (size_t)x.B - 1) / (size_t)x.B);
  if (warmup > steps)
    warmup = steps;
  dpo_alloc(&x);
  fprintf(r->log, "%zu pairs over %d images (%d noisy draws); T = %d; dispreference %s "
          "(noise scored on the %s image), beta %g, w_text %g, w_image %g, sft_w %g\n",
          x.d.n, x.d.nimg, x.d.draws, x.d.T, disp, x.noisy_clean ? "clean" : "noisy",
          x.cfg.beta, x.cfg.w_text, x.cfg.w_image, x.cfg.sft_w);
  fprintf(r->log, "policy: %zu parameters%s; %d steps of %d pairs, lr %g (warmup %d, cosine "
          "to %g), weight decay %g, clip %g, seed %llu\n", x.pol.num_parameters,
          x.pol.freeze_vision ? " (vision tower frozen)" : "", steps, x.B, (double)lr, warmup,
          (double)lr_min, (double)wd, (double)clip, (unsigned long long)seed);
  tsv_header(&tsv, &x.cfg);

  openblas_set_num_threads(1);
  llava_dp_init(&x.dp, &x.pol, train_iparam(t, "shards"), r->threads);
  x.have_dp = 1;
  perm = xmalloc(x.d.n * sizeof *perm);
  idx = xmalloc((size_t)x.B * sizeof *idx);
  rng = seed ^ 0x3c6ef372fe94f82bULL;
  train_shuffle(perm, x.d.n, &rng);
  if (every > 0) {
    ck.n = x.d.n;
    ck.perm = perm;
    ck.tsv = &tsv;
    if ((rc = train_ckpt_ident(&id, "train_dpo/ckpt/1", t, dpo_params, skip,
                               (const char *const *)files, nfiles, &r->err)) < 0 ||
        (rc = train_ckpt_load(r->cache, &id, steps, &x.pol, &ck, r->log, &r->err)) < 0)
      goto out;
    if (rc == 1) {
      s0 = ck.step;
      rng = ck.rng;
      pos = ck.pos;
      first = ck.sums[0];
      last = ck.sums[1];
      nfirst = (int)ck.sums[2];
      nlast = (int)ck.sums[3];
      fprintf(r->log, "resumed from step %d\n", s0);
      fflush(r->log);
    }
  }
  tstart = train_now();
  for (s = s0; s < steps; s++) {
    float norm, lr_s = train_lr_at(s, steps, warmup, lr, lr_min);
    struct dpo_stats st;
    int q = steps / 4 > 0 ? steps / 4 : 1;
    int draw = x.d.draws > 0 ? (int)(((size_t)s * (size_t)x.B / x.d.n) % (size_t)x.d.draws) : 0;
    double el, eps;
    if (task_run_cancelled(r)) {
      rc = ERR_SET(&r->err, PD_EINTR, "cancelled at step %d", s);
      goto out;
    }
    for (b = 0; b < x.B; b++) {
      if (pos == x.d.n) {
        train_shuffle(perm, x.d.n, &rng);
        pos = 0;
      }
      idx[b] = perm[pos++];
    }
    if ((rc = dpo_step(&x, idx, draw, clip, &st, &norm, &r->err)) < 0)
      goto out;
    llava_update(&x.pol, lr_s, 0.9f, 0.999f, 1e-8f, wd, s + 1);
    tsv_line(&tsv, &x.cfg, s + 1, &st, lr_s, norm);
    if (s < q) {
      first += st.loss;
      nfirst++;
    }
    if (s >= steps - q) {
      last += st.loss;
      nlast++;
    }
    if (every > 0 && (s + 1) % every == 0 && s + 1 < steps) {
      ck.step = s + 1;
      ck.rng = rng;
      ck.pos = pos;
      ck.sums[0] = first;
      ck.sums[1] = last;
      ck.sums[2] = nfirst;
      ck.sums[3] = nlast;
      if ((rc = train_ckpt_save(r->cache, &id, &x.pol, &ck, &r->err)) < 0)
        goto out;
      fprintf(r->log, "checkpoint at step %d\n", s + 1);
      fflush(r->log);
    }
    el = train_now() - tstart;
    eps = (double)(s + 1 - s0) * x.B / (el > 1e-9 ? el : 1e-9);
    task_run_progress(r, (double)(s + 1) / steps,
                      "step %d/%d loss %.4f margin %.3f acc %.2f %.1f pairs/s %.0fs left",
                      s + 1, steps, st.loss, x.cfg.text ? st.margin_text : st.margin_image,
                      x.cfg.text ? st.acc_text : x.cfg.image ? st.acc_image : 0.0, eps,
                      el / (s + 1 - s0) * (steps - s - 1));
  }
  {
    double el = train_now() - tstart;
    fprintf(r->log, "trained in %.2fs: %.2f pairs/s; mean loss %.4f over the first quarter, "
            "%.4f over the last; reference log-probs: %zu pairs from the memo, %zu computed\n",
            el, (double)(steps - s0) * x.B / (el > 1e-9 ? el : 1e-9),
            nfirst ? first / nfirst : 0.0, nlast ? last / nlast : 0.0, x.memo_hits,
            x.memo_misses);
  }
  task_run_progress(r, 1.0, "saving");
  rc = dpo_save(&x, &tsv, &r->err);
out:
  for (i = 0; i < nfiles; i++)
    free(files[i]);
  free(perm);
  free(idx);
  if (have_tok)
    tokenizer_release(&tk);
  dpo_run_release(&x);
  strbuf_release(&tsv);
  strbuf_release(&id);
  return rc;
}

static int dpo_check(struct graph *g, struct task *t, struct pd_err *err)
{
  static const char *const opt[] = { "reference", "noisy" };
  size_t k;
  (void)g;
  for (k = 0; k < 2; k++) {
    const struct val *v = task_param(t, opt[k]);
    if (!(v->kind == V_STR && v->u.str.n == 0) && v->kind != V_REF && v->kind != V_DIR &&
        v->kind != V_FILE)
      return graph_error_at(err, PD_EGRAPH, &v->loc,
                            "parameter '%s' must be a task's output, dir(\"...\") or \"\"",
                            opt[k]);
  }
  if (strcmp(task_param(t, "dispreference")->u.str.s, "none") == 0 &&
      !(train_fparam(t, "sft_w") > 0))
    return graph_error_at(err, PD_EGRAPH, &task_param(t, "dispreference")->loc,
                          "dispreference \"none\" trains only the anchor: set sft_w > 0");
  if (strcmp(task_param(t, "dispreference")->u.str.s, "image") == 0 ||
      strcmp(task_param(t, "dispreference")->u.str.s, "both") == 0) {
    const struct val *v = task_param(t, "noisy");
    if (v->kind == V_STR)
      return graph_error_at(err, PD_EGRAPH, &task_param(t, "dispreference")->loc,
                            "dispreference \"%s\" needs 'noisy' (distort_images' noisy images)",
                            task_param(t, "dispreference")->u.str.s);
  }
  return 0;
}

const struct task_kind train_dpo_kind = {
  .name = "train_dpo",
  .version = 3,
  .doc = "POVID preference optimisation from an SFT model: DPO with the ground truth as "
         "chosen and two AI-made dispreferred answers, the corrupted caption (text) and the "
         "policy's own answer to a diffusion-noised image (image); optional NLL anchor; "
         "deterministic for a seed, checkpointed and resumable.",
  .params = dpo_params,
  .outputs = dpo_outputs,
  .flags = 0,
  .check = dpo_check,
  .run = dpo_run,
};
