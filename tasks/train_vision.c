/* train_vision.c - the `train_vision` kind: pretraining of the small LLaVA
 * model's vision tower (model/llava.h) on the world's ground truth, the
 * stand-in for LLaVA's pretrained CLIP.
 *
 * Task: every image of a fetch_subset split has 2x2 slots (tasks/shapes.h),
 * each empty or holding one object. A slot's feature is built from the
 * tower's feature_layer patch features over its quadrant: the quadrant is
 * cut into slot_grid x slot_grid cells, each cell's patch features are
 * averaged, and the cells' means are concatenated (slot_grid^2 x v_width;
 * slot_grid 1 is a single mean). Two linear heads classify it: category
 * (12 + "empty") and colour (6 + "empty"). The loss is the mean over the
 * batch's slots of the two cross-entropies, summed. Labels come from the
 * items' "objects" (category, colour, position).
 *
 * Which readout (measured on fetch_subset train = 8000, eval = 500, seed 1,
 * held-out category accuracy on occupied slots, and what matters: how
 * often the SFT base model trained on the frozen tower then names the
 * right category for a ground-truth object in its captions; same SFT and
 * evaluation downstream). With 2x2 cell means (slot_grid 2) the heads
 * learn fast (0.946 after 1200 x 16 at lr 2e-3), but the code is spread
 * over the cells, each read with its own weights, which a projector applied
 * per patch and a small LM do not undo: the base model named the right
 * category for only 60.7% of objects (colour 91%), its POPE F1 was ~55 (near
 * chance), and CHAIR_S 48.6 was mostly misrecognition. One mean per slot
 * (slot_grid 1) forces the tower to put the category into every patch of
 * the slot; it learns more slowly (0.36 after 300 x 16 at lr 1e-3, 0.838
 * after 2400 x 16 at lr 2e-3) but reaches 0.965 after 4800 x 16, and the
 * base model on it names the right category for 77.3% of objects (69.2%
 * on the 2400-step tower), with POPE F1 83.4 / 81.7 / 72.3 (random /
 * popular / adversarial) and CHAIR_S 24.2, recall 79.8. Hence the
 * defaults: slot_grid 1, 4800 steps. Fine-tuning the tower inside SFT
 * (freeze_vision = false) instead made things worse (48.7% right).
 *
 * objective = "patches" (dense): every patch's own feature goes through
 * one head shared by all patches, its label the object whose box holds the
 * patch's centre (or empty) - features any patch of which names what it
 * shows, the way CLIP's patch tokens do, so that a projector applied per
 * patch could read the category anywhere. Measured (seed 1, defaults, the
 * same SFT and evaluation downstream): held-out category accuracy on
 * object patches only 0.42 (colour 0.80) after 1200 x 16, and the base
 * model named the right category for 59.5% of ground-truth objects against
 * 60.7% with the slot_grid 2 tower of as many steps (colour 99.8% against
 * 91%): no gain, so "slots" stays the default.
 *
 * The tower runs through llava_forward (a one-token text of the IMAGE token)
 * in a model whose language model is minimal (width 2, one layer: the LM's
 * output is ignored, and at the default LM size it costs more than the
 * tower); the trained tower is then copied into a model of the requested
 * size for saving. The heads' gradient is spread back onto the feature
 * layer and llava_vision_backward takes it through the tower.
 *
 * Optimiser: AdamW (0.9, 0.999, eps 1e-8) on the tower (the prefix
 * [0, num_vision_parameters) of the parameters) and the heads only; linear
 * warmup, cosine decay to lr_min, global-norm clipping (tower + heads).
 * Defaults (4800 steps of 16 images, lr 2e-3, warmup 50, slot_grid 1):
 * 76800 images, 9.6 passes over fetch_subset's default 8000, about 100 s on
 * one core; held-out category accuracy 0.978 (0.965 on occupied slots),
 * colour 1.000.
 * Batches of images in a seeded permutation, reshuffled at each epoch end.
 * Determinism: OpenBLAS at one thread, the same parameters give the same
 * bytes.
 *
 * Outputs: model/ (model.safetensors via llava_save: the full LLaVA
 * checkpoint with the trained tower; projector and LM at their seeded
 * init; the heads are not saved) and metrics (JSON: slot accuracies on the
 * eval split and on the training split, majority-class baselines, loss
 * curve summary).
 *
 * Left out: checkpoints into the memo (train_sft's resume).
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "gen_util.h"
#include "graph.h"
#include "llava.h"
#include "llava_io.h"
#include "nn.h"
#include "registry.h"
#include "train_util.h"
#include "run.h"
#include "shapes.h"
#include "strbuf.h"

static const struct kind_param tv_params[] = {
  { "data", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "the training split: a fetch_subset split directory (items.jsonl with ground-truth "
    "objects, images.safetensors, index.tsv)" },
  { "eval", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "the held-out split (same layout) the slot accuracies are measured on" },
  { "patch_size", PT_INT, "4", 1, 512, NULL, 0,
    "vision patch size (image size % patch_size = 0, an even number of patches per side)" },
  { "v_width", PT_INT, "64", 1, 65536, NULL, 0, "vision tower width" },
  { "v_layers", PT_INT, "4", 1, 1024, NULL, 0, "vision tower blocks" },
  { "v_heads", PT_INT, "4", 1, 1024, NULL, 0, "vision tower heads" },
  { "v_mlp", PT_INT, "256", 1, 1e6, NULL, 0, "vision MLP hidden size" },
  { "feature_layer", PT_INT, "-2", -1024, 1024, NULL, 0,
    "HF vision_feature_layer: the hidden state the heads read (-2: second to last)" },
  { "vocab", PT_INT, "512", 8, 65536, NULL, 0, "vocabulary of the saved (untrained) LM" },
  { "width", PT_INT, "128", 1, 65536, NULL, 0, "language model width (saved, untrained)" },
  { "layers", PT_INT, "4", 1, 1024, NULL, 0, "language model blocks (saved, untrained)" },
  { "heads", PT_INT, "4", 1, 1024, NULL, 0, "language model heads (width / heads even)" },
  { "hidden", PT_INT, "344", 1, 1e6, NULL, 0, "SwiGLU hidden size (saved, untrained)" },
  { "slot_grid", PT_INT, "1", 1, 1024, NULL, 0,
    "cells per slot side: a slot's feature is the concatenation of the mean patch features "
    "of a slot_grid x slot_grid grid of cells over its quadrant (1: one mean over the "
    "quadrant; patches per slot side: every patch); must divide the patches per slot side" },
  { "objective", PT_STRING, "\"slots\"", 0, -1, "slots|patches", 0,
    "slots: each 2x2 slot's category and colour from its cells' mean features (slot_grid); "
    "patches: every patch's own feature classified as the object whose box holds its "
    "centre (or empty), one head shared by all patches" },
  { "steps", PT_INT, "4800", 1, 1e9, NULL, 0,
    "optimiser steps (the defaults: 76800 images, 9.6 passes over 8000, about 100 s on one "
    "core)" },
  { "batch", PT_INT, "16", 1, 65536, NULL, 0, "images per step (4 slots each)" },
  { "lr", PT_FLOAT, "2e-3", 0, 10, NULL, 0, "peak learning rate" },
  { "lr_min", PT_FLOAT, "0", 0, 10, NULL, 0, "learning rate at the last step (cosine decay)" },
  { "warmup", PT_INT, "50", 0, 1e9, NULL, 0, "steps of linear warmup to lr" },
  { "weight_decay", PT_FLOAT, "0.01", 0, 10, NULL, 0, "AdamW weight decay" },
  { "clip", PT_FLOAT, "1.0", 0, 1e9, NULL, 0,
    "largest global gradient norm (larger gradients are scaled down); 0: no clipping" },
  { "seed", PT_INT, "1", 0, 1e15, NULL, 0, "seed of the initialisation and of the order" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

enum { OUT_MODEL, OUT_METRICS, NOUT };
static const struct kind_output tv_outputs[NOUT + 1] = {
  { "model", "a directory: model.safetensors, a full LLaVA checkpoint (F32, Hugging Face "
             "names, config in __metadata__) with the pretrained vision tower; the projector "
             "and language model are at their seeded init" },
  { "metrics", "JSON: per-slot accuracy of category and colour (\"empty\" included) on the "
               "eval and training splits, on occupied slots only, the majority-class "
               "baselines, and the loss curve summary" },
  { NULL, NULL },
};

#define NCAT_OUT (SHAPES_NCAT + 1)
#define NCOL_OUT (SHAPES_NCOLOUR + 1)

struct split {
  int n, S;
  uint8_t *pixels; /* n * S * S * 3, in items.jsonl order */
  int *cat, *col;  /* n * 4 slot labels (empty = SHAPES_NCAT / SHAPES_NCOLOUR) */
  int units;       /* labels per image the heads are trained on: 4 slots or P patches */
  int *ucat, *ucol; /* n * units labels: the slots', or each patch's (make_units) */
  float *box;      /* n * 4 * 4: each slot's object box (x, y, w, h in pixels) */
  int need_boxes;  /* objective "patches": an object without a box is an error */
};

