/* report_tables.c - the report's content as tables of text cells, and the
 * formatting both renderings share (percents, points, marked answers).
 *
 * The paper's numbers (Zhou et al. 2024, POVID, Tables 1 and 3, LLaVA-1.5
 * 7B on COCO) sit here as constants; our models map to them by name: the
 * base model to LLaVA-1.5, "text", "image" and "both" to the ablation's
 * text-only, image-only and full POVID rows. With several seeds every
 * number of ours is a mean, shown with its sample sd ("48.6 ± 7.8"), and
 * our changes are means of seed-by-seed differences.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "report.h"
#include "strbuf.h"

const char report_text_delta[] =
    "Δ to frontier = the base model's CHAIR_S at this model's recall (interpolated along the "
    "base model's answer-length sweep) minus this model's CHAIR_S, in points: positive means "
    "fewer hallucinated captions than the base model gives at the same recall by answering "
    "shorter (a real effect), about 0 means on the frontier (a length effect), negative "
    "means above it.";
const char report_text_frontier[] =
    "The base model evaluated at increasing eos_bias (shorter answers): each point is "
    "(recall, CHAIR_S). Shorter answers mention fewer objects, so both fall together; a "
    "fine-tuned model is only better if it lies below this curve.";
const char report_text_paper[] =
    "The paper's numbers are LLaVA-1.5-7B on COCO; ours are a model of about 1M parameters "
    "on a synthetic world of shapes, so compare the directions of the changes, not the "
    "values.";
const char report_text_per_seed[] =
    "Per seed: each model's CHAIR_S and recall and its distance to that seed's own base "
    "frontier, so that a mean cannot hide one bad seed.";

char *report_text_seeds(const struct report *rp)
{
  return xasprintf("Mean ± sample standard deviation (n − 1 denominator) over n = %zu seeds. "
                   "Element i of every metrics list is seed i: each model's distance is taken "
                   "to seed i's own base frontier, then averaged; \"k/%zu extrapolated\" counts "
                   "the seeds whose recall lies outside their frontier's range.",
                   rp->nseeds, rp->nseeds);
}

/* The paper's headline (Table 1) and ablation (Table 3) numbers, percents. */
enum { PAPER_CHAIR_S, PAPER_CHAIR_I, PAPER_POPE };
static const struct {
  const char *metric;
  double llava, povid;
} paper[] = {
  { "CHAIR_S", 66.8, 31.8 },
  { "CHAIR_I", 12.7, 5.4 },
  { "POPE F1 (avg)", 85.9, 86.9 },
};
static const struct {
  const char *variant, *label;
  double chair_s;
} ablation[] = {
  { "text", "text-only", 39.6 },
  { "image", "image-only", 50.4 },
  { "both", "both, full POVID", 31.8 },
};

/* --- formatting ------------------------------------------------------------- */

const char *report_num(char *buf, double v, int decimals)
{
  if (isnan(v) || isinf(v))
    return "—";
  snprintf(buf, 32, "%.*f", decimals, v);
  return buf;
}

const char *report_pct(char *buf, double frac)
{
  return report_num(buf, frac * 100.0, 1);
}

const char *report_pts(char *buf, double pts)
{
  if (isnan(pts) || isinf(pts))
    return "—";
  /* -0.04 would print as "-0.0": a sign the rounded value does not have. */
  snprintf(buf, 32, "%+.1f", fabs(pts) < 0.05 ? 0.0 : pts);
  return buf;
}

const char *report_stat_fmt(char *buf, const struct report_stat *s, double scale, int decimals,
                            int pts)
{
  char m[32];
  if (isnan(s->mean) || isinf(s->mean))
    return "—";
  if (pts)
    report_pts(m, s->mean * scale);
  else
    report_num(m, s->mean * scale, decimals);
  if (isnan(s->sd) || isinf(s->sd))
    snprintf(buf, 80, "%s", m);
  else
    snprintf(buf, 80, "%s ± %.*f", m, pts ? 1 : decimals, s->sd * scale);
  return buf;
}

const char *report_pos_name(enum report_pos p)
{
  switch (p) {
  case REPORT_BELOW: return "below";
  case REPORT_ON: return "on";
  case REPORT_ABOVE: return "above";
  case REPORT_NA: break;
  }
  return "n/a";
}

