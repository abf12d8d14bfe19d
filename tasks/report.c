/* report.c - the `report` kind: the ablation's results as one Markdown and
 * one self-contained HTML page, plus summary.json for later tools.
 *
 * Inputs are maps name -> artifact: evaluate metrics.json files (one entry
 * is the base model), optionally evaluate answers.jsonl files (sample
 * captions) and training TSVs (curves). A map value may also be a list of
 * artifacts, one per seed: in metrics every list has the same length n and
 * element i of each is seed i, so each variant is compared with seed i's
 * own base frontier before the mean and sd over seeds (report_seeds.c).
 * The references inside the maps, in lists or not, are edges of the DAG
 * like any other: the front end notes every reference in a task's
 * parameters, nested ones included, and the action key holds each one's
 * digest, so a report waits for its inputs and reruns when one changes.
 *
 * The length frontier: a model that says less hallucinates less, so a lower
 * CHAIR_S alone proves nothing. The base model evaluated at several
 * eos_bias values (longer to shorter answers) traces CHAIR_S against
 * recall; a variant is compared with that curve at its own recall, by
 * linear interpolation between the base's points (outside their range:
 * extrapolated from the nearest segment, clamped to [0, 1] and flagged).
 * distance = frontier CHAIR_S - variant CHAIR_S, in points: positive means
 * fewer hallucinations than shortening the base's answers would give.
 *
 * Deterministic: no timestamps and no paths (they vary by cache) in any
 * output; inputs are named by their references and SHA-256 digests.
 * Left out: the paper's POPE per split (it reports an average), images,
 * sample captions of seeds after the first.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "graph.h"
#include "registry.h"
#include "report.h"
#include "run.h"
#include "strbuf.h"

const char *const report_pope_splits[REPORT_NPOPE] = { "random", "popular", "adversarial" };

static const struct kind_param report_params[] = {
  { "metrics", PT_MAP, NULL, 0, -1, NULL, 0,
    "name = an evaluate task's metrics (metrics.json), one per model; the entry named by "
    "`base` is the base model, whose eos_bias sweep traces the length frontier. For several "
    "seeds, name = [seed1, seed2, ...]: every entry a list of the same length, element i of "
    "each list being seed i (each variant is compared with seed i's own base frontier, then "
    "the mean and sample sd over seeds are shown)" },
  { "base", PT_STRING, "\"base\"", 0, -1, NULL, 0, "which metrics entry is the base model" },
  { "answers", PT_MAP, "{}", 0, -1, NULL, 0,
    "name = an evaluate task's answers (answers.jsonl), for sample captions; names as in "
    "metrics; a list (one per seed) shows the first seed's captions" },
  { "curves", PT_MAP, "{}", 0, -1, NULL, 0,
    "name = a training TSV (train_sft log, train_dpo metrics), drawn as training curves; a "
    "list (one per seed) draws a line per seed" },
  { "title", PT_STRING, "\"POVID ablation\"", 0, -1, NULL, 0, "the report's title" },
  { "samples", PT_INT, "6", 0, 1000, NULL, 0,
    "images whose captions are shown, base against each variant (the first in base's answers)" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

enum { OUT_REPORT, OUT_SUMMARY, NOUT };
static const struct kind_output report_outputs[NOUT + 1] = {
  { "report", "a directory: report.md and report.html (one self-contained page, inline SVG)" },
  { "summary", "JSON: the variants table (rates as fractions, distances in points; with "
               "seeds, the means plus per_seed, mean and sd), the frontier points and every "
               "input's SHA-256" },
  { NULL, NULL },
};

/* --- the frontier ----------------------------------------------------------- */

int report_frontier_at(const struct report_frontier *f, double recall, double *chair_s)
{
  const struct report_point *p = f->p;
  size_t n = f->n, i = 0;
  int outside = 0;
  double y;
  if (n == 0) {
    *chair_s = NAN;
    return -1;
  }
  if (n == 1) {
    *chair_s = p[0].chair_s;
    return recall != p[0].recall;
  }
  if (recall < p[0].recall || recall > p[n - 1].recall) {
    outside = 1;
    i = recall < p[0].recall ? 0 : n - 2;
  } else {
    while (i + 2 < n && recall > p[i + 1].recall)
      i++;
  }
  if (p[i + 1].recall == p[i].recall) /* not from report_compute, which merges them */
    y = fmin(p[i].chair_s, p[i + 1].chair_s);
  else
    y = p[i].chair_s + (p[i + 1].chair_s - p[i].chair_s) * (recall - p[i].recall) /
                           (p[i + 1].recall - p[i].recall);
  *chair_s = fmin(1.0, fmax(0.0, y));
  return outside;
}

