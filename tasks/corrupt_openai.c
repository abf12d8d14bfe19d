/* corrupt_openai.c - corrupt_captions' `openai` backend (corrupt_openai.h).
 *
 * One job per description turn (the human turn starts with "Describe", as
 * for the rules): the chosen answer is the ground truth rendered from the
 * item's objects (corrupt_describe, label noise left out), the rejected one
 * is the model's rewrite of it, the image attached as a PNG data URL. A
 * rewrite equal to the chosen answer is skipped as "unchanged".
 *
 * Everything runs on the kind's worker thread: the items are read and
 * parsed first, then a private uv loop drives the requests, then the pairs
 * are written in item order (so the output does not depend on the order
 * responses arrive). Memo reads and writes are synchronous LMDB calls on
 * that thread; they hold up only this task's own loop.
 *
 * Left out: yes/no turns (questions = true is refused with this backend),
 * checking that the rewrite is false of the image (a model's text cannot
 * be parsed back into objects in general), the orchestrator's shared loop
 * (each task has its own), streaming responses.
 */
#include "corrupt_openai.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cJSON.h>
#include <stb_image_write.h>
#include <uv.h>

#include "cache.h"
#include "corrupt_pairs.h"
#include "graph.h"
#include "http_retry.h"
#include "rate_limit.h"
#include "registry.h"
#include "run.h"
#include "safetensors.h"

#define container_of(ptr, type, member) \
  ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define EXAMPLES 20       /* skipped answers listed by id */
#define MAXSLOTS 1024     /* concurrency cap */
#define IMAGE_TOKENS 85.0 /* a low-detail image in OpenAI's accounting, for the tpm estimate */

const char corrupt_openai_default_prompt[] =
    "You are helping to build a dataset that teaches a vision-language model not to "
    "hallucinate. Below is a correct description of the attached image and the list of the "
    "objects it holds. Rewrite the description into a plausible but wrong one by making one "
    "or two of these edits:\n"
    "1. add an object that often co-occurs with the objects present but is absent from the "
    "image;\n"
    "2. change the relation or position of an object (left/right, top/bottom, next to);\n"
    "3. change an attribute of an object (its colour, size, shape or count).\n"
    "Keep the style, the sentence structure and the length of the original, change nothing "
    "else, and reply with the rewritten description only.\n\n"
    "Objects: {objects}\n"
    "Correct description: {answer}";

enum { SKIP_NO_OBJECTS, SKIP_NO_DESCRIPTION, SKIP_UNCHANGED, NSKIP };
static const char *const skip_keys[NSKIP] = { "no_objects", "no_description", "unchanged" };

/* --- pure helpers ---------------------------------------------------------- */

void corrupt_openai_render(const char *tmpl, const char *answer, const char *objects,
                           const char *question, struct strbuf *out)
{
  static const struct { const char *name; size_t n; } ph[] = {
    { "{answer}", 8 }, { "{objects}", 9 }, { "{question}", 10 },
  };
  const char *val[3] = { answer, objects, question };
  const char *s = tmpl;
  while (*s) {
    const char *b = strchr(s, '{');
    size_t k;
    if (!b) {
      strbuf_addstr(out, s);
      return;
    }
    strbuf_add(out, s, (size_t)(b - s));
    for (k = 0; k < 3; k++)
      if (strncmp(b, ph[k].name, ph[k].n) == 0)
        break;
    if (k < 3) {
      strbuf_addstr(out, val[k]);
      s = b + ph[k].n;
    } else {
      strbuf_addch(out, '{');
      s = b + 1;
    }
  }
}

void corrupt_openai_objects(const struct corrupt_world *w, const struct corrupt_mention *m,
                            int n, struct strbuf *out)
{
  int k;
  if (n == 0)
    strbuf_addstr(out, "none");
  for (k = 0; k < n; k++)
    strbuf_addf(out, "%s%s %s (%s)", k ? "; " : "", w->colour[m[k].colour], w->cat[m[k].cat],
                w->pos[m[k].pos]);
}

void corrupt_openai_base64(const void *p, size_t n, struct strbuf *out)
{
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *s = p;
  size_t i;
  strbuf_grow(out, (n + 2) / 3 * 4);
  for (i = 0; i + 2 < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
    char q[4] = { tab[v >> 18], tab[v >> 12 & 63], tab[v >> 6 & 63], tab[v & 63] };
    strbuf_add(out, q, 4);
  }
  if (i < n) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0u);
    char q[4] = { tab[v >> 18], tab[v >> 12 & 63], i + 1 < n ? tab[v >> 6 & 63] : '=', '=' };
    strbuf_add(out, q, 4);
  }
}

static void add_field(struct digest_ctx *d, const void *p, size_t n)
{
  uint64_t len = n;
  digest_update(d, &len, sizeof len);
  digest_update(d, p, n);
}