static size_t match_at(const char *s, size_t i, const char *cat)
{
  size_t n = strlen(cat), j = i + n;
  if (n == 0 || strncasecmp(s + i, cat, n) != 0)
    return 0;
  if (tolower((unsigned char)s[j]) == 'e' && tolower((unsigned char)s[j + 1]) == 's' &&
      !isalnum((unsigned char)s[j + 2]))
    return n + 2;
  if (tolower((unsigned char)s[j]) == 's' && !isalnum((unsigned char)s[j + 1]))
    return n + 1;
  return isalnum((unsigned char)s[j]) ? 0 : n;
}

size_t report_mark_spans(const struct report_answer *a, size_t (*spans)[2], size_t max)
{
  const char *s = a->answer;
  size_t i = 0, n = 0, k, len = strlen(s);
  while (i < len && n < max) {
    size_t best = 0;
    if (i == 0 || !isalnum((unsigned char)s[i - 1]))
      for (k = 0; k < a->nhalluc; k++) {
        size_t m = match_at(s, i, a->halluc[k]);
        best = m > best ? m : best;
      }
    if (best) {
      spans[n][0] = i;
      spans[n++][1] = i + best;
      i += best;
    } else {
      i++;
    }
  }
  return n;
}

/* --- tables ----------------------------------------------------------------- */

void report_table_init(struct report_table *t, size_t ncols, const char *align,
                       const char *const *header)
{
  size_t k;
  memset(t, 0, sizeof *t);
  t->ncols = ncols;
  t->align = align;
  for (k = 0; k < ncols; k++)
    report_table_cell(t, "%s", header[k]);
  t->nrows = 0;
}

void report_table_cell(struct report_table *t, const char *fmt, ...)
{
  struct strbuf sb;
  va_list ap;
  if (t->ncell == t->cap)
    t->cell = xrealloc(t->cell, (t->cap = t->cap ? 2 * t->cap : 64) * sizeof *t->cell);
  strbuf_init(&sb, 32);
  va_start(ap, fmt);
  strbuf_vaddf(&sb, fmt, ap);
  va_end(ap);
  t->cell[t->ncell++] = strbuf_detach(&sb, NULL);
  if (t->ncell % t->ncols == 0)
    t->nrows = t->ncell / t->ncols - 1;
}

void report_table_release(struct report_table *t)
{
  size_t k;
  for (k = 0; k < t->ncell; k++)
    free(t->cell[k]);
  free(t->cell);
  memset(t, 0, sizeof *t);
}

const struct report_answers *report_base_answers(const struct report *rp)
{
  size_t i;
  for (i = 0; i < rp->nanswers; i++)
    if (strcmp(rp->answers[i].in.name, rp->base) == 0)
      return &rp->answers[i];
  return NULL;
}

const struct report_model *report_find_model(const struct report *rp, const char *name)
{
  size_t i;
  for (i = 0; i < rp->nmodels; i++)
    if (strcmp(rp->models[i].name, name) == 0)
      return &rp->models[i];
  return NULL;
}

size_t report_curve_group(const struct report *rp, size_t first)
{
  size_t k = first + 1;
  while (k < rp->ncurves && strcmp(rp->curves[k].in.name, rp->curves[first].in.name) == 0)
    k++;
  return k - first;
}