static int cmp_point(const void *a, const void *b)
{
  const struct report_point *p = a, *q = b;
  if (p->recall != q->recall)
    return p->recall < q->recall ? -1 : 1;
  if (p->chair_s != q->chair_s)
    return p->chair_s < q->chair_s ? -1 : 1;
  return p->eos_bias - q->eos_bias;
}

/* The base's points by recall; of points at the same recall the lowest
 * CHAIR_S stays (the frontier is the best the base does there). */
static void frontier_build(struct report_frontier *f, const struct report_metrics *m)
{
  size_t i, n = 0;
  f->p = xcalloc(m->nchair, sizeof *f->p);
  for (i = 0; i < m->nchair; i++) {
    f->p[i].eos_bias = m->chair[i].eos_bias;
    f->p[i].recall = m->chair[i].recall;
    f->p[i].chair_s = m->chair[i].chair_s;
    f->p[i].avg_words = m->chair[i].avg_words;
  }
  qsort(f->p, m->nchair, sizeof *f->p, cmp_point);
  for (i = 0; i < m->nchair; i++)
    if (n == 0 || f->p[i].recall != f->p[n - 1].recall)
      f->p[n++] = f->p[i];
  f->n = n;
}

const struct report_chair *report_main_chair(const struct report_metrics *m)
{
  size_t i;
  for (i = 0; i < m->nchair; i++)
    if (m->chair[i].eos_bias == 0)
      return &m->chair[i];
  return &m->chair[0];
}

static void row_compute(struct report_row *row, const struct report_frontier *f)
{
  const struct report_chair *c = report_main_chair(row->m);
  double sum = 0;
  int k, n = 0, at = report_frontier_at(f, c->recall, &row->frontier);
  row->outside = at == 1;
  row->delta = at < 0 ? NAN : (row->frontier - c->chair_s) * 100.0;
  row->pos = at < 0                                  ? REPORT_NA
             : fabs(row->delta) < REPORT_ON_FRONTIER ? REPORT_ON
             : row->delta > 0                        ? REPORT_BELOW
                                                     : REPORT_ABOVE;
  for (k = 0; k < REPORT_NPOPE; k++)
    if (!isnan(row->m->pope_f1[k])) {
      sum += row->m->pope_f1[k];
      n++;
    }
  row->pope_avg = n ? sum / n : NAN;
}

static void frontiers_free(struct report *rp)
{
  size_t s;
  for (s = 0; rp->frontier && s < rp->nseeds; s++)
    free(rp->frontier[s].p);
  free(rp->frontier);
  rp->frontier = NULL;
}

void report_compute(struct report *rp)
{
  size_t i, s, n;
  frontiers_free(rp);
  if (rp->nseeds == 0)
    rp->nseeds = 1;
  n = rp->nseeds;
  ASSERT(rp->nmetrics % n == 0);
  rp->frontier = xcalloc(n, sizeof *rp->frontier);
  for (i = 0; i < rp->nmetrics; i += n)
    if (strcmp(rp->metrics[i].in.name, rp->base) == 0)
      for (s = 0; s < n; s++)
        frontier_build(&rp->frontier[s], &rp->metrics[i + s]);
  free(rp->rows);
  rp->nrows = rp->nmetrics;
  rp->rows = xcalloc(rp->nrows + 1, sizeof *rp->rows);
  for (i = 0; i < rp->nrows; i++) {
    rp->rows[i].m = &rp->metrics[i];
    row_compute(&rp->rows[i], &rp->frontier[i % n]); /* seed i % n's own frontier */
  }
  report_models_compute(rp);
}

