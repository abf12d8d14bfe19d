/* gen_util.c - split reading, model loading and batched generation for
 * the generate and evaluate kinds (gen_util.h).
 *
 * Batching: model/generate.h needs prompts of one length per call, so the
 * requests are ordered by (prompt length, request index) and cut into runs
 * of at most `batch` rows of one length. Greedy answers are those of the
 * row alone: every op of the forward and of the decode step works row by
 * row (sgemm computes each output element over the same reduction order
 * whatever the number of rows; the tests compare batch 1 with batch 5).
 * Sampled answers run one request per call, as generate.c's Philox stream
 * depends on the row index: the key is derived from (seed, request index).
 */
#include "gen_util.h"

#include <cblas.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "generate.h"
#include "llava_io.h"
#include "safetensors.h"
#include "train_util.h"

/* --- split ------------------------------------------------------------------------------ */

static int cmp_key(const void *a, const void *b)
{
  return strcmp(((const struct gen_key *)a)->image, ((const struct gen_key *)b)->image);
}

void gen_split_release(struct gen_split *s)
{
  size_t i;
  for (i = 0; i < s->nindex; i++)
    free(s->index[i].image);
  for (i = 0; i < s->n; i++) {
    free(s->items[i].id);
    free(s->items[i].image);
  }
  free(s->index);
  free(s->items);
  free(s->pixels);
  memset(s, 0, sizeof *s);
}

int gen_split_row(const struct gen_split *s, const char *image)
{
  struct gen_key key, *hit;
  if (s->nindex == 0)
    return -1;
  key.image = (char *)image;
  hit = bsearch(&key, s->index, s->nindex, sizeof *s->index, cmp_key);
  return hit ? hit->row : -1;
}

static int read_images(struct gen_split *s, const char *path, struct pd_err *err)
{
  struct safetensors st;
  const struct st_tensor *t;
  size_t bytes;
  int rc;
  if ((rc = safetensors_open(&st, path, err)) < 0)
    return rc;
  t = safetensors_find(&st, "images");
  if (!t || strcmp(t->dtype, "U8") != 0 || t->ndim != 4 || t->shape[1] != t->shape[2] ||
      t->shape[3] != 3 || t->shape[0] < 1 || t->shape[0] > 1 << 30 || t->shape[1] > 4096) {
    safetensors_close(&st);
    return ERR_SET(err, PD_EUSAGE, "'%s': expected a tensor \"images\" U8 [N, S, S, 3]", path);
  }
  s->nimg = (int)t->shape[0];
  s->S = (int)t->shape[1];
  bytes = (size_t)s->nimg * (size_t)s->S * (size_t)s->S * 3;
  s->pixels = xmalloc(bytes);
  rc = safetensors_read(&st, t, 0, s->pixels, bytes, err);
  safetensors_close(&st);
  return rc;
}

/* index.tsv: a header line, then image<TAB>row. */
static int read_index(struct gen_split *s, const char *path, struct pd_err *err)
{
  char *text = train_read_text(path, err), *line, *next;
  size_t lineno = 1, i;
  int rc = 0;
  if (!text)
    return err->code;
  line = strchr(text, '\n');
  for (line = line ? line + 1 : NULL; line && *line; line = next) {
    char *tab = strchr(line, '\t'), *end = strchr(line, '\n'), *num;
    long row;
    lineno++;
    next = end ? end + 1 : NULL;
    if (end)
      *end = '\0';
    if (!*line)
      continue;
    if (!tab || tab == line || (row = strtol(tab + 1, &num, 10)) < 0 || row >= s->nimg ||
        num == tab + 1 || (*num && *num != '\r')) {
      rc = ERR_SET(err, PD_EUSAGE, "'%s':%zu: expected image<TAB>row (a row below %d), got '%s'",
                   path, lineno, s->nimg, line);
      goto out;
    }
    *tab = '\0';
    s->index = xrealloc(s->index, (s->nindex + 1) * sizeof *s->index);
    s->index[s->nindex].image = xstrdup(line);
    s->index[s->nindex++].row = (int)row;
  }
  if (s->nindex > 1)
    qsort(s->index, s->nindex, sizeof *s->index, cmp_key);
  for (i = 1; i < s->nindex; i++)
    if (strcmp(s->index[i - 1].image, s->index[i].image) == 0) {
      rc = ERR_SET(err, PD_EUSAGE, "'%s': image '%s' appears twice", path, s->index[i].image);
      goto out;
    }
out:
  free(text);
  return rc;
}