static void add_str(struct digest_ctx *d, const char *s)
{
  add_field(d, s, strlen(s));
}

void corrupt_openai_item_digest(const char *chosen, const char *question, const char *image,
                                const uint8_t pixels[PD_DIGEST_LEN],
                                uint8_t out[PD_DIGEST_LEN])
{
  struct digest_ctx d;
  digest_init(&d);
  add_str(&d, chosen);
  add_str(&d, question);
  add_str(&d, image);
  add_field(&d, pixels, PD_DIGEST_LEN);
  digest_final(&d, out);
}

void corrupt_openai_memo_key(const struct corrupt_openai_key *k, uint8_t out[PD_DIGEST_LEN])
{
  struct digest_ctx d;
  char num[64];
  digest_init(&d);
  add_str(&d, "corrupt_captions/openai/1");
  add_field(&d, k->item, PD_DIGEST_LEN);
  add_field(&d, k->prompt, PD_DIGEST_LEN);
  add_str(&d, k->model);
  snprintf(num, sizeof num, "%.17g", k->temperature);
  add_str(&d, num);
  snprintf(num, sizeof num, "%ld", k->max_tokens);
  add_str(&d, num);
  snprintf(num, sizeof num, "%llu", (unsigned long long)k->seed);
  add_str(&d, num);
  add_str(&d, k->base_url);
  digest_final(&d, out);
}

int corrupt_openai_loopback(const char *url)
{
  const char *h = strstr(url, "://"), *end;
  size_t n, i;
  if (!h)
    return 0;
  h += 3;
  if ((end = strchr(h, '@')) && end < h + strcspn(h, "/"))
    h = end + 1; /* user:password@ */
  if (*h == '[')
    return strncmp(h, "[::1]", 5) == 0;
  n = strcspn(h, ":/?#");
  if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
    return 1;
  if (n < 7 || strncmp(h, "127.", 4) != 0)
    return 0;
  for (i = 4; i < n; i++) /* 127.x.y.z, nothing like 127.0.0.1.example.com */
    if (h[i] != '.' && !isdigit((unsigned char)h[i]))
      return 0;
  return 1;
}

/* --- the run's state -------------------------------------------------------- */

enum job_state {
  JOB_WAITING, /* not looked at yet */
  JOB_SENT,    /* a request in flight */
  JOB_DONE,    /* text holds the rewrite (from the memo or the API) */
  JOB_SKIPPED  /* no request: counted in skip (no objects) */
};

struct job {
  size_t item;
  int turn;
  const char *question;       /* borrowed from the item */
  enum job_state state;
  int memo;                   /* served from the memo */
  int skip;                   /* SKIP_* when skipped */
  char *text;                 /* the model's rewrite */
  long ptok, ctok;            /* usage */
};

struct slot {
  struct http_retry c;
  struct oa *o;
  size_t job;
  int busy;
  double est;                 /* tokens taken from the limiter */
  uint8_t key[PD_DIGEST_LEN];
  char *body;
};

struct oa {
  struct task_run *r;
  struct corrupt_world w;
  struct corrupt_item *items;
  size_t nitems;
  struct job *jobs;
  size_t njobs, next;
  /* Images. */
  struct safetensors st;
  int st_open;
  const struct st_tensor *img;
  int H, W;
  char **names;               /* index.tsv, sorted by name: "ID\tROW" with the tab cut */
  size_t nnames;
  /* Request parameters. */
  const char *model, *base_url;
  char *url, *auth, *tmpl;
  const char *headers[2];
  double temperature;
  long max_tokens, timeout_s;
  uint64_t seed;
  int replay, max_attempts;
  uint8_t prompt_digest[PD_DIGEST_LEN];
  /* Loop. */
  uv_loop_t loop;
  struct http h;
  uv_timer_t tick;            /* checks cancellation; kicks the pump */
  struct rate_limit limit;
  int limited;
  uint64_t rng;
  struct slot *slots;
  int nslots, inflight, failed, closing;
  /* Counters. */
  size_t requests, retries, memo_hits, sent_done;
  long ptok, ctok, spent_ptok, spent_ctok;
};

static int name_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Row of image id in images.safetensors, or -1. */
static long image_row(const struct oa *o, const char *id)
{
  char **p = bsearch(&id, o->names, o->nnames, sizeof *o->names, name_cmp);
  return p ? strtol(*p + strlen(*p) + 1, NULL, 10) : -1;
}