void report_release(struct report *rp)
{
  size_t i;
  for (i = 0; i < rp->nmetrics; i++)
    report_metrics_release(&rp->metrics[i]);
  for (i = 0; i < rp->nanswers; i++)
    report_answers_release(&rp->answers[i]);
  for (i = 0; i < rp->ncurves; i++)
    report_curve_release(&rp->curves[i]);
  free(rp->metrics);
  free(rp->answers);
  free(rp->curves);
  frontiers_free(rp);
  free(rp->rows);
  free(rp->models);
  memset(rp, 0, sizeof *rp);
}

/* --- summary.json ----------------------------------------------------------- */

static void add_num(cJSON *o, const char *k, double v)
{
  if (isnan(v) || isinf(v))
    cJSON_AddNullToObject(o, k);
  else
    cJSON_AddNumberToObject(o, k, v);
}

/* The numbers of report_q, v[REPORT_NQ], under today's field names. */
static void add_numbers(cJSON *o, const double *v)
{
  cJSON *pope;
  int k;
  add_num(o, "chair_s", v[REPORT_Q_CHAIR_S]);
  add_num(o, "chair_i", v[REPORT_Q_CHAIR_I]);
  add_num(o, "recall", v[REPORT_Q_RECALL]);
  add_num(o, "objects_per_answer", v[REPORT_Q_OBJECTS]);
  add_num(o, "avg_words", v[REPORT_Q_WORDS]);
  pope = cJSON_AddObjectToObject(o, "pope_f1");
  for (k = 0; k < REPORT_NPOPE; k++)
    add_num(pope, report_pope_splits[k], v[REPORT_Q_POPE + k]);
  add_num(o, "pope_f1_avg", v[REPORT_Q_POPE_AVG]);
  add_num(o, "frontier_chair_s", v[REPORT_Q_FRONTIER]);
  add_num(o, "delta_points", v[REPORT_Q_DELTA]);
}

/* A model: its means under the fields a single run has always had (with
 * one seed, that run's numbers), then seeds one by one and mean and sd. */
static cJSON *model_json(const struct report *rp, const struct report_model *m)
{
  cJSON *o = cJSON_CreateObject(), *arr;
  double v[REPORT_NQ];
  size_t s;
  int q;
  cJSON_AddStringToObject(o, "name", m->name);
  cJSON_AddNumberToObject(o, "eos_bias", report_main_chair(m->seed[0].m)->eos_bias);
  for (q = 0; q < REPORT_NQ; q++)
    v[q] = m->q[q].mean;
  add_numbers(o, v);
  cJSON_AddBoolToObject(o, "outside", m->outside > 0);
  cJSON_AddStringToObject(o, "position", report_pos_name(m->pos));
  cJSON_AddNumberToObject(o, "outside_seeds", (double)m->outside);
  arr = cJSON_AddArrayToObject(o, "per_seed");
  for (s = 0; s < rp->nseeds; s++) {
    const struct report_row *r = &m->seed[s];
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "seed", (double)(s + 1));
    cJSON_AddStringToObject(e, "ref", r->m->in.ref ? r->m->in.ref : "");
    cJSON_AddNumberToObject(e, "eos_bias", report_main_chair(r->m)->eos_bias);
    for (q = 0; q < REPORT_NQ; q++)
      v[q] = report_row_value(r, (enum report_q)q);
    add_numbers(e, v);
    cJSON_AddBoolToObject(e, "outside", r->outside);
    cJSON_AddStringToObject(e, "position", report_pos_name(r->pos));
    cJSON_AddItemToArray(arr, e);
  }
  for (q = 0; q < REPORT_NQ; q++)
    v[q] = m->q[q].mean;
  add_numbers(cJSON_AddObjectToObject(o, "mean"), v);
  for (q = 0; q < REPORT_NQ; q++)
    v[q] = m->q[q].sd;
  add_numbers(cJSON_AddObjectToObject(o, "sd"), v);
  return o;
}

static cJSON *frontier_json(const struct report_frontier *f)
{
  cJSON *arr = cJSON_CreateArray();
  size_t i;
  for (i = 0; i < f->n; i++) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "eos_bias", f->p[i].eos_bias);
    add_num(p, "recall", f->p[i].recall);
    add_num(p, "chair_s", f->p[i].chair_s);
    add_num(p, "avg_words", f->p[i].avg_words);
    cJSON_AddItemToArray(arr, p);
  }
  return arr;
}

