/* evaluate.c - the `evaluate` kind: object hallucination of a trained
 * model, measured by CHAIR on its image descriptions and by POPE on yes/no
 * questions (the metrics themselves are in chair.c).
 *
 * CHAIR: for each eos_bias of the list, every eval image (the first
 * `limit`) is described greedily ("Describe this image.", max_new_tokens,
 * the bias added to the </s> logit at every step, so larger biases give
 * shorter answers); the answer's mentions are found through world.json's
 * synonyms and compared with the item's ground-truth "objects" (chair.h).
 * POPE: every question of random/popular/adversarial.jsonl (the first
 * pope_limit of each) is asked as the prompt, greedily, with up to
 * POPE_NEW_TOKENS new tokens and no bias, and parsed as LLaVA's
 * eval_pope.py does; a question asked in several files (the present
 * objects' are in all three) is answered once. Prompts are the training template's prefix
 * (gen_util.h), batched `batch` at a time; greedy answers do not depend on
 * the batching, so batch is not in the key.
 *
 * Outputs: `metrics` (JSON: images, max_new_tokens, model_digest, one
 * "chair" entry per eos_bias in the list's order, "pope" per split or {}
 * when no pope directory is given; rates are fractions) and `answers` (JSON
 * lines: every caption with its mentioned / hallucinated / missed
 * categories, then every POPE answer with its parse), so that each number
 * can be traced to items.
 *
 * Left out: a per-item memo (a rerun regenerates everything), sampling,
 * the original CHAIR's COCO synonym list (the world's table stands for it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chair.h"
#include "gen_util.h"
#include "graph.h"
#include "registry.h"
#include "run.h"
#include "strbuf.h"
#include "train_util.h"

/* Enough for "Yes." / "No, there is not." and a little more: the parse
 * reads the first sentence only. */
#define POPE_NEW_TOKENS 8

static const char *const pope_splits[] = { "random", "popular", "adversarial" };
#define NPOPE (sizeof pope_splits / sizeof pope_splits[0])

