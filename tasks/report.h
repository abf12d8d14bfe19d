/* report.h - the `report` kind's parts: report.c (the kind, the length
 * frontier, summary.json), report_load.c (reading the inputs),
 * report_tables.c (the content as tables of text, shared formatting),
 * report_md.c and report_html.c (the two renderings), report_svg.c (the
 * charts).
 *
 * Every input is a file named by a map entry of a parameter (metrics,
 * answers, curves); its name, its reference as written and its SHA-256 go
 * into the report's provenance. Rates are fractions in [0, 1] throughout;
 * the renderings show them as percents. NAN marks a value an input lacks.
 */
#ifndef PD_REPORT_H
#define PD_REPORT_H

#include <stddef.h>

#include "digest.h"

struct pd_err;
struct strbuf;

#define REPORT_NPOPE 3
/* "random", "popular", "adversarial". */
extern const char *const report_pope_splits[REPORT_NPOPE];

/* A distance to the frontier within this many points reads as "on it". */
#define REPORT_ON_FRONTIER 1.0

/* One map entry of an input parameter. */
struct report_input {
  const char *param;          /* "metrics", "answers" or "curves" (static) */
  char *name;                 /* the map key */
  char *ref;                  /* the value as written: eval_base.metrics, file("x") */
  char *path;                 /* where it was read (not in any output: it varies by cache) */
  char sha256[PD_DIGEST_HEX];
};

/* One entry of an evaluate metrics.json "chair" list. */
struct report_chair {
  int eos_bias;
  double chair_s, chair_i, recall; /* required */
  double objects_per_answer, avg_words; /* NAN when absent */
};

struct report_metrics {
  struct report_input in;
  char *model_digest;          /* "" when absent */
  long images;                 /* -1 when absent */
  struct report_chair *chair;  /* at least one, in file order */
  size_t nchair;
  double pope_f1[REPORT_NPOPE]; /* NAN for a split not evaluated */
};

/* A caption line of answers.jsonl (kind "chair", eos_bias 0). */
struct report_answer {
  char *id, *image, *answer;
  char **halluc; /* hallucinated categories */
  size_t nhalluc;
};

struct report_answers {
  struct report_input in;
  struct report_answer *v;
  size_t n;
};

/* A training TSV: v[row * ncols + col], NAN for an empty or non-numeric cell. */
struct report_curve {
  struct report_input in;
  char **cols;
  size_t ncols;
  double *v;
  size_t nrows;
};

struct report_point {
  int eos_bias;
  double recall, chair_s, avg_words;
};

/* The base model's (recall, CHAIR_S) points, sorted by recall. */
struct report_frontier {
  struct report_point *p;
  size_t n;
};

enum report_pos {
  REPORT_NA,    /* no frontier */
  REPORT_BELOW, /* fewer hallucinations than the frontier at the same recall */
  REPORT_ON,    /* within REPORT_ON_FRONTIER points: a length effect */
  REPORT_ABOVE  /* more hallucinations than the frontier */
};

/* A row of the variants table, parallel to report.metrics. */
struct report_row {
  const struct report_metrics *m;
  double frontier;  /* frontier CHAIR_S at the row's recall (fraction), NAN without one */
  double delta;     /* (frontier - chair_s) * 100: points, positive = below */
  int outside;      /* recall outside the frontier's range: extrapolated */
  enum report_pos pos;
  double pope_avg;  /* mean F1 over the splits present, NAN if none */
};

struct report {
  const char *title, *task, *base; /* borrowed */
  int version;                     /* the kind's implementation version */
  int samples;
  struct report_metrics *metrics;  /* base first, then the others by name */
  size_t nmetrics;
  struct report_answers *answers;  /* base first, then by name */
  size_t nanswers;
  struct report_curve *curves;     /* by name */
  size_t ncurves;
  struct report_frontier frontier;
  struct report_row *rows;
  size_t nrows;
};

/* report.c */
/* Frontier CHAIR_S at recall, by linear interpolation between the points
 * around it; outside the points' recall range, extrapolated from the
 * nearest segment (a single point: its CHAIR_S). Returns 0 inside, 1
 * outside, -1 when f has no points (*chair_s = NAN). */
