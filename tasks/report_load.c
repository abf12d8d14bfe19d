/* report_load.c - reading the report's inputs: evaluate metrics.json,
 * evaluate answers.jsonl (caption lines at eos_bias 0 only) and training
 * TSVs (columns found by header name).
 *
 * Each input is hashed (SHA-256, for the provenance) and read whole; they
 * are small. Every error names the parameter, the map entry (and its seed,
 * for one of a list) and the file:
 * "metrics 'both' ('/path/metrics.json'): chair[0] lacks 'recall'",
 * "metrics 'both' (seed 2) ('/path/metrics.json'): ...".
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "report.h"
#include "strbuf.h"
#include "train_util.h"

__attribute__((format(printf, 3, 4)))
static int bad(struct pd_err *err, const struct report_input *in, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (in->seed)
    return ERR_SET(err, PD_ETASK, "%s '%s' (seed %d) ('%s'): %s", in->param, in->name, in->seed,
                   in->path, msg);
  return ERR_SET(err, PD_ETASK, "%s '%s' ('%s'): %s", in->param, in->name, in->path, msg);
}


/* Hashes the input and reads it whole (*text malloc'd). */
static int input_read(struct report_input *in, char **text, struct pd_err *err)
{
  uint8_t d[PD_DIGEST_LEN];
  struct pd_err e = { 0 };
  if (digest_file(in->path, d, NULL, &e) < 0 || !(*text = train_read_text(in->path, &e)))
    return bad(err, in, "%s", e.msg);
  digest_hex(d, in->sha256);
  return 0;
}

void report_input_release(struct report_input *in)
{
  free(in->name);
  free(in->ref);
  free(in->path);
  memset(in, 0, sizeof *in);
}

/* --- metrics.json ----------------------------------------------------------- */

/* A number field of o, or NAN when absent or not a number. */
static double num(const cJSON *o, const char *field)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A required rate (a fraction in [0, 1]) of o, described by what. */
static int rate(const struct report_input *in, const cJSON *o, const char *what,
                const char *field, double *out, struct pd_err *err)
{
  *out = num(o, field);
  if (isnan(*out))
    return bad(err, in, "%s lacks '%s' (a number)", what, field);
  if (*out < 0 || *out > 1)
    return bad(err, in, "%s '%s' = %g is not a fraction in [0, 1]", what, field, *out);
  return 0;
}

static int chair_from_json(struct report_metrics *m, const cJSON *arr, struct pd_err *err)
{
  const cJSON *e;
  char what[32];
  size_t k = 0;
  int rc;
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
    return bad(err, &m->in, "'chair' must be a non-empty list");
  m->nchair = (size_t)cJSON_GetArraySize(arr);
  m->chair = xcalloc(m->nchair, sizeof *m->chair);
  cJSON_ArrayForEach(e, arr) {
    struct report_chair *c = &m->chair[k];
    double eos = num(e, "eos_bias");
    snprintf(what, sizeof what, "chair[%zu]", k++);
    if (!cJSON_IsObject(e))
      return bad(err, &m->in, "%s is not an object", what);
    if (isnan(eos) || eos != floor(eos) || fabs(eos) > 1e6)
      return bad(err, &m->in, "%s lacks 'eos_bias' (an integer)", what);
    c->eos_bias = (int)eos;
    if ((rc = rate(&m->in, e, what, "chair_s", &c->chair_s, err)) < 0 ||
        (rc = rate(&m->in, e, what, "chair_i", &c->chair_i, err)) < 0 ||
        (rc = rate(&m->in, e, what, "recall", &c->recall, err)) < 0)
      return rc;
    c->objects_per_answer = num(e, "objects_per_answer");
    c->avg_words = num(e, "avg_words");
  }
  return 0;
}

static int pope_from_json(struct report_metrics *m, const cJSON *pope, struct pd_err *err)
{
  char what[32];
  int k, rc;
  for (k = 0; k < REPORT_NPOPE; k++)
    m->pope_f1[k] = NAN;
  if (!pope)
    return 0;
  if (!cJSON_IsObject(pope))
    return bad(err, &m->in, "'pope' must be an object");
  for (k = 0; k < REPORT_NPOPE; k++) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(pope, report_pope_splits[k]);
    if (!s)
      continue;
    snprintf(what, sizeof what, "pope.%s", report_pope_splits[k]);
    if ((rc = rate(&m->in, s, what, "f1", &m->pope_f1[k], err)) < 0)
      return rc;
  }
  return 0;
}

