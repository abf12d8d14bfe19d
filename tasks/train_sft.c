/* train_sft.c - the `train_sft` kind: supervised fine-tuning of the small
 * LLaVA-style model (model/llava.h) on a fetch_subset split, from a
 * pretrained vision tower (init) or from scratch.
 *
 * Data: every (human, gpt) turn pair of every item of data/items.jsonl is
 * one example, in LLaVA's Vicuna v1 template with the item's image
 * (model/tokenizer.h): <s> USER: <image>\n{prompt} ASSISTANT: {answer}</s>,
 * the loss on the answer tokens and </s> only. The image of an item is its
 * row in data/images.safetensors, found through data/index.tsv. A word-level
 * vocabulary (at most vocab_size ids) is built from the examples' texts.
 *
 * Batches: the model needs one T per batch, so every example is padded (or
 * cut at the end) to the same T = min(max_len, the longest example), padding
 * with <pad> at weight 0; the causal LM makes the padding invisible to the
 * real positions. Examples are drawn in a seeded permutation, reshuffled at
 * each epoch end; a batch may straddle two epochs, so every batch is full.
 *
 * Optimiser: AdamW (0.9, 0.999, eps 1e-8), linear warmup over `warmup`
 * steps to lr, then cosine decay to lr_min at the last step; the gradient is
 * clipped to a global norm of `clip` (0: no clipping) before each step.
 *
 * Threads and determinism: the same parameters give the same model bytes
 * at any `threads`. Each batch is cut into `shards` fixed slices of rows
 * (model/llava_dp.h), each computed start to end by one thread with
 * OpenBLAS at one thread (process-wide: its sgemm splits by thread count,
 * which may change the last bits, kernels/cpu/matmul.c), and the gradients
 * are summed in shard order; `threads` (the cpu slots the task holds) only
 * says how many shards run at once. `shards` changes the last bits (sums
 * over rows split differently), so it is a keyed parameter. The `log`
 * output holds no timings (they would make it differ run to run);
 * examples/s go to the task's log and its progress line.
 *
 * Outputs: model/ (model.safetensors via llava_save, HF names, config in
 * its metadata; vocab.json) and log (TSV: step, loss, lr, grad_norm).
 *
 * Checkpoints: every checkpoint_every steps (with a cache) the whole
 * training state - step, parameters, AdamW moments, the order (permutation,
 * position, RNG state), the loss sums and the log lines so far - goes into
 * the per-item memo (tasks/train_ckpt.h) under a key over
 * "train_sft/ckpt/2", every parameter that affects training, the digests
 * of data/items.jsonl, data/images.safetensors and the init model, and the
 * step; a "latest" entry names the last one. A run that finds one resumes
 * from it and ends with the same bytes as an uninterrupted run.
 *
 * The vision tower: with init (a train_vision model directory, or a
 * model.safetensors), the tower's config (image size, patch_size, v_width,
 * v_layers, v_heads, v_mlp, feature_layer) and its weights (the parameter
 * prefix [0, num_vision_parameters), llava.h) come from that checkpoint
 * and the task's own vision parameters are ignored (logged); the projector
 * and language model start from the seed as without init (their shapes
 * follow the vocabulary built here, not the checkpoint's). freeze_vision
 * (default true, LLaVA's recipe) keeps the tower as loaded; without init a
 * frozen tower stays at its random init (allowed, with a warning). The
 * init file's digest is part of the checkpoint identity.
 *
 * Left out: evaluation and generation (model/generate.c, not a task yet).
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

#include "cache.h"
#include "digest.h"
#include "gen_util.h"
#include "graph.h"
#include "llava.h"
#include "llava_dp.h"
#include "llava_io.h"
#include "registry.h"
#include "train_ckpt.h"
#include "train_util.h"
#include "run.h"
#include "strbuf.h"
#include "tokenizer.h"

static const struct kind_param sft_params[] = {
  { "data", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "the training split: a fetch_subset split directory (items.jsonl, images.safetensors, "
    "index.tsv); each (human, gpt) turn pair of an item is one example" },
  { "vocab_size", PT_INT, "512", 8, 65536, NULL, 0,
    "most ids of the word vocabulary built from the examples (7 special tokens included)" },
  { "max_len", PT_INT, "64", 4, 4096, NULL, 0,
    "text positions T per example: every example is padded (weight 0) or cut to "
    "min(max_len, the longest example)" },
  { "init", PT_ANY, "\"\"", 0, -1, NULL, 0,
    "the pretrained vision tower: a train_vision task's model output (or dir(\"...\") holding "
    "model.safetensors, or file(\"...\") naming one): its tower's config and weights are "
    "taken, and the task's own vision parameters (patch_size, v_width, v_layers, v_heads, "
    "v_mlp, feature_layer) are ignored (the log says so); the projector and language model "
    "start from the seed. Empty: the whole model from the seed" },
  { "patch_size", PT_INT, "4", 1, 512, NULL, 0, "vision patch size (image size % patch_size = 0)" },
  { "v_width", PT_INT, "64", 1, 65536, NULL, 0, "vision tower width" },
  { "v_layers", PT_INT, "4", 1, 1024, NULL, 0, "vision tower blocks" },
  { "v_heads", PT_INT, "4", 1, 1024, NULL, 0, "vision tower heads" },
  { "v_mlp", PT_INT, "256", 1, 1e6, NULL, 0, "vision MLP hidden size" },
  { "feature_layer", PT_INT, "-2", -1024, 1024, NULL, 0,
    "HF vision_feature_layer: the hidden state the projector reads (-2: second to last)" },
  { "width", PT_INT, "128", 1, 65536, NULL, 0, "language model width" },
  { "layers", PT_INT, "4", 1, 1024, NULL, 0, "language model blocks" },
  { "heads", PT_INT, "4", 1, 1024, NULL, 0, "language model heads (width / heads even)" },
  { "hidden", PT_INT, "344", 1, 1e6, NULL, 0, "SwiGLU hidden size" },
  { "steps", PT_INT, "0", 0, 1e9, NULL, 0, "optimiser steps; 0: from epochs" },
  { "epochs", PT_INT, "1", 1, 1e6, NULL, 0,
    "passes over the examples when steps = 0 (rounded up to whole batches)" },
  { "batch", PT_INT, "16", 1, 65536, NULL, 0, "examples per step" },
  { "shards", PT_INT, "2", 1, 64, NULL, 0,
    "slices of each batch computed independently, on up to `threads` threads at once, their "
    "gradients summed in order: the outputs depend on shards, never on threads" },
  { "lr", PT_FLOAT, "1e-3", 0, 10, NULL, 0, "peak learning rate" },
  { "lr_min", PT_FLOAT, "0", 0, 10, NULL, 0, "learning rate at the last step (cosine decay)" },
  { "warmup", PT_INT, "10", 0, 1e9, NULL, 0, "steps of linear warmup to lr" },
  { "weight_decay", PT_FLOAT, "0.01", 0, 10, NULL, 0, "AdamW weight decay" },
  { "clip", PT_FLOAT, "1.0", 0, 1e9, NULL, 0,
    "largest global gradient norm (larger gradients are scaled down); 0: no clipping" },
  { "seed", PT_INT, "1", 0, 1e15, NULL, 0, "seed of the initialisation and of the order" },
  { "freeze_vision", PT_BOOL, "true", 0, -1, NULL, 0,
    "skip the vision tower's backward and updates: the pretrained tower of init stays as it "
    "is (LLaVA's recipe); without init a frozen tower stays at its random init (allowed, "
    "with a warning in the log)" },
  { "checkpoint_every", PT_INT, "50", 0, 1e9, NULL, KP_NOKEY,
    "steps between checkpoints into the cache's per-item memo, from which an interrupted "
    "run resumes (0: none); does not change the outputs" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

enum { OUT_MODEL, OUT_LOG, NOUT };
static const struct kind_output sft_outputs[NOUT + 1] = {
  { "model", "a directory: model.safetensors (F32, Hugging Face LLaVA names, the config in "
             "__metadata__ as llava.* keys) and vocab.json (the word tokenizer)" },
  { "log", "training curve, TSV: step, loss, lr, grad_norm (after a header line)" },
  { NULL, NULL },
};

struct example {
  int row;      /* image row */
  char *prompt; /* borrowed from the texts array */
  char *answer;
};

