/* report_html.c - report.html: one self-contained page (inline CSS, inline
 * SVG charts, no scripts, no external resources) with the same tables as
 * report.md, the charts and the sample answers with hallucinated objects
 * in <mark>. Every string from the inputs is escaped (& < > " ').
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
  const char **names = xcalloc(rp->nrows + 1, sizeof *names);
  double *v = xcalloc(4 * rp->nrows + 1, sizeof *v);
  struct report_series s[REPORT_NPOPE];
  size_t i;
  int k, pope = 0;
  for (i = 0; i < rp->nrows; i++) {
    const struct report_chair *c = report_main_chair(rp->rows[i].m);
    names[i] = rp->rows[i].m->in.name;
    v[i] = c->chair_s * 100;
    v[rp->nrows + i] = c->recall * 100;
  }
  s[0] = (struct report_series){ "CHAIR_S", NULL, v, rp->nrows };
  report_svg_bars(sb, "CHAIR_S per model (%, lower is better)", "CHAIR_S %", names, rp->nrows, s, 1);
  s[0] = (struct report_series){ "recall", NULL, v + rp->nrows, rp->nrows };
  report_svg_bars(sb, "Object recall per model (%)", "recall %", names, rp->nrows, s, 1);
  for (k = 0; k < REPORT_NPOPE; k++) {
    double *y = v + (size_t)(k + 1) * rp->nrows;
    for (i = 0; i < rp->nrows; i++) {
      y[i] = rp->rows[i].m->pope_f1[k] * 100;
      pope |= !isnan(y[i]);
    }
    s[k] = (struct report_series){ report_pope_splits[k], NULL, y, rp->nrows };
  }
  if (pope)
    report_svg_bars(sb, "POPE F1 per model and split (%)", "F1 %", names, rp->nrows, s,
                    REPORT_NPOPE);
  free(names);
  free(v);
}

static void html_frontier_chart(struct strbuf *sb, const struct report *rp)
{
  size_t n = rp->frontier.n, i;
  double *xy = xcalloc(2 * n + 1, sizeof *xy);
  struct report_label *labels = xcalloc(rp->nrows + 1, sizeof *labels);
  struct report_series line = { "base model, eos_bias sweep", xy, xy + n, n };
  for (i = 0; i < n; i++) {
    xy[i] = rp->frontier.p[i].recall * 100;
    xy[n + i] = rp->frontier.p[i].chair_s * 100;
  }
  for (i = 0; i < rp->nrows; i++) {
    const struct report_chair *c = report_main_chair(rp->rows[i].m);
    labels[i] = (struct report_label){ rp->rows[i].m->in.name, c->recall * 100, c->chair_s * 100 };
  }
  report_svg_lines(sb, "Length frontier: CHAIR_S against recall", "recall %", "CHAIR_S %", &line,
                   n ? 1 : 0, labels, rp->nrows, "models (eos_bias 0)");
  free(xy);
  free(labels);
}

/* One chart of the columns of c whose names start with prefix, if any. */
static void html_curve_chart(struct strbuf *sb, const struct report_curve *c, const double *x,
                             const char *prefix, const char *what)
{
  struct report_series s[16];
  double *y = xcalloc(16 * c->nrows + 1, sizeof *y);
  size_t k, i, n = 0;
  char *title;
  for (k = 0; k < c->ncols && n < 16; k++) {
    if (strncmp(c->cols[k], prefix, strlen(prefix)) != 0)
      continue;
    for (i = 0; i < c->nrows; i++)
      y[n * c->nrows + i] = c->v[i * c->ncols + k];
    s[n] = (struct report_series){ c->cols[k], x, y + n * c->nrows, c->nrows };
    n++;
  }
  if (n) {
    title = xasprintf("%s: %s", c->in.name, what);
    report_svg_lines(sb, title, "step", what, s, n, NULL, 0, NULL);
    free(title);
  }
  free(y);
}

static void html_curves(struct strbuf *sb, const struct report *rp)
{
  size_t i, r;
  strbuf_addstr(sb, "<h2>Training curves</h2>\n");
  if (!rp->ncurves) {
    strbuf_addstr(sb, "<p class=\"note\">No training curves given.</p>\n");
    return;
  }
  strbuf_addstr(sb, "<div class=\"charts\">\n");
  for (i = 0; i < rp->ncurves; i++) {
    const struct report_curve *c = &rp->curves[i];
    int step = report_curve_col(c, "step");
    double *x = xcalloc(c->nrows + 1, sizeof *x);
    for (r = 0; r < c->nrows; r++)
      x[r] = step >= 0 ? c->v[r * c->ncols + (size_t)step] : (double)r;
    html_curve_chart(sb, c, x, "loss", "loss");
    html_curve_chart(sb, c, x, "margin", "margin");
    html_curve_chart(sb, c, x, "acc", "accuracy");
    html_curve_chart(sb, c, x, "reward", "reward");
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
                    "hallucinated objects <mark>marked</mark>.</p>\n");
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
      html_answer(sb, rp->answers[j].in.name,
                  &rp->answers[j] == base ? &base->v[i]
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
  strbuf_addf(sb, "<style>\n%s</style>\n</head>\n<body>\n<main>\n", css);
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
  html_table(sb, rp, report_table_variants);
  note(sb, report_text_delta);
  strbuf_addstr(sb, "<div class=\"charts\">\n");
  html_bar_charts(sb, rp);
  strbuf_addstr(sb, "</div>\n<h2>Length frontier</h2>\n");
  note(sb, report_text_frontier);
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