static int read_index(struct oa *o, const char *path, struct pd_err *err)
{
  FILE *f = fopen(path, "r");
  char *line = NULL, *tab;
  size_t cap = 0, lineno = 0, alloc = 0;
  ssize_t len;
  if (!f)
    return ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
  while ((len = getline(&line, &cap, f)) >= 0) {
    if (lineno++ == 0)
      continue; /* header */
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if (len == 0 || !(tab = strchr(line, '\t')))
      continue;
    if (o->nnames == alloc) {
      alloc = alloc ? 2 * alloc : 1024;
      o->names = xrealloc(o->names, alloc * sizeof *o->names);
    }
    *tab = '\0';
    o->names[o->nnames] = xmalloc((size_t)len + 1);
    memcpy(o->names[o->nnames++], line, (size_t)len + 1);
  }
  free(line);
  fclose(f);
  qsort(o->names, o->nnames, sizeof *o->names, name_cmp);
  return 0;
}

static int open_images(struct oa *o, const char *dir, struct pd_err *err)
{
  char *st = xasprintf("%s/images.safetensors", dir), *idx = xasprintf("%s/index.tsv", dir);
  int rc;
  if ((rc = safetensors_open(&o->st, st, err)) < 0)
    goto out;
  o->st_open = 1;
  o->img = safetensors_find(&o->st, "images");
  if (!o->img || strcmp(o->img->dtype, "U8") != 0 || o->img->ndim != 4 ||
      o->img->shape[3] != 3) {
    rc = ERR_SET(err, PD_ECORRUPT, "'%s': expected a tensor 'images', U8 [N, H, W, 3]", st);
    goto out;
  }
  o->H = (int)o->img->shape[1];
  o->W = (int)o->img->shape[2];
  rc = read_index(o, idx, err);
out:
  free(st);
  free(idx);
  return rc;
}

/* --- items and jobs ----------------------------------------------------------- */

static const char *strip_image(const char *s)
{
  if (strncmp(s, "<image>", 7) == 0)
    s += 7;
  while (*s == '\n' || *s == ' ')
    s++;
  return s;
}

static int read_items(struct oa *o, const char *path, struct pd_err *err)
{
  FILE *f = fopen(path, "r");
  char *line = NULL, why[200];
  size_t cap = 0, lineno = 0, alloc = 0, jalloc = 0;
  ssize_t len;
  int rc = 0, t;
  if (!f)
    return ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
  while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
    struct corrupt_item *it;
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
      len--;
    if (len == 0)
      continue;
    if (o->nitems == alloc) {
      alloc = alloc ? 2 * alloc : 1024;
      o->items = xrealloc(o->items, alloc * sizeof *o->items);
    }
    it = &o->items[o->nitems];
    if (corrupt_item_parse(it, &o->w, line, (size_t)len, why, sizeof why) < 0) {
      rc = ERR_SET(err, PD_ECORRUPT, "'%s':%zu: %s", path, lineno, why);
      break;
    }
    o->nitems++;
    for (t = 1; t < it->nturn; t++) {
      if (it->turn[t].human || !it->turn[t - 1].human ||
          strncmp(strip_image(it->turn[t - 1].value), "Describe", 8) != 0)
        continue;
      if (o->njobs == jalloc) {
        jalloc = jalloc ? 2 * jalloc : 1024;
        o->jobs = xrealloc(o->jobs, jalloc * sizeof *o->jobs);
      }
      memset(&o->jobs[o->njobs], 0, sizeof *o->jobs);
      o->jobs[o->njobs].item = o->nitems - 1;
      o->jobs[o->njobs].turn = t;
      o->jobs[o->njobs++].question = it->turn[t - 1].value;
    }
  }
  if (rc == 0 && ferror(f))
    rc = ERR_SET(err, PD_EIO, "cannot read '%s'", path);
  free(line);
  fclose(f);
  return rc;
}

/* --- the loop ------------------------------------------------------------------ */

static void fail(struct oa *o, int code, const char *msg)
{
  int k;
  ERR_SET(&o->r->err, code, "%s", msg);
  if (o->failed)
    return;
  o->failed = 1;
  for (k = 0; k < o->nslots; k++)
    if (o->slots[k].busy)
      http_retry_cancel(&o->slots[k].c);
}

static void maybe_finish(struct oa *o)
{
  if (o->closing || o->inflight > 0 || (!o->failed && o->next < o->njobs))
    return;
  o->closing = 1;
  uv_close((uv_handle_t *)&o->tick, NULL);
  http_close(&o->h, NULL);
}

static void png_write(void *ctx, void *data, int size)
{
  strbuf_add(ctx, data, (size_t)size);
}

