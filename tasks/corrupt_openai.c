/* corrupt_openai.c - corrupt_captions' `openai` backend (corrupt_openai.h):
 * the driver. It reads the parameters and the key, then runs the jobs (one
 * per description turn, corrupt_openai_io.c) through a private uv loop: each
 * is served from the per-item memo or sent as a chat-completions request
 * (corrupt_openai_request.c) on one of `concurrency` slots, and each usable
 * response is committed to the memo as it arrives.
 *
 * The chosen answer is the ground truth rendered from the item's objects
 * (corrupt_describe, label noise left out), the rejected one the model's
 * rewrite of it, the image attached as a PNG data URL.
 *
 * Everything runs on the kind's worker thread: the items are read and
 * parsed first, then the loop drives the requests, then the pairs are
 * written in item order. Memo reads and writes are synchronous LMDB calls
 * on that thread; they hold up only this task's own loop. The dry run
 * (corrupt_openai_dry_run, for `run --dry-run`) reads the same things
 * through the same oa_open and asks the memo for the same keys (job_key,
 * memo_lookup), on the main thread and without a loop.
 *
 * Left out: the orchestrator's shared loop (each task has its own),
 * streaming responses; see corrupt_openai_io.c for what the pairs leave out.
 */
#include "corrupt_openai.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache.h"
#include "corrupt_openai_state.h"
#include "corrupt_pairs.h"
#include "graph.h"
#include "registry.h"
#include "run.h"

#define container_of(ptr, type, member) \
  ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define IMAGE_TOKENS 85.0 /* a low-detail image in OpenAI's accounting, for the tpm estimate */

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

static void on_tick(uv_timer_t *t);