static void add_input(cJSON *arr, const struct report_input *in, const char *model_digest)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "param", in->param);
  cJSON_AddStringToObject(o, "name", in->name);
  if (in->seed)
    cJSON_AddNumberToObject(o, "seed", in->seed);
  cJSON_AddStringToObject(o, "ref", in->ref ? in->ref : "");
  cJSON_AddStringToObject(o, "sha256", in->sha256);
  if (model_digest)
    cJSON_AddStringToObject(o, "model_digest", model_digest);
  cJSON_AddItemToArray(arr, o);
}

void report_summary_json(const struct report *rp, struct strbuf *out)
{
  cJSON *j = cJSON_CreateObject(), *arr;
  char *text;
  size_t i;
  cJSON_AddStringToObject(j, "title", rp->title);
  cJSON_AddStringToObject(j, "task", rp->task);
  cJSON_AddNumberToObject(j, "version", rp->version);
  cJSON_AddStringToObject(j, "base", rp->base);
  cJSON_AddNumberToObject(j, "seeds", (double)rp->nseeds);
  arr = cJSON_AddArrayToObject(j, "variants");
  for (i = 0; i < rp->nmodels; i++)
    cJSON_AddItemToArray(arr, model_json(rp, &rp->models[i]));
  /* The first seed's, as with one seed; then every seed's. */
  cJSON_AddItemToObject(j, "frontier", frontier_json(&rp->frontier[0]));
  arr = cJSON_AddArrayToObject(j, "frontiers");
  for (i = 0; i < rp->nseeds; i++)
    cJSON_AddItemToArray(arr, frontier_json(&rp->frontier[i]));
  arr = cJSON_AddArrayToObject(j, "inputs");
  for (i = 0; i < rp->nmetrics; i++)
    add_input(arr, &rp->metrics[i].in, rp->metrics[i].model_digest);
  for (i = 0; i < rp->nanswers; i++)
    add_input(arr, &rp->answers[i].in, NULL);
  for (i = 0; i < rp->ncurves; i++)
    add_input(arr, &rp->curves[i].in, NULL);
  text = cJSON_Print(j);
  strbuf_addstr(out, text);
  strbuf_addch(out, '\n');
  free(text);
  cJSON_Delete(j);
}

/* --- writing ---------------------------------------------------------------- */

int report_write(const struct report *rp, const char *dir, const char *summary_path,
                 struct pd_err *err)
{
  struct strbuf sb;
  char *path;
  int rc;
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    return ERR_SET(err, -errno, "cannot create '%s': %s", dir, strerror(errno));
  strbuf_init(&sb, 1 << 16);
  report_md(rp, &sb);
  path = xasprintf("%s/report.md", dir);
  rc = task_write_file(path, sb.buf, sb.len, err);
  free(path);
  if (rc == 0) {
    strbuf_reset(&sb);
    report_html(rp, &sb);
    path = xasprintf("%s/report.html", dir);
    rc = task_write_file(path, sb.buf, sb.len, err);
    free(path);
  }
  if (rc == 0) {
    strbuf_reset(&sb);
    report_summary_json(rp, &sb);
    rc = task_write_file(summary_path, sb.buf, sb.len, err);
  }
  strbuf_release(&sb);
  return rc;
}

/* --- the kind --------------------------------------------------------------- */

static const char *input_path(struct task_run *r, const struct val *v)
{
  if (v->kind == V_FILE || v->kind == V_DIR)
    return v->u.src.path;
  if (v->kind == V_REF && r->resolve)
    return r->resolve(r->resolve_arg, v);
  return NULL;
}

/* An entry's files: a list's length, 1 for a single artifact. */
static size_t entry_len(const struct val *v)
{
  return v->kind == V_LIST ? v->u.list.n : 1;
}