/* Parses a memo value or a chat response: text and usage. Returns 0 or -1. */
static int parse_memo(const char *s, size_t n, struct job *j)
{
  cJSON *root = cJSON_ParseWithLength(s, n), *text, *u;
  int rc = -1;
  if (!root)
    return -1;
  text = cJSON_GetObjectItemCaseSensitive(root, "text");
  u = cJSON_GetObjectItemCaseSensitive(root, "usage");
  if (cJSON_IsString(text)) {
    j->text = xstrdup(text->valuestring);
    j->ptok = (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens"));
    j->ctok =
        (long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(u, "completion_tokens"));
    if (j->ptok < 0) /* NaN when absent casts to garbage on some targets: keep it sane */
      j->ptok = 0;
    if (j->ctok < 0)
      j->ctok = 0;
    rc = 0;
  }
  cJSON_Delete(root);
  return rc;
}

static char *trim(const char *s)
{
  size_t n;
  while (isspace((unsigned char)*s))
    s++;
  n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    n--;
  {
    char *t = xmalloc(n + 1);
    memcpy(t, s, n);
    t[n] = '\0';
    return t;
  }
}

static void on_tick(uv_timer_t *t);

static void on_done(struct http_retry *c, int status)
{
  struct slot *s = container_of(c, struct slot, c);
  struct oa *o = s->o;
  struct job *j = &o->jobs[s->job];
  o->requests += (size_t)c->attempts;
  o->retries += c->attempts > 1 ? (size_t)(c->attempts - 1) : 0;
  if (status == 0 && !o->failed) {
    cJSON *root = cJSON_ParseWithLength(c->req.resp.buf, c->req.resp.len), *u;
    const char *content = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(
                                             cJSON_GetObjectItemCaseSensitive(root, "choices"),
                                             0),
                                         "message"),
        "content"));
    struct strbuf v;
    struct pd_err err;
    memset(&err, 0, sizeof err);
    u = cJSON_GetObjectItemCaseSensitive(root, "usage");
    if (content) { /* the validator saw it; NULL only if memory ran out */
      double p = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens"));
      double q = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(u, "completion_tokens"));
      j->text = trim(content);
      j->ptok = p == p && p > 0 ? (long)p : 0;
      j->ctok = q == q && q > 0 ? (long)q : 0;
      if (o->limited && (j->ptok || j->ctok))
        rate_limit_adjust(&o->limit, (double)(j->ptok + j->ctok) - s->est);
      strbuf_init(&v, 256);
      strbuf_addstr(&v, "{\"text\":");
      strbuf_add_json_str(&v, j->text, strlen(j->text));
      strbuf_addf(&v, ",\"usage\":{\"prompt_tokens\":%ld,\"completion_tokens\":%ld}}", j->ptok,
                  j->ctok);
      /* Committed now: a run killed after this line never asks again. */
      if (cache_memo_put(o->r->cache, s->key, v.buf, v.len, &err) < 0)
        fail(o, err.code, err.msg);
      strbuf_release(&v);
      j->state = JOB_DONE;
      o->spent_ptok += j->ptok;
      o->spent_ctok += j->ctok;
      o->sent_done++;
    } else {
      fail(o, PD_ENOMEM, "cannot parse a validated response");
    }
    cJSON_Delete(root);
  } else if (status != 0 && !o->failed) {
    const struct corrupt_item *it = &o->items[j->item];
    char *msg = xasprintf("item '%s': %s", it->id, c->err.msg);
    fail(o, status, msg);
    free(msg);
  }
  free(s->body);
  s->body = NULL;
  http_retry_release(&s->c);
  s->busy = 0;
  o->inflight--;
  task_run_progress(o->r, 0.05 + 0.9 * (double)(o->next - (size_t)o->inflight) /
                                 (double)(o->njobs ? o->njobs : 1),
                    "%zu of %zu answers", o->next - (size_t)o->inflight, o->njobs);
  /* The slot is reused from the tick, never from inside its own done. */
  if (!o->closing)
    uv_timer_start(&o->tick, on_tick, 0, 100);
  maybe_finish(o);
}

/* Prepares job o->next: memo lookup, else a request on slot s. Returns 1
 * when a request was started, 0 when the job needed none, -1 on failure. */