static void split_release(struct split *d)
{
  free(d->pixels);
  free(d->cat);
  free(d->col);
  free(d->box);
  if (d->ucat != d->cat) {
    free(d->ucat);
    free(d->ucol);
  }
  memset(d, 0, sizeof *d);
}


static int find_colour(const char *name)
{
  int c;
  for (c = 0; c < SHAPES_NCOLOUR; c++)
    if (strcmp(shapes_colours[c].name, name) == 0)
      return c;
  return -1;
}

static int find_position(const char *name)
{
  int q;
  for (q = 0; q < SHAPES_NSLOT; q++)
    if (strcmp(shapes_positions[q], name) == 0)
      return q;
  return -1;
}

/* Slot labels of item i, from its ground-truth objects. */
static int add_labels(void *arg, size_t i, const cJSON *item, const char *path, size_t line,
                      struct pd_err *err)
{
  struct split *d = arg;
  const cJSON *objs = cJSON_GetObjectItemCaseSensitive(item, "objects"), *o;
  int q;
  if (!cJSON_IsArray(objs))
    return ERR_SET(err, PD_EUSAGE, "'%s':%zu: not an item with \"image\" and \"objects\"",
                   path, line);
  d->cat = xrealloc(d->cat, (i + 1) * SHAPES_NSLOT * sizeof *d->cat);
  d->col = xrealloc(d->col, (i + 1) * SHAPES_NSLOT * sizeof *d->col);
  d->box = xrealloc(d->box, (i + 1) * SHAPES_NSLOT * 4 * sizeof *d->box);
  for (q = 0; q < SHAPES_NSLOT; q++) {
    d->cat[i * SHAPES_NSLOT + (size_t)q] = SHAPES_NCAT;
    d->col[i * SHAPES_NSLOT + (size_t)q] = SHAPES_NCOLOUR;
    memset(d->box + (i * SHAPES_NSLOT + (size_t)q) * 4, 0, 4 * sizeof *d->box);
  }
  cJSON_ArrayForEach(o, objs)
  {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "category");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "colour");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "position");
    const cJSON *bx = cJSON_GetObjectItemCaseSensitive(o, "box");
    int ci = cJSON_IsString(c) ? shapes_find_category(c->valuestring) : -1;
    int ki = cJSON_IsString(k) ? find_colour(k->valuestring) : -1;
    int pi = cJSON_IsString(p) ? find_position(p->valuestring) : -1;
    if (ci < 0 || ki < 0 || pi < 0)
      return ERR_SET(err, PD_EUSAGE, "'%s':%zu: an object without a known category, colour "
                     "and position", path, line);
    d->cat[i * SHAPES_NSLOT + (size_t)pi] = ci;
    d->col[i * SHAPES_NSLOT + (size_t)pi] = ki;
    if (cJSON_IsArray(bx) && cJSON_GetArraySize(bx) == 4) {
      int j;
      for (j = 0; j < 4; j++) {
        const cJSON *v = cJSON_GetArrayItem(bx, j);
        if (!cJSON_IsNumber(v))
          return ERR_SET(err, PD_EUSAGE, "'%s':%zu: an object's box is not 4 numbers", path, line);
        d->box[(i * SHAPES_NSLOT + (size_t)pi) * 4 + (size_t)j] = (float)v->valuedouble;
      }
    } else if (d->need_boxes) {
      return ERR_SET(err, PD_EUSAGE, "'%s':%zu: an object without a \"box\" (objective = "
                     "\"patches\" needs one)", path, line);
    }
  }
  return 0;
}

