/* lineage.c - the chain behind an artifact (see lineage.h). */
#include "lineage.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "cache.h"
#include "err.h"
#include "explain.h"
#include "graph.h"
#include "registry.h"
#include "scheduler.h"
#include "strbuf.h"

static void add_hex(cJSON *obj, const char *name, const uint8_t d[PD_DIGEST_LEN])
{
  char hex[PD_DIGEST_HEX];
  digest_hex(d, hex);
  cJSON_AddStringToObject(obj, name, hex);
}

static cJSON *outputs_json(const struct action_result *res)
{
  cJSON *o = cJSON_CreateObject();
  size_t k;
  for (k = 0; res && k < res->nouts; k++) {
    cJSON *a = cJSON_AddObjectToObject(o, res->outs[k].name ? res->outs[k].name : "?");
    add_hex(a, "digest", res->outs[k].digest);
    cJSON_AddNumberToObject(a, "size", (double)res->outs[k].size);
    cJSON_AddBoolToObject(a, "tree", res->outs[k].is_tree);
  }
  return o;
}

/* One task's entry: kind, key, what its stored preimage says, when it ran. */
static cJSON *task_entry(struct cache *c, const struct graph *g, const struct sched *s, int i)
{
  const struct task *t = &g->tasks[i];
  struct sched_task_info info;
  struct action_result r;
  struct pd_err err = { 0 };
  cJSON *j = cJSON_CreateObject(), *pre = NULL, *deps, *ins, *v;
  char *text = NULL;
  size_t k;

  sched_task(s, i, &info);
  cJSON_AddStringToObject(j, "name", t->name);
  cJSON_AddStringToObject(j, "kind", t->kind->name);
  cJSON_AddNumberToObject(j, "version", t->kind->version);
  cJSON_AddStringToObject(j, "state", task_state_name(info.state));
  if (info.has_key) {
    add_hex(j, "key", info.key);
    if (cache_preimage_get(c, info.key, &text, &err) == 1)
      cJSON_AddStringToObject(j, "preimage", "stored");
  }
  if (!text && info.preimage) {
    text = xstrdup(info.preimage); /* computed now; the stored one is gone */
    cJSON_AddStringToObject(j, "preimage", "missing from the cache; computed from the graph");
  }
  if (text && (pre = cJSON_Parse(text))) {
    v = cJSON_GetObjectItemCaseSensitive(pre, "params");
    cJSON_AddItemToObject(j, "changed_params", audit_changed_params(t->kind->name, v));
    cJSON_AddItemToObject(j, "seeds", audit_seeds(v));
    ins = cJSON_AddObjectToObject(j, "inputs");
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(pre, "inputs")) {
      cJSON *o = cJSON_AddObjectToObject(ins, v->string);
      const char *dot = strrchr(v->string, '.');
      cJSON_AddStringToObject(o, "digest", cJSON_GetStringValue(v) ? v->valuestring : "?");
      if (dot) {
        char *from = xstrndup(v->string, (size_t)(dot - v->string));
        cJSON_AddStringToObject(o, "from", from);
        free(from);
      }
    }
    cJSON_AddItemToObject(j, "sources",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(pre, "sources"), 1));
  }
  cJSON_Delete(pre);
  free(text);
  if (info.has_key && cache_action_peek(c, info.key, &r, &err) == 1) {
    cJSON *p = cJSON_AddObjectToObject(j, "produced");
    cJSON_AddNumberToObject(p, "start", r.start);
    cJSON_AddNumberToObject(p, "duration", r.duration);
    action_result_release(&r);
  }
  cJSON_AddItemToObject(j, "outputs", outputs_json(info.res));
  deps = cJSON_AddArrayToObject(j, "deps");
  for (k = 0; k < t->ndeps; k++)
    cJSON_AddItemToArray(deps, cJSON_CreateString(g->tasks[t->deps[k]].name));
  return j;
}

