/* report_test.c - tests of tasks/report.c and its parts (report_load.c,
 * report_tables.c, report_md.c, report_html.c, report_svg.c): the length
 * frontier (interpolation inside, extrapolation outside, one point, none,
 * points at the same recall), the distance and its reading, HTML escaping,
 * marking hallucinated words, and whole runs of the kind from fixture files
 * reached through references in its maps (resolved by a fake resolver, as
 * the scheduler would): summary.json's numbers, the row order, the bytes
 * being the same twice, and bad inputs named with their entry and file.
 * Over seeds: means and sample sds, each seed's rows against its own
 * frontier, and point labels of the frontier chart that do not collide. */
#include "tasks_test_util.h"

#include <cjson/cJSON.h>
#include <math.h>

#include "graph.h"
#include "registry.h"
#include "report.h"
#include "run.h"
#include "strbuf.h"

static char *dir;
static char cwd0[4096];

/* --- the frontier ----------------------------------------------------------- */

static const struct report_point three[] = {
  { 2, 0.60, 0.22, NAN },
  { 1, 0.70, 0.30, NAN },
  { 0, 0.80, 0.40, NAN },
};

static void test_frontier_inside(void **state)
{
  struct report_frontier f = { (struct report_point *)three, 3 };
  double y;
  (void)state;
  assert_int_equal(report_frontier_at(&f, 0.65, &y), 0);
  assert_true(fabs(y - 0.26) < 1e-12);
  assert_int_equal(report_frontier_at(&f, 0.75, &y), 0);
  assert_true(fabs(y - 0.35) < 1e-12);
  /* The points themselves and the ends are inside. */
  assert_int_equal(report_frontier_at(&f, 0.70, &y), 0);
  assert_true(fabs(y - 0.30) < 1e-12);
  assert_int_equal(report_frontier_at(&f, 0.60, &y), 0);
  assert_true(fabs(y - 0.22) < 1e-12);
  assert_int_equal(report_frontier_at(&f, 0.80, &y), 0);
  assert_true(fabs(y - 0.40) < 1e-12);
}

static void test_frontier_outside(void **state)
{
  struct report_frontier f = { (struct report_point *)three, 3 };
  double y;
  (void)state;
  /* Above the range: the last segment's slope (1.0) carried on. */
  assert_int_equal(report_frontier_at(&f, 0.90, &y), 1);
  assert_true(fabs(y - 0.50) < 1e-12);
  /* Below: the first segment's slope (0.8). */
  assert_int_equal(report_frontier_at(&f, 0.50, &y), 1);
  assert_true(fabs(y - 0.14) < 1e-12);
  /* Far below: clamped at 0, never a negative rate. */
  assert_int_equal(report_frontier_at(&f, 0.10, &y), 1);
  assert_true(y == 0.0);
}

static void test_frontier_single_and_empty(void **state)
{
  struct report_frontier one = { (struct report_point *)&three[1], 1 }, none = { NULL, 0 };
  double y;
  (void)state;
  assert_int_equal(report_frontier_at(&one, 0.70, &y), 0);
  assert_true(fabs(y - 0.30) < 1e-12);
  assert_int_equal(report_frontier_at(&one, 0.95, &y), 1);
  assert_true(fabs(y - 0.30) < 1e-12);
  assert_int_equal(report_frontier_at(&none, 0.5, &y), -1);
  assert_true(isnan(y));
}

/* A metrics entry by hand: chair entries (eos_bias, chair_s, recall). */
static void fake_metrics(struct report_metrics *m, const char *name, size_t n,
                         const double (*c)[3])
{
  size_t i;
  int k;
  memset(m, 0, sizeof *m);
  m->in.param = "metrics";
  m->in.name = xstrdup(name);
  m->model_digest = xstrdup("");
  m->chair = xcalloc(n, sizeof *m->chair);
  m->nchair = n;
  for (i = 0; i < n; i++) {
    m->chair[i].eos_bias = (int)c[i][0];
    m->chair[i].chair_s = c[i][1];
    m->chair[i].recall = c[i][2];
    m->chair[i].chair_i = m->chair[i].objects_per_answer = m->chair[i].avg_words = NAN;
  }
  for (k = 0; k < REPORT_NPOPE; k++)
    m->pope_f1[k] = NAN;
}