/* Reads a split (gen_split_read): every item's image, copied in item
 * order, and its slot labels. */
static int read_split(const char *dir, struct split *d, int need_boxes, struct pd_err *err)
{
  struct gen_split s;
  size_t i, Sz;
  int rc;
  memset(d, 0, sizeof *d);
  d->need_boxes = need_boxes;
  if ((rc = gen_split_read(&s, dir, 0, add_labels, d, err)) < 0) {
    split_release(d);
    return rc;
  }
  d->n = (int)s.n;
  d->S = s.S;
  Sz = (size_t)s.S * (size_t)s.S * 3;
  d->pixels = xmalloc(s.n * Sz);
  for (i = 0; i < s.n; i++)
    memcpy(d->pixels + i * Sz, s.pixels + (size_t)s.items[i].row * Sz, Sz);
  gen_split_release(&s);
  return 0;
}

/* The labels the heads learn: with units = 4 the slots' own; with units =
 * P (objective "patches") each patch's: the category and colour of the
 * object whose box holds the patch's centre (the first slot's when boxes
 * overlap), else empty. G patches per side of ps pixels. */
static void make_units(struct split *d, int dense, int G, int ps)
{
  int i, p, q, units = dense ? G * G : SHAPES_NSLOT;
  d->units = units;
  if (!dense) {
    d->ucat = d->cat;
    d->ucol = d->col;
    return;
  }
  d->ucat = xmalloc((size_t)d->n * (size_t)units * sizeof *d->ucat);
  d->ucol = xmalloc((size_t)d->n * (size_t)units * sizeof *d->ucol);
  for (i = 0; i < d->n; i++)
    for (p = 0; p < units; p++) {
      float cx = ((float)(p % G) + 0.5f) * (float)ps, cy = ((float)(p / G) + 0.5f) * (float)ps;
      size_t u = (size_t)i * (size_t)units + (size_t)p;
      d->ucat[u] = SHAPES_NCAT;
      d->ucol[u] = SHAPES_NCOLOUR;
      for (q = 0; q < SHAPES_NSLOT; q++) {
        size_t sq = (size_t)i * SHAPES_NSLOT + (size_t)q;
        const float *b = d->box + sq * 4;
        if (d->cat[sq] == SHAPES_NCAT || !(cx >= b[0] && cx < b[0] + b[2] && cy >= b[1] &&
                                           cy < b[1] + b[3]))
          continue;
        d->ucat[u] = d->cat[sq];
        d->ucol[u] = d->col[sq];
        break;
      }
    }
}

/* The heads: category (NCAT_OUT, D) + bias, colour (NCOL_OUT, D) + bias,
 * in one flat array (params, grads, AdamW moments); D = the slot feature's
 * size, slot_grid^2 x v_width. */
struct heads {
  int Cv; /* D */
  size_t n;
  float *p, *g, *m, *v;
  float *cw, *cb, *kw, *kb;     /* into p */
  float *gcw, *gcb, *gkw, *gkb; /* into g */
};

