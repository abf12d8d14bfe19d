/* report_html.c - report.html: one self-contained page (inline CSS, inline
 * SVG charts, no scripts, no external resources) with the same tables as
 * report.md, the charts and the sample answers with hallucinated objects
 * in <mark>. Every string from the inputs is escaped (& < > " ').
 *
 * With several seeds: bars are means with error bars of one sample sd, the
 * frontier chart draws each seed's base sweep as a thin line with each
 * model's per-seed points around its labelled mean, and a training curve
 * given as a list draws one line per seed in one colour.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "report.h"
#include "strbuf.h"

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1a202c;"
    "margin:0;background:#f7fafc}\n"
    "main{max-width:1152px;margin:0 auto;padding:24px;background:#fff}\n"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;"
    "border-bottom:1px solid #e2e8f0;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}\n"
    "p.meta{color:#4a5568;margin:0 0 12px}p.note{color:#4a5568;max-width:900px}\n"
    "table{border-collapse:collapse;margin:8px 0 12px;font-size:13px}\n"
    "th,td{border:1px solid #e2e8f0;padding:4px 8px;vertical-align:top}\n"
    "th{background:#edf2f7;text-align:left}td.r,th.r{text-align:right;"
    "font-variant-numeric:tabular-nums}\n"
    "td.hash{font-family:ui-monospace,monospace;font-size:11px;word-break:break-all}\n"
    "mark{background:#fed7d7;color:#822727;padding:0 2px;border-radius:2px}\n"
    ".charts{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}\n"
    "svg.chart{background:#fff;border:1px solid #e2e8f0;max-width:100%;height:auto}\n"
    "svg .title{font:600 13px system-ui,sans-serif}svg .tick,svg .legend{font:11px system-ui,"
    "sans-serif;fill:#4a5568}\n"
    "svg .axis{font:12px system-ui,sans-serif;fill:#2d3748}svg .value{font:10px system-ui,"
    "sans-serif;fill:#2d3748}\n"
    "svg .plabel{font:600 11px system-ui,sans-serif;fill:#1a202c}svg .point{fill:#e53e3e;"
    "stroke:#fff;stroke-width:1}\n"
    "svg .grid{stroke:#edf2f7}svg .axisline{stroke:#a0aec0}\n";

void report_html_escape_n(struct strbuf *sb, const char *s, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++) {
    switch (s[i]) {
    case '&': strbuf_addstr(sb, "&amp;"); break;
    case '<': strbuf_addstr(sb, "&lt;"); break;
    case '>': strbuf_addstr(sb, "&gt;"); break;
    case '"': strbuf_addstr(sb, "&quot;"); break;
    case '\'': strbuf_addstr(sb, "&#39;"); break;
    default: strbuf_addch(sb, s[i]);
    }
  }
}

void report_html_escape(struct strbuf *sb, const char *s)
{
  report_html_escape_n(sb, s, strlen(s));
}

static void tag_text(struct strbuf *sb, const char *tag, const char *text)
{
  strbuf_addf(sb, "<%s>", tag);
  report_html_escape(sb, text);
  strbuf_addf(sb, "</%s>\n", tag);
}

static void note(struct strbuf *sb, const char *text)
{
  strbuf_addstr(sb, "<p class=\"note\">");
  report_html_escape(sb, text);
  strbuf_addstr(sb, "</p>\n");
}

static void html_table(struct strbuf *sb, const struct report *rp,
                       void (*fill)(const struct report *, struct report_table *))
{
  struct report_table t;
  size_t r, k;
  fill(rp, &t);
  strbuf_addstr(sb, "<table>\n");
  for (r = 0; r <= t.nrows; r++) {
    strbuf_addstr(sb, r == 0 ? "<thead><tr>" : "<tr>");
    for (k = 0; k < t.ncols; k++) {
      const char *c = t.cell[r * t.ncols + k], *tag = r == 0 ? "th" : "td";
      const char *cls = t.align[k] == 'r' ? " class=\"r\"" : strlen(c) == 64 && r ? " class=\"hash\"" : "";
      strbuf_addf(sb, "<%s%s>", tag, cls);
      report_html_escape(sb, c);
      strbuf_addf(sb, "</%s>", tag);
    }
    strbuf_addstr(sb, r == 0 ? "</tr></thead>\n" : "</tr>\n");
  }
  strbuf_addstr(sb, "</table>\n");
  report_table_release(&t);
}

/* --- charts ----------------------------------------------------------------- */