struct data {
  struct example *ex;
  size_t n, alloc;
  char **texts; /* all prompts and answers (owned), for the vocabulary */
  size_t ntexts;
  uint8_t *pixels; /* nimg * S * S * 3 */
  int nimg, S;
};

static void data_release(struct data *d)
{
  size_t i;
  for (i = 0; i < d->ntexts; i++)
    free(d->texts[i]);
  free(d->texts);
  free(d->ex);
  free(d->pixels);
  memset(d, 0, sizeof *d);
}


static char *add_text(struct data *d, const char *s)
{
  d->texts = xrealloc(d->texts, (d->ntexts + 1) * sizeof *d->texts);
  return d->texts[d->ntexts++] = xstrdup(s);
}

struct read_arg {
  struct data *d;
  const struct gen_split *s;
};

/* Each (human, gpt) turn pair of item i is one example. */
static int add_item(void *arg, size_t i, const cJSON *item, const char *path, size_t line,
                    struct pd_err *err)
{
  struct read_arg *a = arg;
  struct data *d = a->d;
  const cJSON *conv = cJSON_GetObjectItemCaseSensitive(item, "conversations");
  int k, n;
  if (!cJSON_IsArray(conv))
    return ERR_SET(err, PD_EUSAGE, "'%s':%zu: not an item with \"image\" and \"conversations\"",
                   path, line);
  n = cJSON_GetArraySize(conv);
  for (k = 0; k + 1 < n; k += 2) {
    const cJSON *hv = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(conv, k), "value");
    const cJSON *gv = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(conv, k + 1), "value");
    if (!cJSON_IsString(hv) || !cJSON_IsString(gv))
      continue;
    if (d->n == d->alloc) {
      d->alloc = d->alloc ? 2 * d->alloc : 256;
      d->ex = xrealloc(d->ex, d->alloc * sizeof *d->ex);
    }
    d->ex[d->n].row = a->s->items[i].row;
    d->ex[d->n].prompt = add_text(d, hv->valuestring);
    d->ex[d->n].answer = add_text(d, gv->valuestring);
    d->n++;
  }
  return 0;
}