static void heads_init(struct heads *h, int Cv, uint64_t seed)
{
  size_t i, nc = (size_t)NCAT_OUT * (size_t)Cv, nk = (size_t)NCOL_OUT * (size_t)Cv;
  uint64_t s = seed ^ 0x7e1a9b3c5d2f4e60ULL;
  h->Cv = Cv;
  h->n = nc + NCAT_OUT + nk + NCOL_OUT;
  h->p = xcalloc(h->n, sizeof(float));
  h->g = xcalloc(h->n, sizeof(float));
  h->m = xcalloc(h->n, sizeof(float));
  h->v = xcalloc(h->n, sizeof(float));
  h->cw = h->p;
  h->cb = h->cw + nc;
  h->kw = h->cb + NCAT_OUT;
  h->kb = h->kw + nk;
  h->gcw = h->g;
  h->gcb = h->gcw + nc;
  h->gkw = h->gcb + NCAT_OUT;
  h->gkb = h->gkw + nk;
  /* uniform(-a, a) with the variance of N(0, 0.02^2) */
  for (i = 0; i < nc; i++)
    h->cw[i] = (float)(((double)(train_rng_next(&s) >> 11) / 9007199254740992.0 * 2.0 - 1.0) *
                       0.02 * sqrt(3.0));
  for (i = 0; i < nk; i++)
    h->kw[i] = (float)(((double)(train_rng_next(&s) >> 11) / 9007199254740992.0 * 2.0 - 1.0) *
                       0.02 * sqrt(3.0));
}

static void heads_free(struct heads *h)
{
  free(h->p);
  free(h->g);
  free(h->m);
  free(h->v);
}

/* Scratch of one batch of B images of U units each (4 slots, or P patches
 * with objective "patches"); D = the unit feature's size. */
struct work {
  int B, cells;                    /* cells per slot side (slot_grid) */
  int dense;                       /* objective "patches": one unit per patch */
  int U;                           /* units per image */
  float *pooled, *dpooled;         /* (B, U, D) */
  float *clog, *cprob, *dclog;     /* (B, U, NCAT_OUT) */
  float *klog, *kprob, *dklog;     /* (B, U, NCOL_OUT) */
  float *closs, *kloss, *dloss;    /* (B, U) */
  int *ct, *kt;                    /* (B, U) */
};

static void work_init(struct work *w, int B, int cells, int dense, int U, int D)
{
  size_t n = (size_t)B * (size_t)U;
  w->B = B;
  w->cells = cells;
  w->dense = dense;
  w->U = U;
  w->pooled = xcalloc(n * (size_t)D, sizeof(float));
  w->dpooled = xcalloc(n * (size_t)D, sizeof(float));
  w->clog = xcalloc(n * NCAT_OUT, sizeof(float));
  w->cprob = xcalloc(n * NCAT_OUT, sizeof(float));
  w->dclog = xcalloc(n * NCAT_OUT, sizeof(float));
  w->klog = xcalloc(n * NCOL_OUT, sizeof(float));
  w->kprob = xcalloc(n * NCOL_OUT, sizeof(float));
  w->dklog = xcalloc(n * NCOL_OUT, sizeof(float));
  w->closs = xcalloc(n, sizeof(float));
  w->kloss = xcalloc(n, sizeof(float));
  w->dloss = xcalloc(n, sizeof(float));
  w->ct = xcalloc(n, sizeof(int));
  w->kt = xcalloc(n, sizeof(int));
}

static void work_free(struct work *w)
{
  free(w->pooled);
  free(w->dpooled);
  free(w->clog);
  free(w->cprob);
  free(w->dclog);
  free(w->klog);
  free(w->kprob);
  free(w->dklog);
  free(w->closs);
  free(w->kloss);
  free(w->dloss);
  free(w->ct);
  free(w->kt);
}

static const float *features(const struct llava *m, const struct llava_acts *a)
{
  size_t BP = (size_t)m->B * (size_t)m->num_patches;
  return m->v_run == 0 ? a->v_pre : a->v_res3 + (size_t)(m->v_run - 1) * BP * (size_t)m->cfg.v_width;
}

/* Where patch p's feature goes: its slot (returned) and, in *off, the
 * offset of its cell's part of the slot feature (cells: a k x k grid over
 * the slot's patches, row-major). */
static int patch_cell(int p, int G, int k, int Cv, size_t *off)
{
  int h = G / 2, py = p / G, px = p % G;
  *off = (size_t)(((py % h) * k / h) * k + (px % h) * k / h) * (size_t)Cv;
  return (py >= h) * 2 + (px >= h);
}

/* The units' features from the patch features feat (B, P, Cv): dense
 * (objective "patches") each patch's own, else per slot the concatenated
 * means of its k x k cells into pooled (B, 4, k*k*Cv). back = 1 is the
 * adjoint: feat += the units' gradient in pooled spread back onto the
 * patches (feat then holds zeros or earlier gradient). */