static void test_compute_rows(void **state)
{
  /* The base at two eos_bias values with the same recall: the lower
   * CHAIR_S is the frontier there. */
  static const double base[][3] = { { 0, 0.40, 0.80 }, { 1, 0.30, 0.70 }, { 2, 0.35, 0.70 },
                                    { 3, 0.22, 0.60 } };
  static const double below[][3] = { { 0, 0.20, 0.70 } };
  static const double on[][3] = { { 1, 0.50, 0.50 }, { 0, 0.265, 0.65 } };
  static const double above[][3] = { { 0, 0.55, 0.85 } };
  struct report rp = { 0 };
  (void)state;
  rp.base = "base";
  rp.nmetrics = 4;
  rp.metrics = xcalloc(4, sizeof *rp.metrics);
  fake_metrics(&rp.metrics[0], "below", 1, below);
  fake_metrics(&rp.metrics[1], "base", 4, base);
  fake_metrics(&rp.metrics[2], "on", 2, on);
  fake_metrics(&rp.metrics[3], "above", 1, above);
  rp.metrics[2].pope_f1[0] = 0.8;
  rp.metrics[2].pope_f1[2] = 0.6;
  report_compute(&rp);
  assert_int_equal(rp.frontier[0].n, 3);
  assert_int_equal(rp.frontier[0].p[1].eos_bias, 1);
  assert_true(rp.frontier[0].p[1].chair_s == 0.30);
  assert_int_equal(rp.nrows, 4);
  assert_true(fabs(rp.rows[0].delta - 10.0) < 1e-9);
  assert_int_equal(rp.rows[0].pos, REPORT_BELOW);
  assert_false(rp.rows[0].outside);
  assert_true(fabs(rp.rows[1].delta) < 1e-9);
  assert_int_equal(rp.rows[1].pos, REPORT_ON);
  /* "on" is compared by its eos_bias 0 entry, not its first. */
  assert_true(fabs(rp.rows[2].frontier - 0.26) < 1e-9);
  assert_true(fabs(rp.rows[2].delta - (-0.5)) < 1e-9);
  assert_int_equal(rp.rows[2].pos, REPORT_ON);
  assert_true(fabs(rp.rows[2].pope_avg - 0.7) < 1e-12);
  assert_true(isnan(rp.rows[1].pope_avg));
  /* Outside: extrapolated to 0.45 at recall 0.85, flagged. */
  assert_true(rp.rows[3].outside);
  assert_true(fabs(rp.rows[3].delta - (-10.0)) < 1e-9);
  assert_int_equal(rp.rows[3].pos, REPORT_ABOVE);
  report_release(&rp);
}

/* --- seeds ------------------------------------------------------------------ */

static void test_stats(void **state)
{
  static const double v[] = { 0.2, NAN, 0.4, 0.6 }, same[] = { 0.7, 0.7, 0.7 };
  struct report_stat s;
  char b[80];
  (void)state;
  report_stat_of(&s, v, 4); /* NAN skipped: n = 3 */
  assert_int_equal(s.n, 3);
  assert_true(fabs(s.mean - 0.4) < 1e-15);
  assert_true(fabs(s.sd - 0.2) < 1e-15); /* n - 1 denominator: sqrt(0.08 / 2) */
  assert_string_equal(report_stat_fmt(b, &s, 100, 1, 0), "40.0 ± 20.0");
  report_stat_of(&s, same, 3); /* exactly the value, exactly 0 */
  assert_true(s.mean == 0.7 && s.sd == 0.0);
  report_stat_of(&s, v + 2, 1); /* one value: itself, no sd */
  assert_true(s.mean == 0.4 && isnan(s.sd));
  assert_string_equal(report_stat_fmt(b, &s, 100, 1, 0), "40.0");
  assert_string_equal(report_stat_fmt(b, &s, 10, 1, 1), "+4.0");
  report_stat_of(&s, v + 1, 1);
  assert_true(isnan(s.mean) && s.n == 0);
  assert_string_equal(report_stat_fmt(b, &s, 100, 1, 0), "—");
}