/* The split through gen_split_read (images, index, items); keeps only the
 * pixels and the examples. */
static int read_data(const char *dir, struct data *d, struct pd_err *err)
{
  struct gen_split s;
  struct read_arg a = { d, &s };
  int rc;
  memset(d, 0, sizeof *d);
  if ((rc = gen_split_read(&s, dir, 0, add_item, &a, err)) < 0) {
    data_release(d);
    return rc;
  }
  d->pixels = s.pixels; /* taken over */
  d->nimg = s.nimg;
  d->S = s.S;
  s.pixels = NULL;
  gen_split_release(&s);
  if (d->n == 0) {
    data_release(d);
    return ERR_SET(err, PD_EUSAGE, "'%s/items.jsonl': no (human, gpt) turns to train on", dir);
  }
  return 0;
}

/* --- checkpoints ------------------------------------------------------------------------ */

/* The run's identity for its checkpoints (tasks/train_ckpt.h): every
 * parameter that affects training (not data and init, whose bytes stand
 * for them: a reference's JSON names a task, not its bytes), the digests of
 * the data files and, with init, of the init model file. */
static int ckpt_ident(const struct task *t, const char *dir, const char *init, struct strbuf *id,
                      struct pd_err *err)
{
  static const char *const skip[] = { "data", "init", NULL };
  char *files[3];
  size_t n = 0, i;
  int rc;
  files[n++] = xasprintf("%s/items.jsonl", dir);
  files[n++] = xasprintf("%s/images.safetensors", dir);
  if (init)
    files[n++] = xstrdup(init);
  rc = train_ckpt_ident(id, "train_sft/ckpt/2", t, sft_params, skip, (const char *const *)files,
                        n, err);
  for (i = 0; i < n; i++)
    free(files[i]);
  return rc;
}

/* --- the pretrained tower (init) ------------------------------------------------------- */

