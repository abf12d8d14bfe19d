/* report_md.c - report.md: the report's tables and sample answers in
 * Markdown (GitHub flavour). Every string from the inputs is escaped with
 * backslashes; hallucinated objects in answers are **bold**. The charts
 * are only in report.html. With several seeds, a sentence says what the
 * "mean ± sd" cells are and a per-seed table follows the models table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "strbuf.h"

/* Appends n bytes of s with Markdown's punctuation escaped and line breaks
 * turned into spaces (a table cell is one line). */
static void md_escape_n(struct strbuf *sb, const char *s, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\n' || c == '\r')
      c = ' ';
    else if (c && strchr("\\`*_[]<>|#~&", c))
      strbuf_addch(sb, '\\');
    strbuf_addch(sb, c);
  }
}

static void md_escape(struct strbuf *sb, const char *s)
{
  md_escape_n(sb, s, strlen(s));
}

static void md_table(struct strbuf *sb, const struct report_table *t)
{
  size_t r, k;
  for (r = 0; r <= t->nrows; r++) {
    for (k = 0; k < t->ncols; k++) {
      strbuf_addstr(sb, "| ");
      md_escape(sb, t->cell[r * t->ncols + k]);
      strbuf_addch(sb, ' ');
    }
    strbuf_addstr(sb, "|\n");
    if (r == 0) {
      for (k = 0; k < t->ncols; k++)
        strbuf_addstr(sb, t->align[k] == 'r' ? "| ---: " : "| --- ");
      strbuf_addstr(sb, "|\n");
    }
  }
  strbuf_addch(sb, '\n');
}

/* Builds a table with fill, renders it, frees it. */
static void md_section_table(struct strbuf *sb, const struct report *rp,
                             void (*fill)(const struct report *, struct report_table *))
{
  struct report_table t;
  fill(rp, &t);
  md_table(sb, &t);
  report_table_release(&t);
}

static void md_answer(struct strbuf *sb, const char *name, const struct report_answer *a)
{
  size_t spans[64][2], n, k, at = 0;
  strbuf_addstr(sb, "- **");
  md_escape(sb, name);
  strbuf_addstr(sb, "**: ");
  if (!a) {
    strbuf_addstr(sb, "(no answer for this image)\n");
    return;
  }
  n = report_mark_spans(a, spans, 64);
  for (k = 0; k < n; k++) {
    md_escape_n(sb, a->answer + at, spans[k][0] - at);
    strbuf_addstr(sb, "**");
    md_escape_n(sb, a->answer + spans[k][0], spans[k][1] - spans[k][0]);
    strbuf_addstr(sb, "**");
    at = spans[k][1];
  }
  md_escape(sb, a->answer + at);
  strbuf_addstr(sb, a->nhalluc ? " — hallucinated: " : " — no hallucinated object");
  for (k = 0; k < a->nhalluc; k++) {
    if (k)
      strbuf_addstr(sb, ", ");
    md_escape(sb, a->halluc[k]);
  }
  strbuf_addch(sb, '\n');
}

/* Whether any answers entry is a list of several seeds. */
static int answers_seeded(const struct report *rp)
{
  size_t j;
  for (j = 0; j < rp->nanswers; j++)
    if (rp->answers[j].in.seed > 1)
      return 1;
  return 0;
}

static void md_samples(struct strbuf *sb, const struct report *rp)
{
  const struct report_answers *base = report_base_answers(rp);
  size_t i, j;
  strbuf_addstr(sb, "## Sample answers\n\n");
  if (!base || rp->samples == 0 || base->n == 0) {
    strbuf_addstr(sb, "No sample answers (answers has no entry for the base model, or "
                      "samples = 0).\n\n");
    return;
  }
  strbuf_addstr(sb, "Captions at eos_bias 0 for the same images; hallucinated objects in "
                    "**bold**.");
  if (answers_seeded(rp))
    strbuf_addstr(sb, " Where answers lists several seeds, the captions are the first "
                      "seed's.");
  strbuf_addstr(sb, "\n\n");
  for (i = 0; i < base->n && i < (size_t)rp->samples; i++) {
    strbuf_addstr(sb, "### Image ");
    md_escape(sb, base->v[i].id);
    if (base->v[i].image[0]) {
      strbuf_addstr(sb, " (");
      md_escape(sb, base->v[i].image);
      strbuf_addch(sb, ')');
    }
    strbuf_addstr(sb, "\n\n");
    for (j = 0; j < rp->nanswers; j++)
      if (rp->answers[j].in.seed <= 1) /* the first seed of a list */
        md_answer(sb, rp->answers[j].in.name,
                  j == (size_t)(base - rp->answers)
                      ? &base->v[i]
                      : report_answers_find(&rp->answers[j], base->v[i].id));
    strbuf_addch(sb, '\n');
  }
}

void report_md(const struct report *rp, struct strbuf *sb)
{
  strbuf_addstr(sb, "# ");
  md_escape(sb, rp->title);
  strbuf_addstr(sb, "\n\nWritten by task ");
  md_escape(sb, rp->task);
  strbuf_addstr(sb, "; base model ");
  md_escape(sb, rp->base);
  strbuf_addstr(sb, ". Rates in percent, distances in points. The charts are in report.html."
                    "\n\n## Models\n\n");
  if (rp->nseeds > 1) {
    char *text = report_text_seeds(rp);
    strbuf_addstr(sb, text);
    strbuf_addstr(sb, "\n\n");
    free(text);
  }
  md_section_table(sb, rp, report_table_variants);
  strbuf_addstr(sb, report_text_delta);
  if (rp->nseeds > 1) {
    strbuf_addstr(sb, "\n\n### Per seed\n\n");
    strbuf_addstr(sb, report_text_per_seed);
    strbuf_addstr(sb, "\n\n");
    md_section_table(sb, rp, report_table_seeds);
  } else {
    strbuf_addstr(sb, "\n\n");
  }
  strbuf_addstr(sb, "## Length frontier\n\n");
  strbuf_addstr(sb, report_text_frontier);
  if (rp->nseeds > 1)
    strbuf_addstr(sb, " Each seed's base model has its own sweep; the table gives each "
                      "eos_bias's mean ± sd over the seeds.");
  strbuf_addstr(sb, "\n\n");
  md_section_table(sb, rp, report_table_frontier);
  strbuf_addstr(sb, "## Against the paper\n\n");
  strbuf_addstr(sb, report_text_paper);
  strbuf_addstr(sb, " Zhou et al. 2024, LLaVA-1.5-7B before and after POVID:\n\n");
  md_section_table(sb, rp, report_table_paper);
  strbuf_addstr(sb, "Ablation (CHAIR_S): which dispreference does the work.\n\n");
  md_section_table(sb, rp, report_table_ablation);
  strbuf_addstr(sb, "## Training curves\n\n");
  if (rp->ncurves)
    md_section_table(sb, rp, report_table_curves);
  else
    strbuf_addstr(sb, "No training curves given.\n\n");
  md_samples(sb, rp);
  strbuf_addstr(sb, "## Provenance\n\nWritten by task ");
  md_escape(sb, rp->task);
  strbuf_addf(sb, " (report kind version %d). Every input by name, reference and SHA-256 "
                 "(for metrics, also the digest of the model evaluated).\n\n", rp->version);
  md_section_table(sb, rp, report_table_inputs);
}