static void test_compute_seeds(void **state)
{
  /* Two seeds; the base's frontier differs by seed, so does the variant's
   * recall: seed 1 at 0.70 against 0.30, seed 2 at 0.65 against 0.32. */
  static const double base1[][3] = { { 0, 0.40, 0.80 }, { 1, 0.30, 0.70 }, { 2, 0.22, 0.60 } };
  static const double base2[][3] = { { 0, 0.46, 0.80 }, { 1, 0.36, 0.70 }, { 2, 0.28, 0.60 } };
  static const double v1[][3] = { { 0, 0.20, 0.70 } }, v2[][3] = { { 0, 0.28, 0.65 } };
  struct report rp = { 0 };
  const struct report_model *m;
  (void)state;
  rp.base = "base";
  rp.nseeds = 2;
  rp.nmetrics = 4;
  rp.metrics = xcalloc(4, sizeof *rp.metrics);
  fake_metrics(&rp.metrics[0], "base", 3, base1);
  fake_metrics(&rp.metrics[1], "base", 3, base2);
  fake_metrics(&rp.metrics[2], "v", 1, v1);
  fake_metrics(&rp.metrics[3], "v", 1, v2);
  report_compute(&rp);
  assert_int_equal(rp.nmodels, 2);
  assert_true(rp.frontier[1].p[0].chair_s == 0.28);
  m = report_find_model(&rp, "v");
  assert_non_null(m);
  assert_true(fabs(m->seed[0].delta - 10.0) < 1e-9);
  assert_true(fabs(m->seed[1].delta - 4.0) < 1e-9); /* seed 1's frontier would give -2 */
  assert_true(fabs(m->q[REPORT_Q_DELTA].mean - 7.0) < 1e-9);
  assert_true(fabs(m->q[REPORT_Q_DELTA].sd - sqrt(18.0)) < 1e-9);
  assert_true(fabs(m->q[REPORT_Q_CHAIR_S].mean - 0.24) < 1e-12);
  assert_int_equal(m->pos, REPORT_BELOW);
  assert_int_equal(m->outside, 0);
  report_release(&rp);
}

/* The boxes of the point labels (<text ... class="plabel">) in svg, their
 * width estimated as report_svg.c does (6.6px a character, 13px high). */
static size_t label_boxes(const char *svg, double (*box)[4], size_t max)
{
  const char *p = svg;
  size_t n = 0;
  char anchor[8];
  double x, y;
  int len;
  while (n < max && (p = strstr(p, "<text x=\""))) {
    const char *e = strchr(p, '>');
    if (e && sscanf(p, "<text x=\"%lf\" y=\"%lf\" text-anchor=\"%7[a-z]\"", &x, &y, anchor) == 3 &&
        strncmp(e - 14, "class=\"plabel\"", 14) == 0) {
      len = (int)(strchr(e, '<') - e - 1);
      box[n][0] = strcmp(anchor, "end") == 0 ? x - 6.6 * len : x;
      box[n][1] = box[n][0] + 6.6 * len;
      box[n][2] = y - 10;
      box[n][3] = y + 3;
      n++;
    }
    p += 5;
  }
  return n;
}

