/* audit_report.c - the audit report as a text table and as Markdown (see
 * audit.h; the JSON report is the source of both). */
#include "audit.h"

#include <string.h>
#include <time.h>

#include "err.h"
#include "lineage.h"
#include "strbuf.h"

static const char *str(const cJSON *obj, const char *name)
{
  const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
  return s ? s : "";
}

static double num(const cJSON *obj, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const cJSON *get(const cJSON *obj, const char *name)
{
  return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static void add_time(struct strbuf *sb, double t)
{
  char buf[64];
  time_t s = (time_t)t;
  struct tm tm;
  if (t <= 0 || !gmtime_r(&s, &tm)) {
    strbuf_addstr(sb, "?");
    return;
  }
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  strbuf_addstr(sb, buf);
}

/* "a = 1, b = "x"" from an object of JSON values; raw: strings unquoted
 * (--set values are text as typed). */
static void add_assignments(struct strbuf *sb, const cJSON *obj, int raw)
{
  const cJSON *v;
  int first = 1;
  cJSON_ArrayForEach(v, obj) {
    char *p = raw && cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
    strbuf_addf(sb, "%s%s = %s", first ? "" : ", ", v->string,
                p ? p : cJSON_IsString(v) ? v->valuestring : "?");
    cJSON_free(p);
    first = 0;
  }
  if (first)
    strbuf_addstr(sb, "(none)");
}

static void add_env(struct strbuf *sb, const cJSON *env, const char *sep)
{
  const char *flags = str(env, "flags");
  while (*flags == ' ')
    flags++;
  strbuf_addf(sb, "tool %s (%s build, flags '%s', %s%s)%s", str(env, "tool"), str(env, "build"),
              flags, str(env, "compiler"),
              cJSON_IsTrue(get(env, "cuda_build")) ? ", with CUDA" : ", no CUDA", sep);
  strbuf_addf(sb, "cpu %s, gpu %s, %s, -j %.0f, %.0f gpus", str(env, "cpu"), str(env, "gpu"),
              str(env, "os"), num(env, "jobs"), num(env, "gpus"));
}

/* One cell of the table for a check of task t. */
static const char *cell(const cJSON *t, const char *check, char *buf, size_t n)
{
  const cJSON *c = get(t, check);
  const char *st = str(c, "status");
  if (!c)
    return "-";
  if (strcmp(check, "integrity") == 0 && strcmp(st, "ok") == 0) {
    snprintf(buf, n, "ok (%.0f blob%s)", num(c, "blobs"), num(c, "blobs") == 1 ? "" : "s");
    return buf;
  }
  if (strcmp(st, "failed") == 0 && strcmp(check, "reexecute") != 0)
    return "FAILED";
  if (strcmp(st, "differs") == 0)
    return "DIFFERS";
  if (strcmp(st, "cannot") == 0)
    return "CANNOT";
  if (strcmp(st, "not-compared") == 0)
    return "NOT COMPARED";
  if (strcmp(st, "failed") == 0)
    return "FAILED";
  return st;
}

static void add_verdict(struct strbuf *sb, const cJSON *r, int md)
{
  const cJSON *s = get(r, "summary");
  double problems = num(s, "problems");
  if (cJSON_IsTrue(get(r, "ok"))) {
    strbuf_addf(sb, "%saudit: ok%s (%.0f task%s", md ? "**" : "", md ? "**" : "",
                num(s, "tasks"), num(s, "tasks") == 1 ? "" : "s");
    strbuf_addstr(sb, get(r, "graph_now") ? ": intact, traced, reproduced)"
                                          : ": intact, traced; not re-executed)");
    if (strcmp(str(r, "status"), "ok") != 0)
      strbuf_addf(sb, "; the run itself ended '%s'", str(r, "status"));
    strbuf_addch(sb, '\n');
    return;
  }
  strbuf_addf(sb, "%saudit: FAILED%s: %.0f problem%s in %.0f task%s (integrity %.0f, "
              "provenance %.0f", md ? "**" : "", md ? "**" : "", problems,
              problems == 1 ? "" : "s", num(s, "tasks_failed"),
              num(s, "tasks_failed") == 1 ? "" : "s", num(s, "integrity_failed"),
              num(s, "provenance_failed"));
  if (get(s, "reexecute_failed"))
    strbuf_addf(sb, ", re-execution %.0f", num(s, "reexecute_failed"));
  strbuf_addstr(sb, ")");
  if (cJSON_IsTrue(get(r, "interrupted")))
    strbuf_addstr(sb, "; re-execution interrupted");
  strbuf_addch(sb, '\n');
}

/* A task of the report in the shape lineage_task_text prints. */
static void task_provenance(const cJSON *t, struct strbuf *out)
{
  static const char *const top[] = { "name", "kind", "version", "key", "outputs" };
  static const char *const prov[] = { "produced", "changed_params", "inputs", "sources" };
  const cJSON *pv = get(t, "provenance");
  cJSON *x = cJSON_CreateObject();
  size_t i;
  for (i = 0; i < sizeof top / sizeof top[0]; i++)
    if (get(t, top[i]))
      cJSON_AddItemToObject(x, top[i], cJSON_Duplicate(get(t, top[i]), 1));
  for (i = 0; i < sizeof prov / sizeof prov[0]; i++)
    if (get(pv, prov[i]))
      cJSON_AddItemToObject(x, prov[i], cJSON_Duplicate(get(pv, prov[i]), 1));
  strbuf_addch(out, '\n');
  lineage_task_text(x, out);
  cJSON_Delete(x);
}

void audit_text(const cJSON *r, int verbose, struct strbuf *out)
{
  const cJSON *tasks = get(r, "tasks"), *t, *p;
  const cJSON *counts = get(r, "counts");
  size_t wname = 4, wkind = 4, wstate = 5;
  int any = 0;
  char b1[64], b2[64], b3[64];

  strbuf_addf(out, "audit of run %s (%s) of %s\n", str(r, "run"), str(r, "status"),
              str(r, "graph"));
  strbuf_addstr(out, "  recorded  ");
  add_time(out, num(r, "started"));
  strbuf_addf(out, ", %.0f tasks: %.0f executed, %.0f cached, %.0f failed%s\n",
              num(counts, "tasks"), num(counts, "executed"), num(counts, "cached"),
              num(counts, "failed"), cJSON_IsTrue(get(r, "snapshot")) ? " (a no-op rerun)" : "");
  strbuf_addstr(out, "  env       ");
  add_env(out, get(r, "env"), "\n            ");
  strbuf_addstr(out, "\n  params    ");
  add_assignments(out, get(r, "params"), 0);
  if (get(r, "overrides") && get(r, "overrides")->child) {
    strbuf_addstr(out, " (set on the command line: ");
    add_assignments(out, get(r, "overrides"), 1);
    strbuf_addch(out, ')');
  }
  strbuf_addstr(out, "\n  seeds     ");
  add_assignments(out, get(r, "seeds"), 0);
  strbuf_addf(out, "\n  graph     %.16s", str(r, "graph_digest"));
  if (get(r, "graph_now"))
    strbuf_addf(out, " (%s since the run)", str(r, "graph_now"));
  strbuf_addstr(out, "\n\n");

  cJSON_ArrayForEach(t, tasks) {
    size_t n;
    if ((n = strlen(str(t, "name"))) > wname) wname = n;
    if ((n = strlen(str(t, "kind"))) > wkind) wkind = n;
    if ((n = strlen(str(t, "state"))) > wstate) wstate = n;
  }
  if (get(r, "graph_now"))
    strbuf_addf(out, "%-*s  %-*s  %-*s  %-16s %-11s %s\n", (int)wname, "TASK", (int)wkind,
                "KIND", (int)wstate, "STATE", "INTEGRITY", "PROVENANCE", "RE-EXECUTION");
  else
    strbuf_addf(out, "%-*s  %-*s  %-*s  %-16s %s\n", (int)wname, "TASK", (int)wkind, "KIND",
                (int)wstate, "STATE", "INTEGRITY", "PROVENANCE");
  cJSON_ArrayForEach(t, tasks) {
    strbuf_addf(out, "%-*s  %-*s  %-*s  %-16s ", (int)wname, str(t, "name"), (int)wkind,
                str(t, "kind"), (int)wstate, str(t, "state"), cell(t, "integrity", b1, sizeof b1));
    if (get(r, "graph_now"))
      strbuf_addf(out, "%-11s %s\n", cell(t, "provenance", b2, sizeof b2),
                  cell(t, "reexecute", b3, sizeof b3));
    else
      strbuf_addf(out, "%s\n", cell(t, "provenance", b2, sizeof b2));
  }
  if (verbose)
    cJSON_ArrayForEach(t, tasks)
      task_provenance(t, out);
  cJSON_ArrayForEach(t, tasks) {
    cJSON_ArrayForEach(p, get(t, "problems")) {
      if (!any++)
        strbuf_addstr(out, "\nproblems:\n");
      strbuf_addf(out, "  %s: %s: %s\n", str(t, "name"), str(p, "check"), str(p, "message"));
    }
  }
  any = 0;
  cJSON_ArrayForEach(t, tasks) {
    const cJSON *re = get(t, "reexecute");
    if (re && get(re, "note") && !any++)
      strbuf_addstr(out, "\nnotes:\n");
    if (re && get(re, "note"))
      strbuf_addf(out, "  %s: %s\n", str(t, "name"), str(re, "note"));
  }
  cJSON_ArrayForEach(p, get(r, "notes")) {
    if (!any++)
      strbuf_addstr(out, "\nnotes:\n");
    strbuf_addf(out, "  %s\n", cJSON_GetStringValue(p));
  }
  strbuf_addch(out, '\n');
  add_verdict(out, r, 0);
}

/* --- Markdown -------------------------------------------------------------------- */

/* Inline code that survives any content: backticks become ', pipes \|. */
static void md_code(struct strbuf *sb, const char *s)
{
  strbuf_addch(sb, '`');
  for (; *s; s++) {
    if (*s == '`')
      strbuf_addch(sb, '\'');
    else if (*s == '|')
      strbuf_addstr(sb, "\\|");
    else if (*s == '\n')
      strbuf_addch(sb, ' ');
    else
      strbuf_addch(sb, *s);
  }
  strbuf_addch(sb, '`');
}

static void md_json(struct strbuf *sb, const cJSON *v)
{
  char *p = cJSON_PrintUnformatted(v);
  md_code(sb, p ? p : "?");
  cJSON_free(p);
}

static void md_text(struct strbuf *sb, const char *s)
{
  for (; *s; s++) {
    if (*s == '|' || *s == '*' || *s == '_' || *s == '`' || *s == '<')
      strbuf_addch(sb, '\\');
    strbuf_addch(sb, *s == '\n' ? ' ' : *s);
  }
}

static void md_members(struct strbuf *sb, const char *title, const cJSON *obj, int digests)
{
  const cJSON *v;
  if (!obj || !obj->child)
    return;
  strbuf_addf(sb, "- %s:\n", title);
  cJSON_ArrayForEach(v, obj) {
    strbuf_addstr(sb, "  - ");
    md_code(sb, v->string);
    strbuf_addstr(sb, " ");
    if (digests && cJSON_IsObject(v)) {
      md_code(sb, str(v, "digest"));
      if (*str(v, "from"))
        strbuf_addf(sb, " from task `%s`%s", str(v, "from"),
                    get(v, "in_run") ? " (not in this run)" : "");
      if (get(v, "size"))
        strbuf_addf(sb, ", %.0f bytes%s", num(v, "size"),
                    cJSON_IsTrue(get(v, "tree")) ? ", a directory" : "");
    } else if (digests && cJSON_IsString(v)) {
      md_code(sb, v->valuestring);
    } else {
      struct strbuf val;
      strbuf_init(&val, 64);
      lineage_value_text(&val, v);
      strbuf_addstr(sb, "= ");
      md_code(sb, val.buf);
      strbuf_release(&val);
    }
    strbuf_addch(sb, '\n');
  }
}

static void md_task(struct strbuf *sb, const cJSON *t)
{
  const cJSON *pv = get(t, "provenance"), *pr = get(pv, "produced"), *re = get(t, "reexecute");
  const cJSON *p;
  strbuf_addf(sb, "\n### %s\n\n- kind `%s` version %.0f, state `%s`", str(t, "name"),
              str(t, "kind"), num(t, "version"), str(t, "state"));
  if (get(t, "key")) {
    strbuf_addstr(sb, ", action key ");
    md_code(sb, str(t, "key"));
  }
  strbuf_addch(sb, '\n');
  if (pr) {
    strbuf_addstr(sb, "- produced ");
    add_time(sb, num(pr, "start"));
    strbuf_addf(sb, " in %.3f s by task `%s`, exit status %.0f\n", num(pr, "duration"),
                str(pr, "task"), num(pr, "exit_status"));
  }
  md_members(sb, "parameters changed from the kind's defaults", get(pv, "changed_params"), 0);
  md_members(sb, "seeds", get(pv, "seeds"), 0);
  md_members(sb, "inputs", get(pv, "inputs"), 1);
  md_members(sb, "sources (digests; sources are not stored in the cache)", get(pv, "sources"), 1);
  md_members(sb, "outputs", get(t, "outputs"), 1);
  if (get(t, "log")) {
    strbuf_addstr(sb, "- log ");
    md_code(sb, str(t, "log"));
    strbuf_addch(sb, '\n');
  }
  if (re) {
    strbuf_addf(sb, "- re-execution: **%s**", str(re, "status"));
    if (get(re, "detail")) {
      strbuf_addstr(sb, ": ");
      md_text(sb, str(re, "detail"));
    }
    strbuf_addch(sb, '\n');
    if (get(re, "note"))
      strbuf_addf(sb, "- note: %s\n", str(re, "note"));
  }
  cJSON_ArrayForEach(p, get(t, "problems")) {
    strbuf_addf(sb, "- **problem** (%s): ", str(p, "check"));
    md_text(sb, str(p, "message"));
    strbuf_addch(sb, '\n');
  }
}

void audit_markdown(const cJSON *r, struct strbuf *out)
{
  const cJSON *tasks = get(r, "tasks"), *t, *p;
  char b1[64], b2[64], b3[64];
  int any = 0;

  strbuf_addf(out, "# Audit of run `%s`\n\n", str(r, "run"));
  add_verdict(out, r, 1);
  strbuf_addstr(out, "\n| | |\n|---|---|\n| graph | ");
  md_code(out, str(r, "graph"));
  strbuf_addstr(out, ", digest ");
  md_code(out, str(r, "graph_digest"));
  if (get(r, "graph_now"))
    strbuf_addf(out, " (%s since the run)", str(r, "graph_now"));
  strbuf_addf(out, " |\n| run status | %s |\n| started | ", str(r, "status"));
  add_time(out, num(r, "started"));
  strbuf_addstr(out, " |\n| command | ");
  md_json(out, get(r, "argv"));
  strbuf_addstr(out, " |\n| environment | ");
  {
    struct strbuf env;
    strbuf_init(&env, 256);
    add_env(&env, get(r, "env"), "; ");
    md_text(out, env.buf);
    strbuf_release(&env);
  }
  strbuf_addstr(out, " |\n| params | ");
  md_json(out, get(r, "params"));
  strbuf_addstr(out, " |\n| overrides | ");
  md_json(out, get(r, "overrides"));
  strbuf_addstr(out, " |\n| seeds | ");
  md_json(out, get(r, "seeds"));
  strbuf_addstr(out, " |\n| checks | ");
  md_json(out, get(r, "checks"));
  strbuf_addstr(out, " |\n\n## Tasks\n\n| task | kind | state | integrity | provenance | "
                     "re-execution |\n|---|---|---|---|---|---|\n");
  cJSON_ArrayForEach(t, tasks) {
    strbuf_addstr(out, "| ");
    md_text(out, str(t, "name"));
    strbuf_addf(out, " | %s | %s | %s | %s | %s |\n", str(t, "kind"), str(t, "state"),
                cell(t, "integrity", b1, sizeof b1), cell(t, "provenance", b2, sizeof b2),
                cell(t, "reexecute", b3, sizeof b3));
  }
  cJSON_ArrayForEach(t, tasks)
    cJSON_ArrayForEach(p, get(t, "problems")) {
      if (!any++)
        strbuf_addstr(out, "\n## Problems\n\n");
      strbuf_addstr(out, "- **");
      md_text(out, str(t, "name"));
      strbuf_addf(out, "** (%s): ", str(p, "check"));
      md_text(out, str(p, "message"));
      strbuf_addch(out, '\n');
    }
  if (get(r, "notes") && get(r, "notes")->child) {
    strbuf_addstr(out, "\n## Notes\n\n");
    cJSON_ArrayForEach(p, get(r, "notes")) {
      strbuf_addstr(out, "- ");
      md_text(out, cJSON_GetStringValue(p));
      strbuf_addch(out, '\n');
    }
  }
  strbuf_addstr(out, "\n## Provenance\n");
  cJSON_ArrayForEach(t, tasks)
    md_task(out, t);
}