static int start_job(struct oa *o, struct slot *s)
{
  size_t ji = o->next++;
  struct job *j = &o->jobs[ji];
  const struct corrupt_item *it = &o->items[j->item];
  struct corrupt_openai_key k;
  struct strbuf chosen, objects, text, png, body;
  uint8_t *pix = NULL, pixd[PD_DIGEST_LEN];
  size_t npix = (size_t)o->H * (size_t)o->W * 3;
  long row;
  char *val = NULL, *msg;
  size_t nval = 0;
  int rc = -1, got;
  struct pd_err err;

  memset(&err, 0, sizeof err);
  if (it->nobj == 0) {
    j->state = JOB_SKIPPED;
    j->skip = SKIP_NO_OBJECTS;
    return 0;
  }
  strbuf_init(&chosen, 256);
  strbuf_init(&objects, 256);
  strbuf_init(&text, 1024);
  strbuf_init(&png, 4096);
  strbuf_init(&body, 8192);
  corrupt_describe(&o->w, it->obj, it->nobj, &chosen);
  if ((row = image_row(o, it->image)) < 0 || row >= o->img->shape[0]) {
    msg = xasprintf("item '%s': image '%s' is not in the split's index.tsv", it->id, it->image);
    fail(o, PD_ECORRUPT, msg);
    free(msg);
    goto out;
  }
  pix = xmalloc(npix);
  if (safetensors_read(&o->st, o->img, (uint64_t)row * npix, pix, npix, &err) < 0) {
    fail(o, err.code, err.msg);
    goto out;
  }
  digest_buf(pix, npix, pixd);
  memset(&k, 0, sizeof k);
  corrupt_openai_item_digest(chosen.buf, j->question, it->image, pixd, k.item);
  memcpy(k.prompt, o->prompt_digest, sizeof k.prompt);
  k.model = o->model;
  k.base_url = o->base_url;
  k.temperature = o->temperature;
  k.max_tokens = o->max_tokens;
  k.seed = o->seed;
  corrupt_openai_memo_key(&k, s->key);
  if ((got = cache_memo_get(o->r->cache, s->key, &val, &nval, &err)) < 0) {
    fail(o, err.code, err.msg);
    goto out;
  }
  if (got == 1 && parse_memo(val, nval, j) == 0) {
    j->state = JOB_DONE;
    j->memo = 1;
    o->memo_hits++;
    rc = 0;
    goto out;
  }
  if (o->replay) {
    msg = xasprintf("replay: no memoized response for item '%s' (turn %d); run without "
                    "replay to request it", it->id, j->turn);
    fail(o, PD_ENOTFOUND, msg);
    free(msg);
    goto out;
  }

  corrupt_openai_objects(&o->w, it->obj, it->nobj, &objects);
  corrupt_openai_render(o->tmpl, chosen.buf, objects.buf, strip_image(j->question), &text);
  if (!stbi_write_png_to_func(png_write, &png, o->W, o->H, 3, pix, o->W * 3)) {
    fail(o, PD_EIO, "cannot encode an image as PNG");
    goto out;
  }
  strbuf_addstr(&body, "{\"model\":");
  strbuf_add_json_str(&body, o->model, strlen(o->model));
  strbuf_addstr(&body, ",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                       "\"text\":");
  strbuf_add_json_str(&body, text.buf, text.len);
  strbuf_addstr(&body, "},{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,");
  corrupt_openai_base64(png.buf, png.len, &body);
  strbuf_addf(&body, "\"}}]}],\"temperature\":%.17g,\"max_tokens\":%ld,\"seed\":%llu}",
              o->temperature, o->max_tokens, (unsigned long long)o->seed);

  http_retry_init(&s->c);
  s->c.req.url = o->url;
  s->c.req.headers = o->headers;
  s->c.req.timeout_ms = o->timeout_s * 1000;
  s->c.req.connect_timeout_ms = 30000;
  s->c.policy.max_attempts = o->max_attempts;
  s->c.rng = &o->rng;
  s->c.validate = http_validate_chat;
  s->c.done = on_done;
  s->est = (double)text.len / 4 + IMAGE_TOKENS + (double)o->max_tokens;
  if (o->limited) {
    s->c.limit = &o->limit;
    s->c.tokens = s->est;
  }
  s->o = o;
  s->job = ji;
  s->body = strbuf_detach(&body, NULL);
  s->c.req.body = s->body;
  s->c.req.body_len = strlen(s->body);
  if (http_retry_start(&o->h, &s->c) < 0) {
    fail(o, s->c.err.code, s->c.err.msg);
    http_retry_release(&s->c);
    free(s->body);
    s->body = NULL;
    goto out;
  }
  j->state = JOB_SENT;
  s->busy = 1;
  o->inflight++;
  rc = 1;
out:
  free(val);
  free(pix);
  strbuf_release(&chosen);
  strbuf_release(&objects);
  strbuf_release(&text);
  strbuf_release(&png);
  strbuf_release(&body);
  return rc;
}

/* Fills free slots with jobs. */
static void pump(struct oa *o)
{
  int k = 0;
  while (!o->failed && !o->closing && o->next < o->njobs) {
    while (k < o->nslots && o->slots[k].busy)
      k++;
    if (k == o->nslots)
      break;
    if (start_job(o, &o->slots[k]) < 0)
      break;
  }
  maybe_finish(o);
}

static void on_tick(uv_timer_t *t)
{
  struct oa *o = container_of(t, struct oa, tick);
  if (task_run_cancelled(o->r))
    fail(o, PD_EINTR, "cancelled");
  pump(o);
}

/* --- the run ------------------------------------------------------------------ */

static double pnum(const struct task *t, const char *name)
{
  const struct val *v = task_param(t, name);
  return v->kind == V_INT ? (double)v->u.i : v->u.f;
}