static void pool(float *pooled, float *feat, int B, int dense, int P, int G, int k, int Cv,
                 int back)
{
  size_t D = (size_t)(k * k) * (size_t)Cv, off;
  float inv = (float)(k * k) / (float)(P / SHAPES_NSLOT);
  int b, p, i;
  if (dense) {
    if (back)
      for (i = 0; i < B * P * Cv; i++)
        feat[i] += pooled[i];
    else
      memcpy(pooled, feat, (size_t)B * (size_t)P * (size_t)Cv * sizeof(float));
    return;
  }
  if (!back)
    memset(pooled, 0, (size_t)B * SHAPES_NSLOT * D * sizeof(float));
  for (b = 0; b < B; b++)
    for (p = 0; p < P; p++) {
      int q = patch_cell(p, G, k, Cv, &off);
      float *cell = pooled + ((size_t)b * SHAPES_NSLOT + (size_t)q) * D + off;
      float *x = feat + ((size_t)b * (size_t)P + (size_t)p) * (size_t)Cv;
      for (i = 0; i < Cv; i++)
        if (back)
          x[i] += cell[i] * inv;
        else
          cell[i] += x[i] * inv;
    }
}

/* Runs the tower on B images (floats) and the heads: logits and, with
 * targets in w->ct / w->kt, the per-slot losses. Returns the mean loss. */
static float forward(struct llava *m, const struct heads *h, struct work *w, const float *img,
                     int B)
{
  int G = m->cfg.image_size / m->cfg.patch_size, P = m->num_patches, Cv = m->cfg.v_width;
  int tok = m->cfg.image_token, D = h->Cv, k = w->cells, U = w->U, b, i;
  int *toks = xmalloc((size_t)B * sizeof *toks);
  const float *feat;
  double sum = 0;
  for (b = 0; b < B; b++)
    toks[b] = tok;
  llava_forward(m, img, toks, NULL, NULL, B, 1);
  free(toks);
  feat = features(m, &m->acts);
  pool(w->pooled, (float *)feat, B, w->dense, P, G, k, Cv, 0);
  matmul_forward(w->clog, w->pooled, h->cw, h->cb, B, U, D, NCAT_OUT);
  matmul_forward(w->klog, w->pooled, h->kw, h->kb, B, U, D, NCOL_OUT);
  crossentropy_forward(w->closs, w->cprob, w->clog, w->ct, NULL, B, U, NCAT_OUT);
  crossentropy_forward(w->kloss, w->kprob, w->klog, w->kt, NULL, B, U, NCOL_OUT);
  for (i = 0; i < B * U; i++)
    sum += (double)w->closs[i] + (double)w->kloss[i];
  return (float)(sum / (double)(B * U));
}

/* Gradients of the last forward's mean loss into h->g and the tower's part
 * of m->grads (accumulated; the caller zeroes them). */
static void backward(struct llava *m, struct heads *h, struct work *w)
{
  const struct llava_config *c = &m->cfg;
  struct llava_acts *g = &m->grads_acts;
  int B = m->B, P = m->num_patches, G = c->image_size / c->patch_size;
  int Cv = c->v_width, Nr = m->v_run, D = h->Cv, k = w->cells, U = w->U, i;
  size_t BP = (size_t)B * (size_t)P, n = (size_t)B * (size_t)U;
  float *dfeat = Nr == 0 ? g->v_pre : g->v_res3 + (size_t)(Nr - 1) * BP * (size_t)Cv;

  memset(m->grads_acts_memory, 0, m->num_activations * sizeof(float));
  memset(w->dclog, 0, n * NCAT_OUT * sizeof(float));
  memset(w->dklog, 0, n * NCOL_OUT * sizeof(float));
  memset(w->dpooled, 0, n * (size_t)D * sizeof(float));
  for (i = 0; i < (int)n; i++)
    w->dloss[i] = 1.0f / (float)n;
  crossentropy_backward(w->dclog, w->dloss, w->cprob, w->ct, B, U, NCAT_OUT);
  crossentropy_backward(w->dklog, w->dloss, w->kprob, w->kt, B, U, NCOL_OUT);
  matmul_backward(w->dpooled, h->gcw, h->gcb, w->dclog, w->pooled, h->cw, B, U, D, NCAT_OUT);
  matmul_backward(w->dpooled, h->gkw, h->gkb, w->dklog, w->pooled, h->kw, B, U, D, NCOL_OUT);
  pool(w->dpooled, dfeat, B, w->dense, P, G, k, Cv, 1);

  llava_vision_backward(m);
}

static float clip_grads(struct llava *m, struct heads *h, float clip)
{
  size_t i, nv = m->num_vision_parameters;
  double sum = 0;
  float norm;
  for (i = 0; i < nv; i++)
    sum += (double)m->grads_memory[i] * (double)m->grads_memory[i];
  for (i = 0; i < h->n; i++)
    sum += (double)h->g[i] * (double)h->g[i];
  norm = (float)sqrt(sum);
  if (clip > 0 && norm > clip) {
    float sc = clip / norm;
    for (i = 0; i < nv; i++)
      m->grads_memory[i] *= sc;
    for (i = 0; i < h->n; i++)
      h->g[i] *= sc;
  }
  return norm;
}

static void load_batch(float *img, const struct split *d, const size_t *rows, int B)
{
  size_t Sz = (size_t)d->S * (size_t)d->S * 3, z;
  int b;
  for (b = 0; b < B; b++) {
    const uint8_t *px = d->pixels + rows[b] * Sz;
    for (z = 0; z < Sz; z++)
      img[(size_t)b * Sz + z] = (float)px[z] / 255.0f;
  }
}