static void test_labels_apart(void **state)
{
  /* Four models within a point of each other: every label is drawn and no
   * two boxes overlap. */
  static const double lx[] = { 0, 1 }, ly[] = { 0, 1 };
  struct report_series line = { "sweep", lx, ly, 2, NULL, 0, 0 };
  struct report_label l[] = { { "alpha", 0.50, 0.50 }, { "beta", 0.505, 0.505 },
                              { "gamma", 0.51, 0.50 }, { "delta", 0.50, 0.51 } };
  double b[8][4];
  struct strbuf sb;
  size_t n, i, j;
  (void)state;
  strbuf_init(&sb, 0);
  report_svg_lines(&sb, "t", "x", "y", &line, 1, l, 4, "models");
  n = label_boxes(sb.buf, b, 8);
  assert_int_equal(n, 4);
  assert_null(strstr(sb.buf, "not labelled"));
  for (i = 0; i < n; i++)
    for (j = i + 1; j < n; j++)
      if (b[i][0] < b[j][1] && b[j][0] < b[i][1] && b[i][2] < b[j][3] && b[j][2] < b[i][3])
        fail_msg("labels %zu and %zu overlap", i, j);
  strbuf_release(&sb);
}

/* --- escaping, formatting, marks -------------------------------------------- */

static void test_html_escape(void **state)
{
  struct strbuf sb;
  (void)state;
  strbuf_init(&sb, 0);
  report_html_escape(&sb, "a<b>&\"c'd</script>");
  assert_string_equal(sb.buf, "a&lt;b&gt;&amp;&quot;c&#39;d&lt;/script&gt;");
  strbuf_release(&sb);
}

static void test_format(void **state)
{
  char b[32];
  (void)state;
  assert_string_equal(report_pct(b, 0.4125), "41.2");
  assert_string_equal(report_pct(b, NAN), "—");
  assert_string_equal(report_pts(b, 3.14), "+3.1");
  assert_string_equal(report_pts(b, -0.04), "+0.0");
  assert_string_equal(report_pts(b, -2.0), "-2.0");
}

static void test_mark_spans(void **state)
{
  char *h[] = { "square", "red circle" };
  struct report_answer a = { NULL, NULL, "Two Squares, a squarely red circle and a square-ish box",
                             h, 2 };
  size_t spans[8][2], n;
  (void)state;
  n = report_mark_spans(&a, spans, 8);
  assert_int_equal(n, 3);
  assert_int_equal(spans[0][0], 4); /* "Squares" */
  assert_int_equal(spans[0][1], 11);
  assert_int_equal(spans[1][0], 24); /* "red circle", not "squarely" */
  assert_int_equal(spans[1][1], 34);
  assert_int_equal(spans[2][0], 41); /* "square" before "-ish" */
  assert_int_equal(spans[2][1], 47);
}

/* --- whole runs ------------------------------------------------------------- */

#define BASE_JSON                                                                           \
  "{\"images\": 4, \"max_new_tokens\": 48, \"model_digest\": \"abc123\", \"chair\": ["      \
  "{\"eos_bias\": 0, \"chair_s\": 0.40, \"chair_i\": 0.12, \"recall\": 0.80, "               \
  "\"objects_per_answer\": 2.1, \"avg_words\": 17.3},"                                      \
  "{\"eos_bias\": 1, \"chair_s\": 0.30, \"chair_i\": 0.09, \"recall\": 0.70},"              \
  "{\"eos_bias\": 2, \"chair_s\": 0.22, \"chair_i\": 0.07, \"recall\": 0.60}],"             \
  "\"pope\": {\"random\": {\"f1\": 0.85, \"accuracy\": 0.8}, \"popular\": {\"f1\": 0.80},"  \
  " \"adversarial\": {\"f1\": 0.75}}}"
#define BOTH_JSON                                                                           \
  "{\"images\": 4, \"model_digest\": \"def456\", \"chair\": [{\"eos_bias\": 0, "           \
  "\"chair_s\": 0.20, \"chair_i\": 0.05, \"recall\": 0.70}], \"pope\": {}}"
