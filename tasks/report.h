/* report.h - the `report` kind's parts: report.c (the kind, the length
 * frontier, summary.json), report_load.c (reading the inputs),
 * report_seeds.c (means and spreads over seeds), report_tables.c (the
 * content as tables of text, shared formatting), report_md.c and
 * report_html.c (the two renderings), report_svg.c (the charts).
 *
 * Every input is a file named by a map entry of a parameter (metrics,
 * answers, curves), or by one element of an entry's list (one file per
 * seed); its name, its reference as written and its SHA-256 go into the
 * report's provenance. Rates are fractions in [0, 1] throughout; the
 * renderings show them as percents. NAN marks a value an input lacks.
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
  int seed;                   /* 1-based place in the entry's list of seeds; 0 for a
                                 single artifact (or a list of one) */
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

/* One model at one seed, parallel to report.metrics: compared with that
 * seed's base frontier. */
struct report_row {
  const struct report_metrics *m;
  double frontier;  /* frontier CHAIR_S at the row's recall (fraction), NAN without one */
  double delta;     /* (frontier - chair_s) * 100: points, positive = below */
  int outside;      /* recall outside the frontier's range: extrapolated */
  enum report_pos pos;
  double pope_avg;  /* mean F1 over the splits present, NAN if none */
};

/* The numbers of a row that the tables show, as report_row_value's q. */
enum report_q {
  REPORT_Q_CHAIR_S,
  REPORT_Q_CHAIR_I,
  REPORT_Q_RECALL,
  REPORT_Q_OBJECTS,   /* objects per answer */
  REPORT_Q_WORDS,     /* avg words */
  REPORT_Q_POPE,      /* + k: POPE F1 of split k */
  REPORT_Q_POPE_AVG = REPORT_Q_POPE + REPORT_NPOPE,
  REPORT_Q_FRONTIER,  /* frontier CHAIR_S at the row's recall */
  REPORT_Q_DELTA,     /* distance to the frontier, points */
  REPORT_NQ
};

/* A number over seeds. */
struct report_stat {
  double mean; /* over the seeds that have the value; NAN when none has */
  double sd;   /* sample standard deviation (n - 1 denominator); NAN when n < 2 */
  size_t n;    /* seeds that have the value */
};

/* A row of the variants table: one model over its seeds. */
struct report_model {
  const char *name;              /* borrowed from its metrics */
  const struct report_row *seed; /* report.nseeds rows, seed 1 first */
  struct report_stat q[REPORT_NQ];
  size_t outside;                /* seeds extrapolated (recall outside their frontier) */
  enum report_pos pos;           /* of the mean distance */
};

struct report {
  const char *title, *task, *base; /* borrowed */
  int version;                     /* the kind's implementation version */
  int samples;
  size_t nseeds;                   /* files per metrics entry (0 reads as 1) */
  /* Model i's seed s at [i * nseeds + s]; the base first, then the others
   * by name. */
  struct report_metrics *metrics;
  size_t nmetrics;
  struct report_answers *answers;  /* base first, then by name; an entry's seeds in order */
  size_t nanswers;
  struct report_curve *curves;     /* by name; an entry's seeds in order */
  size_t ncurves;
  struct report_frontier *frontier; /* nseeds: seed s's base frontier */
  struct report_row *rows;         /* parallel to metrics */
  size_t nrows;
  struct report_model *models;     /* nmetrics / nseeds, in metrics' order */
  size_t nmodels;
};

/* report.c */
/* Frontier CHAIR_S at recall, by linear interpolation between the points
 * around it; outside the points' recall range, extrapolated from the
 * nearest segment (a single point: its CHAIR_S). Returns 0 inside, 1
 * outside, -1 when f has no points (*chair_s = NAN). */
int report_frontier_at(const struct report_frontier *f, double recall, double *chair_s);
/* Fills rp->frontier (from the base entry's chair lists), rp->rows and
 * rp->models. */
void report_compute(struct report *rp);
void report_release(struct report *rp);
/* summary.json: the variants table (each model's means under a single
 * run's fields, plus seeds, per_seed, mean and sd), the frontier (seed
 * 1's, and every seed's) and the inputs as data. */
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