void report_table_variants(const struct report *rp, struct report_table *t)
{
  static const char *const h[] = { "model", "CHAIR_S", "CHAIR_I", "recall", "objects/answer",
                                   "avg words", "POPE F1 random", "POPE F1 popular",
                                   "POPE F1 adversarial", "Δ to frontier" };
  char b[8][80];
  size_t i;
  int k;
  report_table_init(t, 10, "lrrrrrrrrl", h);
  for (i = 0; i < rp->nmodels; i++) {
    const struct report_model *m = &rp->models[i];
    const struct report_stat *d = &m->q[REPORT_Q_DELTA];
    report_table_cell(t, "%s%s", m->name,
                      strcmp(m->name, rp->base) != 0 || strcmp(rp->base, "base") == 0
                          ? ""
                          : " (base)");
    report_table_cell(t, "%s", report_stat_fmt(b[0], &m->q[REPORT_Q_CHAIR_S], 100, 1, 0));
    report_table_cell(t, "%s", report_stat_fmt(b[1], &m->q[REPORT_Q_CHAIR_I], 100, 1, 0));
    report_table_cell(t, "%s", report_stat_fmt(b[2], &m->q[REPORT_Q_RECALL], 100, 1, 0));
    report_table_cell(t, "%s", report_stat_fmt(b[3], &m->q[REPORT_Q_OBJECTS], 1, 2, 0));
    report_table_cell(t, "%s", report_stat_fmt(b[4], &m->q[REPORT_Q_WORDS], 1, 1, 0));
    for (k = 0; k < REPORT_NPOPE; k++)
      report_table_cell(t, "%s",
                        report_stat_fmt(b[5 + k], &m->q[REPORT_Q_POPE + k], 100, 1, 0));
    if (m->pos == REPORT_NA)
      report_table_cell(t, "—");
    else if (rp->nseeds <= 1)
      report_table_cell(t, "%s %s%s", report_stat_fmt(b[0], d, 1, 1, 1), report_pos_name(m->pos),
                        m->outside ? " (outside: extrapolated)" : "");
    else if (m->outside)
      report_table_cell(t, "%s %s (%zu/%zu extrapolated)", report_stat_fmt(b[0], d, 1, 1, 1),
                        report_pos_name(m->pos), m->outside, rp->nseeds);
    else
      report_table_cell(t, "%s %s", report_stat_fmt(b[0], d, 1, 1, 1), report_pos_name(m->pos));
  }
}

void report_table_seeds(const struct report *rp, struct report_table *t)
{
  static const char *const h[] = { "model", "seed", "CHAIR_S", "recall",
                                   "frontier CHAIR_S at that recall", "Δ to frontier",
                                   "metrics" };
  char b[4][32];
  size_t i, s;
  report_table_init(t, 7, "lrrrrll", h);
  for (i = 0; i < rp->nmodels; i++)
    for (s = 0; s < rp->nseeds; s++) {
      const struct report_row *r = &rp->models[i].seed[s];
      const struct report_chair *c = report_main_chair(r->m);
      report_table_cell(t, "%s", rp->models[i].name);
      report_table_cell(t, "%zu", s + 1);
      report_table_cell(t, "%s", report_pct(b[0], c->chair_s));
      report_table_cell(t, "%s", report_pct(b[1], c->recall));
      report_table_cell(t, "%s", report_pct(b[2], r->frontier));
      if (r->pos == REPORT_NA)
        report_table_cell(t, "—");
      else
        report_table_cell(t, "%s %s%s", report_pts(b[3], r->delta), report_pos_name(r->pos),
                          r->outside ? " (extrapolated)" : "");
      report_table_cell(t, "%s", r->m->in.ref ? r->m->in.ref : "");
    }
}

void report_table_frontier(const struct report *rp, struct report_table *t)
{
  static const char *const h[] = { "eos_bias", "recall", "CHAIR_S", "avg words" };
  struct report_frontier_stat *v;
  char b[3][80];
  size_t i, n;
  report_table_init(t, 4, "rrrr", h);
  if (rp->nseeds <= 1) {
    for (i = 0; i < rp->frontier[0].n; i++) {
      const struct report_point *p = &rp->frontier[0].p[i];
      report_table_cell(t, "%d", p->eos_bias);
      report_table_cell(t, "%s", report_pct(b[0], p->recall));
      report_table_cell(t, "%s", report_pct(b[1], p->chair_s));
      report_table_cell(t, "%s", report_num(b[2], p->avg_words, 1));
    }
    return;
  }
  n = report_frontier_stats(rp, &v);
  for (i = 0; i < n; i++) {
    if (v[i].recall.n == rp->nseeds)
      report_table_cell(t, "%d", v[i].eos_bias);
    else
      report_table_cell(t, "%d (%zu of %zu seeds)", v[i].eos_bias, v[i].recall.n, rp->nseeds);
    report_table_cell(t, "%s", report_stat_fmt(b[0], &v[i].recall, 100, 1, 0));
    report_table_cell(t, "%s", report_stat_fmt(b[1], &v[i].chair_s, 100, 1, 0));
    report_table_cell(t, "%s", report_stat_fmt(b[2], &v[i].avg_words, 1, 1, 0));
  }
  free(v);
}

static const enum report_q paper_q[] = { REPORT_Q_CHAIR_S, REPORT_Q_CHAIR_I, REPORT_Q_POPE_AVG };