#define TEXT_JSON                                                                           \
  "{\"chair\": [{\"eos_bias\": 0, \"chair_s\": 0.48, \"chair_i\": 0.10, \"recall\": 0.90}]}"

static const char *fixture_path(const char *task)
{
  static char buf[256];
  snprintf(buf, sizeof buf, "%s/fx/%s", dir, task);
  return buf;
}

/* The scheduler's part: a reference to task X's output is fx/X. */
static const char *fake_resolve(void *arg, const struct val *v)
{
  (void)arg;
  return fixture_path(v->u.ref.task);
}

static void write_fixtures(void)
{
  cache_rmtree("fx");
  assert_int_equal(mkdir("fx", 0755), 0);
  write_str("fx/orig", BASE_JSON);
  write_str("fx/both", BOTH_JSON);
  write_str("fx/text", TEXT_JSON);
  write_str("fx/ans_orig",
            "{\"kind\":\"chair\",\"eos_bias\":0,\"id\":\"i1\",\"image\":\"0001\",\"answer\":"
            "\"A <b>red</b> circle & two squares.\",\"hallucinated\":[\"square\"]}\n"
            "{\"kind\":\"pope\",\"split\":\"random\",\"id\":\"q1\"}\n"
            "{\"kind\":\"chair\",\"eos_bias\":1,\"id\":\"i1\",\"answer\":\"Short.\"}\n"
            "{\"kind\":\"chair\",\"eos_bias\":0,\"id\":7,\"answer\":\"A diamond.\"}\n");
  write_str("fx/ans_both", "{\"kind\":\"chair\",\"eos_bias\":0,\"id\":\"i1\",\"answer\":"
                           "\"A red circle.\",\"hallucinated\":[]}\n");
  write_str("fx/dpo", "step\tloss\tmargin_text\tacc_text\textra\n1\t0.69\t0\t0.5\tx\n"
                      "2\t0.60\t0.2\t0.7\t\n\n");
}

/* The graph: one write task per fixture (never run), then the report. */
static char *graph_text(const char *report_body)
{
  static const char *const names[] = { "orig", "both", "text", "ans_orig", "ans_both", "dpo" };
  struct strbuf sb;
  size_t i;
  strbuf_init(&sb, 512);
  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    strbuf_addf(&sb, "task %s = write { content = \"\" }\n", names[i]);
  strbuf_addf(&sb, "task rep = report {\n%s}\n", report_body);
  return strbuf_detach(&sb, NULL);
}

/* Runs task rep of the graph with report_body into outdir (created). */
static int run_report(const char *report_body, const char *outdir, struct pd_err *err)
{
  struct graph g;
  struct task_run *r;
  char *text = graph_text(report_body);
  int rc, t;
  write_str("g.dag", text);
  free(text);
  memset(err, 0, sizeof *err);
  if ((rc = graph_load(&g, "g.dag", NULL, 0, err)) != 0)
    fail_msg("graph_load: %s", err->msg);
  t = graph_find_task(&g, "rep");
  assert_true(t >= 0);
  /* Every reference in the maps is an edge of the DAG. */
  assert_int_equal(g.tasks[t].ndeps, 6);
  cache_rmtree(outdir);
  assert_int_equal(mkdir(outdir, 0755), 0);
  r = xcalloc(1, sizeof *r);
  r->task = &g.tasks[t];
  r->outdir = outdir;
  r->threads = 1;
  r->log = fopen("/dev/null", "w");
  r->frac = -1;
  r->resolve = fake_resolve;
  atomic_init(&r->cancel, 0);
  pthread_mutex_init(&r->mu, NULL);
  rc = g.tasks[t].kind->run(r);
  *err = r->err;
  if (rc == 0)
    assert_true(r->frac == 1.0);
  fclose(r->log);
  pthread_mutex_destroy(&r->mu);
  free(r);
  graph_release(&g);
  return rc;
}