/* The init model file: NULL for none, else malloc'd (a directory's
 * model.safetensors, or the file itself). */
static char *init_path(struct task_run *r)
{
  const char *p = task_param(r->task, "init")->kind == V_STR ? NULL : task_run_input(r, "init");
  struct stat sb;
  if (!p)
    return NULL;
  if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
    return xasprintf("%s/model.safetensors", p);
  return xstrdup(p);
}

/* Reads the init checkpoint into im and takes its vision config into cfg.
 * Errors name the file. */
static int init_load(const char *path, int S, struct llava_config *cfg, struct llava *im,
                     struct pd_err *err)
{
  const struct llava_config *c;
  int rc;
  if ((rc = llava_load(im, path, err)) < 0)
    return rc;
  c = &im->cfg;
  if (c->image_size != S || c->channels != cfg->channels) {
    rc = ERR_SET(err, PD_EUSAGE, "init '%s': a tower for %dx%dx%d images, the data's are %dx%dx%d",
                 path, c->image_size, c->image_size, c->channels, S, S, cfg->channels);
    llava_free(im);
    return rc;
  }
  cfg->image_size = c->image_size;
  cfg->patch_size = c->patch_size;
  cfg->v_width = c->v_width;
  cfg->v_layers = c->v_layers;
  cfg->v_heads = c->v_heads;
  cfg->v_mlp = c->v_mlp;
  cfg->feature_layer = c->feature_layer;
  return 0;
}

/* Copies im's vision tower (the parameter prefix) into m, whose config
 * must describe the same tower. */
static int init_copy(struct llava *m, const struct llava *im, const char *path, struct pd_err *err)
{
  const struct llava_config *a = &m->cfg, *b = &im->cfg;
  if (a->image_size != b->image_size || a->patch_size != b->patch_size ||
      a->channels != b->channels || a->v_width != b->v_width || a->v_layers != b->v_layers ||
      a->v_heads != b->v_heads || a->v_mlp != b->v_mlp || a->feature_layer != b->feature_layer ||
      m->num_vision_parameters != im->num_vision_parameters)
    return ERR_SET(err, PD_EUSAGE, "init '%s': its vision tower does not match the model built",
                   path);
  memcpy(m->params_memory, im->params_memory, m->num_vision_parameters * sizeof(float));
  return 0;
}

