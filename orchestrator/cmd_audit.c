/* cmd_audit.c - the commands for reproducibility audits: audit, why, pin,
 * export and import (audit.c, lineage.c and bundle.c do the work). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "bundle.h"
#include "cache.h"
#include "cli_int.h"
#include "err.h"
#include "explain.h"
#include "graph.h"
#include "lineage.h"
#include "registry.h"
#include "scheduler.h"
#include "strbuf.h"

static int fail(struct pd_err *err)
{
  fprintf(stderr, "povid-dag: error: %s\n", err->msg);
  return err->code == PD_EUSAGE ? 2 : 1;
}

static int write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "povid-dag: error: cannot write '%s': %s\n", path, strerror(errno));
    if (f)
      fclose(f);
    return 1;
  }
  return 0;
}

/* --out DIR: audit.json and audit.md. */
static int write_reports(const char *dir, const cJSON *report)
{
  struct strbuf md;
  char *json = cJSON_Print(report), *p;
  int rc;
  if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
    fprintf(stderr, "povid-dag: error: cannot create '%s': %s\n", dir, strerror(errno));
    cJSON_free(json);
    return 1;
  }
  p = xasprintf("%s/audit.json", dir);
  rc = write_text(p, json);
  free(p);
  cJSON_free(json);
  strbuf_init(&md, 4096);
  audit_markdown(report, &md);
  p = xasprintf("%s/audit.md", dir);
  if (rc == 0)
    rc = write_text(p, md.buf);
  free(p);
  strbuf_release(&md);
  if (rc == 0)
    fprintf(stderr, "povid-dag: wrote %s/audit.json and %s/audit.md\n", dir, dir);
  return rc;
}

int cli__audit(struct opts *o)
{
  struct audit_opts ao;
  struct cache *c;
  struct pd_err err = { 0 };
  cJSON *report = NULL;
  int rc;

  if (o->npos != 1)
    return cli__usage_error(o->cmd, "audit needs one RUN (see 'povid-dag log')");
  if (o->nsets)
    return cli__usage_error(o->cmd, "audit uses the run's recorded overrides; --set does "
                            "not apply");
  if ((rc = cli__open_cache(o, NULL, &c)))
    return rc;
  memset(&ao, 0, sizeof ao);
  ao.run_id = o->pos[0];
  ao.tasks = o->tasks;
  ao.ntasks = o->ntasks;
  ao.reexecute = o->reexecute;
  cli__fill_sched_opts(o, &ao.sched, NULL, 0, 0);
  if (audit_run(c, &ao, &report, &err) < 0) {
    cache_close(c);
    return fail(&err);
  }
  rc = o->out ? write_reports(o->out, report) : 0;
  if (o->json) {
    char *text = cJSON_Print(report);
    puts(text);
    cJSON_free(text);
  } else {
    struct strbuf sb;
    strbuf_init(&sb, 4096);
    audit_text(report, o->verbose, &sb);
    fputs(sb.buf, stdout);
    strbuf_release(&sb);
  }
  if (cJSON_IsTrue(cJSON_GetObjectItem(report, "interrupted")))
    rc = 130;
  else if (!cJSON_IsTrue(cJSON_GetObjectItem(report, "ok")))
    rc = 1;
  cJSON_Delete(report);
  cache_close(c);
  return rc;
}

/* --- why --------------------------------------------------------------------------- */