/* Sets up in for element e of entry k of the map parameter param. */
static int input_init(struct task_run *r, struct report_input *in, const char *param, size_t k,
                      size_t e)
{
  const struct val *map = task_param(r->task, param), *v = &map->u.map.v[k];
  const char *path;
  struct strbuf sb;
  if (v->kind == V_LIST) {
    in->seed = v->u.list.n > 1 ? (int)e + 1 : 0;
    v = &v->u.list.v[e];
  }
  path = input_path(r, v);
  strbuf_init(&sb, 32);
  val_to_source(v, &sb);
  in->param = param;
  in->name = xstrdup(map->u.map.k[k]);
  in->ref = strbuf_detach(&sb, NULL);
  if (!path)
    return ERR_SET(&r->err, PD_ETASK, "%s '%s': %s is not an artifact", param, in->name, in->ref);
  in->path = xstrdup(path);
  return 0;
}

/* Map entry k of the i-th slot: base first, the others in map (name) order. */
static size_t entry_of(const struct val *map, const char *base, size_t i)
{
  size_t b;
  for (b = 0; b < map->u.map.n; b++)
    if (strcmp(map->u.map.k[b], base) == 0)
      break;
  if (b == map->u.map.n)
    return i;
  return i == 0 ? b : i <= b ? i - 1 : i;
}

/* Files of every entry of map, one after another. */
static size_t map_files(const struct val *map)
{
  size_t k, n = 0;
  for (k = 0; k < map->u.map.n; k++)
    n += entry_len(&map->u.map.v[k]);
  return n;
}

static int load_inputs(struct task_run *r, struct report *rp)
{
  const struct val *m = task_param(r->task, "metrics"), *a = task_param(r->task, "answers"),
                   *c = task_param(r->task, "curves"), *base = val_map_get(m, rp->base);
  size_t i, e, f = 0;
  int rc = 0;
  if (!base)
    return ERR_SET(&r->err, PD_ETASK, "metrics has no entry '%s' (the base model)", rp->base);
  rp->nseeds = entry_len(base);
  for (i = 0; i < m->u.map.n; i++)
    if (entry_len(&m->u.map.v[i]) != rp->nseeds) /* report_check's, at run time too */
      return ERR_SET(&r->err, PD_ETASK, "metrics entry '%s' has %zu seeds where '%s' has %zu",
                     m->u.map.k[i], entry_len(&m->u.map.v[i]), rp->base, rp->nseeds);
  rp->metrics = xcalloc((rp->nmetrics = m->u.map.n * rp->nseeds) + 1, sizeof *rp->metrics);
  rp->answers = xcalloc((rp->nanswers = map_files(a)) + 1, sizeof *rp->answers);
  rp->curves = xcalloc((rp->ncurves = map_files(c)) + 1, sizeof *rp->curves);
  for (i = 0; rc == 0 && i < m->u.map.n; i++)
    for (e = 0; rc == 0 && e < rp->nseeds; e++, f++)
      if ((rc = input_init(r, &rp->metrics[f].in, "metrics", entry_of(m, rp->base, i), e)) == 0)
        rc = report_load_metrics(&rp->metrics[f], &r->err);
  for (i = 0, f = 0; rc == 0 && i < a->u.map.n; i++) {
    size_t k = entry_of(a, rp->base, i);
    for (e = 0; rc == 0 && e < entry_len(&a->u.map.v[k]); e++, f++)
      if ((rc = input_init(r, &rp->answers[f].in, "answers", k, e)) == 0)
        rc = report_load_answers(&rp->answers[f], &r->err);
  }
  for (i = 0, f = 0; rc == 0 && i < c->u.map.n; i++)
    for (e = 0; rc == 0 && e < entry_len(&c->u.map.v[i]); e++, f++)
      if ((rc = input_init(r, &rp->curves[f].in, "curves", i, e)) == 0)
        rc = report_load_curve(&rp->curves[f], &r->err);
  return rc;
}