int report_frontier_at(const struct report_frontier *f, double recall, double *chair_s);
/* Fills rp->frontier (from the base entry's chair list) and rp->rows. */
void report_compute(struct report *rp);
void report_release(struct report *rp);
/* summary.json: the variants table, the frontier and the inputs as data. */
void report_summary_json(const struct report *rp, struct strbuf *out);
/* Writes dir/report.md, dir/report.html (dir created) and summary_path. */
int report_write(const struct report *rp, const char *dir, const char *summary_path,
                 struct pd_err *err);

/* report_load.c: each fills its struct (whose in.param, in.name, in.path
 * are set) or returns an error naming the input and its file. */
int report_load_metrics(struct report_metrics *m, struct pd_err *err);
int report_load_answers(struct report_answers *a, struct pd_err *err);
int report_load_curve(struct report_curve *c, struct pd_err *err);
void report_input_release(struct report_input *in);
void report_metrics_release(struct report_metrics *m);
void report_answers_release(struct report_answers *a);
void report_curve_release(struct report_curve *c);
/* The answer with this id, or NULL. */
const struct report_answer *report_answers_find(const struct report_answers *a, const char *id);
/* Index of column name in c, or -1. */
int report_curve_col(const struct report_curve *c, const char *name);

/* report_tables.c: the report's tables as text cells, rendered by
 * report_md.c and report_html.c (each escapes for its format). */
struct report_table {
  size_t ncols, nrows; /* nrows: body rows, the header not counted */
  const char *align;   /* per column: 'l' or 'r' */
  char **cell;         /* (nrows + 1) * ncols, the header row first; owned */
  size_t ncell, cap;
};
/* header: ncols column names. */
void report_table_init(struct report_table *t, size_t ncols, const char *align,
                       const char *const *header);
/* Appends a cell (a new row starts every ncols cells). */
void report_table_cell(struct report_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void report_table_release(struct report_table *t);
void report_table_variants(const struct report *rp, struct report_table *t);
void report_table_frontier(const struct report *rp, struct report_table *t);
void report_table_paper(const struct report *rp, struct report_table *t);
void report_table_ablation(const struct report *rp, struct report_table *t);
void report_table_curves(const struct report *rp, struct report_table *t);
void report_table_inputs(const struct report *rp, struct report_table *t);
/* The base model's answers, or NULL when answers has no entry for it. */
const struct report_answers *report_base_answers(const struct report *rp);
/* The row of model name, or NULL. */
const struct report_row *report_find_row(const struct report *rp, const char *name);
/* The entry a model is compared by: eos_bias 0, else its first. */
const struct report_chair *report_main_chair(const struct report_metrics *m);

/* Sentences shared by both renderings. */
extern const char report_text_delta[];
extern const char report_text_frontier[];
extern const char report_text_paper[];

/* Formatting shared by the renderings: "41.2" (percent of a fraction),
 * "+3.1" (signed points), "—" for NAN. buf holds at least 32 bytes. */
const char *report_pct(char *buf, double frac);
const char *report_pts(char *buf, double pts);
const char *report_num(char *buf, double v, int decimals);
const char *report_pos_name(enum report_pos p);
/* Spans [start, end) of answer that name a hallucinated category (a whole
 * word match, case-insensitive, plural "s"/"es" allowed), in order and
 * disjoint; returns how many (at most max). */
size_t report_mark_spans(const struct report_answer *a, size_t (*spans)[2], size_t max);

/* report_md.c */
void report_md(const struct report *rp, struct strbuf *out);

/* report_html.c */
void report_html(const struct report *rp, struct strbuf *out);
/* Appends s with & < > " ' escaped. */
void report_html_escape(struct strbuf *sb, const char *s);
void report_html_escape_n(struct strbuf *sb, const char *s, size_t n);

/* report_svg.c: inline SVG charts (HTML-escaped labels). */
struct report_series {
  const char *name;
  const double *x, *y; /* x NULL for bars; NAN values skipped */
  size_t n;
};
struct report_label {
  const char *text;
  double x, y;
};
/* Grouped bars: one group per name, one bar per series (y[g]). */
void report_svg_bars(struct strbuf *sb, const char *title, const char *ylabel,
                     const char *const *groups, size_t ngroups,
                     const struct report_series *series, size_t nseries);
/* Lines with optional labelled points (labels_name: their legend entry). */
void report_svg_lines(struct strbuf *sb, const char *title, const char *xlabel,
                      const char *ylabel, const struct report_series *lines, size_t nlines,
                      const struct report_label *labels, size_t nlabels, const char *labels_name);

#endif