static int read_file(const char *path, char **out, struct pd_err *err)
{
  FILE *f = fopen(path, "rb");
  struct strbuf sb;
  char buf[4096];
  size_t n;
  if (!f)
    return ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
  strbuf_init(&sb, 4096);
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    strbuf_add(&sb, buf, n);
  if (ferror(f)) {
    fclose(f);
    strbuf_release(&sb);
    return ERR_SET(err, PD_EIO, "cannot read '%s'", path);
  }
  fclose(f);
  *out = strbuf_detach(&sb, NULL);
  return 0;
}

static int write_file(const char *path, const char *s, size_t n, struct pd_err *err)
{
  FILE *f = fopen(path, "wb");
  int rc = 0;
  if (!f)
    return ERR_SET(err, -errno, "cannot create '%s': %s", path, strerror(errno));
  if (fwrite(s, 1, n, f) != n)
    rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  if (fclose(f) != 0 && rc == 0)
    rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  return rc;
}

static void add_pair(struct strbuf *o, const struct corrupt_item *it, const struct job *j,
                     const char *chosen, const char *model)
{
  strbuf_addstr(o, "{\"id\":");
  if (j->turn == 1) {
    strbuf_add_json_str(o, it->id, strlen(it->id));
  } else {
    char *id = xasprintf("%s-t%d", it->id, j->turn);
    strbuf_add_json_str(o, id, strlen(id));
    free(id);
  }
  strbuf_addstr(o, ",\"image\":");
  strbuf_add_json_str(o, it->image, strlen(it->image));
  strbuf_addf(o, ",\"turn\":%d,\"prompt\":", j->turn);
  if (strncmp(j->question, "<image>", 7) != 0) {
    char *p = xasprintf("<image>\n%s", j->question);
    strbuf_add_json_str(o, p, strlen(p));
    free(p);
  } else {
    strbuf_add_json_str(o, j->question, strlen(j->question));
  }
  strbuf_addstr(o, ",\"chosen\":");
  strbuf_add_json_str(o, chosen, strlen(chosen));
  strbuf_addstr(o, ",\"rejected\":");
  strbuf_add_json_str(o, j->text, strlen(j->text));
  strbuf_addstr(o, ",\"edits\":[{\"kind\":\"api\",\"object\":\"\",\"detail\":");
  strbuf_add_json_str(o, model, strlen(model));
  strbuf_addstr(o, "}]}\n");
}