static const struct kind_param eval_params[] = {
  { "model", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "a trained model directory (train_sft's `model`: model.safetensors and vocab.json)" },
  { "data", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "the eval split directory (fetch_subset's `eval`): items.jsonl with ground-truth "
    "\"objects\", images.safetensors, index.tsv" },
  { "pope", PT_ANY, "\"\"", 0, -1, NULL, 0,
    "fetch_subset's `pope` directory (random.jsonl, popular.jsonl, adversarial.jsonl), or "
    "\"\" to skip POPE" },
  { "world", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "fetch_subset's `world` (world.json): the categories and their synonyms" },
  { "max_new_tokens", PT_INT, "48", 1, 4096, NULL, 0, "longest description in tokens" },
  { "eos_bias", PT_LIST, "[0, 1, 2, 3, 4]", 0, -1, NULL, 0,
    "CHAIR is measured once per value: added to the </s> logit at every step (larger: shorter "
    "descriptions)" },
  { "limit", PT_INT, "0", 0, 1e9, NULL, 0, "describe the first N eval images (0: all)" },
  { "pope_limit", PT_INT, "0", 0, 1e9, NULL, 0,
    "ask the first N questions of each POPE file (0: all)" },
  { "batch", PT_INT, "32", 1, 4096, NULL, 0,
    "prompts per forward pass; part of the key: OpenBLAS may pick other kernels for other "
    "matrix sizes, which can change the last bits of a logit and so a near-tie" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

enum { OUT_METRICS, OUT_ANSWERS, NOUT };
static const struct kind_output eval_outputs[NOUT + 1] = {
  { "metrics", "JSON: {\"images\", \"max_new_tokens\", \"model_digest\", \"chair\": [one entry "
               "per eos_bias: chair_s, chair_i, recall, objects_per_answer, avg_words, "
               "avg_tokens and the counts], \"pope\": {random, popular, adversarial: questions, "
               "accuracy, precision, recall, f1, yes_ratio, tp, fp, tn, fn}} ({} without pope)" },
  { "answers", "JSON lines: {\"kind\": \"chair\", eos_bias, id, image, answer, tokens, "
               "mentioned, hallucinated, missed} per description, then {\"kind\": \"pope\", "
               "split, question_id, image, question, label, answer, parsed} per question" },
  { NULL, NULL },
};

static double num(const struct val *v)
{
  return v->kind == V_INT ? (double)v->u.i : v->u.f;
}

static int eval_check(struct graph *g, struct task *t, struct pd_err *err)
{
  const struct val *b = task_param(t, "eos_bias"), *p = task_param(t, "pope");
  size_t k;
  (void)g;
  if (b->u.list.n == 0)
    return graph_error_at(err, PD_EGRAPH, &b->loc, "parameter 'eos_bias' needs at least one "
                          "value");
  for (k = 0; k < b->u.list.n; k++) {
    const struct val *x = &b->u.list.v[k];
    if ((x->kind != V_INT && x->kind != V_FLOAT) || !(num(x) >= -100 && num(x) <= 100))
      return graph_error_at(err, PD_EGRAPH, &x->loc,
                            "parameter 'eos_bias': each value must be a number in [-100, 100]");
  }
  if (!(p->kind == V_STR && p->u.str.n == 0) && p->kind != V_REF && p->kind != V_DIR)
    return graph_error_at(err, PD_EGRAPH, &p->loc, "parameter 'pope' must be a task's output, "
                          "a dir(\"...\") or \"\" (no POPE)");
  return 0;
}

/* --- ground truth ----------------------------------------------------------------------- */

struct truth {
  const struct chair_vocab *v;
  unsigned char *gt; /* n x ncat */
  size_t cap;
};

static int on_item(void *arg, size_t i, const cJSON *item, const char *path, size_t line,
                   struct pd_err *err)
{
  struct truth *tr = arg;
  const cJSON *objs = cJSON_GetObjectItemCaseSensitive(item, "objects"), *o;
  size_t nc = (size_t)tr->v->ncat;
  if (!cJSON_IsArray(objs))
    return ERR_SET(err, PD_EUSAGE, "'%s':%zu: the item has no \"objects\" list (ground truth)",
                   path, line);
  if (i >= tr->cap) {
    tr->cap = tr->cap ? 2 * tr->cap : 256;
    tr->gt = xrealloc(tr->gt, tr->cap * nc);
  }
  memset(tr->gt + i * nc, 0, nc);
  cJSON_ArrayForEach(o, objs) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "category");
    int k;
    if (!cJSON_IsString(c))
      return ERR_SET(err, PD_EUSAGE, "'%s':%zu: an object has no \"category\"", path, line);
    if ((k = chair_vocab_find(tr->v, c->valuestring)) < 0)
      return ERR_SET(err, PD_EUSAGE, "'%s':%zu: unknown category '%s' (not in world.json)",
                     path, line, c->valuestring);
    tr->gt[i * nc + (size_t)k] = 1;
  }
  return 0;
}

/* --- POPE questions --------------------------------------------------------------------- */

struct question {
  char *qid;   /* question_id as JSON text */
  char *image, *text;
  int row, yes;
  int *prompt, Tp;
  size_t uniq; /* index of its distinct (image, prompt) */
};

/* By image row, then prompt: equal questions are answered once. */
static int cmp_question(const void *x, const void *y)
{
  const struct question *a = *(const struct question *const *)x;
  const struct question *b = *(const struct question *const *)y;
  if (a->row != b->row)
    return a->row < b->row ? -1 : 1;
  if (a->Tp != b->Tp)
    return a->Tp < b->Tp ? -1 : 1;
  return memcmp(a->prompt, b->prompt, (size_t)a->Tp * sizeof *a->prompt);
}

static void questions_free(struct question *q, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++) {
    free(q[i].qid);
    free(q[i].image);
    free(q[i].text);
    free(q[i].prompt);
  }
  free(q);
}