static int report_run(struct task_run *r)
{
  struct report rp = { 0 };
  char *dir = task_run_output(r, "report"), *summary = task_run_output(r, "summary");
  int rc;
  rp.title = task_param(r->task, "title")->u.str.s;
  rp.base = task_param(r->task, "base")->u.str.s;
  rp.task = r->task->name;
  rp.version = r->task->kind->version;
  rp.samples = (int)task_param(r->task, "samples")->u.i;
  task_run_progress(r, 0, "reading inputs");
  if ((rc = load_inputs(r, &rp)) == 0) {
    report_compute(&rp);
    rc = report_write(&rp, dir, summary, &r->err);
  }
  if (rc == 0) {
    fprintf(r->log,
            "report: %zu models, %zu seeds, a frontier of %zu points, %zu answer sets, "
            "%zu curves\n",
            rp.nmodels, rp.nseeds, rp.frontier[0].n, rp.nanswers, rp.ncurves);
    task_run_progress(r, 1.0, "%zu models", rp.nmodels);
  }
  report_release(&rp);
  free(dir);
  free(summary);
  return rc;
}

static int check_artifact(const struct val *v, const char *param, const char *name, size_t seed,
                          struct pd_err *err)
{
  if (v->kind == V_REF || v->kind == V_FILE)
    return 0;
  if (seed)
    return graph_error_at(err, PD_EGRAPH, &v->loc,
                          "%s entry '%s', seed %zu: must be a task's output or a file(\"...\"), "
                          "not a %s",
                          param, name, seed, val_kind_name(v->kind));
  return graph_error_at(err, PD_EGRAPH, &v->loc,
                        "%s entry '%s' must be a task's output or a file(\"...\"), or a list of "
                        "them (one per seed), not a %s",
                        param, name, val_kind_name(v->kind));
}

static int check_map(const struct task *t, const char *param, struct pd_err *err)
{
  const struct val *m = task_param(t, param);
  size_t k, e;
  int rc;
  for (k = 0; k < m->u.map.n; k++) {
    const struct val *v = &m->u.map.v[k];
    if (v->kind != V_LIST) {
      if ((rc = check_artifact(v, param, m->u.map.k[k], 0, err)) < 0)
        return rc;
      continue;
    }
    if (v->u.list.n == 0)
      return graph_error_at(err, PD_EGRAPH, &v->loc,
                            "%s entry '%s' is an empty list (one artifact per seed expected)",
                            param, m->u.map.k[k]);
    for (e = 0; e < v->u.list.n; e++)
      if ((rc = check_artifact(&v->u.list.v[e], param, m->u.map.k[k], e + 1, err)) < 0)
        return rc;
  }
  return 0;
}

static int report_check(struct graph *g, struct task *t, struct pd_err *err)
{
  const struct val *m = task_param(t, "metrics"), *base = task_param(t, "base"), *b;
  size_t k, n;
  int rc;
  (void)g;
  if ((rc = check_map(t, "metrics", err)) < 0 || (rc = check_map(t, "answers", err)) < 0 ||
      (rc = check_map(t, "curves", err)) < 0)
    return rc;
  if (!(b = val_map_get(m, base->u.str.s)))
    return graph_error_at(err, PD_EGRAPH, &m->loc,
                          "metrics has no entry '%s' (the base model; set base = \"NAME\")",
                          base->u.str.s);
  /* Element i of every list is seed i: the lists must line up. */
  n = entry_len(b);
  for (k = 0; k < m->u.map.n; k++)
    if (entry_len(&m->u.map.v[k]) != n)
      return graph_error_at(err, PD_EGRAPH, &m->u.map.v[k].loc,
                            "metrics entry '%s' has %zu seed%s but the base entry '%s' has %zu "
                            "(element i of every list is seed i, so all lists need the same "
                            "length)",
                            m->u.map.k[k], entry_len(&m->u.map.v[k]),
                            entry_len(&m->u.map.v[k]) == 1 ? "" : "s", base->u.str.s, n);
  return 0;
}

const struct task_kind report_kind = {
  .name = "report",
  .version = 3,
  .doc = "The ablation's results: a table of CHAIR/POPE per model with each one's distance "
         "to the base model's length frontier, the paper's numbers beside them, charts, "
         "training curves, sample captions and the inputs' digests (report.md, report.html, "
         "summary.json). With lists of seeds, mean ± sample sd over seeds and a per-seed table.",
  .params = report_params,
  .outputs = report_outputs,
  .flags = 0,
  .check = report_check,
  .run = report_run,
};