static void on_done(struct http_retry *c, int status)
{
  struct slot *s = container_of(c, struct slot, c);
  struct oa *o = s->o;
  struct job *j = &o->jobs[s->job];
  o->requests += (size_t)c->attempts;
  o->retries += c->attempts > 1 ? (size_t)(c->attempts - 1) : 0;
  if (status == 0 && !o->failed) {
    struct strbuf v;
    struct pd_err err;
    memset(&err, 0, sizeof err);
    /* The validator saw the content: it fails to parse only if memory ran out. */
    if (corrupt_openai_response_parse(c->req.resp.buf, c->req.resp.len, &j->rp) == 0) {
      if (o->limited && (j->rp.ptok || j->rp.ctok))
        rate_limit_adjust(&o->limit, (double)(j->rp.ptok + j->rp.ctok) - s->est);
      strbuf_init(&v, 256);
      corrupt_openai_memo_value(&j->rp, &v);
      /* Committed now: a run killed after this line never asks again. */
      if (cache_memo_put(o->r->cache, s->key, v.buf, v.len, &err) < 0)
        fail(o, err.code, err.msg);
      strbuf_release(&v);
      j->state = JOB_DONE;
      o->spent_ptok += j->rp.ptok;
      o->spent_ctok += j->rp.ctok;
      o->sent_done++;
    } else {
      fail(o, PD_ENOMEM, "cannot parse a validated response");
    }
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

/* Job j's chosen answer (into chosen, reset first), its image (into pix,
 * H x W x 3 bytes) and its memo key: what the run and the dry run both ask
 * the memo, so the two can never disagree on a key. Returns 0, or an error
 * with err set naming the item. */
static int job_key(const struct oa *o, const struct job *j, struct strbuf *chosen,
                   uint8_t *pix, uint8_t key[PD_DIGEST_LEN], struct pd_err *err)
{
  const struct corrupt_item *it = &o->items[j->item];
  size_t npix = (size_t)o->H * (size_t)o->W * 3;
  struct corrupt_openai_key k;
  uint8_t pixd[PD_DIGEST_LEN];
  long row;
  int rc;

  strbuf_reset(chosen);
  corrupt_describe(&o->w, it->obj, it->nobj, chosen);
  if ((row = corrupt_openai__image_row(o, it->image)) < 0 || row >= o->img->shape[0])
    return ERR_SET(err, PD_ECORRUPT, "item '%s': image '%s' is not in the split's index.tsv",
                   it->id, it->image);
  if ((rc = safetensors_read(&o->st, o->img, (uint64_t)row * npix, pix, npix, err)) < 0)
    return rc;
  digest_buf(pix, npix, pixd);
  memset(&k, 0, sizeof k);
  corrupt_openai_item_digest(chosen->buf, j->question, it->image, pixd, k.item);
  memcpy(k.prompt, o->prompt_digest, sizeof k.prompt);
  k.model = o->model;
  k.base_url = o->base_url;
  k.temperature = o->temperature;
  k.max_tokens = o->max_tokens;
  k.seed = o->seed;
  corrupt_openai_memo_key(&k, key);
  return 0;
}

/* The memoized response under key, parsed into rp. Returns 1 when the memo
 * serves it, 0 when it would be requested (absent, or a value that does not
 * parse), <0 on a cache error with err set. */
static int memo_lookup(const struct oa *o, const uint8_t key[PD_DIGEST_LEN],
                       struct corrupt_openai_reply *rp, struct pd_err *err)
{
  char *val = NULL;
  size_t nval = 0;
  int got = cache_memo_get(o->r->cache, key, &val, &nval, err);
  if (got == 1)
    got = corrupt_openai_memo_parse(val, nval, rp) == 0;
  free(val);
  return got;
}

/* Prepares job o->next: memo lookup, else a request on slot s. Returns 1
 * when a request was started, 0 when the job needed none, -1 on failure. */
static int start_job(struct oa *o, struct slot *s)
{
  size_t ji = o->next++;
  struct job *j = &o->jobs[ji];
  const struct corrupt_item *it = &o->items[j->item];
  struct corrupt_openai_params p = { o->model, o->temperature, o->max_tokens, o->seed };
  struct strbuf chosen, objects, text, body;
  uint8_t *pix = NULL;
  size_t npix = (size_t)o->H * (size_t)o->W * 3;
  char *msg;
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
  strbuf_init(&body, 8192);
  pix = xmalloc(npix);
  if (job_key(o, j, &chosen, pix, s->key, &err) < 0 ||
      (got = memo_lookup(o, s->key, &j->rp, &err)) < 0) {
    fail(o, err.code, err.msg);
    goto out;
  }
  if (got == 1) {
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
  corrupt_openai_render(o->tmpl, chosen.buf, objects.buf, corrupt_pairs_strip_image(j->question),
                        &text);
  if (corrupt_openai_body(&p, text.buf, text.len, pix, o->W, o->H, &body) < 0) {
    fail(o, PD_EIO, "cannot encode an image as PNG");
    goto out;
  }

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
  free(pix);
  strbuf_release(&chosen);
  strbuf_release(&objects);
  strbuf_release(&text);
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

/* Reads what a run starts from, as both the run and the dry run need it:
 * the request parameters, the prompt template and its digest, world.json,
 * the items with a job per description turn, the split's images. Neither
 * the API key nor the network is touched. Returns 0 or an error with
 * r->err set; oa_release frees what was read either way. */
static int oa_open(struct oa *o, struct task_run *r)
{
  const struct task *t = r->task;
  const char *data = task_run_input(r, "data"), *wpath = task_run_input(r, "world"),
             *ppath = task_run_input(r, "prompt");
  struct stat st;
  char *items;
  int rc;

  o->r = r;
  o->model = task_param(t, "model")->u.str.s;
  o->base_url = task_param(t, "base_url")->u.str.s;
  o->temperature = pnum(t, "temperature");
  o->max_tokens = (long)task_param(t, "max_tokens")->u.i;
  o->timeout_s = (long)task_param(t, "timeout")->u.i;
  o->seed = (uint64_t)task_param(t, "seed")->u.i;
  /* An audit's re-execution (a replay cache) never calls the API. */
  o->replay = task_param(t, "replay")->u.b || (r->cache && cache_replay(r->cache));
  o->max_attempts = (int)task_param(t, "max_attempts")->u.i;
  o->rng = o->seed ^ 0x9e3779b97f4a7c15ull;
  o->nslots = (int)task_param(t, "concurrency")->u.i;

  if (!data || !wpath)
    return ERR_SET(&r->err, PD_EUSAGE, "parameters 'data' and 'world' must be artifacts");
  if (!o->model[0] || !o->base_url[0])
    return ERR_SET(&r->err, PD_EUSAGE, "backend 'openai' needs 'model' and 'base_url'");
  if (ppath) {
    if ((rc = read_file(ppath, &o->tmpl, &r->err)) < 0)
      return rc;
  } else {
    o->tmpl = xstrdup(corrupt_openai_default_prompt);
  }
  digest_buf(o->tmpl, strlen(o->tmpl), o->prompt_digest);
  if ((rc = corrupt_world_load(&o->w, wpath, &r->err)) < 0)
    return rc;
  o->world_open = 1;
  if (stat(data, &st) < 0 || !S_ISDIR(st.st_mode))
    return ERR_SET(&r->err, PD_EUSAGE, "backend 'openai' needs 'data' to be a fetch_subset "
                   "split (a directory with items.jsonl, images.safetensors and index.tsv): "
                   "'%s'", data);
  items = xasprintf("%s/items.jsonl", data);
  rc = corrupt_openai__read_items(o, items, &r->err);
  free(items);
  if (rc < 0)
    return rc;
  return corrupt_openai__open_images(o, data, &r->err);
}

static void oa_release(struct oa *o)
{
  size_t k;
  for (k = 0; k < o->njobs; k++)
    free(o->jobs[k].rp.text);
  free(o->jobs);
  for (k = 0; k < o->nitems; k++)
    corrupt_item_release(&o->items[k]);
  free(o->items);
  for (k = 0; k < o->nnames; k++)
    free(o->names[k]);
  free(o->names);
  if (o->st_open)
    safetensors_close(&o->st);
  if (o->world_open)
    corrupt_world_release(&o->w);
  if (o->auth) {
    memset(o->auth, 0, strlen(o->auth)); /* the key does not outlive the run */
    free(o->auth);
  }
  free(o->slots);
  free(o->tmpl);
  free(o->url);
  free(o);
}

int corrupt_openai_run(struct task_run *r)
{
  const struct task *t = r->task;
  const char *keyenv = task_param(t, "api_key_env")->u.str.s;
  struct oa *o = xcalloc(1, sizeof *o);
  int rc, loop_open = 0, http_open = 0;

  if ((rc = oa_open(o, r)) < 0)
    goto out;
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
  {
    size_t n = strlen(o->base_url);
    while (n > 0 && o->base_url[n - 1] == '/')
      n--;
    o->url = xasprintf("%.*s/chat/completions", (int)n, o->base_url);
  }
  fprintf(r->log, "openai backend: model %s at %s, %zu items, %zu answers, concurrency %d, "
          "rpm %g, tpm %g, %d attempts per item%s, key %s, prompt %s\n",
          o->model, o->base_url, o->nitems, o->njobs, o->nslots, pnum(t, "rpm"),
          pnum(t, "tpm"), o->max_attempts, o->replay ? ", replay only" : "",
          o->auth ? "from the environment" : "none",
          task_run_input(r, "prompt") ? "from the prompt file" : "built in");
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
    rc = corrupt_openai__write_outputs(o, pnum(t, "price_prompt"), pnum(t, "price_completion"), &r->err);

out:
  if (http_open) { /* failed before the loop ran */
    http_close(&o->h, NULL);
    uv_run(&o->loop, UV_RUN_DEFAULT);
  }
  if (loop_open && uv_loop_close(&o->loop) != 0)
    BUG("corrupt_openai: loop handles left open");
  oa_release(o);
  return rc;
}

/* --- the dry run --------------------------------------------------------------- */

int corrupt_openai_dry_run(struct task_run *r, struct strbuf *out)
{
  const struct task *t = r->task;
  const char *keyenv = task_param(t, "api_key_env")->u.str.s, *missing = NULL;
  double price_p = pnum(t, "price_prompt"), price_c = pnum(t, "price_completion");
  struct oa *o = xcalloc(1, sizeof *o);
  struct strbuf chosen;
  uint8_t *pix = NULL, key[PD_DIGEST_LEN];
  size_t k, asked = 0, served = 0, noobj = 0, ask;
  long ptok = 0, ctok = 0;
  int rc, got = 0, missing_turn = 0;

  strbuf_init(&chosen, 256);
  if ((rc = oa_open(o, r)) < 0)
    goto out;
  pix = xmalloc((size_t)o->H * (size_t)o->W * 3);
  for (k = 0; k < o->njobs; k++) {
    struct job *j = &o->jobs[k];
    if (o->items[j->item].nobj == 0) { /* skipped by the run too: never asked */
      noobj++;
      continue;
    }
    asked++;
    if ((rc = job_key(o, j, &chosen, pix, key, &r->err)) < 0 ||
        (rc = got = memo_lookup(o, key, &j->rp, &r->err)) < 0)
      goto out;
    if (got) {
      served++;
      ptok += j->rp.ptok;
      ctok += j->rp.ctok;
    } else if (!missing) {
      missing = o->items[j->item].id;
      missing_turn = j->turn;
    }
  }
  rc = 0;
  ask = asked - served;
  if (o->replay) {
    strbuf_addf(out, "openai replay: %zu of %zu answers served from the memo", served, asked);
    if (ask)
      strbuf_addf(out, ", %zu missing: the run would fail (first: item '%s', turn %d)", ask,
                  missing, missing_turn);
  } else {
    strbuf_addf(out, "openai: %zu of %zu answers would be requested, %zu served from the memo",
                ask, asked, served);
    /* Extrapolated from what the memoized answers cost: the same prompt,
     * model and split, so the best guess there is without asking. */
    if (ask && served && (price_p > 0 || price_c > 0) && (ptok > 0 || ctok > 0))
      strbuf_addf(out, ", about $%.6f (the memo's mean usage per answer at the given prices)",
                  (double)ask * (price_p * (double)ptok + price_c * (double)ctok) /
                      (double)served / 1e6);
    if (ask && keyenv[0] && !corrupt_openai_loopback(o->base_url)) {
      const char *v = getenv(keyenv);
      if (!v || !v[0])
        strbuf_addf(out, "; environment variable '%s' (api_key_env) is not set", keyenv);
    }
  }
  if (noobj)
    strbuf_addf(out, "; %zu without objects skipped", noobj);
out:
  free(pix);
  strbuf_release(&chosen);
  oa_release(o);
  return rc;
}