static int read_questions(const char *path, const struct gen_split *s, const struct gen_model *gm,
                          size_t limit, struct question **out, size_t *nout, struct pd_err *err)
{
  char *text = train_read_text(path, err), *line, *next;
  struct question *q = NULL;
  size_t n = 0, lineno = 0;
  int rc = 0;
  if (!text)
    return err->code;
  for (line = text; line && *line && (limit == 0 || n < limit); line = next) {
    char *end = strchr(line, '\n');
    cJSON *j, *qid, *img, *qt, *lab;
    lineno++;
    next = end ? end + 1 : NULL;
    if (end)
      *end = '\0';
    if (!line[strspn(line, " \t\r")])
      continue;
    j = cJSON_Parse(line);
    qid = cJSON_GetObjectItemCaseSensitive(j, "question_id");
    img = cJSON_GetObjectItemCaseSensitive(j, "image");
    qt = cJSON_GetObjectItemCaseSensitive(j, "text");
    lab = cJSON_GetObjectItemCaseSensitive(j, "label");
    if (!qid || !(cJSON_IsNumber(qid) || cJSON_IsString(qid)) || !cJSON_IsString(img) ||
        !cJSON_IsString(qt) || !cJSON_IsString(lab)) {
      cJSON_Delete(j);
      rc = ERR_SET(err, PD_EUSAGE, "'%s':%zu: expected a question with \"question_id\", "
                   "\"image\", \"text\" and \"label\"", path, lineno);
      goto out;
    }
    if (strcmp(lab->valuestring, "yes") != 0 && strcmp(lab->valuestring, "no") != 0) {
      rc = ERR_SET(err, PD_EUSAGE, "'%s':%zu: unknown label '%s' (expected yes or no)", path,
                   lineno, lab->valuestring);
      cJSON_Delete(j);
      goto out;
    }
    q = xrealloc(q, (n + 1) * sizeof *q);
    memset(&q[n], 0, sizeof q[n]);
    q[n].qid = cJSON_PrintUnformatted(qid);
    q[n].image = xstrdup(img->valuestring);
    q[n].text = xstrdup(qt->valuestring);
    q[n].yes = lab->valuestring[0] == 'y';
    q[n].row = gen_split_row(s, img->valuestring);
    q[n].prompt = gen_prompt(gm, qt->valuestring, &q[n].Tp);
    n++;
    cJSON_Delete(j);
    if (!q[n - 1].qid) {
      rc = ERR_SET(err, PD_ENOMEM, "'%s':%zu: cannot print the question_id", path, lineno);
      goto out;
    }
    if (q[n - 1].row < 0) {
      rc = ERR_SET(err, PD_EUSAGE, "'%s':%zu: image '%s' is not in the eval split's index.tsv",
                   path, lineno, q[n - 1].image);
      goto out;
    }
  }
  if (n == 0)
    rc = ERR_SET(err, PD_EUSAGE, "'%s': no questions", path);
out:
  free(text);
  if (rc < 0) {
    questions_free(q, n);
    q = NULL;
    n = 0;
  }
  *out = q;
  *nout = n;
  return rc;
}

/* --- progress --------------------------------------------------------------------------- */

struct eval_progress {
  struct task_run *r;
  const char *phase;
  size_t base, total; /* units before this phase, in all */
  double t0;
};

static int on_progress(void *arg, size_t done, size_t total, size_t tokens)
{
  struct eval_progress *p = arg;
  double el = train_now() - p->t0;
  task_run_progress(p->r, (double)(p->base + done) / (double)p->total,
                    "%s: %zu/%zu, %.0f tokens/s", p->phase, done, total,
                    (double)tokens / (el > 1e-9 ? el : 1e-9));
  return task_run_cancelled(p->r);
}

static void log_phase(struct task_run *r, const char *phase, const struct gen_req *reqs,
                      size_t n, double t0)
{
  size_t i, tokens = 0;
  double el = train_now() - t0;
  for (i = 0; i < n; i++)
    tokens += (size_t)reqs[i].len;
  fprintf(r->log, "%s: %zu answers, %zu tokens in %.2fs (%.0f tokens/s)\n", phase, n, tokens,
          el, (double)tokens / (el > 1e-9 ? el : 1e-9));
  fflush(r->log);
}

/* --- output ----------------------------------------------------------------------------- */

static void add_str(struct strbuf *sb, const char *s)
{
  strbuf_add_json_str(sb, s, strlen(s));
}

/* ["a","b"] of the categories where flags (& ~not when not != NULL) are set. */
static void add_cats(struct strbuf *sb, const struct chair_vocab *v, const unsigned char *flags,
                     const unsigned char *not)
{
  int k, first = 1;
  strbuf_addch(sb, '[');
  for (k = 0; k < v->ncat; k++)
    if (flags[k] && !(not && not[k])) {
      if (!first)
        strbuf_addch(sb, ',');
      first = 0;
      add_str(sb, v->cats[k]);
    }
  strbuf_addch(sb, ']');
}