static int sft_run(struct task_run *r)
{
  const struct task *t = r->task;
  const char *dir = task_run_input(r, "data");
  int B = train_iparam(t, "batch"), max_len = train_iparam(t, "max_len"), steps = train_iparam(t, "steps");
  int warmup = train_iparam(t, "warmup"), every = train_iparam(t, "checkpoint_every"), s0 = 0;
  float lr = train_fparam(t, "lr"), lr_min = train_fparam(t, "lr_min"), wd = train_fparam(t, "weight_decay");
  float clip = train_fparam(t, "clip");
  uint64_t seed = (uint64_t)task_param(t, "seed")->u.i, rng;
  struct llava_config cfg;
  struct llava m;
  struct llava_dp dp;
  struct tokenizer tk;
  struct data d;
  char *path[NOUT] = { NULL }, *mpath = NULL, *vpath = NULL, *ipath = init_path(r);
  struct llava im;
  int *tokens = NULL, *targets = NULL, *btok = NULL, *btgt = NULL, T = 0, s, b, have_model = 0;
  int have_tok = 0, have_init = 0, P, Sz;
  float *weights = NULL, *bw = NULL, *img = NULL;
  size_t *perm = NULL, pos = 0, i, k;
  FILE *tsv = NULL;
  struct strbuf tsvb, id;
  struct train_ckpt st;
  double t0 = train_now(), tstart, first = 0, last = 0;
  int nfirst = 0, nlast = 0, rc, shards = train_iparam(t, "shards"), have_dp = 0;

  memset(&d, 0, sizeof d);
  memset(&st, 0, sizeof st);
  strbuf_init(&tsvb, 0);
  strbuf_init(&id, 0);
  if (!r->cache)
    every = 0;
  task_run_progress(r, 0, "reading data");
  if ((rc = read_data(dir, &d, &r->err)) < 0)
    goto out;
  if ((rc = tokenizer_build_word(&tk, (const char *const *)d.texts, d.ntexts,
                                 train_iparam(t, "vocab_size"), &r->err)) < 0)
    goto out;
  have_tok = 1;

  /* T: the longest example's input length (the sequence less its last
   * token), capped at max_len. */
  {
    int tk3[3], tg3[3];
    float w3[3];
    for (i = 0; i < d.n; i++) {
      int n = tokenizer_example(&tk, d.ex[i].prompt, d.ex[i].answer, 3, tk3, tg3, w3) - 1;
      T = n > T ? n : T;
    }
    T = T < max_len ? T : max_len;
  }
  tokens = xmalloc(d.n * (size_t)T * sizeof *tokens);
  targets = xmalloc(d.n * (size_t)T * sizeof *targets);
  weights = xmalloc(d.n * (size_t)T * sizeof *weights);
  for (i = 0; i < d.n; i++)
    tokenizer_example(&tk, d.ex[i].prompt, d.ex[i].answer, T, tokens + i * (size_t)T,
                      targets + i * (size_t)T, weights + i * (size_t)T);

  llava_config_default(&cfg);
  cfg.image_size = d.S;
  cfg.patch_size = train_iparam(t, "patch_size");
  cfg.v_width = train_iparam(t, "v_width");
  cfg.v_layers = train_iparam(t, "v_layers");
  cfg.v_heads = train_iparam(t, "v_heads");
  cfg.v_mlp = train_iparam(t, "v_mlp");
  cfg.feature_layer = train_iparam(t, "feature_layer");
  cfg.width = train_iparam(t, "width");
  cfg.layers = train_iparam(t, "layers");
  cfg.heads = train_iparam(t, "heads");
  cfg.hidden = train_iparam(t, "hidden");
  cfg.vocab = tk.vocab;
  cfg.image_token = TOK_IMAGE;
  if (ipath) {
    if ((rc = init_load(ipath, d.S, &cfg, &im, &r->err)) < 0)
      goto out;
    have_init = 1;
    fprintf(r->log, "init: the vision tower of '%s' (patch_size %d, v_width %d, v_layers %d, "
            "v_heads %d, v_mlp %d, feature_layer %d); this task's vision parameters are "
            "ignored\n", ipath, cfg.patch_size, cfg.v_width, cfg.v_layers, cfg.v_heads,
            cfg.v_mlp, cfg.feature_layer);
  }
  if (cfg.patch_size > d.S || d.S % cfg.patch_size != 0) {
    rc = ERR_SET(&r->err, PD_EUSAGE, "patch_size %d does not divide the image size %d",
                 cfg.patch_size, d.S);
    goto out;
  }
  P = (d.S / cfg.patch_size) * (d.S / cfg.patch_size);
  cfg.max_seq = P + max_len - 1;
  if ((rc = llava_init(&m, &cfg, seed, &r->err)) < 0)
    goto out;
  have_model = 1;
  if (have_init) {
    rc = init_copy(&m, &im, ipath, &r->err);
    llava_free(&im);
    have_init = 0;
    if (rc < 0)
      goto out;
  }
  m.freeze_vision = task_param(t, "freeze_vision")->u.b;
  if (m.freeze_vision && !ipath)
    fprintf(r->log, "warning: freeze_vision without init: the vision tower stays at its random "
            "init\n");
  if (steps == 0)
    steps = (int)(((size_t)train_iparam(t, "epochs") * d.n + (size_t)B - 1) / (size_t)B);
  if (warmup > steps)
    warmup = steps;

  fprintf(r->log, "%zu examples from %d images (%dx%d) in '%s'; vocabulary of %d ids; T = %d "
          "(+ %d patches)\n", d.n, d.nimg, d.S, d.S, dir, tk.vocab, T, P);
  fprintf(r->log, "model: %zu parameters (%zu vision%s); %d steps of %d, lr %g (warmup %d, "
          "cosine to %g), weight decay %g, clip %g, seed %llu\n",
          m.num_parameters, m.num_vision_parameters, m.freeze_vision ? ", frozen" : "", steps, B,
          (double)lr, warmup, (double)lr_min, (double)wd, (double)clip, (unsigned long long)seed);

  for (k = 0; k < NOUT; k++)
    path[k] = task_run_output(r, sft_outputs[k].name);
  if (!(tsv = fopen(path[OUT_LOG], "w"))) {
    rc = ERR_SET(&r->err, -errno, "cannot write '%s': %s", path[OUT_LOG], strerror(errno));
    goto out;
  }
  strbuf_addstr(&tsvb, "step\tloss\tlr\tgrad_norm\n");

  /* One OpenBLAS thread: the same bits run after run (see the header). */
  openblas_set_num_threads(1);
  Sz = d.S * d.S * 3;
  perm = xmalloc(d.n * sizeof *perm);
  rng = seed ^ 0x5f7a3c1d2b4e6f80ULL;
  train_shuffle(perm, d.n, &rng);
  if (every > 0) {
    memset(&st, 0, sizeof st);
    st.n = d.n;
    st.perm = perm;
    st.tsv = &tsvb;
    if ((rc = ckpt_ident(t, dir, ipath, &id, &r->err)) < 0 ||
        (rc = train_ckpt_load(r->cache, &id, steps, &m, &st, r->log, &r->err)) < 0)
      goto out;
    if (rc == 1) {
      s0 = st.step;
      rng = st.rng;
      pos = st.pos;
      first = st.sums[0];
      last = st.sums[1];
      nfirst = (int)st.sums[2];
      nlast = (int)st.sums[3];
      fprintf(r->log, "resumed from step %d\n", s0);
      fflush(r->log);
    }
  }
  btok = xmalloc((size_t)B * (size_t)T * sizeof *btok);
  btgt = xmalloc((size_t)B * (size_t)T * sizeof *btgt);
  bw = xmalloc((size_t)B * (size_t)T * sizeof *bw);
  img = xmalloc((size_t)B * (size_t)Sz * sizeof *img);
  llava_dp_init(&dp, &m, shards, r->threads);
  have_dp = 1;
  fprintf(r->log, "%d shards of the batch on up to %d threads\n", shards < B ? shards : B,
          r->threads);
  tstart = train_now();
  for (s = s0; s < steps; s++) {
    float loss, norm, lr_s = train_lr_at(s, steps, warmup, lr, lr_min);
    double el, eps;
    int q = steps / 4 > 0 ? steps / 4 : 1;
    if (task_run_cancelled(r)) {
      rc = ERR_SET(&r->err, PD_EINTR, "cancelled at step %d", s);
      goto out;
    }
    for (b = 0; b < B; b++) {
      size_t e, z;
      const uint8_t *px;
      if (pos == d.n) {
        train_shuffle(perm, d.n, &rng);
        pos = 0;
      }
      e = perm[pos++];
      memcpy(btok + (size_t)b * (size_t)T, tokens + e * (size_t)T, (size_t)T * sizeof *btok);
      memcpy(btgt + (size_t)b * (size_t)T, targets + e * (size_t)T, (size_t)T * sizeof *btgt);
      memcpy(bw + (size_t)b * (size_t)T, weights + e * (size_t)T, (size_t)T * sizeof *bw);
      px = d.pixels + (size_t)d.ex[e].row * (size_t)Sz;
      for (z = 0; z < (size_t)Sz; z++)
        img[(size_t)b * (size_t)Sz + z] = (float)px[z] / 255.0f;
    }
    loss = llava_dp_forward(&dp, img, btok, btgt, bw, B, T);
    llava_zero_grad(&m);
    llava_dp_backward(&dp);
    norm = train_clip_grads(&m, clip);
    llava_update(&m, lr_s, 0.9f, 0.999f, 1e-8f, wd, s + 1);
    strbuf_addf(&tsvb, "%d\t%.6f\t%.6g\t%.6f\n", s + 1, (double)loss, (double)lr_s,
                (double)norm);
    if (s < q) {
      first += loss;
      nfirst++;
    }
    if (s >= steps - q) {
      last += loss;
      nlast++;
    }
    if (every > 0 && (s + 1) % every == 0 && s + 1 < steps) {
      st.step = s + 1;
      st.rng = rng;
      st.pos = pos;
      st.sums[0] = first;
      st.sums[1] = last;
      st.sums[2] = nfirst;
      st.sums[3] = nlast;
      if ((rc = train_ckpt_save(r->cache, &id, &m, &st, &r->err)) < 0)
        goto out;
      fprintf(r->log, "checkpoint at step %d\n", s + 1);
      fflush(r->log);
    }
    el = train_now() - tstart;
    eps = (double)(s + 1 - s0) * B / (el > 1e-9 ? el : 1e-9);
    task_run_progress(r, (double)(s + 1) / (double)steps,
                      "step %d/%d loss %.4f %.0f ex/s %.0fs left", s + 1, steps, (double)loss,
                      eps, el / (s + 1) * (steps - s - 1));
  }
  {
    double el = train_now() - tstart;
    fprintf(r->log, "trained in %.2fs: %.1f examples/s; mean loss %.4f over the first quarter, "
            "%.4f over the last\n", el, (double)(steps - s0) * B / (el > 1e-9 ? el : 1e-9),
            nfirst ? first / nfirst : 0.0, nlast ? last / nlast : 0.0);
  }
  {
    int bad = fwrite(tsvb.buf, 1, tsvb.len, tsv) != tsvb.len;
    bad |= fclose(tsv) != 0;
    tsv = NULL;
    if (bad) {
      rc = ERR_SET(&r->err, -errno, "cannot write '%s': %s", path[OUT_LOG], strerror(errno));
      goto out;
    }
  }

  task_run_progress(r, 1.0, "saving");
  if (mkdir(path[OUT_MODEL], 0755) != 0 && errno != EEXIST) {
    rc = ERR_SET(&r->err, -errno, "cannot create '%s': %s", path[OUT_MODEL], strerror(errno));
    goto out;
  }
  mpath = xasprintf("%s/model.safetensors", path[OUT_MODEL]);
  vpath = xasprintf("%s/vocab.json", path[OUT_MODEL]);
  if ((rc = llava_save(&m, mpath, &r->err)) < 0 || (rc = tokenizer_save(&tk, vpath, &r->err)) < 0)
    goto out;
  fprintf(r->log, "done in %.2fs\n", train_now() - t0);
  task_run_progress(r, 1.0, "done");
out:
  if (tsv)
    fclose(tsv);
  for (k = 0; k < NOUT; k++)
    free(path[k]);
  free(mpath);
  free(vpath);
  free(ipath);
  if (have_init)
    llava_free(&im);
  if (have_dp)
    llava_dp_free(&dp);
  free(perm);
  free(btok);
  free(btgt);
  free(bw);
  free(img);
  free(tokens);
  free(targets);
  free(weights);
  if (have_model)
    llava_free(&m);
  if (have_tok)
    tokenizer_release(&tk);
  data_release(&d);
  strbuf_release(&tsvb);
  strbuf_release(&id);
  return rc;
}

static int sft_check(struct graph *g, struct task *t, struct pd_err *err)
{
  const struct val *init = task_param(t, "init");
  (void)g;
  if (!(init->kind == V_STR && init->u.str.n == 0) && init->kind != V_FILE &&
      init->kind != V_DIR && init->kind != V_REF)
    return graph_error_at(err, PD_EGRAPH, &init->loc,
                          "parameter 'init' must be a task's output (a train_vision model), "
                          "a dir(\"...\") or a file(\"...\")");
  return 0;
}

const struct task_kind train_sft_kind = {
  .name = "train_sft",
  .version = 4,
  .doc = "Supervised fine-tuning of the small LLaVA-style model on a split's conversations "
         "(Vicuna v1 template, loss on the answers), from a pretrained vision tower (init, a "
         "train_vision model; frozen by default, LLaVA's recipe) or from scratch; AdamW with "
         "warmup, cosine decay and clipping; deterministic for a seed.",
  .params = sft_params,
  .outputs = sft_outputs,
  .flags = 0,
  .check = sft_check,
  .run = sft_run,
};