/* Our value of paper metric which, in percent (a mean over seeds). */
static struct report_stat ours(const struct report_model *m, int which)
{
  struct report_stat s = { NAN, NAN, 0 };
  if (m)
    s = m->q[paper_q[which]];
  return s;
}

/* Model b minus model a, seed by seed, in points. */
static struct report_stat change(const struct report *rp, const struct report_model *a,
                                 const struct report_model *b, int which)
{
  struct report_stat s;
  report_paired_diff(rp, a, b, paper_q[which], 100.0, &s);
  return s;
}

/* Over several seeds a mean change smaller than the sample sd of the
 * per-seed changes is not called a direction. */
static const char *direction(double paper_change, const struct report_stat *our)
{
  double c = our->mean;
  if (isnan(c))
    return "—";
  if (fabs(c) < 0.05)
    return "no change";
  if (our->n >= 2 && !isnan(our->sd) && fabs(c) <= our->sd)
    return "none (within 1 sd)";
  return (paper_change < 0) == (c < 0) ? "same" : "opposite";
}

void report_table_paper(const struct report *rp, struct report_table *t)
{
  static const char *const h[] = { "metric", "LLaVA-1.5 (paper)", "POVID (paper)",
                                   "paper change", "base (ours)", "both (ours)",
                                   "our change", "direction" };
  const struct report_model *base = report_find_model(rp, rp->base),
                            *both = report_find_model(rp, "both");
  char b[5][80];
  size_t k;
  report_table_init(t, 8, "lrrrrrrl", h);
  for (k = 0; k < sizeof paper / sizeof paper[0]; k++) {
    struct report_stat o0 = ours(base, (int)k), o1 = ours(both, (int)k),
                       oc = change(rp, base, both, (int)k);
    report_table_cell(t, "%s", paper[k].metric);
    report_table_cell(t, "%s", report_num(b[0], paper[k].llava, 1));
    report_table_cell(t, "%s", report_num(b[1], paper[k].povid, 1));
    report_table_cell(t, "%s", report_pts(b[2], paper[k].povid - paper[k].llava));
    report_table_cell(t, "%s", report_stat_fmt(b[3], &o0, 100, 1, 0));
    report_table_cell(t, "%s", report_stat_fmt(b[4], &o1, 100, 1, 0));
    report_table_cell(t, "%s", report_stat_fmt(b[0], &oc, 1, 1, 1));
    report_table_cell(t, "%s", direction(paper[k].povid - paper[k].llava, &oc));
  }
}

void report_table_ablation(const struct report *rp, struct report_table *t)
{
  static const char *const h[] = { "variant", "paper CHAIR_S", "paper vs LLaVA-1.5",
                                   "our CHAIR_S", "ours vs base", "direction" };
  const struct report_model *base = report_find_model(rp, rp->base);
  struct report_stat o = ours(base, PAPER_CHAIR_S);
  char b[5][80];
  size_t k;
  report_table_init(t, 6, "lrrrrl", h);
  report_table_cell(t, "%s (paper: LLaVA-1.5)", rp->base);
  report_table_cell(t, "%s", report_num(b[0], paper[PAPER_CHAIR_S].llava, 1));
  report_table_cell(t, "—");
  report_table_cell(t, "%s", report_stat_fmt(b[1], &o, 100, 1, 0));
  report_table_cell(t, "—");
  report_table_cell(t, "—");
  for (k = 0; k < sizeof ablation / sizeof ablation[0]; k++) {
    const struct report_model *r = report_find_model(rp, ablation[k].variant);
    double pc = ablation[k].chair_s - paper[PAPER_CHAIR_S].llava;
    struct report_stat oc = change(rp, base, r, PAPER_CHAIR_S);
    o = ours(r, PAPER_CHAIR_S);
    report_table_cell(t, "%s (paper: %s)", ablation[k].variant, ablation[k].label);
    report_table_cell(t, "%s", report_num(b[0], ablation[k].chair_s, 1));
    report_table_cell(t, "%s", report_pts(b[1], pc));
    report_table_cell(t, "%s", report_stat_fmt(b[2], &o, 100, 1, 0));
    report_table_cell(t, "%s", report_stat_fmt(b[3], &oc, 1, 1, 1));
    report_table_cell(t, "%s", direction(pc, &oc));
  }
}