static void add_chair_entry(struct strbuf *sb, double bias, const struct chair_counts *c)
{
  struct chair_scores s;
  chair_counts_scores(c, &s);
  strbuf_addf(sb, "{\"eos_bias\": %.9g, \"chair_s\": %.6f, \"chair_i\": %.6f, \"recall\": %.6f, "
              "\"objects_per_answer\": %.6f, \"avg_words\": %.6f, \"avg_tokens\": %.6f, "
              "\"answers\": %zu, \"mentions\": %zu, \"hallucinated\": %zu, \"gt_objects\": %zu, "
              "\"covered\": %zu, \"hallucinated_answers\": %zu}",
              bias, s.chair_s, s.chair_i, s.recall, s.objects_per_answer, s.avg_words,
              s.avg_tokens, c->answers, c->mentions, c->hallucinated, c->gt_objects, c->covered,
              c->hallucinated_answers);
}

static void add_pope_entry(struct strbuf *sb, const struct chair_pope *p)
{
  struct chair_pope_scores s;
  chair_pope_scores(p, &s);
  strbuf_addf(sb, "{\"questions\": %zu, \"accuracy\": %.6f, \"precision\": %.6f, "
              "\"recall\": %.6f, \"f1\": %.6f, \"yes_ratio\": %.6f, \"tp\": %zu, \"fp\": %zu, "
              "\"tn\": %zu, \"fn\": %zu}",
              s.questions, s.accuracy, s.precision, s.recall, s.f1, s.yes_ratio, p->tp, p->fp,
              p->tn, p->fn);
}

/* --- run -------------------------------------------------------------------------------- */