#define FULL_BODY                                                                        \
  "  title = \"Run <1> & 'all'\"\n  base = \"orig\"\n"                                    \
  "  metrics = { text = text.text, orig = orig.text, both = both.text }\n"               \
  "  answers = { orig = ans_orig.text, both = ans_both.text }\n"                         \
  "  curves = { dpo = dpo.text }\n  samples = 2\n"

static double num_at(const cJSON *o, const char *k)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(v))
    fail_msg("'%s' is not a number", k);
  return v->valuedouble;
}

static void check_summary(const char *path)
{
  char *text = read_all(path, NULL);
  cJSON *j = cJSON_Parse(text), *v, *row, *in;
  assert_non_null(j);
  v = cJSON_GetObjectItem(j, "variants");
  assert_int_equal(cJSON_GetArraySize(v), 3);
  /* The base first, then the others by name. */
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(v, 0), "name")->valuestring, "orig");
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(v, 1), "name")->valuestring, "both");
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(v, 2), "name")->valuestring, "text");
  row = cJSON_GetArrayItem(v, 0);
  assert_true(fabs(num_at(row, "delta_points")) < 1e-9);
  assert_true(fabs(num_at(row, "pope_f1_avg") - 0.8) < 1e-12);
  assert_true(fabs(num_at(cJSON_GetObjectItem(row, "pope_f1"), "popular") - 0.8) < 1e-12);
  row = cJSON_GetArrayItem(v, 1);
  assert_true(fabs(num_at(row, "chair_s") - 0.20) < 1e-12);
  assert_true(fabs(num_at(row, "frontier_chair_s") - 0.30) < 1e-12);
  assert_true(fabs(num_at(row, "delta_points") - 10.0) < 1e-9);
  assert_string_equal(cJSON_GetObjectItem(row, "position")->valuestring, "below");
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(row, "pope_f1_avg")));
  row = cJSON_GetArrayItem(v, 2);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(row, "outside")));
  assert_true(fabs(num_at(row, "frontier_chair_s") - 0.50) < 1e-12);
  assert_true(fabs(num_at(row, "delta_points") - 2.0) < 1e-9);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "frontier")), 3);
  in = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "inputs"), 0);
  assert_string_equal(cJSON_GetObjectItem(in, "ref")->valuestring, "orig.text");
  assert_string_equal(cJSON_GetObjectItem(in, "model_digest")->valuestring, "abc123");
  assert_int_equal(strlen(cJSON_GetObjectItem(in, "sha256")->valuestring), 64);
  cJSON_Delete(j);
  free(text);
}

static void check_pages(const char *out)
{
  char *p = xasprintf("%s/report/report.html", out), *html = read_all(p, NULL), *md;
  free(p);
  p = xasprintf("%s/report/report.md", out);
  md = read_all(p, NULL);
  free(p);
  /* Input strings escaped; hallucinated words marked in both pages. */
  assert_non_null(strstr(html, "<h1>Run &lt;1&gt; &amp; &#39;all&#39;</h1>"));
  assert_null(strstr(html, "<b>red</b>"));
  assert_non_null(strstr(html, "&lt;b&gt;red&lt;/b&gt; circle &amp; two <mark>squares</mark>"));
  assert_non_null(strstr(md, "two **squares**"));
  assert_non_null(strstr(md, "| both | 20.0 | 5.0 | 70.0 |"));
  assert_non_null(strstr(md, "+10.0 below"));
  assert_non_null(strstr(md, "+2.0 below (outside: extrapolated)"));
  assert_non_null(strstr(html, "<svg"));
  assert_non_null(strstr(html, "dpo: loss"));
  assert_null(strstr(html, "<script"));
  assert_null(strstr(html, dir)); /* no paths: they vary by cache */
  /* Image 7 has no answer from "both"; only two samples. */
  assert_non_null(strstr(md, "### Image 7"));
  assert_non_null(strstr(md, "(no answer for this image)"));
  free(html);
  free(md);
}