cJSON *lineage_build(struct cache *c, const struct graph *g, const struct sched *s, int task,
                     const char *output)
{
  struct sched_task_info info;
  cJSON *l = cJSON_CreateObject(), *tasks;
  int *queue = xcalloc(g->ntasks + 1, sizeof *queue);
  unsigned char *seen = xcalloc(g->ntasks + 1, 1);
  size_t head = 0, tail = 0, k;
  char *name = xasprintf("%s.%s", g->tasks[task].name, output);

  sched_task(s, task, &info);
  cJSON_AddStringToObject(l, "artifact", name);
  free(name);
  for (k = 0; info.res && k < info.res->nouts; k++)
    if (info.res->outs[k].name && strcmp(info.res->outs[k].name, output) == 0) {
      add_hex(l, "digest", info.res->outs[k].digest);
      cJSON_AddNumberToObject(l, "size", (double)info.res->outs[k].size);
      cJSON_AddBoolToObject(l, "tree", info.res->outs[k].is_tree);
    }
  cJSON_AddStringToObject(l, "graph", g->path);
  tasks = cJSON_AddArrayToObject(l, "tasks");
  queue[tail++] = task;
  seen[task] = 1;
  while (head < tail) {
    int i = queue[head++];
    cJSON_AddItemToArray(tasks, task_entry(c, g, s, i));
    for (k = 0; k < g->tasks[i].ndeps; k++) {
      int d = g->tasks[i].deps[k];
      if (!seen[d]) {
        seen[d] = 1;
        queue[tail++] = d;
      }
    }
  }
  free(queue);
  free(seen);
  return l;
}

/* --- text ------------------------------------------------------------------------- */

void lineage_value_text(struct strbuf *sb, const cJSON *v)
{
  explain_value_source(sb, v);
}

static void section(struct strbuf *out, const char *title, const cJSON *obj, int digests)
{
  const cJSON *v;
  size_t w = 0;
  int first = 1;
  cJSON_ArrayForEach(v, obj)
    if (strlen(v->string) > w)
      w = strlen(v->string);
  cJSON_ArrayForEach(v, obj) {
    strbuf_addf(out, "  %-8s %-*s = ", first ? title : "", (int)w, v->string);
    first = 0;
    if (digests) {
      const char *d = cJSON_IsString(v) ? v->valuestring
                      : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "digest"));
      const char *from = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "from"));
      strbuf_addf(out, "%.12s", d ? d : "?");
      if (from)
        strbuf_addf(out, " (from %s)", from);
    } else {
      explain_value_source(out, v);
    }
    strbuf_addch(out, '\n');
  }
}

void lineage_text(const cJSON *l, struct strbuf *out)
{
  const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(l, "tasks"), *t, *d;
  const cJSON *size = cJSON_GetObjectItemCaseSensitive(l, "size");
  strbuf_addf(out, "%s = %.12s (%.0f bytes%s) in %s\n",
              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "artifact")),
              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "digest")),
              cJSON_IsNumber(size) ? size->valuedouble : 0,
              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(l, "tree")) ? ", a directory" : "",
              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "graph")));
  strbuf_addf(out, "made by %d task%s:", cJSON_GetArraySize(tasks),
              cJSON_GetArraySize(tasks) == 1 ? "" : "s");
  cJSON_ArrayForEach(t, tasks) {
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(t, "deps");
    int first = 1;
    strbuf_addf(out, "%s %s", t == tasks->child ? "" : ";",
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "name")));
    cJSON_ArrayForEach(d, deps) {
      strbuf_addf(out, "%s %s", first ? " <-" : ",", d->valuestring);
      first = 0;
    }
  }
  strbuf_addch(out, '\n');
  cJSON_ArrayForEach(t, tasks) {
    strbuf_addch(out, '\n');
    lineage_task_text(t, out);
  }
}

void lineage_task_text(const cJSON *t, struct strbuf *out)
{
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(t, "produced");
  const char *pre = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "preimage"));
  const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "key"));
  strbuf_addf(out, "%s (%s v%.0f, key %.12s",
              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "name")),
              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "kind")),
              cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(t, "version")),
              key ? key : "none");
  if (p) {
    char buf[64];
    time_t s = (time_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "start"));
    struct tm tm;
    if (gmtime_r(&s, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm))
      strbuf_addf(out, ", ran %s in %.2fs", buf,
                  cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(p, "duration")));
  }
  strbuf_addstr(out, ")\n");
  if (pre && strcmp(pre, "stored") != 0)
    strbuf_addf(out, "  (key preimage %s)\n", pre);
  section(out, "params", cJSON_GetObjectItemCaseSensitive(t, "changed_params"), 0);
  section(out, "inputs", cJSON_GetObjectItemCaseSensitive(t, "inputs"), 1);
  section(out, "sources", cJSON_GetObjectItemCaseSensitive(t, "sources"), 1);
  section(out, "outputs", cJSON_GetObjectItemCaseSensitive(t, "outputs"), 1);
}