int gen_split_read(struct gen_split *s, const char *dir, size_t limit, gen_item_cb *cb,
                   void *arg, struct pd_err *err)
{
  char *ipath = xasprintf("%s/items.jsonl", dir), *xpath = xasprintf("%s/index.tsv", dir);
  char *spath = xasprintf("%s/images.safetensors", dir), *text = NULL, *line, *next;
  size_t lineno = 0;
  int rc;

  memset(s, 0, sizeof *s);
  if ((rc = read_images(s, spath, err)) < 0 || (rc = read_index(s, xpath, err)) < 0)
    goto out;
  if (!(text = train_read_text(ipath, err))) {
    rc = err->code;
    goto out;
  }
  for (line = text; line && *line && (limit == 0 || s->n < limit); line = next) {
    char *end = strchr(line, '\n');
    cJSON *j, *img, *id;
    int row;
    lineno++;
    next = end ? end + 1 : NULL;
    if (end)
      *end = '\0';
    if (!line[strspn(line, " \t\r")])
      continue;
    j = cJSON_Parse(line);
    img = cJSON_GetObjectItemCaseSensitive(j, "image");
    id = cJSON_GetObjectItemCaseSensitive(j, "id");
    if (!cJSON_IsString(img) || (id && !cJSON_IsString(id))) {
      cJSON_Delete(j);
      rc = ERR_SET(err, PD_EUSAGE, "'%s':%zu: not an item with a string \"image\"", ipath,
                   lineno);
      goto out;
    }
    if ((row = gen_split_row(s, img->valuestring)) < 0) {
      rc = ERR_SET(err, PD_EUSAGE, "'%s':%zu: image '%s' is not in index.tsv", ipath, lineno,
                   img->valuestring);
      cJSON_Delete(j);
      goto out;
    }
    s->items = xrealloc(s->items, (s->n + 1) * sizeof *s->items);
    s->items[s->n].id = xstrdup(id ? id->valuestring : img->valuestring);
    s->items[s->n].image = xstrdup(img->valuestring);
    s->items[s->n].row = row;
    s->items[s->n].line = lineno;
    s->n++;
    rc = cb ? cb(arg, s->n - 1, j, ipath, lineno, err) : 0;
    cJSON_Delete(j);
    if (rc < 0)
      goto out;
  }
  if (s->n == 0)
    rc = ERR_SET(err, PD_EUSAGE, "'%s': no items", ipath);
out:
  if (rc < 0)
    gen_split_release(s);
  free(text);
  free(ipath);
  free(xpath);
  free(spath);
  return rc;
}

/* --- model ------------------------------------------------------------------------------ */

int gen_model_load(struct gen_model *gm, const char *dir, struct pd_err *err)
{
  char *mpath = xasprintf("%s/model.safetensors", dir), *vpath = xasprintf("%s/vocab.json", dir);
  uint8_t d[PD_DIGEST_LEN];
  uint64_t size;
  int rc;
  memset(gm, 0, sizeof *gm);
  if ((rc = digest_file(mpath, d, &size, err)) < 0)
    goto out;
  digest_hex(d, gm->digest);
  if ((rc = tokenizer_load(&gm->tk, vpath, err)) < 0)
    goto out;
  if ((rc = llava_load(&gm->m, mpath, err)) < 0) {
    tokenizer_release(&gm->tk);
    goto out;
  }
  if (gm->m.cfg.vocab != gm->tk.vocab || gm->m.cfg.image_token != TOK_IMAGE) {
    rc = ERR_SET(err, PD_EUSAGE, "'%s': the model has %d token ids (image token %d), '%s' "
                 "has %d", mpath, gm->m.cfg.vocab, gm->m.cfg.image_token, vpath, gm->tk.vocab);
    gen_model_release(gm);
  }
out:
  free(mpath);
  free(vpath);
  return rc;
}

void gen_model_release(struct gen_model *gm)
{
  llava_free(&gm->m);
  tokenizer_release(&gm->tk);
  memset(gm, 0, sizeof *gm);
}