static int eval_run(struct task_run *r)
{
  const struct task *t = r->task;
  const char *mdir = task_run_input(r, "model"), *ddir = task_run_input(r, "data");
  const char *wpath = task_run_input(r, "world"), *pdir = task_run_input(r, "pope");
  const struct val *biases = task_param(t, "eos_bias");
  size_t nb = biases->u.list.n, limit = (size_t)task_param(t, "limit")->u.i;
  size_t plimit = (size_t)task_param(t, "pope_limit")->u.i, i, k, nq[NPOPE] = { 0 };
  int M = train_iparam(t, "max_new_tokens"), have_model = 0, have_split = 0, Tp = 0, rc;
  struct chair_vocab v;
  struct truth tr;
  struct gen_model gm;
  struct gen_split s;
  struct gen_opts o;
  struct gen_req *reqs = NULL;
  struct question *qs[NPOPE] = { NULL };
  struct chair_counts *cc = xcalloc(nb, sizeof *cc);
  struct chair_pope pp[NPOPE];
  struct eval_progress pr;
  struct strbuf ans, met, text;
  char *path[NOUT] = { NULL }, *wtext = NULL, phase[128];
  int *prompt = NULL, *out = NULL;
  unsigned char *ment = NULL;
  double t0 = train_now();

  memset(&v, 0, sizeof v);
  memset(&tr, 0, sizeof tr);
  memset(pp, 0, sizeof pp);
  strbuf_init(&ans, 0);
  strbuf_init(&met, 0);
  strbuf_init(&text, 0);
  for (k = 0; k < NOUT; k++)
    path[k] = task_run_output(r, eval_outputs[k].name);

  task_run_progress(r, 0, "loading");
  if (!(wtext = train_read_text(wpath, &r->err))) {
    rc = r->err.code;
    goto out;
  }
  if ((rc = chair_vocab_from_world(&v, wtext, wpath, &r->err)) < 0)
    goto out;
  tr.v = &v;
  if ((rc = gen_split_read(&s, ddir, limit, on_item, &tr, &r->err)) < 0)
    goto out;
  have_split = 1;
  if ((rc = gen_model_load(&gm, mdir, &r->err)) < 0)
    goto out;
  have_model = 1;
  if (pdir)
    for (k = 0; k < NPOPE; k++) {
      char *qpath = xasprintf("%s/%s.jsonl", pdir, pope_splits[k]);
      rc = read_questions(qpath, &s, &gm, plimit, &qs[k], &nq[k], &r->err);
      free(qpath);
      if (rc < 0)
        goto out;
    }
  fprintf(r->log, "model '%s' (sha256 %s, %zu parameters); %zu images from '%s'; %zu "
          "categories from '%s'; max_new_tokens %d; batch %d\n", mdir, gm.digest,
          gm.m.num_parameters, s.n, ddir, (size_t)v.ncat, wpath, M, train_iparam(t, "batch"));
  if (pdir)
    fprintf(r->log, "POPE: %zu + %zu + %zu questions from '%s'\n", nq[0], nq[1], nq[2], pdir);
  else
    fprintf(r->log, "POPE: skipped (no pope directory)\n");

  memset(&o, 0, sizeof o);
  o.max_new_tokens = M;
  o.batch = train_iparam(t, "batch");
  o.threads = r->threads;
  o.top_p = 1.0f;
  pr.r = r;
  pr.base = 0;
  pr.total = nb * s.n + nq[0] + nq[1] + nq[2];
  pr.phase = phase;

  /* CHAIR: one pass over the images per eos_bias. */
  prompt = gen_prompt(&gm, "Describe this image.", &Tp);
  reqs = xcalloc(s.n, sizeof *reqs);
  out = xmalloc(s.n * (size_t)M * sizeof *out);
  ment = xmalloc((size_t)v.ncat);
  for (k = 0; k < nb; k++) {
    double bias = num(&biases->u.list.v[k]);
    for (i = 0; i < s.n; i++) {
      reqs[i].row = s.items[i].row;
      reqs[i].prompt = prompt;
      reqs[i].Tp = Tp;
      reqs[i].out = out + i * (size_t)M;
    }
    o.eos_bias = (float)bias;
    snprintf(phase, sizeof phase, "chair eos_bias %g (%zu/%zu)", bias, k + 1, nb);
    pr.t0 = train_now();
    if ((rc = gen_run(&gm, &s, reqs, s.n, &o, on_progress, &pr, &r->err)) < 0)
      goto out;
    pr.base += s.n;
    log_phase(r, phase, reqs, s.n, pr.t0);
    for (i = 0; i < s.n; i++) {
      const unsigned char *gt = tr.gt + i * (size_t)v.ncat;
      strbuf_reset(&text);
      tokenizer_decode(&gm.tk, reqs[i].out, (size_t)reqs[i].len, &text);
      strbuf_addch(&text, '\0'); /* text.buf may be NULL while empty */
      chair_mentions(&v, text.buf, ment);
      chair_counts_add(&cc[k], ment, gt, v.ncat, chair_count_words(text.buf),
                       (size_t)reqs[i].len);
      strbuf_addf(&ans, "{\"kind\":\"chair\",\"eos_bias\":%.9g,\"id\":", bias);
      add_str(&ans, s.items[i].id);
      strbuf_addstr(&ans, ",\"image\":");
      add_str(&ans, s.items[i].image);
      strbuf_addstr(&ans, ",\"answer\":");
      add_str(&ans, text.buf);
      strbuf_addf(&ans, ",\"tokens\":%d,\"mentioned\":", reqs[i].len);
      add_cats(&ans, &v, ment, NULL);
      strbuf_addstr(&ans, ",\"hallucinated\":");
      add_cats(&ans, &v, ment, gt);
      strbuf_addstr(&ans, ",\"missed\":");
      add_cats(&ans, &v, gt, ment);
      strbuf_addstr(&ans, "}\n");
    }
  }

  /* POPE: the questions of the three files, greedy, no bias. The files
   * share their "yes" questions (and some "no" ones), so each distinct
   * (image, prompt) is answered once: the answer does not depend on the
   * batch it is in. */
  if (pdir) {
    size_t nall = nq[0] + nq[1] + nq[2], nu = 0, j;
    struct question **all = xmalloc(nall * sizeof *all);
    for (k = 0, j = 0; k < NPOPE; k++)
      for (i = 0; i < nq[k]; i++)
        all[j++] = &qs[k][i];
    qsort(all, nall, sizeof *all, cmp_question);
    reqs = xrealloc(reqs, nall * sizeof *reqs);
    out = xrealloc(out, nall * POPE_NEW_TOKENS * sizeof *out);
    for (j = 0; j < nall; j++) {
      if (j == 0 || cmp_question(&all[j - 1], &all[j]) != 0) {
        reqs[nu].row = all[j]->row;
        reqs[nu].prompt = all[j]->prompt;
        reqs[nu].Tp = all[j]->Tp;
        reqs[nu].out = out + nu * POPE_NEW_TOKENS;
        nu++;
      }
      all[j]->uniq = nu - 1;
    }
    free(all);
    o.max_new_tokens = POPE_NEW_TOKENS;
    o.eos_bias = 0.0f;
    pr.total = pr.base + nu;
    snprintf(phase, sizeof phase, "pope (%zu questions, %zu distinct)", nall, nu);
    pr.t0 = train_now();
    if ((rc = gen_run(&gm, &s, reqs, nu, &o, on_progress, &pr, &r->err)) < 0)
      goto out;
    log_phase(r, phase, reqs, nu, pr.t0);
  }
  for (k = 0; k < NPOPE && pdir; k++)
    for (i = 0; i < nq[k]; i++) {
      const struct question *q = &qs[k][i];
      const struct gen_req *a = &reqs[q->uniq];
      int yes;
      strbuf_reset(&text);
      tokenizer_decode(&gm.tk, a->out, (size_t)a->len, &text);
      strbuf_addch(&text, '\0');
      yes = chair_pope_parse(text.buf);
      chair_pope_add(&pp[k], q->yes, yes);
      strbuf_addf(&ans, "{\"kind\":\"pope\",\"split\":\"%s\",\"question_id\":%s,\"image\":",
                  pope_splits[k], q->qid);
      add_str(&ans, q->image);
      strbuf_addstr(&ans, ",\"question\":");
      add_str(&ans, q->text);
      strbuf_addf(&ans, ",\"label\":\"%s\",\"answer\":", q->yes ? "yes" : "no");
      add_str(&ans, text.buf);
      strbuf_addf(&ans, ",\"parsed\":\"%s\"}\n", yes ? "yes" : "no");
    }

  /* metrics.json */
  strbuf_addf(&met, "{\"images\": %zu, \"max_new_tokens\": %d, \"model_digest\": \"%s\",\n"
              " \"chair\": [", s.n, M, gm.digest);
  for (k = 0; k < nb; k++) {
    strbuf_addstr(&met, k ? ",\n   " : "\n   ");
    add_chair_entry(&met, num(&biases->u.list.v[k]), &cc[k]);
  }
  strbuf_addstr(&met, "],\n \"pope\": {");
  for (k = 0; k < NPOPE && pdir; k++) {
    strbuf_addf(&met, "%s\n   \"%s\": ", k ? "," : "", pope_splits[k]);
    add_pope_entry(&met, &pp[k]);
  }
  strbuf_addstr(&met, "}}\n");
  if ((rc = task_write_file(path[OUT_METRICS], met.buf, met.len, &r->err)) < 0 ||
      (rc = task_write_file(path[OUT_ANSWERS], ans.buf, ans.len, &r->err)) < 0)
    goto out;

  /* The summary table. */
  fprintf(r->log, "\n%-9s %8s %8s %8s %8s %8s %8s\n", "eos_bias", "CHAIR_s", "CHAIR_i",
          "recall", "obj/ans", "words", "tokens");
  for (k = 0; k < nb; k++) {
    struct chair_scores sc;
    chair_counts_scores(&cc[k], &sc);
    fprintf(r->log, "%-9g %8.4f %8.4f %8.4f %8.3f %8.2f %8.2f\n", num(&biases->u.list.v[k]),
            sc.chair_s, sc.chair_i, sc.recall, sc.objects_per_answer, sc.avg_words,
            sc.avg_tokens);
  }
  if (pdir) {
    fprintf(r->log, "\n%-12s %9s %8s %9s %8s %8s %8s\n", "POPE", "questions", "accuracy",
            "precision", "recall", "f1", "yes");
    for (k = 0; k < NPOPE; k++) {
      struct chair_pope_scores ps;
      chair_pope_scores(&pp[k], &ps);
      fprintf(r->log, "%-12s %9zu %8.4f %9.4f %8.4f %8.4f %8.4f\n", pope_splits[k], ps.questions,
              ps.accuracy, ps.precision, ps.recall, ps.f1, ps.yes_ratio);
    }
  }
  fprintf(r->log, "\ndone in %.2fs\n", train_now() - t0);
  task_run_progress(r, 1.0, "done");
out:
  for (k = 0; k < NOUT; k++)
    free(path[k]);
  for (k = 0; k < NPOPE; k++)
    questions_free(qs[k], nq[k]);
  free(wtext);
  free(prompt);
  free(reqs);
  free(out);
  free(ment);
  free(cc);
  free(tr.gt);
  if (have_model)
    gen_model_release(&gm);
  if (have_split)
    gen_split_release(&s);
  chair_vocab_release(&v);
  strbuf_release(&ans);
  strbuf_release(&met);
  strbuf_release(&text);
  return rc;
}

const struct task_kind evaluate_kind = {
  .name = "evaluate",
  .version = 2,
  .doc = "Object hallucination of a trained model: CHAIR on greedy image descriptions (one "
         "pass per eos_bias) and POPE on yes/no questions, as metrics.json plus every answer.",
  .params = eval_params,
  .outputs = eval_outputs,
  .flags = 0,
  .check = eval_check,
  .run = eval_run,
};