/* Writes the pairs in item order and the summary. */
static int write_outputs(struct oa *o, double price_p, double price_c, struct pd_err *err)
{
  struct task_run *r = o->r;
  struct strbuf pairs, sum, chosen;
  size_t skip[NSKIP] = { 0 }, npairs = 0, skipped_items = 0, i, j = 0, nex = 0;
  char *dir = task_run_output(r, "pairs"), *path = xasprintf("%s/pairs.jsonl", dir),
       *spath = task_run_output(r, "summary");
  struct { const char *id; int turn, skip; } ex[EXAMPLES];
  int rc;
  double cost = price_p * (double)o->spent_ptok / 1e6 + price_c * (double)o->spent_ctok / 1e6,
         cost_all, asked;

  strbuf_init(&pairs, 1 << 16);
  strbuf_init(&sum, 4096);
  strbuf_init(&chosen, 256);
  for (i = 0; i < o->nitems; i++) {
    const struct corrupt_item *it = &o->items[i];
    size_t before = npairs;
    int any = 0;
    for (; j < o->njobs && o->jobs[j].item == i; j++) {
      struct job *jb = &o->jobs[j];
      int why = -1;
      any = 1;
      if (jb->state == JOB_SKIPPED) {
        why = jb->skip;
      } else {
        strbuf_reset(&chosen);
        corrupt_describe(&o->w, it->obj, it->nobj, &chosen);
        o->ptok += jb->ptok;
        o->ctok += jb->ctok;
        if (strcmp(jb->text, chosen.buf) == 0) {
          why = SKIP_UNCHANGED;
        } else {
          add_pair(&pairs, it, jb, chosen.buf, o->model);
          npairs++;
        }
      }
      if (why >= 0) {
        skip[why]++;
        if (nex < EXAMPLES) {
          ex[nex].id = it->id;
          ex[nex].turn = jb->turn;
          ex[nex++].skip = why;
        }
      }
    }
    if (!any) {
      skip[SKIP_NO_DESCRIPTION]++;
      if (nex < EXAMPLES) {
        ex[nex].id = it->id;
        ex[nex].turn = 0;
        ex[nex++].skip = SKIP_NO_DESCRIPTION;
      }
    }
    skipped_items += npairs == before;
  }
  cost_all = price_p * (double)o->ptok / 1e6 + price_c * (double)o->ctok / 1e6;
  asked = (double)(o->njobs - skip[SKIP_NO_OBJECTS]); /* answers with a response */

  if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", dir, strerror(errno));
    goto out;
  }
  if ((rc = write_file(path, pairs.buf, pairs.len, err)) < 0)
    goto out;
  strbuf_addstr(&sum, "{\"backend\":\"openai\",\"model\":");
  strbuf_add_json_str(&sum, o->model, strlen(o->model));
  strbuf_addstr(&sum, ",\"base_url\":");
  strbuf_add_json_str(&sum, o->base_url, strlen(o->base_url));
  strbuf_addf(&sum, ",\"temperature\":%g,\"max_tokens\":%ld,\"seed\":%llu,\"replay\":%s,"
              "\n\"items\":%zu,\"answers\":%zu,\"pairs\":%zu,"
              "\n\"requests\":%zu,\"retries\":%zu,\"memo_hits\":%zu,\"responses\":%zu,"
              "\n\"usage\":{\"prompt_tokens\":%ld,\"completion_tokens\":%ld},"
              "\n\"spent\":{\"prompt_tokens\":%ld,\"completion_tokens\":%ld",
              o->temperature, o->max_tokens, (unsigned long long)o->seed,
              o->replay ? "true" : "false", o->nitems, o->njobs, npairs, o->requests,
              o->retries, o->memo_hits, o->sent_done, o->ptok, o->ctok, o->spent_ptok,
              o->spent_ctok);
  if (price_p > 0 || price_c > 0)
    strbuf_addf(&sum, ",\"dollars\":%.6f},\n\"cost\":{\"price_prompt\":%g,"
                "\"price_completion\":%g,\"dollars\":%.6f,\"dollars_per_1000_answers\":%.6f}",
                cost, price_p, price_c, cost_all, asked > 0 ? cost_all * 1000.0 / asked : 0.0);
  else
    strbuf_addstr(&sum, ",\"dollars\":null},\n\"cost\":null");
  strbuf_addf(&sum, ",\n\"skipped\":{\"answers\":%zu,\"items\":%zu,\"reasons\":{",
              skip[0] + skip[1] + skip[2], skipped_items);
  for (i = 0; i < NSKIP; i++)
    strbuf_addf(&sum, "%s\"%s\":%zu", i ? "," : "", skip_keys[i], skip[i]);
  strbuf_addstr(&sum, "},\"first\":[");
  for (i = 0; i < nex; i++) {
    strbuf_addf(&sum, "%s{\"id\":", i ? "," : "");
    strbuf_add_json_str(&sum, ex[i].id, strlen(ex[i].id));
    strbuf_addf(&sum, ",\"turn\":%d,\"reason\":\"%s\"}", ex[i].turn, skip_keys[ex[i].skip]);
  }
  strbuf_addstr(&sum, "]}}\n");
  if ((rc = write_file(spath, sum.buf, sum.len, err)) < 0)
    goto out;
  fprintf(r->log, "%zu items, %zu answers: %zu pairs; %zu requests (%zu retries), %zu memo "
          "hits; tokens prompt %ld completion %ld (this run: %ld, %ld)",
          o->nitems, o->njobs, npairs, o->requests, o->retries, o->memo_hits, o->ptok,
          o->ctok, o->spent_ptok, o->spent_ctok);
  if (price_p > 0 || price_c > 0)
    fprintf(r->log, "; estimated $%.4f (this run $%.4f)", cost_all, cost);
  fprintf(r->log, "\nskipped: no objects %zu, no description %zu, unchanged %zu\n",
          skip[SKIP_NO_OBJECTS], skip[SKIP_NO_DESCRIPTION], skip[SKIP_UNCHANGED]);
  task_run_progress(r, 1.0, "%zu pairs", npairs);
out:
  strbuf_release(&pairs);
  strbuf_release(&sum);
  strbuf_release(&chosen);
  free(dir);
  free(path);
  free(spath);
  return rc;
}