/* First, last, min and max of column k's numbers. */
static size_t col_stats(const struct report_curve *c, size_t k, double s[4])
{
  size_t i, n = 0;
  s[0] = s[1] = s[2] = s[3] = NAN;
  for (i = 0; i < c->nrows; i++) {
    double v = c->v[i * c->ncols + k];
    if (isnan(v))
      continue;
    if (n++ == 0)
      s[0] = s[2] = s[3] = v;
    s[1] = v;
    s[2] = fmin(s[2], v);
    s[3] = fmax(s[3], v);
  }
  return n;
}

/* Rows of the curves table for column name of the group of k files from
 * c: the mean (and sd) over the files that have numbers in it. */
static void curve_group_row(struct report_table *t, const struct report_curve *c, size_t k,
                            const char *name)
{
  double *v = xcalloc(5 * k, sizeof *v), s4[4];
  struct report_stat st;
  char b[80];
  size_t f, j, rows_lo = 0, rows_hi = 0, have = 0;
  for (f = 0; f < k; f++) {
    int col = report_curve_col(&c[f], name);
    size_t n = col < 0 ? 0 : col_stats(&c[f], (size_t)col, s4);
    for (j = 0; j < 4; j++)
      v[j * k + f] = n ? s4[j] : NAN;
    if (!n)
      continue;
    rows_lo = have++ == 0 || n < rows_lo ? n : rows_lo;
    rows_hi = n > rows_hi ? n : rows_hi;
  }
  if (have) {
    report_table_cell(t, "%s (%zu seeds)", c[0].in.name, k);
    report_table_cell(t, "%s", name);
    if (rows_lo == rows_hi)
      report_table_cell(t, "%zu", rows_lo);
    else
      report_table_cell(t, "%zu–%zu", rows_lo, rows_hi);
    for (j = 0; j < 4; j++) {
      report_stat_of(&st, v + j * k, k);
      snprintf(b, sizeof b, "%.4g", st.mean);
      if (isnan(st.sd))
        report_table_cell(t, "%s", b);
      else
        report_table_cell(t, "%s ± %.2g", b, st.sd);
    }
  }
  free(v);
}

void report_table_curves(const struct report *rp, struct report_table *t)
{
  static const char *const h[] = { "curve", "column", "rows", "first", "last", "min", "max" };
  double s[4];
  size_t i, j, k, n, g;
  report_table_init(t, 7, "llrrrrr", h);
  for (i = 0; i < rp->ncurves; i += g) {
    const struct report_curve *c = &rp->curves[i];
    g = report_curve_group(rp, i);
    for (k = 0; k < c->ncols; k++) {
      if (strcmp(c->cols[k], "step") == 0)
        continue;
      if (g > 1) {
        curve_group_row(t, c, g, c->cols[k]);
        continue;
      }
      if ((n = col_stats(c, k, s)) == 0)
        continue;
      report_table_cell(t, "%s", c->in.name);
      report_table_cell(t, "%s", c->cols[k]);
      report_table_cell(t, "%zu", n);
      for (j = 0; j < 4; j++)
        report_table_cell(t, "%.4g", s[j]);
    }
  }
}

static void input_row(struct report_table *t, const struct report_input *in, const char *md)
{
  report_table_cell(t, "%s", in->param);
  if (in->seed)
    report_table_cell(t, "%s (seed %d)", in->name, in->seed);
  else
    report_table_cell(t, "%s", in->name);
  report_table_cell(t, "%s", in->ref ? in->ref : "");
  report_table_cell(t, "%s", in->sha256);
  report_table_cell(t, "%s", md && *md ? md : "—");
}

void report_table_inputs(const struct report *rp, struct report_table *t)
{
  static const char *const h[] = { "input", "name", "reference", "SHA-256 of the file",
                                   "model_digest" };
  size_t i;
  report_table_init(t, 5, "lllll", h);
  for (i = 0; i < rp->nmetrics; i++)
    input_row(t, &rp->metrics[i].in, rp->metrics[i].model_digest);
  for (i = 0; i < rp->nanswers; i++)
    input_row(t, &rp->answers[i].in, NULL);
  for (i = 0; i < rp->ncurves; i++)
    input_row(t, &rp->curves[i].in, NULL);
}
