/* report_seeds.c - the report over several seeds: each metrics entry may
 * be a list of files, one per seed (element i of every list is seed i).
 * Every number is first computed per seed as for a single run (a variant's
 * distance to the frontier uses that seed's own base frontier), then
 * summarised by its mean and sample standard deviation (n - 1) over the
 * seeds that have it.
 *
 * With one seed the mean is the value itself and the sd NAN, so a single
 * run renders as it always did. Left out: confidence intervals and tests
 * of significance (three seeds are too few for either to mean much).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "report.h"

void report_stat_of(struct report_stat *s, const double *v, size_t n)
{
  double v0 = NAN, sum = 0, ss = 0;
  size_t i;
  s->n = 0;
  /* Shifted by the first value: equal values give that value and an sd of
   * exactly 0 (not a rounding residue), one value gives itself. */
  for (i = 0; i < n; i++)
    if (!isnan(v[i])) {
      if (s->n++ == 0)
        v0 = v[i];
      sum += v[i] - v0;
    }
  s->mean = s->n ? v0 + sum / (double)s->n : NAN;
  s->sd = NAN;
  if (s->n < 2)
    return;
  for (i = 0; i < n; i++)
    if (!isnan(v[i]))
      ss += (v[i] - v0) * (v[i] - v0);
  /* sum of squares about the mean, from the shifted sums */
  ss -= sum * sum / (double)s->n;
  s->sd = sqrt(fmax(0.0, ss) / (double)(s->n - 1));
}

double report_row_value(const struct report_row *r, enum report_q q)
{
  const struct report_chair *c = report_main_chair(r->m);
  switch (q) {
  case REPORT_Q_CHAIR_S: return c->chair_s;
  case REPORT_Q_CHAIR_I: return c->chair_i;
  case REPORT_Q_RECALL: return c->recall;
  case REPORT_Q_OBJECTS: return c->objects_per_answer;
  case REPORT_Q_WORDS: return c->avg_words;
  case REPORT_Q_POPE_AVG: return r->pope_avg;
  case REPORT_Q_FRONTIER: return r->frontier;
  case REPORT_Q_DELTA: return r->pos == REPORT_NA ? NAN : r->delta;
  case REPORT_NQ: break;
  default:
    if (q >= REPORT_Q_POPE && q < REPORT_Q_POPE + REPORT_NPOPE)
      return r->m->pope_f1[q - REPORT_Q_POPE];
    break;
  }
  BUG("report_row_value: no such number");
}

void report_models_compute(struct report *rp)
{
  size_t n = rp->nseeds ? rp->nseeds : 1, i, s;
  double *v = xcalloc(n, sizeof *v);
  int q;
  free(rp->models);
  rp->nmodels = rp->nrows / n;
  rp->models = xcalloc(rp->nmodels + 1, sizeof *rp->models);
  for (i = 0; i < rp->nmodels; i++) {
    struct report_model *m = &rp->models[i];
    m->seed = &rp->rows[i * n];
    m->name = m->seed[0].m->in.name;
    for (q = 0; q < REPORT_NQ; q++) {
      for (s = 0; s < n; s++)
        v[s] = report_row_value(&m->seed[s], (enum report_q)q);
      report_stat_of(&m->q[q], v, n);
    }
    for (s = 0; s < n; s++)
      m->outside += m->seed[s].outside != 0;
    /* As a row's position, from the mean distance; NA when no seed had a
     * frontier. */
    m->pos = m->q[REPORT_Q_DELTA].n == 0                       ? REPORT_NA
             : fabs(m->q[REPORT_Q_DELTA].mean) < REPORT_ON_FRONTIER ? REPORT_ON
             : m->q[REPORT_Q_DELTA].mean > 0                   ? REPORT_BELOW
                                                               : REPORT_ABOVE;
  }
  free(v);
}

void report_paired_diff(const struct report *rp, const struct report_model *a,
                        const struct report_model *b, enum report_q q, double scale,
                        struct report_stat *out)
{
  size_t n = rp->nseeds ? rp->nseeds : 1, s;
  double *v;
  if (!a || !b) {
    out->mean = out->sd = NAN;
    out->n = 0;
    return;
  }
  v = xcalloc(n, sizeof *v);
  for (s = 0; s < n; s++)
    v[s] = report_row_value(&b->seed[s], q) * scale - report_row_value(&a->seed[s], q) * scale;
  report_stat_of(out, v, n);
  free(v);
}

static int cmp_fstat(const void *a, const void *b)
{
  const struct report_frontier_stat *p = a, *q = b;
  if (p->recall.mean != q->recall.mean)
    return p->recall.mean < q->recall.mean ? -1 : 1;
  return p->eos_bias - q->eos_bias;
}

size_t report_frontier_stats(const struct report *rp, struct report_frontier_stat **out)
{
  size_t nseeds = rp->nseeds ? rp->nseeds : 1, cap = 0, n = 0, s, k, j;
  struct report_frontier_stat *v = NULL;
  double *x = xcalloc(3 * nseeds, sizeof *x);
  /* The eos_bias values in any seed's frontier, in order of first sight. */
  for (s = 0; s < nseeds; s++)
    for (k = 0; k < rp->frontier[s].n; k++) {
      for (j = 0; j < n && v[j].eos_bias != rp->frontier[s].p[k].eos_bias; j++)
        ;
      if (j < n)
        continue;
      if (n == cap)
        v = xrealloc(v, (cap = cap ? 2 * cap : 16) * sizeof *v);
      v[n++].eos_bias = rp->frontier[s].p[k].eos_bias;
    }
  for (j = 0; j < n; j++) {
    for (s = 0; s < nseeds; s++) {
      x[s] = x[nseeds + s] = x[2 * nseeds + s] = NAN;
      for (k = 0; k < rp->frontier[s].n; k++)
        if (rp->frontier[s].p[k].eos_bias == v[j].eos_bias) {
          x[s] = rp->frontier[s].p[k].recall;
          x[nseeds + s] = rp->frontier[s].p[k].chair_s;
          x[2 * nseeds + s] = rp->frontier[s].p[k].avg_words;
          break;
        }
    }
    report_stat_of(&v[j].recall, x, nseeds);
    report_stat_of(&v[j].chair_s, x + nseeds, nseeds);
    report_stat_of(&v[j].avg_words, x + 2 * nseeds, nseeds);
  }
  if (n)
    qsort(v, n, sizeof *v, cmp_fstat);
  free(x);
  *out = v;
  return n;
}