static int argmax(const float *x, int n)
{
  int i, best = 0;
  for (i = 1; i < n; i++)
    if (x[i] > x[best])
      best = i;
  return best;
}

struct acc {
  long slots, occupied, cat_ok, col_ok, occ_cat_ok, occ_col_ok;
};

/* Slot accuracies of the model on a whole split, in batches of B. */
static void evaluate(struct llava *m, const struct heads *h, struct work *w, const struct split *d,
                     int B, float *img, struct acc *acc)
{
  size_t *rows = xmalloc((size_t)B * sizeof *rows);
  int i0, b, q;
  memset(acc, 0, sizeof *acc);
  for (i0 = 0; i0 < d->n; i0 += B) {
    int nb = d->n - i0 < B ? d->n - i0 : B;
    for (b = 0; b < nb; b++) {
      rows[b] = (size_t)(i0 + b);
      for (q = 0; q < w->U; q++) {
        w->ct[b * w->U + q] = d->ucat[(i0 + b) * w->U + q];
        w->kt[b * w->U + q] = d->ucol[(i0 + b) * w->U + q];
      }
    }
    load_batch(img, d, rows, nb);
    forward(m, h, w, img, nb);
    for (b = 0; b < nb * w->U; b++) {
      int cok = argmax(w->clog + (size_t)b * NCAT_OUT, NCAT_OUT) == w->ct[b];
      int kok = argmax(w->klog + (size_t)b * NCOL_OUT, NCOL_OUT) == w->kt[b];
      acc->slots++;
      acc->cat_ok += cok;
      acc->col_ok += kok;
      if (w->ct[b] != SHAPES_NCAT) {
        acc->occupied++;
        acc->occ_cat_ok += cok;
        acc->occ_col_ok += kok;
      }
    }
  }
  free(rows);
}

static double ratio(long a, long b)
{
  return b > 0 ? (double)a / (double)b : 0.0;
}

static void acc_json(struct strbuf *sb, const char *name, const struct acc *a)
{
  strbuf_addf(sb, "  \"%s\": {\"slots\": %ld, \"occupied_slots\": %ld, \"category_accuracy\": %.6f, "
              "\"colour_accuracy\": %.6f, \"occupied_category_accuracy\": %.6f, "
              "\"occupied_colour_accuracy\": %.6f},\n", name, a->slots, a->occupied,
              ratio(a->cat_ok, a->slots), ratio(a->col_ok, a->slots),
              ratio(a->occ_cat_ok, a->occupied), ratio(a->occ_col_ok, a->occupied));
}

/* Accuracy of always answering the training split's most frequent class. */
static void majority(const struct split *tr, const struct split *ev, double *cat, double *col)
{
  long nc[NCAT_OUT] = { 0 }, nk[NCOL_OUT] = { 0 }, okc = 0, okk = 0;
  int i, bc, bk;
  for (i = 0; i < tr->n * tr->units; i++) {
    nc[tr->ucat[i]]++;
    nk[tr->ucol[i]]++;
  }
  for (bc = 0, i = 1; i < NCAT_OUT; i++)
    bc = nc[i] > nc[bc] ? i : bc;
  for (bk = 0, i = 1; i < NCOL_OUT; i++)
    bk = nk[i] > nk[bk] ? i : bk;
  for (i = 0; i < ev->n * ev->units; i++) {
    okc += ev->ucat[i] == bc;
    okk += ev->ucol[i] == bk;
  }
  *cat = ratio(okc, (long)ev->n * ev->units);
  *col = ratio(okk, (long)ev->n * ev->units);
}



