/* report_tables.c - the report's content as tables of text cells, and the
 * formatting both renderings share (percents, points, marked answers).
 *
 * The paper's numbers (Zhou et al. 2024, POVID, Tables 1 and 3, LLaVA-1.5
 * 7B on COCO) sit here as constants; our models map to them by name: the
 * base model to LLaVA-1.5, "text", "image" and "both" to the ablation's
 * text-only, image-only and full POVID rows.
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

const struct report_row *report_find_row(const struct report *rp, const char *name)
{
  size_t i;
  for (i = 0; i < rp->nrows; i++)
    if (strcmp(rp->rows[i].m->in.name, name) == 0)
      return &rp->rows[i];
  return NULL;
}

void report_table_variants(const struct report *rp, struct report_table *t)
{
  static const char *const h[] = { "model", "CHAIR_S", "CHAIR_I", "recall", "objects/answer",
                                   "avg words", "POPE F1 random", "POPE F1 popular",
                                   "POPE F1 adversarial", "Δ to frontier" };
  char b[8][32];
  size_t i;
  int k;
  report_table_init(t, 10, "lrrrrrrrrl", h);
  for (i = 0; i < rp->nrows; i++) {
    const struct report_row *r = &rp->rows[i];
    const struct report_chair *c = report_main_chair(r->m);
    report_table_cell(t, "%s%s", r->m->in.name,
                      strcmp(r->m->in.name, rp->base) != 0 || strcmp(rp->base, "base") == 0
                          ? ""
                          : " (base)");
    report_table_cell(t, "%s", report_pct(b[0], c->chair_s));
    report_table_cell(t, "%s", report_pct(b[1], c->chair_i));
    report_table_cell(t, "%s", report_pct(b[2], c->recall));
    report_table_cell(t, "%s", report_num(b[3], c->objects_per_answer, 2));
    report_table_cell(t, "%s", report_num(b[4], c->avg_words, 1));
    for (k = 0; k < REPORT_NPOPE; k++)
      report_table_cell(t, "%s", report_pct(b[5 + k], r->m->pope_f1[k]));
    if (r->pos == REPORT_NA)
      report_table_cell(t, "—");
    else
      report_table_cell(t, "%s %s%s", report_pts(b[0], r->delta), report_pos_name(r->pos),
                        r->outside ? " (outside: extrapolated)" : "");
  }
}

void report_table_frontier(const struct report *rp, struct report_table *t)
{
  static const char *const h[] = { "eos_bias", "recall", "CHAIR_S", "avg words" };
  char b[3][32];
  size_t i;
  report_table_init(t, 4, "rrrr", h);
  for (i = 0; i < rp->frontier.n; i++) {
    const struct report_point *p = &rp->frontier.p[i];
    report_table_cell(t, "%d", p->eos_bias);
    report_table_cell(t, "%s", report_pct(b[0], p->recall));
    report_table_cell(t, "%s", report_pct(b[1], p->chair_s));
    report_table_cell(t, "%s", report_num(b[2], p->avg_words, 1));
  }
}

/* Our value of paper metric which, in percent. */
static double ours(const struct report_row *r, int which)
{
  if (!r)
    return NAN;
  if (which == PAPER_POPE)
    return r->pope_avg * 100.0;
  return (which == PAPER_CHAIR_S ? report_main_chair(r->m)->chair_s
                                 : report_main_chair(r->m)->chair_i) * 100.0;
}

static const char *direction(double paper_change, double our_change)
{
  if (isnan(our_change))
    return "—";
  if (fabs(our_change) < 0.05)
    return "no change";
  return (paper_change < 0) == (our_change < 0) ? "same" : "opposite";
}

void report_table_paper(const struct report *rp, struct report_table *t)
{
  static const char *const h[] = { "metric", "LLaVA-1.5 (paper)", "POVID (paper)",
                                   "paper change", "base (ours)", "both (ours)",
                                   "our change", "direction" };
  const struct report_row *base = report_find_row(rp, rp->base), *both = report_find_row(rp, "both");
  char b[5][32];
  size_t k;
  report_table_init(t, 8, "lrrrrrrl", h);
  for (k = 0; k < sizeof paper / sizeof paper[0]; k++) {
    double o0 = ours(base, (int)k), o1 = ours(both, (int)k);
    report_table_cell(t, "%s", paper[k].metric);
    report_table_cell(t, "%s", report_num(b[0], paper[k].llava, 1));
    report_table_cell(t, "%s", report_num(b[1], paper[k].povid, 1));
    report_table_cell(t, "%s", report_pts(b[2], paper[k].povid - paper[k].llava));
    report_table_cell(t, "%s", report_num(b[3], o0, 1));
    report_table_cell(t, "%s", report_num(b[4], o1, 1));
    report_table_cell(t, "%s", report_pts(b[0], o1 - o0));
    report_table_cell(t, "%s", direction(paper[k].povid - paper[k].llava, o1 - o0));
  }
}

void report_table_ablation(const struct report *rp, struct report_table *t)
{
  static const char *const h[] = { "variant", "paper CHAIR_S", "paper vs LLaVA-1.5",
                                   "our CHAIR_S", "ours vs base", "direction" };
  const struct report_row *base = report_find_row(rp, rp->base);
  char b[5][32];
  size_t k;
  report_table_init(t, 6, "lrrrrl", h);
  report_table_cell(t, "%s (paper: LLaVA-1.5)", rp->base);
  report_table_cell(t, "%s", report_num(b[0], paper[PAPER_CHAIR_S].llava, 1));
  report_table_cell(t, "—");
  report_table_cell(t, "%s", report_num(b[1], ours(base, PAPER_CHAIR_S), 1));
  report_table_cell(t, "—");
  report_table_cell(t, "—");
  for (k = 0; k < sizeof ablation / sizeof ablation[0]; k++) {
    const struct report_row *r = report_find_row(rp, ablation[k].variant);
    double pc = ablation[k].chair_s - paper[PAPER_CHAIR_S].llava;
    double oc = ours(r, PAPER_CHAIR_S) - ours(base, PAPER_CHAIR_S);
    report_table_cell(t, "%s (paper: %s)", ablation[k].variant, ablation[k].label);
    report_table_cell(t, "%s", report_num(b[0], ablation[k].chair_s, 1));
    report_table_cell(t, "%s", report_pts(b[1], pc));
    report_table_cell(t, "%s", report_num(b[2], ours(r, PAPER_CHAIR_S), 1));
    report_table_cell(t, "%s", report_pts(b[3], oc));
    report_table_cell(t, "%s", direction(pc, oc));
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

void report_table_curves(const struct report *rp, struct report_table *t)
{
  static const char *const h[] = { "curve", "column", "rows", "first", "last", "min", "max" };
  double s[4];
  size_t i, j, k, n;
  report_table_init(t, 7, "llrrrrr", h);
  for (i = 0; i < rp->ncurves; i++) {
    const struct report_curve *c = &rp->curves[i];
    for (k = 0; k < c->ncols; k++) {
      if (strcmp(c->cols[k], "step") == 0 || (n = col_stats(c, k, s)) == 0)
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