static void html_bar_charts(struct strbuf *sb, const struct report *rp)
{
  size_t n = rp->nmodels, i;
  const char **names = xcalloc(n + 1, sizeof *names);
  double *v = xcalloc(2 * (REPORT_NPOPE + 2) * n + 1, sizeof *v), *e = v + (REPORT_NPOPE + 2) * n;
  struct report_series s[REPORT_NPOPE];
  int k, pope = 0, seeds = rp->nseeds > 1;
  for (i = 0; i < n; i++) {
    const struct report_model *m = &rp->models[i];
    names[i] = m->name;
    v[i] = m->q[REPORT_Q_CHAIR_S].mean * 100;
    e[i] = m->q[REPORT_Q_CHAIR_S].sd * 100;
    v[n + i] = m->q[REPORT_Q_RECALL].mean * 100;
    e[n + i] = m->q[REPORT_Q_RECALL].sd * 100;
  }
  s[0] = (struct report_series){ "CHAIR_S", NULL, v, n, seeds ? e : NULL, 0, 0 };
  report_svg_bars(sb, "CHAIR_S per model (%, lower is better)", "CHAIR_S %", names, n, s, 1);
  s[0] = (struct report_series){ "recall", NULL, v + n, n, seeds ? e + n : NULL, 0, 0 };
  report_svg_bars(sb, "Object recall per model (%)", "recall %", names, n, s, 1);
  for (k = 0; k < REPORT_NPOPE; k++) {
    double *y = v + (size_t)(k + 2) * n, *ye = e + (size_t)(k + 2) * n;
    for (i = 0; i < n; i++) {
      y[i] = rp->models[i].q[REPORT_Q_POPE + k].mean * 100;
      ye[i] = rp->models[i].q[REPORT_Q_POPE + k].sd * 100;
      pope |= !isnan(y[i]);
    }
    s[k] = (struct report_series){ report_pope_splits[k], NULL, y, n, seeds ? ye : NULL, 0, 0 };
  }
  if (pope)
    report_svg_bars(sb, "POPE F1 per model and split (%)", "F1 %", names, n, s, REPORT_NPOPE);
  free(names);
  free(v);
}

static void html_frontier_chart(struct strbuf *sb, const struct report *rp)
{
  size_t nseeds = rp->nseeds, np = 0, i, s, at = 0;
  struct report_series *lines = xcalloc(nseeds, sizeof *lines);
  struct report_label *labels = xcalloc(rp->nmodels * (nseeds + 1) + 1, sizeof *labels);
  double *xy;
  for (s = 0; s < nseeds; s++)
    np += rp->frontier[s].n;
  xy = xcalloc(2 * np + 1, sizeof *xy);
  for (s = 0; s < nseeds; s++) {
    const struct report_frontier *f = &rp->frontier[s];
    for (i = 0; i < f->n; i++) {
      xy[at + i] = f->p[i].recall * 100;
      xy[np + at + i] = f->p[i].chair_s * 100;
    }
    lines[s] = (struct report_series){ s ? NULL
                                       : nseeds > 1 ? "base model's sweep, per seed"
                                                    : "base model, eos_bias sweep",
                                       xy + at, xy + np + at, f->n, NULL, 1, nseeds > 1 };
    at += f->n;
  }
  /* Per-seed dots first, so that the labelled means are drawn over them. */
  at = 0;
  for (i = 0; nseeds > 1 && i < rp->nmodels; i++)
    for (s = 0; s < nseeds; s++) {
      const struct report_chair *c = report_main_chair(rp->models[i].seed[s].m);
      labels[at++] = (struct report_label){ NULL, c->recall * 100, c->chair_s * 100 };
    }
  for (i = 0; i < rp->nmodels; i++) {
    const struct report_model *m = &rp->models[i];
    labels[at++] = (struct report_label){ m->name, m->q[REPORT_Q_RECALL].mean * 100,
                                          m->q[REPORT_Q_CHAIR_S].mean * 100 };
  }
  report_svg_lines(sb, "Length frontier: CHAIR_S against recall", "recall %", "CHAIR_S %", lines,
                   np ? nseeds : 0, labels, at,
                   nseeds > 1 ? "models: mean, seeds (dots)"
                              : "models (eos_bias 0)");
  free(xy);
  free(lines);
  free(labels);
}

/* One chart of the columns whose names start with prefix of the k files of
 * c (one entry's seeds: a line per seed, one colour per column), if any. */