int report_load_metrics(struct report_metrics *m, struct pd_err *err)
{
  char *text;
  cJSON *j;
  const cJSON *md;
  double images;
  int rc;
  if ((rc = input_read(&m->in, &text, err)) < 0)
    return rc;
  j = cJSON_Parse(text);
  free(text);
  if (!cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return bad(err, &m->in, "malformed JSON: not an evaluate metrics object");
  }
  md = cJSON_GetObjectItemCaseSensitive(j, "model_digest");
  m->model_digest = xstrdup(cJSON_IsString(md) ? md->valuestring : "");
  images = num(j, "images");
  m->images = isnan(images) ? -1 : (long)images;
  if ((rc = chair_from_json(m, cJSON_GetObjectItemCaseSensitive(j, "chair"), err)) == 0)
    rc = pope_from_json(m, cJSON_GetObjectItemCaseSensitive(j, "pope"), err);
  cJSON_Delete(j);
  return rc;
}

void report_metrics_release(struct report_metrics *m)
{
  report_input_release(&m->in);
  free(m->model_digest);
  free(m->chair);
  memset(m, 0, sizeof *m);
}

/* --- answers.jsonl ---------------------------------------------------------- */

static char *json_text(const cJSON *v)
{
  if (cJSON_IsString(v))
    return xstrdup(v->valuestring);
  if (cJSON_IsNumber(v))
    return xasprintf("%.17g", v->valuedouble);
  return NULL;
}

/* One caption line; *take = 0 for lines of other kinds or eos_bias != 0. */
static int answer_from_json(struct report_answers *a, const cJSON *j, size_t line,
                            struct report_answer *out, int *take, struct pd_err *err)
{
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind"), *h, *e;
  double eos = num(j, "eos_bias");
  size_t k = 0;
  *take = 0;
  if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "chair") != 0 || (!isnan(eos) && eos != 0))
    return 0;
  out->id = json_text(cJSON_GetObjectItemCaseSensitive(j, "id"));
  out->answer = json_text(cJSON_GetObjectItemCaseSensitive(j, "answer"));
  out->image = json_text(cJSON_GetObjectItemCaseSensitive(j, "image"));
  if (!out->image)
    out->image = xstrdup("");
  *take = 1;
  if (!out->id || !out->answer)
    return bad(err, &a->in, "line %zu: a chair line needs 'id' and 'answer'", line);
  h = cJSON_GetObjectItemCaseSensitive(j, "hallucinated");
  if (h && !cJSON_IsArray(h))
    return bad(err, &a->in, "line %zu: 'hallucinated' must be a list", line);
  out->halluc = xcalloc((size_t)cJSON_GetArraySize(h) + 1, sizeof *out->halluc);
  cJSON_ArrayForEach(e, h) {
    if (!cJSON_IsString(e))
      return bad(err, &a->in, "line %zu: 'hallucinated' must hold strings", line);
    out->halluc[k] = xstrdup(e->valuestring);
    out->nhalluc = ++k;
  }
  return 0;
}

static void answer_release(struct report_answer *x)
{
  size_t k;
  free(x->id);
  free(x->image);
  free(x->answer);
  for (k = 0; k < x->nhalluc; k++)
    free(x->halluc[k]);
  free(x->halluc);
  memset(x, 0, sizeof *x);
}

int report_load_answers(struct report_answers *a, struct pd_err *err)
{
  char *text, *p, *nl;
  size_t line = 0, cap = 0;
  int rc = 0, take;
  if ((rc = input_read(&a->in, &text, err)) < 0)
    return rc;
  for (p = text; rc == 0 && *p; p = nl ? nl + 1 : p + strlen(p)) {
    struct report_answer x = { 0 };
    cJSON *j;
    nl = strchr(p, '\n');
    if (nl)
      *nl = '\0';
    line++;
    if (strspn(p, " \t\r") == strlen(p))
      continue;
    take = 0;
    if (!cJSON_IsObject(j = cJSON_Parse(p)))
      rc = bad(err, &a->in, "line %zu: malformed JSON", line);
    else
      rc = answer_from_json(a, j, line, &x, &take, err);
    cJSON_Delete(j);
    if (rc != 0 || !take) {
      answer_release(&x);
      continue;
    }
    if (a->n == cap)
      a->v = xrealloc(a->v, (cap = cap ? 2 * cap : 64) * sizeof *a->v);
    a->v[a->n++] = x;
  }
  free(text);
  return rc;
}