/* report_seeds.c */
/* Mean and sample sd of the n values of v that are not NAN. */
void report_stat_of(struct report_stat *s, const double *v, size_t n);
/* Number q of a row (fractions for rates, points for the distance). */
double report_row_value(const struct report_row *r, enum report_q q);
/* Fills rp->models from rp->rows. */
void report_models_compute(struct report *rp);
/* Statistics of scale * number q of model b minus that of model a, seed
 * by seed (NAN when a or b is NULL). */
void report_paired_diff(const struct report *rp, const struct report_model *a,
                        const struct report_model *b, enum report_q q, double scale,
                        struct report_stat *out);
/* A point of the base model's frontier over seeds. */
struct report_frontier_stat {
  int eos_bias;
  struct report_stat recall, chair_s, avg_words;
};
/* The base model's frontier points by eos_bias over seeds: mean recall,
 * CHAIR_S and avg words of the seeds whose frontier has that eos_bias,
 * sorted by mean recall. Returns how many (*out malloc'd, NULL for none). */
size_t report_frontier_stats(const struct report *rp, struct report_frontier_stat **out);

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
/* Model x seed: CHAIR_S, recall, that seed's frontier, the distance. */
void report_table_seeds(const struct report *rp, struct report_table *t);
void report_table_paper(const struct report *rp, struct report_table *t);
void report_table_ablation(const struct report *rp, struct report_table *t);
void report_table_curves(const struct report *rp, struct report_table *t);
void report_table_inputs(const struct report *rp, struct report_table *t);
/* The base model's answers, or NULL when answers has no entry for it. */
const struct report_answers *report_base_answers(const struct report *rp);
/* The model called name, or NULL. */
const struct report_model *report_find_model(const struct report *rp, const char *name);
/* Entries of curves from first: how many files share its name (its seeds). */
size_t report_curve_group(const struct report *rp, size_t first);
/* The entry a model is compared by: eos_bias 0, else its first. */
const struct report_chair *report_main_chair(const struct report_metrics *m);

/* Sentences shared by both renderings. */
extern const char report_text_delta[];
extern const char report_text_frontier[];
extern const char report_text_paper[];
/* With several seeds: what the numbers are (malloc'd). */
char *report_text_seeds(const struct report *rp);
extern const char report_text_per_seed[];

/* Formatting shared by the renderings: "41.2" (percent of a fraction),
 * "+3.1" (signed points), "—" for NAN. buf holds at least 32 bytes. */
const char *report_pct(char *buf, double frac);
const char *report_pts(char *buf, double pts);
const char *report_num(char *buf, double v, int decimals);
const char *report_pos_name(enum report_pos p);
/* A mean with its spread: scale * mean with decimals (signed points when
 * pts), then " ± sd" when s->sd is a number; "—" for no mean. buf holds at
 * least 80 bytes. */
const char *report_stat_fmt(char *buf, const struct report_stat *s, double scale, int decimals,
                            int pts);
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
  const char *name;    /* NULL: no legend entry (another seed of a named series) */
  const double *x, *y; /* x NULL for bars; NAN values skipped */
  size_t n;
  const double *err;   /* bars: an error bar of +- err[g] (NULL, NAN: none) */
  int colour;          /* palette index + 1; 0: by the series' place */
  int thin;            /* lines: drawn thin (one of several seeds) */
};
/* A point of a line chart: labelled with text, or a small unlabelled dot
 * when text is NULL. */
struct report_label {
  const char *text;
  double x, y;
};
/* Grouped bars: one group per name, one bar per series (y[g]). */
void report_svg_bars(struct strbuf *sb, const char *title, const char *ylabel,
                     const char *const *groups, size_t ngroups,
                     const struct report_series *series, size_t nseries);
/* Lines with optional labelled points (labels_name: their legend entry).
 * Labels go beside their points where they overlap no other label; a
 * label with no free place is left out and named under the chart. */
void report_svg_lines(struct strbuf *sb, const char *title, const char *xlabel,
                      const char *ylabel, const struct report_series *lines, size_t nlines,
                      const struct report_label *labels, size_t nlabels, const char *labels_name);

#endif