static void html_curve_chart(struct strbuf *sb, const struct report_curve *c, size_t k,
                             const double *const *x, const char *prefix, const char *what)
{
  struct report_series s[16 * 8];
  const char *cols[16];
  double *y;
  size_t j, i, f, n = 0, ns = 0, rows = 0;
  char *title;
  for (j = 0; j < c[0].ncols && n < 16; j++)
    if (strncmp(c[0].cols[j], prefix, strlen(prefix)) == 0)
      cols[n++] = c[0].cols[j];
  if (k > 8)
    k = 8; /* as many seeds as a chart shows */
  for (f = 0; f < k; f++)
    rows += c[f].nrows;
  y = xcalloc(n * rows + 1, sizeof *y);
  for (j = 0, rows = 0; j < n; j++)
    for (f = 0; f < k; f++) {
      int col = report_curve_col(&c[f], cols[j]);
      if (col < 0)
        continue;
      for (i = 0; i < c[f].nrows; i++)
        y[rows + i] = c[f].v[i * c[f].ncols + (size_t)col];
      s[ns++] = (struct report_series){ f ? NULL : cols[j], x[f], y + rows, c[f].nrows, NULL,
                                        (int)j + 1, 0 };
      rows += c[f].nrows;
    }
  if (n) {
    if (k > 1)
      title = xasprintf("%s: %s (a line per seed)", c[0].in.name, what);
    else
      title = xasprintf("%s: %s", c[0].in.name, what);
    report_svg_lines(sb, title, "step", what, s, ns, NULL, 0, NULL);
    free(title);
  }
  free(y);
}

static void html_curves(struct strbuf *sb, const struct report *rp)
{
  size_t i, r, f, g;
  strbuf_addstr(sb, "<h2>Training curves</h2>\n");
  if (!rp->ncurves) {
    strbuf_addstr(sb, "<p class=\"note\">No training curves given.</p>\n");
    return;
  }
  strbuf_addstr(sb, "<div class=\"charts\">\n");
  for (i = 0; i < rp->ncurves; i += g) {
    const struct report_curve *c = &rp->curves[i];
    double **x = xcalloc((g = report_curve_group(rp, i)), sizeof *x);
    for (f = 0; f < g; f++) {
      int step = report_curve_col(&c[f], "step");
      x[f] = xcalloc(c[f].nrows + 1, sizeof *x[f]);
      for (r = 0; r < c[f].nrows; r++)
        x[f][r] = step >= 0 ? c[f].v[r * c[f].ncols + (size_t)step] : (double)r;
    }
    html_curve_chart(sb, c, g, (const double *const *)x, "loss", "loss");
    html_curve_chart(sb, c, g, (const double *const *)x, "margin", "margin");
    html_curve_chart(sb, c, g, (const double *const *)x, "acc", "accuracy");
    html_curve_chart(sb, c, g, (const double *const *)x, "reward", "reward");
    for (f = 0; f < g; f++)
      free(x[f]);
    free(x);
  }
  strbuf_addstr(sb, "</div>\n");
  html_table(sb, rp, report_table_curves);
}

/* --- samples ---------------------------------------------------------------- */

static void html_answer(struct strbuf *sb, const char *name, const struct report_answer *a)
{
  size_t spans[64][2], n, k, at = 0;
  strbuf_addstr(sb, "<tr><td>");
  report_html_escape(sb, name);
  strbuf_addstr(sb, "</td><td>");
  if (!a) {
    strbuf_addstr(sb, "<em>no answer for this image</em></td><td></td></tr>\n");
    return;
  }
  n = report_mark_spans(a, spans, 64);
  for (k = 0; k < n; k++) {
    report_html_escape_n(sb, a->answer + at, spans[k][0] - at);
    strbuf_addstr(sb, "<mark>");
    report_html_escape_n(sb, a->answer + spans[k][0], spans[k][1] - spans[k][0]);
    strbuf_addstr(sb, "</mark>");
    at = spans[k][1];
  }
  report_html_escape(sb, a->answer + at);
  strbuf_addstr(sb, "</td><td>");
  for (k = 0; k < a->nhalluc; k++) {
    if (k)
      strbuf_addstr(sb, ", ");
    report_html_escape(sb, a->halluc[k]);
  }
  strbuf_addstr(sb, a->nhalluc ? "</td></tr>\n" : "—</td></tr>\n");
}

