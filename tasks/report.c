/* report.c - the `report` kind: the ablation's results as one Markdown and
 * one self-contained HTML page, plus summary.json for later tools.
 *
 * Inputs are maps name -> artifact: evaluate metrics.json files (one entry
 * is the base model), optionally evaluate answers.jsonl files (sample
 * captions) and training TSVs (curves). The references inside the maps are
 * edges of the DAG like any other: the front end notes every reference in
 * a task's parameters, nested ones included, and the action key holds each
 * one's digest, so a report waits for its inputs and reruns when one
 * changes.
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
 * Left out: the paper's POPE per split (it reports an average), images.
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
    "`base` is the base model, whose eos_bias sweep traces the length frontier" },
  { "base", PT_STRING, "\"base\"", 0, -1, NULL, 0, "which metrics entry is the base model" },
  { "answers", PT_MAP, "{}", 0, -1, NULL, 0,
    "name = an evaluate task's answers (answers.jsonl), for sample captions; names as in metrics" },
  { "curves", PT_MAP, "{}", 0, -1, NULL, 0,
    "name = a training TSV (train_sft log, train_dpo metrics), drawn as training curves" },
  { "title", PT_STRING, "\"POVID ablation\"", 0, -1, NULL, 0, "the report's title" },
  { "samples", PT_INT, "6", 0, 1000, NULL, 0,
    "images whose captions are shown, base against each variant (the first in base's answers)" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

enum { OUT_REPORT, OUT_SUMMARY, NOUT };
static const struct kind_output report_outputs[NOUT + 1] = {
  { "report", "a directory: report.md and report.html (one self-contained page, inline SVG)" },
  { "summary", "JSON: the variants table (rates as fractions, distances in points), the "
               "frontier points and every input's SHA-256" },
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

void report_compute(struct report *rp)
{
  size_t i;
  free(rp->frontier.p);
  memset(&rp->frontier, 0, sizeof rp->frontier);
  for (i = 0; i < rp->nmetrics; i++)
    if (strcmp(rp->metrics[i].in.name, rp->base) == 0)
      frontier_build(&rp->frontier, &rp->metrics[i]);
  free(rp->rows);
  rp->nrows = rp->nmetrics;
  rp->rows = xcalloc(rp->nrows, sizeof *rp->rows);
  for (i = 0; i < rp->nrows; i++) {
    rp->rows[i].m = &rp->metrics[i];
    row_compute(&rp->rows[i], &rp->frontier);
  }
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
  free(rp->frontier.p);
  free(rp->rows);
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

static cJSON *row_json(const struct report_row *row)
{
  const struct report_chair *c = report_main_chair(row->m);
  cJSON *o = cJSON_CreateObject(), *pope;
  int k;
  cJSON_AddStringToObject(o, "name", row->m->in.name);
  cJSON_AddNumberToObject(o, "eos_bias", c->eos_bias);
  add_num(o, "chair_s", c->chair_s);
  add_num(o, "chair_i", c->chair_i);
  add_num(o, "recall", c->recall);
  add_num(o, "objects_per_answer", c->objects_per_answer);
  add_num(o, "avg_words", c->avg_words);
  pope = cJSON_AddObjectToObject(o, "pope_f1");
  for (k = 0; k < REPORT_NPOPE; k++)
    add_num(pope, report_pope_splits[k], row->m->pope_f1[k]);
  add_num(o, "pope_f1_avg", row->pope_avg);
  add_num(o, "frontier_chair_s", row->frontier);
  add_num(o, "delta_points", row->delta);
  cJSON_AddBoolToObject(o, "outside", row->outside);
  cJSON_AddStringToObject(o, "position", report_pos_name(row->pos));
  return o;
}

static void add_input(cJSON *arr, const struct report_input *in, const char *model_digest)
{
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "param", in->param);
  cJSON_AddStringToObject(o, "name", in->name);
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
  arr = cJSON_AddArrayToObject(j, "variants");
  for (i = 0; i < rp->nrows; i++)
    cJSON_AddItemToArray(arr, row_json(&rp->rows[i]));
  arr = cJSON_AddArrayToObject(j, "frontier");
  for (i = 0; i < rp->frontier.n; i++) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "eos_bias", rp->frontier.p[i].eos_bias);
    add_num(p, "recall", rp->frontier.p[i].recall);
    add_num(p, "chair_s", rp->frontier.p[i].chair_s);
    add_num(p, "avg_words", rp->frontier.p[i].avg_words);
    cJSON_AddItemToArray(arr, p);
  }
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

/* Sets up in for entry k of the map parameter param. */
static int input_init(struct task_run *r, struct report_input *in, const char *param, size_t k)
{
  const struct val *map = task_param(r->task, param);
  const char *path = input_path(r, &map->u.map.v[k]);
  struct strbuf sb;
  strbuf_init(&sb, 32);
  val_to_source(&map->u.map.v[k], &sb);
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

static int load_inputs(struct task_run *r, struct report *rp)
{
  const struct val *m = task_param(r->task, "metrics"), *a = task_param(r->task, "answers"),
                   *c = task_param(r->task, "curves");
  size_t i;
  int rc = 0;
  if (!val_map_get(m, rp->base))
    return ERR_SET(&r->err, PD_ETASK, "metrics has no entry '%s' (the base model)", rp->base);
  rp->metrics = xcalloc(rp->nmetrics = m->u.map.n, sizeof *rp->metrics);
  rp->answers = xcalloc(rp->nanswers = a->u.map.n, sizeof *rp->answers);
  rp->curves = xcalloc(rp->ncurves = c->u.map.n, sizeof *rp->curves);
  for (i = 0; rc == 0 && i < rp->nmetrics; i++)
    if ((rc = input_init(r, &rp->metrics[i].in, "metrics", entry_of(m, rp->base, i))) == 0)
      rc = report_load_metrics(&rp->metrics[i], &r->err);
  for (i = 0; rc == 0 && i < rp->nanswers; i++)
    if ((rc = input_init(r, &rp->answers[i].in, "answers", entry_of(a, rp->base, i))) == 0)
      rc = report_load_answers(&rp->answers[i], &r->err);
  for (i = 0; rc == 0 && i < rp->ncurves; i++)
    if ((rc = input_init(r, &rp->curves[i].in, "curves", i)) == 0)
      rc = report_load_curve(&rp->curves[i], &r->err);
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
    fprintf(r->log, "report: %zu models, a frontier of %zu points, %zu answer sets, %zu curves\n",
            rp.nmetrics, rp.frontier.n, rp.nanswers, rp.ncurves);
    task_run_progress(r, 1.0, "%zu models", rp.nmetrics);
  }
  report_release(&rp);
  free(dir);
  free(summary);
  return rc;
}