static int tv_run(struct task_run *r)
{
  const struct task *t = r->task;
  const char *dir = task_run_input(r, "data"), *edir = task_run_input(r, "eval");
  int B = train_iparam(t, "batch"), steps = train_iparam(t, "steps"), warmup = train_iparam(t, "warmup");
  float lr = train_fparam(t, "lr"), lr_min = train_fparam(t, "lr_min"), wd = train_fparam(t, "weight_decay");
  float clip = train_fparam(t, "clip");
  uint64_t seed = (uint64_t)task_param(t, "seed")->u.i, rng;
  struct llava_config cfg, tcfg;
  struct llava m, full;
  struct heads h;
  struct work w;
  struct split tr, ev;
  struct acc atr, aev;
  char *path[NOUT] = { NULL }, *mpath = NULL;
  float *img = NULL, *vm = NULL, *vv = NULL, final_loss = 0;
  size_t *perm = NULL, *rows = NULL, pos = 0, k;
  int have_model = 0, have_full = 0, have_heads = 0, s, b, q, G, P;
  int cells = train_iparam(t, "slot_grid");
  int dense = strcmp(task_param(t, "objective")->u.str.s, "patches") == 0, U, D;
  double t0 = train_now(), tstart, first = 0, last = 0, mcat, mcol;
  int nfirst = 0, nlast = 0, rc;
  struct strbuf js;
  FILE *f;

  memset(&tr, 0, sizeof tr);
  memset(&ev, 0, sizeof ev);
  memset(&w, 0, sizeof w);
  strbuf_init(&js, 0);
  task_run_progress(r, 0, "reading data");
  if ((rc = read_split(dir, &tr, dense, &r->err)) < 0 ||
      (rc = read_split(edir, &ev, dense, &r->err)) < 0)
    goto out;
  if (ev.S != tr.S) {
    rc = ERR_SET(&r->err, PD_EUSAGE, "eval images are %dx%d, training images %dx%d", ev.S, ev.S,
                 tr.S, tr.S);
    goto out;
  }
  llava_config_default(&cfg);
  cfg.image_size = tr.S;
  cfg.patch_size = train_iparam(t, "patch_size");
  cfg.v_width = train_iparam(t, "v_width");
  cfg.v_layers = train_iparam(t, "v_layers");
  cfg.v_heads = train_iparam(t, "v_heads");
  cfg.v_mlp = train_iparam(t, "v_mlp");
  cfg.feature_layer = train_iparam(t, "feature_layer");
  cfg.vocab = train_iparam(t, "vocab");
  cfg.width = train_iparam(t, "width");
  cfg.layers = train_iparam(t, "layers");
  cfg.heads = train_iparam(t, "heads");
  cfg.hidden = train_iparam(t, "hidden");
  if (cfg.patch_size > tr.S || tr.S % cfg.patch_size != 0 || (tr.S / cfg.patch_size) % 2 != 0) {
    rc = ERR_SET(&r->err, PD_EUSAGE, "patch_size %d must divide the image size %d into an even "
                 "number of patches per side (2x2 slots)", cfg.patch_size, tr.S);
    goto out;
  }
  G = tr.S / cfg.patch_size;
  P = G * G;
  if (!dense && (G / 2) % cells != 0) {
    rc = ERR_SET(&r->err, PD_EUSAGE, "slot_grid %d does not divide the %d patches per slot side",
                 cells, G / 2);
    goto out;
  }
  if (cfg.max_seq < P)
    cfg.max_seq = P;
  /* The saved model (checks the config); training runs on a copy of its
   * tower in a model with a minimal language model (llava_forward runs the
   * LM too, and at the default size it would take ~40% of the time for an
   * output nobody reads). */
  if ((rc = llava_init(&full, &cfg, seed, &r->err)) < 0)
    goto out;
  have_full = 1;
  tcfg = cfg;
  tcfg.vocab = 2;
  tcfg.width = 2;
  tcfg.layers = 1;
  tcfg.heads = 1;
  tcfg.hidden = 1;
  tcfg.image_token = 1;
  if ((rc = llava_init(&m, &tcfg, seed, &r->err)) < 0)
    goto out;
  have_model = 1;
  memcpy(m.params_memory, full.params_memory, m.num_vision_parameters * sizeof(float));
  U = dense ? P : SHAPES_NSLOT;
  D = dense ? cfg.v_width : cells * cells * cfg.v_width;
  make_units(&tr, dense, G, cfg.patch_size);
  make_units(&ev, dense, G, cfg.patch_size);
  heads_init(&h, D, seed);
  have_heads = 1;
  work_init(&w, B, cells, dense, U, D);
  if (warmup > steps)
    warmup = steps;
  fprintf(r->log, "%d training and %d eval images (%dx%d) from '%s' and '%s'; %d patches\n", tr.n,
          ev.n, tr.S, tr.S, dir, edir, P);
  fprintf(r->log, "model: %zu vision parameters (+ %zu in the heads, objective %s, slot_grid "
          "%d) of %zu; %d steps of %d, lr %g (warmup %d, cosine to %g), weight decay %g, clip "
          "%g, seed %llu\n", m.num_vision_parameters, h.n, dense ? "patches" : "slots", cells,
          full.num_parameters, steps, B, (double)lr, warmup,
          (double)lr_min, (double)wd, (double)clip, (unsigned long long)seed);
  for (k = 0; k < NOUT; k++)
    path[k] = task_run_output(r, tv_outputs[k].name);
  openblas_set_num_threads(1);
  vm = xcalloc(m.num_vision_parameters + 1, sizeof(float));
  vv = xcalloc(m.num_vision_parameters + 1, sizeof(float));
  perm = xmalloc((size_t)tr.n * sizeof *perm);
  rows = xmalloc((size_t)B * sizeof *rows);
  img = xmalloc((size_t)B * (size_t)tr.S * (size_t)tr.S * 3 * sizeof *img);
  rng = seed ^ 0x3c6ef372fe94f82bULL;
  train_shuffle(perm, (size_t)tr.n, &rng);
  tstart = train_now();
  for (s = 0; s < steps; s++) {
    float loss, norm, lr_s = train_lr_at(s, steps, warmup, lr, lr_min);
    double el;
    int qq = steps / 4 > 0 ? steps / 4 : 1;
    if (task_run_cancelled(r)) {
      rc = ERR_SET(&r->err, PD_EINTR, "cancelled at step %d", s);
      goto out;
    }
    for (b = 0; b < B; b++) {
      if (pos == (size_t)tr.n) {
        train_shuffle(perm, (size_t)tr.n, &rng);
        pos = 0;
      }
      rows[b] = perm[pos++];
      for (q = 0; q < U; q++) {
        w.ct[b * U + q] = tr.ucat[rows[b] * (size_t)U + (size_t)q];
        w.kt[b * U + q] = tr.ucol[rows[b] * (size_t)U + (size_t)q];
      }
    }
    load_batch(img, &tr, rows, B);
    loss = forward(&m, &h, &w, img, B);
    llava_zero_grad(&m);
    memset(h.g, 0, h.n * sizeof(float));
    backward(&m, &h, &w);
    norm = clip_grads(&m, &h, clip);
    adamw_update(m.params_memory, vm, vv, m.grads_memory, (long)m.num_vision_parameters, lr_s,
                 0.9f, 0.999f, 1e-8f, wd, s + 1);
    adamw_update(h.p, h.m, h.v, h.g, (long)h.n, lr_s, 0.9f, 0.999f, 1e-8f, wd, s + 1);
    (void)norm;
    final_loss = loss;
    if (s < qq) {
      first += loss;
      nfirst++;
    }
    if (s >= steps - qq) {
      last += loss;
      nlast++;
    }
    el = train_now() - tstart;
    task_run_progress(r, (double)(s + 1) / (double)steps,
                      "step %d/%d loss %.4f %.0f img/s %.0fs left", s + 1, steps, (double)loss,
                      (double)(s + 1) * B / (el > 1e-9 ? el : 1e-9), el / (s + 1) * (steps - s - 1));
  }
  fprintf(r->log, "trained in %.2fs; mean loss %.4f over the first quarter, %.4f over the last\n",
          train_now() - tstart, nfirst ? first / nfirst : 0.0, nlast ? last / nlast : 0.0);
  task_run_progress(r, 1.0, "evaluating");
  evaluate(&m, &h, &w, &ev, B, img, &aev);
  evaluate(&m, &h, &w, &tr, B, img, &atr);
  majority(&tr, &ev, &mcat, &mcol);
  strbuf_addf(&js, "{\n  \"objective\": \"%s\",\n  \"units\": \"%s\",\n",
              dense ? "patches" : "slots", dense ? "patches (slots and occupied_slots count "
              "patches, occupied = inside an object's box)" : "slots");
  acc_json(&js, "eval", &aev);
  acc_json(&js, "train", &atr);
  strbuf_addf(&js, "  \"majority_baseline\": {\"category_accuracy\": %.6f, \"colour_accuracy\": "
              "%.6f},\n", mcat, mcol);
  strbuf_addf(&js, "  \"loss\": {\"steps\": %d, \"first_quarter_mean\": %.6f, "
              "\"last_quarter_mean\": %.6f, \"final\": %.6f}\n}\n", steps,
              nfirst ? first / nfirst : 0.0, nlast ? last / nlast : 0.0, (double)final_loss);
  fprintf(r->log, "eval %s accuracy: category %.4f, colour %.4f (majority %.4f, %.4f); "
          "occupied: category %.4f, colour %.4f\n", dense ? "patch" : "slot",
          ratio(aev.cat_ok, aev.slots), ratio(aev.col_ok, aev.slots), mcat, mcol,
          ratio(aev.occ_cat_ok, aev.occupied), ratio(aev.occ_col_ok, aev.occupied));
  if (!(f = fopen(path[OUT_METRICS], "w"))) {
    rc = ERR_SET(&r->err, -errno, "cannot write '%s': %s", path[OUT_METRICS], strerror(errno));
    goto out;
  }
  {
    int bad = fwrite(js.buf, 1, js.len, f) != js.len;
    bad |= fclose(f) != 0;
    if (bad) {
      rc = ERR_SET(&r->err, -errno, "cannot write '%s': %s", path[OUT_METRICS], strerror(errno));
      goto out;
    }
  }
  task_run_progress(r, 1.0, "saving");
  if (mkdir(path[OUT_MODEL], 0755) != 0 && errno != EEXIST) {
    rc = ERR_SET(&r->err, -errno, "cannot create '%s': %s", path[OUT_MODEL], strerror(errno));
    goto out;
  }
  mpath = xasprintf("%s/model.safetensors", path[OUT_MODEL]);
  memcpy(full.params_memory, m.params_memory, m.num_vision_parameters * sizeof(float));
  if ((rc = llava_save(&full, mpath, &r->err)) < 0)
    goto out;
  fprintf(r->log, "done in %.2fs\n", train_now() - t0);
  task_run_progress(r, 1.0, "done");
out:
  for (k = 0; k < NOUT; k++)
    free(path[k]);
  free(mpath);
  free(perm);
  free(rows);
  free(img);
  free(vm);
  free(vv);
  work_free(&w);
  if (have_heads)
    heads_free(&h);
  if (have_model)
    llava_free(&m);
  if (have_full)
    llava_free(&full);
  split_release(&tr);
  split_release(&ev);
  strbuf_release(&js);
  return rc;
}

const struct task_kind train_vision_kind = {
  .name = "train_vision",
  .version = 4,
  .doc = "Pretrains the small LLaVA model's vision tower on a split's ground truth: per-slot "
         "(2x2) category and colour classification with linear heads on the feature_layer "
         "features (cell means over each slot, slot_grid), AdamW with warmup, cosine decay "
         "and clipping; deterministic for a seed.",
  .params = tv_params,
  .outputs = tv_outputs,
  .flags = 0,
  .check = NULL,
  .run = tv_run,
};