void report_answers_release(struct report_answers *a)
{
  size_t i;
  report_input_release(&a->in);
  for (i = 0; i < a->n; i++)
    answer_release(&a->v[i]);
  free(a->v);
  memset(a, 0, sizeof *a);
}

const struct report_answer *report_answers_find(const struct report_answers *a, const char *id)
{
  size_t i;
  for (i = 0; i < a->n; i++)
    if (strcmp(a->v[i].id, id) == 0)
      return &a->v[i];
  return NULL;
}

/* --- training TSVs ---------------------------------------------------------- */

/* Splits line (modified in place) at tabs into at most max fields; returns
 * the count, or max + 1 when there are more. */
static size_t split_tabs(char *line, char **f, size_t max)
{
  size_t n = 0;
  char *p = line, *end;
  size_t len = strlen(line);
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
    line[--len] = '\0';
  for (;;) {
    if (n == max)
      return max + 1;
    f[n++] = p;
    if (!(end = strchr(p, '\t')))
      return n;
    *end = '\0';
    p = end + 1;
  }
}

static double cell(const char *s)
{
  char *end;
  double v;
  while (*s == ' ')
    s++;
  if (!*s)
    return NAN;
  v = strtod(s, &end);
  while (*end == ' ')
    end++;
  return *end ? NAN : v;
}

static int curve_header(struct report_curve *c, char *line, struct pd_err *err)
{
  char *f[256];
  size_t n = split_tabs(line, f, 256), k;
  if (n > 256)
    return bad(err, &c->in, "line 1: more than 256 columns");
  if (n == 1 && !*f[0])
    return bad(err, &c->in, "line 1: no header (a TSV with column names is expected)");
  c->cols = xcalloc(n, sizeof *c->cols);
  for (k = 0; k < n; k++) {
    c->cols[k] = xstrdup(f[k]);
    c->ncols = k + 1;
  }
  return 0;
}

int report_load_curve(struct report_curve *c, struct pd_err *err)
{
  char *text, *p, *nl, *f[256];
  size_t line = 0, cap = 0, n, k;
  int rc = 0;
  if ((rc = input_read(&c->in, &text, err)) < 0)
    return rc;
  for (p = text; rc == 0 && (*p || line == 0); p = nl ? nl + 1 : p + strlen(p)) {
    nl = strchr(p, '\n');
    if (nl)
      *nl = '\0';
    if (line++ == 0) {
      rc = curve_header(c, p, err);
      continue;
    }
    if (strspn(p, " \t\r") == strlen(p))
      continue;
    if ((n = split_tabs(p, f, c->ncols)) != c->ncols) {
      rc = bad(err, &c->in, "line %zu: %s fields where the header has %zu", line,
               n > c->ncols ? "more" : "fewer", c->ncols);
      break;
    }
    if (c->nrows == cap)
      c->v = xrealloc(c->v, (cap = cap ? 2 * cap : 256) * c->ncols * sizeof *c->v);
    for (k = 0; k < n; k++)
      c->v[c->nrows * c->ncols + k] = cell(f[k]);
    c->nrows++;
  }
  free(text);
  return rc;
}

void report_curve_release(struct report_curve *c)
{
  size_t k;
  report_input_release(&c->in);
  for (k = 0; k < c->ncols; k++)
    free(c->cols[k]);
  free(c->cols);
  free(c->v);
  memset(c, 0, sizeof *c);
}

int report_curve_col(const struct report_curve *c, const char *name)
{
  size_t k;
  for (k = 0; k < c->ncols; k++)
    if (strcmp(c->cols[k], name) == 0)
      return (int)k;
  return -1;
}