int *gen_prompt(const struct gen_model *gm, const char *text, int *n)
{
  /* tokenizer_example gives <s> USER: <image> prompt ASSISTANT: </s> for an
   * empty answer; its length tells the T that holds it whole. */
  int len = tokenizer_example(&gm->tk, text, "", 3, (int[3]){ 0 }, (int[3]){ 0 },
                              (float[3]){ 0 });
  int T = len < 3 ? 3 : len, *tok = xmalloc((size_t)T * sizeof *tok);
  int *tgt = xmalloc((size_t)T * sizeof *tgt);
  float *w = xmalloc((size_t)T * sizeof *w);
  tokenizer_example(&gm->tk, text, "", T, tok, tgt, w);
  free(tgt);
  free(w);
  ASSERT(len >= 5 && tok[len - 1] == TOK_EOS && tok[len - 2] == TOK_ASSISTANT);
  *n = len - 1;
  return tok;
}

/* --- generation ------------------------------------------------------------------------- */

struct order {
  int Tp;
  size_t i;
};

static int cmp_order(const void *a, const void *b)
{
  const struct order *x = a, *y = b;
  if (x->Tp != y->Tp)
    return x->Tp < y->Tp ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

/* One batch: requests ord[i0 .. i0 + nb) of prompt length Tp. */
struct gen_batch {
  size_t i0;
  int nb, Tp;
};

/* What the threads share. Batches are taken in order from `next`; each is
 * computed whole by one thread on its own model (the caller's, or a
 * replica sharing its parameters), so which thread runs it changes no bit. */
struct gen_job {
  const struct gen_split *s;
  struct gen_req *reqs;
  const struct gen_opts *o;
  const struct order *ord;
  const struct gen_batch *batch;
  size_t nbatch;
  int B, Tmax;
  atomic_size_t next, done, tokens;
  atomic_int stop;
};

/* One thread's batch buffers. */
struct gen_bufs {
  int *prompt, *out, *len;
  float *img;
};

static void gen_bufs_init(struct gen_bufs *b, const struct gen_job *j)
{
  size_t B = (size_t)j->B, Sz = (size_t)j->s->S * (size_t)j->s->S * 3;
  b->prompt = xmalloc(B * (size_t)j->Tmax * sizeof *b->prompt);
  b->out = xmalloc(B * (size_t)j->o->max_new_tokens * sizeof *b->out);
  b->len = xmalloc(B * sizeof *b->len);
  b->img = xmalloc(B * Sz * sizeof *b->img);
}

static void gen_bufs_free(struct gen_bufs *b)
{
  free(b->prompt);
  free(b->out);
  free(b->len);
  free(b->img);
}

/* Runs batches on model m until none is left or stop is set; returns after
 * one batch when `one` is set (the caller's thread, which reports
 * progress). Returns whether it ran a batch. */
static int gen_work(struct gen_job *j, struct llava *m, struct gen_bufs *bf, int one)
{
  const struct gen_opts *o = j->o;
  int M = o->max_new_tokens, Sz = j->s->S * j->s->S * 3;
  int *prompt = bf->prompt, *out = bf->out, *len = bf->len;
  float *img = bf->img;
  size_t k;
  int did = 0;
  while (!atomic_load(&j->stop) && (k = atomic_fetch_add(&j->next, 1)) < j->nbatch) {
    const struct gen_batch *bt = &j->batch[k];
    int Tp = bt->Tp, nb = bt->nb, b;
    uint64_t seed = o->seed;
    size_t tok = 0;
    for (b = 0; b < nb; b++) {
      const struct gen_req *q = &j->reqs[j->ord[bt->i0 + (size_t)b].i];
      const uint8_t *px = j->s->pixels + (size_t)q->row * (size_t)Sz;
      int z;
      ASSERT(q->row >= 0 && q->row < j->s->nimg);
      memcpy(prompt + (size_t)b * (size_t)Tp, q->prompt, (size_t)Tp * sizeof *prompt);
      for (z = 0; z < Sz; z++)
        img[(size_t)b * (size_t)Sz + (size_t)z] = (float)px[z] / 255.0f;
    }
    if (o->temperature > 0.0f) {
      uint64_t st = o->seed + 0x9e3779b97f4a7c15ULL * (uint64_t)j->ord[bt->i0].i;
      seed = train_rng_next(&st);
    }
    llava_generate_bias(m, img, prompt, nb, Tp, M, TOK_EOS, o->temperature, o->top_p, seed,
                        o->eos_bias, out, len);
    for (b = 0; b < nb; b++) {
      struct gen_req *q = &j->reqs[j->ord[bt->i0 + (size_t)b].i];
      memcpy(q->out, out + (size_t)b * (size_t)M, (size_t)M * sizeof *out);
      q->len = len[b];
      tok += (size_t)len[b] + (len[b] < M);
    }
    atomic_fetch_add(&j->tokens, tok);
    atomic_fetch_add(&j->done, (size_t)nb);
    did = 1;
    if (one)
      break;
  }
  return did;
}

struct gen_worker {
  struct gen_job *job;
  struct llava rep;
};

static void *gen_worker_main(void *arg)
{
  struct gen_worker *w = arg;
  struct gen_bufs bf;
  gen_bufs_init(&bf, w->job);
  gen_work(w->job, &w->rep, &bf, 0);
  gen_bufs_free(&bf);
  return NULL;
}

int gen_run(struct gen_model *gm, const struct gen_split *s, struct gen_req *reqs, size_t n,
            const struct gen_opts *o, gen_progress_cb *cb, void *arg, struct pd_err *err)
{
  const struct llava_config *c = &gm->m.cfg;
  int P = gm->m.num_patches;
  int B = o->temperature > 0.0f ? 1 : o->batch, Tmax = 0, nt = 0, k;
  struct order *ord = NULL;
  struct gen_batch *batch = NULL;
  struct gen_worker *wk = NULL;
  pthread_t *tid = NULL;
  struct gen_job j;
  size_t i, nbatch = 0;
  int rc = 0, threads = o->threads > 1 ? o->threads : 1;

  ASSERT(o->max_new_tokens >= 1 && o->batch >= 1);
  if (s->S != c->image_size || c->channels != 3)
    return ERR_SET(err, PD_EUSAGE, "the split's images are %dx%dx3, the model takes %dx%dx%d",
                   s->S, s->S, c->image_size, c->image_size, c->channels);
  if (n == 0)
    return 0;
  ord = xmalloc(n * sizeof *ord);
  for (i = 0; i < n; i++) {
    ord[i].Tp = reqs[i].Tp;
    ord[i].i = i;
    Tmax = reqs[i].Tp > Tmax ? reqs[i].Tp : Tmax;
    if (reqs[i].Tp - 1 + P > c->max_seq) {
      rc = ERR_SET(err, PD_EUSAGE, "a prompt of %d tokens does not fit the model: %d + %d "
                   "image positions > max_seq %d", reqs[i].Tp, reqs[i].Tp - 1, P, c->max_seq);
      goto out;
    }
  }
  qsort(ord, n, sizeof *ord, cmp_order);
  batch = xmalloc(n * sizeof *batch);
  for (i = 0; i < n;) {
    int nb = 0;
    while (i + (size_t)nb < n && nb < B && ord[i + (size_t)nb].Tp == ord[i].Tp)
      nb++;
    batch[nbatch].i0 = i;
    batch[nbatch].nb = nb;
    batch[nbatch].Tp = ord[i].Tp;
    nbatch++;
    i += (size_t)nb;
  }
  memset(&j, 0, sizeof j);
  j.s = s;
  j.reqs = reqs;
  j.o = o;
  j.ord = ord;
  j.batch = batch;
  j.nbatch = nbatch;
  j.B = B;
  j.Tmax = Tmax;
  /* Same bits run after run (kernels/cpu/matmul.c), on any thread count. */
  openblas_set_num_threads(1);
  if ((size_t)threads > nbatch)
    threads = (int)nbatch;
  if (threads > 1) {
    wk = xcalloc((size_t)threads, sizeof *wk);
    tid = xcalloc((size_t)threads, sizeof *tid);
    for (k = 1; k < threads; k++) {
      wk[nt].job = &j;
      llava_replica(&wk[nt].rep, &gm->m);
      if (pthread_create(&tid[nt], NULL, gen_worker_main, &wk[nt]) != 0) {
        llava_free(&wk[nt].rep); /* the others (and this thread) do the work */
        break;
      }
      nt++;
    }
  }
  {
    struct gen_bufs bf;
    gen_bufs_init(&bf, &j);
    while (gen_work(&j, &gm->m, &bf, 1))
      if (cb && cb(arg, atomic_load(&j.done), n, atomic_load(&j.tokens)))
        atomic_store(&j.stop, 1);
    gen_bufs_free(&bf);
  }
  for (k = 0; k < nt; k++) {
    pthread_join(tid[k], NULL);
    llava_free(&wk[k].rep);
  }
  if (atomic_load(&j.stop))
    rc = ERR_SET(err, PD_EINTR, "cancelled after %zu of %zu answers", atomic_load(&j.done), n);
  else if (cb && nt > 0)
    cb(arg, n, n, atomic_load(&j.tokens)); /* the last batches may have been the others' */
out:
  free(ord);
  free(batch);
  free(wk);
  free(tid);
  return rc;
}