/* TASK[.OUTPUT] -> task index and output name (the only one when omitted). */
static int parse_artifact(const struct opts *o, const struct graph *g, int *task,
                          const char **output, char **name)
{
  const struct task *t;
  char *dot;
  *name = xstrdup(o->pos[1]);
  if ((dot = strchr(*name, '.')))
    *dot++ = '\0';
  if ((*task = graph_find_task(g, *name)) < 0) {
    const char **names = xcalloc(g->ntasks + 1, sizeof *names);
    const char *near;
    size_t k;
    for (k = 0; k < g->ntasks; k++)
      names[k] = g->tasks[k].name;
    near = closest_name(*name, names, g->ntasks);
    cli__usage_error(o->cmd, "no task '%s' in '%s'%s%s%s", *name, o->pos[0],
                     near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    free(names);
    return 2;
  }
  t = &g->tasks[*task];
  if (!dot && t->noutputs != 1)
    return cli__usage_error(o->cmd, "task '%s' has %zu outputs; name one as %s.OUTPUT", *name,
                            t->noutputs, *name);
  if (!dot)
    dot = t->outputs[0].name;
  if (task_find_output(t, dot) < 0) {
    struct strbuf sb;
    size_t k;
    strbuf_init(&sb, 64);
    for (k = 0; k < t->noutputs; k++)
      strbuf_addf(&sb, "%s'%s'", k ? ", " : "", t->outputs[k].name);
    cli__usage_error(o->cmd, "task '%s' has no output '%s' (it has %s)", *name, dot,
                     t->noutputs ? sb.buf : "none");
    strbuf_release(&sb);
    return 2;
  }
  *output = dot;
  return 0;
}

int cli__why(struct opts *o)
{
  struct graph g;
  struct cache *c = NULL;
  struct sched *s = NULL;
  struct sched_opts so;
  struct sched_task_info info;
  struct pd_err err = { 0 };
  const char *output = NULL;
  char *name = NULL;
  cJSON *l = NULL;
  int rc, task;

  if (o->npos < 2 || o->npos > 3)
    return cli__usage_error(o->cmd, "why needs a graph FILE, TASK.OUTPUT and optionally an ITEM");
  if ((rc = cli__load_graph(o, &g)))
    return rc;
  if ((rc = parse_artifact(o, &g, &task, &output, &name)) ||
      (rc = cli__open_cache(o, g.dir, &c)))
    goto out;
  cli__fill_sched_opts(o, &so, &task, 1, 1);
  if (sched_run(&g, c, &so, &s, &err) < 0) {
    rc = fail(&err);
    goto out;
  }
  sched_task(s, task, &info);
  if (info.state != TASK_CACHED) {
    char *why = explain_short(c, &g, s, task);
    fprintf(stderr, "povid-dag: error: '%s.%s' is not in the cache: task '%s' is not up to "
            "date (%s); run it first\n", name, output, name, why);
    free(why);
    rc = 1;
    goto out;
  }
  l = lineage_build(c, &g, s, task, output);
  if (o->npos == 3) {
    cJSON *item = cJSON_AddObjectToObject(l, "item");
    cJSON_AddStringToObject(item, "id", o->pos[2]);
    cJSON_AddBoolToObject(item, "available", 0);
  }
  if (o->json) {
    char *text = cJSON_Print(l);
    puts(text);
    cJSON_free(text);
  } else {
    struct strbuf sb;
    strbuf_init(&sb, 1024);
    lineage_text(l, &sb);
    fputs(sb.buf, stdout);
    strbuf_release(&sb);
  }
  if (o->npos == 3) {
    fprintf(stderr, "povid-dag: error: item '%s' of '%s.%s': item-level lineage is not "
            "available for kind '%s' yet (per-item records come with the POVID task kinds); "
            "the lineage above is the whole artifact's\n", o->pos[2], name, output,
            g.tasks[task].kind->name);
    rc = 1;
  }
out:
  cJSON_Delete(l);
  free(name);
  sched_free(s);
  if (c)
    cache_close(c);
  graph_release(&g);
  return rc;
}

/* --- pin, export, import --------------------------------------------------------------- */

int cli__pin(struct opts *o)
{
  struct cache *c;
  struct pd_err err = { 0 };
  char *json = NULL;
  int rc;
  if (o->npos != 1)
    return cli__usage_error(o->cmd, "pin needs one RUN (see 'povid-dag log')");
  if ((rc = cli__open_cache(o, NULL, &c)))
    return rc;
  rc = cache_run_get(c, o->pos[0], &json, &err);
  free(json);
  if (rc == 0)
    ERR_SET(&err, PD_ENOTFOUND, "no run '%s' in cache '%s'", o->pos[0], cache_path(c));
  if (rc <= 0 || cache_pin(c, o->pos[0], !o->unpin, &err) < 0) {
    cache_close(c);
    return fail(&err);
  }
  if (o->unpin)
    printf("unpinned run %s: 'cache gc' may now delete its artifacts\n", o->pos[0]);
  else
    printf("pinned run %s: 'cache gc' keeps its artifacts\n", o->pos[0]);
  cache_close(c);
  return 0;
}

int cli__export(struct opts *o)
{
  struct cache *c;
  struct bundle_stats st;
  struct pd_err err = { 0 };
  int rc;
  if (o->npos != 2)
    return cli__usage_error(o->cmd, "export needs a RUN and a directory DIR");
  if ((rc = cli__open_cache(o, NULL, &c)))
    return rc;
  if (bundle_export(c, o->pos[0], o->pos[1], &st, &err) < 0) {
    cache_close(c);
    return fail(&err);
  }
  printf("exported run %s to %s: %zu action%s, %zu blob%s (%llu bytes)\n", o->pos[0],
         o->pos[1], st.actions, st.actions == 1 ? "" : "s", st.blobs, st.blobs == 1 ? "" : "s",
         (unsigned long long)st.bytes);
  cache_close(c);
  return 0;
}

int cli__import(struct opts *o)
{
  struct cache *c;
  struct bundle_stats st;
  struct pd_err err = { 0 };
  char *run_id = NULL;
  int rc;
  if (o->npos != 1)
    return cli__usage_error(o->cmd, "import needs a bundle directory DIR");
  if ((rc = cli__open_cache(o, NULL, &c)))
    return rc;
  if (bundle_import(c, o->pos[0], &run_id, &st, &err) < 0) {
    cache_close(c);
    return fail(&err);
  }
  printf("imported run %s into %s: %zu action%s (%zu already present), %zu blob%s "
         "(%llu bytes)%s\n", run_id, cache_path(c), st.actions, st.actions == 1 ? "" : "s",
         st.actions_present, st.blobs, st.blobs == 1 ? "" : "s", (unsigned long long)st.bytes,
         st.run_present ? "; the run was there already" : "");
  printf("audit it with: povid-dag audit %s%s%s\n", run_id, o->cache ? " --cache " : "",
         o->cache ? o->cache : "");
  free(run_id);
  cache_close(c);
  return 0;
}
