/* cmd_info.c - the commands that describe: graph, tasks, log, cache. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "cli_int.h"
#include "err.h"
#include "explain.h"
#include "graph.h"
#include "registry.h"
#include "scheduler.h"
#include "strbuf.h"

static void dot_quote(const char *s)
{
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      putchar('\\');
    putchar(*s);
  }
  putchar('"');
}

int cli__graph(struct opts *o)
{
  struct graph g;
  size_t i, k;
  int rc;
  const char *fmt = o->format ? o->format : "dot";
  if (strcmp(fmt, "dot") != 0 && strcmp(fmt, "json") != 0)
    return cli__usage_error(o->cmd, "--format %s: expected dot or json", fmt);
  if ((rc = cli__load_graph(o, &g)))
    return rc;
  if (strcmp(fmt, "dot") == 0) {
    printf("digraph povid {\n  rankdir=LR;\n  node [shape=box];\n");
    for (i = 0; i < g.ntasks; i++) {
      printf("  ");
      dot_quote(g.tasks[i].name);
      printf(" [label=\"%s\\n(%s)\"];\n", g.tasks[i].name, g.tasks[i].kind->name);
    }
    for (i = 0; i < g.ntasks; i++)
      for (k = 0; k < g.tasks[i].ndeps; k++) {
        printf("  ");
        dot_quote(g.tasks[g.tasks[i].deps[k]].name);
        printf(" -> ");
        dot_quote(g.tasks[i].name);
        printf(";\n");
      }
    printf("}\n");
  } else {
    cJSON *root = cJSON_CreateObject(), *tasks = cJSON_AddArrayToObject(root, "tasks");
    char *text;
    cJSON_AddStringToObject(root, "graph", g.path);
    for (i = 0; i < g.ntasks; i++) {
      const struct task *t = &g.tasks[i];
      cJSON *obj = cJSON_CreateObject(), *deps, *outs;
      struct strbuf sb;
      cJSON_AddStringToObject(obj, "name", t->name);
      cJSON_AddStringToObject(obj, "kind", t->kind->name);
      cJSON_AddStringToObject(obj, "pool", t->pool);
      cJSON_AddNumberToObject(obj, "threads", t->threads);
      deps = cJSON_AddArrayToObject(obj, "deps");
      for (k = 0; k < t->ndeps; k++)
        cJSON_AddItemToArray(deps, cJSON_CreateString(g.tasks[t->deps[k]].name));
      outs = cJSON_AddArrayToObject(obj, "outputs");
      for (k = 0; k < t->noutputs; k++)
        cJSON_AddItemToArray(outs, cJSON_CreateString(t->outputs[k].name));
      strbuf_init(&sb, 256);
      val_to_json(&t->params, &sb);
      cJSON_AddRawToObject(obj, "params", sb.buf);
      strbuf_release(&sb);
      cJSON_AddItemToArray(tasks, obj);
    }
    text = cJSON_Print(root);
    puts(text);
    cJSON_free(text);
    cJSON_Delete(root);
  }
  graph_release(&g);
  return 0;
}

static void print_kind(const struct task_kind *k)
{
  const struct kind_output *out;
  const struct kind_param *tables[2] = { k->params, registry_common_params }, *p;
  size_t t;
  printf("%s (version %d)\n  %s\n\nparameters:\n", k->name, k->version, k->doc);
  for (t = 0; t < 2; t++) {
    if (t == 1)
      printf("common to every kind:\n");
    for (p = tables[t]; p->name; p++) {
      char range[128] = "";
      if (p->min <= p->max && (p->type == PT_INT || p->type == PT_FLOAT))
        snprintf(range, sizeof range, " in [%g, %g]", p->min, p->max);
      else if (p->choices)
        snprintf(range, sizeof range, " one of %s", p->choices);
      printf("  %-14s %-8s %s%s%s\n", p->name, ptype_name(p->type),
             p->def ? "= " : "(required)", p->def ? p->def : "", range);
      printf("      %s%s\n", p->doc, (p->flags & KP_NOKEY) ? " (not part of the action key)" : "");
    }
  }
  printf("\noutputs:\n");
  if (!k->outputs || !k->outputs->name)
    printf("  declared by the task's 'outputs' parameter\n");
  for (out = k->outputs; out && out->name; out++)
    printf("  %-14s %s\n", out->name, out->doc);
}

int cli__tasks(struct opts *o)
{
  size_t n, i;
  const struct task_kind *const *all = registry_all(&n);
  if (o->npos > 1)
    return cli__usage_error(o->cmd, "tasks takes at most one KIND");
  if (o->npos == 1) {
    const struct task_kind *k = registry_find(o->pos[0]);
    if (!k) {
      const char **names = xcalloc(n + 1, sizeof *names);
      const char *near;
      for (i = 0; i < n; i++)
        names[i] = all[i]->name;
      near = closest_name(o->pos[0], names, n);
      cli__usage_error(o->cmd, "no task kind '%s'%s%s%s", o->pos[0], near ? "; did you mean '" : "",
                  near ? near : "", near ? "'?" : "");
      free(names);
      return 2;
    }
    print_kind(k);
    return 0;
  }
  for (i = 0; i < n; i++)
    printf("%-16s %s\n", all[i]->name, all[i]->doc);
  return 0;
}

int cli__log(struct opts *o)
{
  struct cache *c;
  struct pd_err err = { 0 };
  char **ids = NULL;
  size_t n = 0, i;
  int rc;
  if (o->npos > 1)
    return cli__usage_error(o->cmd, "log takes at most one RUN");
  if ((rc = cli__open_cache(o, NULL, &c)))
    return rc;
  if (o->npos == 1) {
    char *json = NULL;
    cJSON *r, *tasks, *t;
    rc = cache_run_get(c, o->pos[0], &json, &err);
    if (rc <= 0) {
      fprintf(stderr, "povid-dag: error: %s\n", rc < 0 ? err.msg : "no such run");
      cache_close(c);
      return 1;
    }
    if (o->json) {
      puts(json);
    } else if ((r = cJSON_Parse(json)) != NULL) {
      printf("run %s: %s\ngraph %s\n", o->pos[0],
             cJSON_GetStringValue(cJSON_GetObjectItem(r, "status")),
             cJSON_GetStringValue(cJSON_GetObjectItem(r, "graph")));
      tasks = cJSON_GetObjectItem(r, "tasks");
      cJSON_ArrayForEach(t, tasks) {
        const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(t, "key"));
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(t, "error"));
        printf("  %-9s %-24s %.16s%s%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(t, "state")),
               cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), key ? key : "",
               e ? "  " : "", e ? e : "");
      }
      cJSON_Delete(r);
    }
    free(json);
    cache_close(c);
    return 0;
  }
  if (cache_run_list(c, &ids, &n, &err) < 0) {
    fprintf(stderr, "povid-dag: error: %s\n", err.msg);
    cache_close(c);
    return 1;
  }
  if (o->json)
    printf("[");
  for (i = 0; i < n; i++) {
    char *json = NULL;
    if (cache_run_get(c, ids[i], &json, &err) == 1) {
      if (o->json) {
        printf("%s%s", i ? ",\n" : "\n", json);
      } else {
        cJSON *r = cJSON_Parse(json);
        cJSON *counts = r ? cJSON_GetObjectItem(r, "counts") : NULL;
        printf("%s  %-11s %5d executed %5d cached %3d failed  %s\n", ids[i],
               r ? cJSON_GetStringValue(cJSON_GetObjectItem(r, "status")) : "?",
               counts ? cJSON_GetObjectItem(counts, "executed")->valueint : 0,
               counts ? cJSON_GetObjectItem(counts, "cached")->valueint : 0,
               counts ? cJSON_GetObjectItem(counts, "failed")->valueint : 0,
               r ? cJSON_GetStringValue(cJSON_GetObjectItem(r, "graph")) : "");
        cJSON_Delete(r);
      }
    }
    free(json);
    free(ids[i]);
  }
  if (o->json)
    printf("\n]\n");
  free(ids);
  cache_close(c);
  return 0;
}

int cli__cache(struct opts *o)
{
  struct cache *c;
  struct pd_err err = { 0 };
  int rc;
  if (o->npos != 1)
    return cli__usage_error(o->cmd, "cache needs one of verify, gc, stats");
  if (strcmp(o->pos[0], "verify") && strcmp(o->pos[0], "gc") && strcmp(o->pos[0], "stats"))
    return cli__usage_error(o->cmd, "unknown cache command '%s' (verify, gc or stats)", o->pos[0]);
  if ((rc = cli__open_cache(o, NULL, &c)))
    return rc;
  if (strcmp(o->pos[0], "verify") == 0) {
    uint64_t damaged = 0;
    rc = cache_verify(c, stdout, &damaged, &err);
    if (rc == 0) {
      printf("verify: %llu problem%s found\n", (unsigned long long)damaged, damaged == 1 ? "" : "s");
      rc = damaged ? 1 : 0;
    }
  } else if (strcmp(o->pos[0], "gc") == 0) {
    rc = cache_gc(c, (size_t)o->keep, o->max_size, stdout, &err);
  } else {
    struct cache_stats st;
    rc = cache_stats(c, &st, &err);
    if (rc == 0)
      printf("cache %s\n  actions      %llu\n  blobs        %llu (%llu inline, %llu files, %llu trees)\n"
             "  blob bytes   %llu\n  disk bytes   %llu\n  runs         %llu (%llu pinned)\n",
             cache_path(c), (unsigned long long)st.actions, (unsigned long long)st.blobs,
             (unsigned long long)st.inline_blobs, (unsigned long long)st.file_blobs,
             (unsigned long long)st.trees, (unsigned long long)st.blob_bytes,
             (unsigned long long)st.disk_bytes, (unsigned long long)st.runs,
             (unsigned long long)st.pinned);
  }
  if (rc < 0) {
    fprintf(stderr, "povid-dag: error: %s\n", err.msg);
    rc = 1;
  }
  cache_close(c);
  return rc;
}