static void test_run(void **state)
{
  struct pd_err err;
  char *a, *b;
  (void)state;
  write_fixtures();
  CHECK(run_report(FULL_BODY, "out1", &err));
  check_summary("out1/summary");
  check_pages("out1");
  /* The same inputs give the same bytes. */
  CHECK(run_report(FULL_BODY, "out2", &err));
  a = read_all("out1/report/report.html", NULL);
  b = read_all("out2/report/report.html", NULL);
  assert_string_equal(a, b);
  free(a);
  free(b);
}

/* Runs with fixture task's file holding content; expects an error with want. */
static void expect_error(const char *task, const char *content, const char *want)
{
  struct pd_err err;
  write_fixtures();
  write_str(fixture_path(task), content);
  assert_int_not_equal(run_report(FULL_BODY, "outbad", &err), 0);
  if (!strstr(err.msg, want) || !strstr(err.msg, fixture_path(task)))
    fail_msg("error lacks '%s' or the path: %s", want, err.msg);
}

static void test_bad_inputs(void **state)
{
  struct graph g;
  struct pd_err err = { 0 };
  char *text;
  (void)state;
  expect_error("both", "{\"chair\": [", "metrics 'both'");
  expect_error("both", "{\"chair\": [{\"eos_bias\": 0, \"chair_s\": 0.2, \"chair_i\": 0.1}]}",
               "metrics 'both' ('");
  expect_error("both", "{\"chair\": [{\"eos_bias\": 0, \"chair_s\": 0.2, \"chair_i\": 0.1}]}",
               "chair[0] lacks 'recall'");
  expect_error("text", "{\"chair\": [{\"eos_bias\": 0, \"chair_s\": 41, \"chair_i\": 0.1, "
                       "\"recall\": 0.5}]}",
               "not a fraction");
  expect_error("orig", "{\"chair\": []}", "'chair' must be a non-empty list");
  expect_error("ans_both", "{\"kind\":\"chair\"}\n{oops\n", "answers 'both'");
  expect_error("ans_both", "\n{\"kind\":\"chair\",\"answer\":\"x\"}\n", "line 2: a chair line");
  expect_error("dpo", "step\tloss\n1\t0.5\n2\t0.4\t9\n", "line 3: more fields");
  /* A base entry that is not in metrics: a graph error at the map. */
  text = graph_text("  metrics = { both = both.text }\n");
  write_str("g.dag", text);
  free(text);
  assert_int_not_equal(graph_load(&g, "g.dag", NULL, 0, &err), 0);
  assert_non_null(strstr(err.msg, "metrics has no entry 'base'"));
  assert_non_null(strstr(err.msg, "g.dag:8:"));
  /* Map values must be artifacts. */
  text = graph_text("  metrics = { base = \"x.json\" }\n");
  write_str("g.dag", text);
  free(text);
  memset(&err, 0, sizeof err);
  assert_int_not_equal(graph_load(&g, "g.dag", NULL, 0, &err), 0);
  assert_non_null(strstr(err.msg, "metrics entry 'base' must be a task's output"));
}

static int setup(void **state)
{
  (void)state;
  dir = scratch_dir("report_test");
  if (!getcwd(cwd0, sizeof cwd0) || chdir(dir) != 0)
    return -1;
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  if (chdir(cwd0) != 0)
    return -1;
  cache_rmtree(dir);
  free(dir);
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_frontier_inside),
    cmocka_unit_test(test_frontier_outside),
    cmocka_unit_test(test_frontier_single_and_empty),
    cmocka_unit_test(test_compute_rows),
    cmocka_unit_test(test_stats),
    cmocka_unit_test(test_compute_seeds),
    cmocka_unit_test(test_labels_apart),
    cmocka_unit_test(test_html_escape),
    cmocka_unit_test(test_format),
    cmocka_unit_test(test_mark_spans),
    cmocka_unit_test(test_run),
    cmocka_unit_test(test_bad_inputs),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