static void html_samples(struct strbuf *sb, const struct report *rp)
{
  const struct report_answers *base = report_base_answers(rp);
  size_t i, j;
  strbuf_addstr(sb, "<h2>Sample answers</h2>\n");
  if (!base || rp->samples == 0 || base->n == 0) {
    strbuf_addstr(sb, "<p class=\"note\">No sample answers (answers has no entry for the base "
                      "model, or samples = 0).</p>\n");
    return;
  }
  strbuf_addstr(sb, "<p class=\"note\">Captions at eos_bias 0 for the same images; "
                    "hallucinated objects <mark>marked</mark>.");
  for (j = 0; j < rp->nanswers; j++)
    if (rp->answers[j].in.seed > 1) {
      strbuf_addstr(sb, " Where answers lists several seeds, the captions are the first "
                        "seed's.");
      break;
    }
  strbuf_addstr(sb, "</p>\n");
  for (i = 0; i < base->n && i < (size_t)rp->samples; i++) {
    strbuf_addstr(sb, "<h3>Image ");
    report_html_escape(sb, base->v[i].id);
    if (base->v[i].image[0]) {
      strbuf_addstr(sb, " <small>(");
      report_html_escape(sb, base->v[i].image);
      strbuf_addstr(sb, ")</small>");
    }
    strbuf_addstr(sb, "</h3>\n<table>\n<thead><tr><th>model</th><th>answer</th>"
                      "<th>hallucinated</th></tr></thead>\n");
    for (j = 0; j < rp->nanswers; j++)
      if (rp->answers[j].in.seed <= 1) /* the first seed of a list */
        html_answer(sb, rp->answers[j].in.name,
                    &rp->answers[j] == base
                        ? &base->v[i]
                        : report_answers_find(&rp->answers[j], base->v[i].id));
    strbuf_addstr(sb, "</table>\n");
  }
}

/* --- the page --------------------------------------------------------------- */

static void html_head(struct strbuf *sb, const struct report *rp)
{
  strbuf_addstr(sb, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
  tag_text(sb, "title", rp->title);
  /* "mean ± sd" cells stay on one line (only with seeds: a single run's
   * page keeps its bytes). */
  strbuf_addf(sb, "<style>\n%s%s</style>\n</head>\n<body>\n<main>\n", css,
              rp->nseeds > 1 ? "td.r{white-space:nowrap}\n" : "");
  tag_text(sb, "h1", rp->title);
  strbuf_addstr(sb, "<p class=\"meta\">Written by task <code>");
  report_html_escape(sb, rp->task);
  strbuf_addstr(sb, "</code>; base model <code>");
  report_html_escape(sb, rp->base);
  strbuf_addstr(sb, "</code>. Rates in percent, distances in points.</p>\n");
}

void report_html(const struct report *rp, struct strbuf *sb)
{
  html_head(sb, rp);
  strbuf_addstr(sb, "<h2>Models</h2>\n");
  if (rp->nseeds > 1) {
    char *text = report_text_seeds(rp);
    note(sb, text);
    free(text);
  }
  html_table(sb, rp, report_table_variants);
  note(sb, report_text_delta);
  if (rp->nseeds > 1) {
    strbuf_addstr(sb, "<h3>Per seed</h3>\n");
    note(sb, report_text_per_seed);
    html_table(sb, rp, report_table_seeds);
    strbuf_addf(sb, "<p class=\"note\">Bars: means over the %zu seeds; error bars: ± one "
                    "sample sd.</p>\n",
                rp->nseeds);
  }
  strbuf_addstr(sb, "<div class=\"charts\">\n");
  html_bar_charts(sb, rp);
  strbuf_addstr(sb, "</div>\n<h2>Length frontier</h2>\n");
  if (rp->nseeds > 1) {
    strbuf_addstr(sb, "<p class=\"note\">");
    report_html_escape(sb, report_text_frontier);
    strbuf_addstr(sb, " Each seed's base model has its own sweep (a thin line each); the table "
                      "gives each eos_bias's mean ± sd over the seeds.</p>\n");
  } else {
    note(sb, report_text_frontier);
  }
  strbuf_addstr(sb, "<div class=\"charts\">\n");
  html_frontier_chart(sb, rp);
  html_table(sb, rp, report_table_frontier);
  strbuf_addstr(sb, "</div>\n<h2>Against the paper</h2>\n<p class=\"note\">");
  report_html_escape(sb, report_text_paper);
  strbuf_addstr(sb, " Zhou et al. 2024, LLaVA-1.5-7B before and after POVID:</p>\n");
  html_table(sb, rp, report_table_paper);
  strbuf_addstr(sb, "<p class=\"note\">Ablation (CHAIR_S): which dispreference does the "
                    "work.</p>\n");
  html_table(sb, rp, report_table_ablation);
  html_curves(sb, rp);
  html_samples(sb, rp);
  strbuf_addstr(sb, "<h2>Provenance</h2>\n<p class=\"note\">Written by task <code>");
  report_html_escape(sb, rp->task);
  strbuf_addf(sb, "</code> (report kind version %d). Every input by name, reference and "
                 "SHA-256 (for metrics, also the digest of the model evaluated).</p>\n",
              rp->version);
  html_table(sb, rp, report_table_inputs);
  strbuf_addstr(sb, "</main>\n</body>\n</html>\n");
}