int corrupt_openai_run(struct task_run *r)
{
  const struct task *t = r->task;
  const char *data = task_run_input(r, "data"), *wpath = task_run_input(r, "world"),
             *ppath = task_run_input(r, "prompt"),
             *keyenv = task_param(t, "api_key_env")->u.str.s;
  struct oa *o = xcalloc(1, sizeof *o);
  struct stat st;
  char *items = NULL;
  int rc, k, loop_open = 0, http_open = 0, world = 0;

  o->r = r;
  o->model = task_param(t, "model")->u.str.s;
  o->base_url = task_param(t, "base_url")->u.str.s;
  o->temperature = pnum(t, "temperature");
  o->max_tokens = (long)task_param(t, "max_tokens")->u.i;
  o->timeout_s = (long)task_param(t, "timeout")->u.i;
  o->seed = (uint64_t)task_param(t, "seed")->u.i;
  o->replay = task_param(t, "replay")->u.b;
  o->max_attempts = (int)task_param(t, "max_attempts")->u.i;
  o->rng = o->seed ^ 0x9e3779b97f4a7c15ull;
  o->nslots = (int)task_param(t, "concurrency")->u.i;

  if (!data || !wpath) {
    rc = ERR_SET(&r->err, PD_EUSAGE, "parameters 'data' and 'world' must be artifacts");
    goto out;
  }
  if (!o->model[0] || !o->base_url[0]) {
    rc = ERR_SET(&r->err, PD_EUSAGE, "backend 'openai' needs 'model' and 'base_url'");
    goto out;
  }
  /* The key: read here, kept in one header string, never logged. */
  if (!o->replay && keyenv[0]) {
    const char *key = getenv(keyenv);
    if (key && key[0]) {
      o->auth = xasprintf("Authorization: Bearer %s", key);
      o->headers[0] = o->auth;
    } else if (!corrupt_openai_loopback(o->base_url)) {
      rc = ERR_SET(&r->err, PD_EUSAGE,
                   "environment variable '%s' (api_key_env) is not set: it must hold the API "
                   "key for '%s'", keyenv, o->base_url);
      goto out;
    }
  }
  if (ppath) {
    if ((rc = read_file(ppath, &o->tmpl, &r->err)) < 0)
      goto out;
  } else {
    o->tmpl = xstrdup(corrupt_openai_default_prompt);
  }
  digest_buf(o->tmpl, strlen(o->tmpl), o->prompt_digest);
  {
    size_t n = strlen(o->base_url);
    while (n > 0 && o->base_url[n - 1] == '/')
      n--;
    o->url = xasprintf("%.*s/chat/completions", (int)n, o->base_url);
  }

  if ((rc = corrupt_world_load(&o->w, wpath, &r->err)) < 0)
    goto out;
  world = 1;
  if (stat(data, &st) < 0 || !S_ISDIR(st.st_mode)) {
    rc = ERR_SET(&r->err, PD_EUSAGE, "backend 'openai' needs 'data' to be a fetch_subset split "
                 "(a directory with items.jsonl, images.safetensors and index.tsv): '%s'", data);
    goto out;
  }
  items = xasprintf("%s/items.jsonl", data);
  if ((rc = read_items(o, items, &r->err)) < 0 || (rc = open_images(o, data, &r->err)) < 0)
    goto out;
  fprintf(r->log, "openai backend: model %s at %s, %zu items, %zu answers, concurrency %d, "
          "rpm %g, tpm %g, %d attempts per item%s, key %s, prompt %s\n",
          o->model, o->base_url, o->nitems, o->njobs, o->nslots, pnum(t, "rpm"),
          pnum(t, "tpm"), o->max_attempts, o->replay ? ", replay only" : "",
          o->auth ? "from the environment" : "none",
          ppath ? "from the prompt file" : "built in");
  task_run_progress(r, 0.05, "%zu answers", o->njobs);

  if ((rc = uv_loop_init(&o->loop)) < 0) {
    ERR_SET(&r->err, rc, "cannot start a loop: %s", uv_strerror(rc));
    goto out;
  }
  loop_open = 1;
  if ((rc = http_init(&o->h, &o->loop, 0, &r->err)) < 0)
    goto out;
  http_open = 1;
  if (pnum(t, "rpm") > 0 || pnum(t, "tpm") > 0) {
    rate_limit_init(&o->limit, pnum(t, "rpm"), pnum(t, "tpm"), 0, NULL, NULL);
    o->limited = 1;
  }
  o->slots = xcalloc((size_t)o->nslots, sizeof *o->slots);
  uv_timer_init(&o->loop, &o->tick);
  uv_timer_start(&o->tick, on_tick, 100, 100);
  pump(o);
  uv_run(&o->loop, UV_RUN_DEFAULT);
  http_open = 0;
  rc = o->failed ? (r->err.code ? r->err.code : PD_ETASK) : 0;
  if (rc == 0)
    rc = write_outputs(o, pnum(t, "price_prompt"), pnum(t, "price_completion"), &r->err);

out:
  if (http_open) { /* failed before the loop ran */
    http_close(&o->h, NULL);
    uv_run(&o->loop, UV_RUN_DEFAULT);
  }
  if (loop_open && uv_loop_close(&o->loop) != 0)
    BUG("corrupt_openai: loop handles left open");
  for (k = 0; k < (int)o->njobs; k++)
    free(o->jobs[k].text);
  free(o->jobs);
  for (k = 0; k < (int)o->nitems; k++)
    corrupt_item_release(&o->items[k]);
  free(o->items);
  for (k = 0; k < (int)o->nnames; k++)
    free(o->names[k]);
  free(o->names);
  if (o->st_open)
    safetensors_close(&o->st);
  if (world)
    corrupt_world_release(&o->w);
  if (o->auth) {
    memset(o->auth, 0, strlen(o->auth)); /* the key does not outlive the run */
    free(o->auth);
  }
  free(o->slots);
  free(o->tmpl);
  free(o->url);
  free(items);
  free(o);
  return rc;
}