static int check_map(const struct task *t, const char *param, struct pd_err *err)
{
  const struct val *m = task_param(t, param);
  size_t k;
  for (k = 0; k < m->u.map.n; k++) {
    const struct val *v = &m->u.map.v[k];
    if (v->kind != V_REF && v->kind != V_FILE)
      return graph_error_at(err, PD_EGRAPH, &v->loc,
                            "%s entry '%s' must be a task's output or a file(\"...\"), not a %s",
                            param, m->u.map.k[k], val_kind_name(v->kind));
  }
  return 0;
}

static int report_check(struct graph *g, struct task *t, struct pd_err *err)
{
  const struct val *m = task_param(t, "metrics"), *base = task_param(t, "base");
  int rc;
  (void)g;
  if ((rc = check_map(t, "metrics", err)) < 0 || (rc = check_map(t, "answers", err)) < 0 ||
      (rc = check_map(t, "curves", err)) < 0)
    return rc;
  if (!val_map_get(m, base->u.str.s))
    return graph_error_at(err, PD_EGRAPH, &m->loc,
                          "metrics has no entry '%s' (the base model; set base = \"NAME\")",
                          base->u.str.s);
  return 0;
}

const struct task_kind report_kind = {
  .name = "report",
  .version = 1,
  .doc = "The ablation's results: a table of CHAIR/POPE per model with each one's distance "
         "to the base model's length frontier, the paper's numbers beside them, charts, "
         "training curves, sample captions and the inputs' digests (report.md, report.html, "
         "summary.json).",
  .params = report_params,
  .outputs = report_outputs,
  .flags = 0,
  .check = report_check,
  .run = report_run,
};
