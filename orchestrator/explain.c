/* explain.c - why a task would rerun (see explain.h).
 *
 * Preimages are canonical JSON objects (key.c), so the diff is a walk over
 * their top-level fields and, inside params/inputs/sources, over names.
 * For a task blocked behind a stale dependency the current key is not
 * computable; the explanation then follows the chain of dependencies up to
 * the stale task that starts it.
 */
#include "explain.h"

#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "err.h"
#include "graph.h"
#include "scheduler.h"
#include "strbuf.h"

static char *json_text(const cJSON *v)
{
  char *p, *q;
  if (!v)
    return NULL;
  p = cJSON_PrintUnformatted(v);
  q = xstrdup(p ? p : "?");
  cJSON_free(p);
  return q;
}

static void add_change(struct explanation *ex, const char *what, const char *name,
                       const cJSON *old, const cJSON *now)
{
  struct change *c;
  ex->changes = xrealloc(ex->changes, (ex->nchanges + 1) * sizeof *ex->changes);
  c = &ex->changes[ex->nchanges++];
  c->what = xstrdup(what);
  c->name = xstrdup(name);
  c->old = json_text(old);
  c->now = json_text(now);
}

/* Records where a and b differ, descending into lists of equal length and
 * into maps so that the change names the element ("command[6]", "env.SEED")
 * rather than the whole value. */
static void diff_value(struct explanation *ex, const char *what, const char *path,
                       const cJSON *a, const cJSON *b)
{
  const cJSON *x;
  if (a && b && cJSON_Compare(a, b, 1))
    return;
  if (a && b && cJSON_IsArray(a) && cJSON_IsArray(b) &&
      cJSON_GetArraySize(a) == cJSON_GetArraySize(b)) {
    int i, n = cJSON_GetArraySize(a);
    for (i = 0; i < n; i++) {
      char *sub = xasprintf("%s[%d]", path, i);
      diff_value(ex, what, sub, cJSON_GetArrayItem(a, i), cJSON_GetArrayItem(b, i));
      free(sub);
    }
    return;
  }
  if (a && b && cJSON_IsObject(a) && cJSON_IsObject(b) && *path &&
      !(a->child && a->child->string[0] == '$') && !(b->child && b->child->string[0] == '$')) {
    cJSON_ArrayForEach(x, a) {
      char *sub = xasprintf("%s.%s", path, x->string);
      diff_value(ex, what, sub, x, cJSON_GetObjectItemCaseSensitive(b, x->string));
      free(sub);
    }
    cJSON_ArrayForEach(x, b) {
      if (!cJSON_GetObjectItemCaseSensitive(a, x->string)) {
        char *sub = xasprintf("%s.%s", path, x->string);
        add_change(ex, what, sub, NULL, x);
        free(sub);
      }
    }
    return;
  }
  add_change(ex, what, path, a, b);
}

/* Diffs two JSON objects by member name. */
static void diff_members(struct explanation *ex, const char *what, const cJSON *a, const cJSON *b)
{
  const cJSON *x;
  cJSON_ArrayForEach(x, a)
    diff_value(ex, what, x->string, x, cJSON_GetObjectItemCaseSensitive(b, x->string));
  cJSON_ArrayForEach(x, b) {
    if (!cJSON_GetObjectItemCaseSensitive(a, x->string))
      add_change(ex, what, x->string, NULL, x);
  }
}

int explain_task(struct cache *c, const char *graph_path, const char *task,
                 const char *preimage, struct explanation *ex)
{
  static const char *const scalars[] = { "v", "salt", "kind", "version" };
  static const char *const maps[][2] = {
    { "params", "param" }, { "inputs", "input" }, { "sources", "source" }
  };
  uint8_t last[PD_DIGEST_LEN], now[PD_DIGEST_LEN];
  struct pd_err err = { 0 };
  char *old_text = NULL;
  cJSON *a, *b;
  size_t i;
  int rc;

  memset(ex, 0, sizeof *ex);
  rc = cache_last_get(c, graph_path, task, last, &err);
  if (rc <= 0)
    return rc;
  ex->has_last = 1;
  digest_buf(preimage, strlen(preimage), now);
  ex->same_key = memcmp(now, last, PD_DIGEST_LEN) == 0;
  if (ex->same_key)
    return 0;
  rc = cache_preimage_get(c, last, &old_text, &err);
  if (rc <= 0)
    return rc;
  a = cJSON_Parse(old_text);
  b = cJSON_Parse(preimage);
  free(old_text);
  if (!a || !b) {
    add_change(ex, "format", "", NULL, NULL);
  } else {
    for (i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
      const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, scalars[i]);
      const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, scalars[i]);
      if (!x || !y || !cJSON_Compare(x, y, 1))
        add_change(ex, strcmp(scalars[i], "v") == 0 ? "format" : scalars[i], "", x, y);
    }
    for (i = 0; i < sizeof maps / sizeof maps[0]; i++)
      diff_members(ex, maps[i][1], cJSON_GetObjectItemCaseSensitive(a, maps[i][0]),
                   cJSON_GetObjectItemCaseSensitive(b, maps[i][0]));
  }
  cJSON_Delete(a);
  cJSON_Delete(b);
  return 0;
}

void explanation_release(struct explanation *ex)
{
  size_t i;
  for (i = 0; i < ex->nchanges; i++) {
    free(ex->changes[i].what);
    free(ex->changes[i].name);
    free(ex->changes[i].old);
    free(ex->changes[i].now);
  }
  free(ex->changes);
  memset(ex, 0, sizeof *ex);
}

/* Writes a preimage value back in graph-language form: {"$ref":"a.b"} as
 * a.b, {"$cat":[...]} as an interpolated string, and so on. */
static void json_to_source(struct strbuf *sb, const cJSON *v, int in_string)
{
  const cJSON *x;
  int first = 1;
  if (cJSON_IsObject(v) && v->child && v->child->string[0] == '$') {
    const char *k = v->child->string;
    if (strcmp(k, "$ref") == 0)
      strbuf_addf(sb, in_string ? "${%s}" : "%s", cJSON_GetStringValue(v->child));
    else if (strcmp(k, "$out") == 0)
      strbuf_addstr(sb, "${out}");
    else if (strcmp(k, "$file") == 0 || strcmp(k, "$dir") == 0)
      strbuf_addf(sb, "%s(\"%s\")", k + 1, cJSON_GetStringValue(v->child));
    else if (strcmp(k, "$cat") == 0) {
      strbuf_addch(sb, '"');
      cJSON_ArrayForEach(x, v->child) json_to_source(sb, x, 1);
      strbuf_addch(sb, '"');
    }
    return;
  }
  if (cJSON_IsString(v) && in_string) {
    strbuf_addstr(sb, v->valuestring);
  } else if (cJSON_IsArray(v)) {
    strbuf_addch(sb, '[');
    cJSON_ArrayForEach(x, v) {
      strbuf_addstr(sb, first ? "" : ", ");
      first = 0;
      json_to_source(sb, x, 0);
    }
    strbuf_addch(sb, ']');
  } else if (cJSON_IsObject(v)) {
    strbuf_addstr(sb, "{ ");
    cJSON_ArrayForEach(x, v) {
      strbuf_addstr(sb, first ? "" : ", ");
      first = 0;
      strbuf_addf(sb, "%s = ", x->string);
      json_to_source(sb, x, 0);
    }
    strbuf_addstr(sb, " }");
  } else {
    char *p = cJSON_PrintUnformatted(v);
    strbuf_addstr(sb, p ? p : "?");
    cJSON_free(p);
  }
}

void explain_value_source(struct strbuf *sb, const cJSON *v)
{
  json_to_source(sb, v, 0);
}

/* Digests in preimages are long: show 12 hex digits. */
static void add_value(struct strbuf *sb, const char *what, const char *json)
{
  if (!json) {
    strbuf_addstr(sb, "(none)");
    return;
  }
  if ((strcmp(what, "input") == 0 || strcmp(what, "source") == 0) && strlen(json) == 66) {
    strbuf_addf(sb, "%.13s…", json + 1);
  } else {
    cJSON *v = cJSON_Parse(json);
    if (v)
      json_to_source(sb, v, 0);
    else
      strbuf_addstr(sb, json);
    cJSON_Delete(v);
  }
}

static void describe_change(struct strbuf *sb, const struct change *c)
{
  if (strcmp(c->what, "format") == 0) {
    strbuf_addstr(sb, "the key format changed (new povid-dag version)");
    return;
  }
  if (strcmp(c->what, "kind") == 0 || strcmp(c->what, "version") == 0 ||
      strcmp(c->what, "salt") == 0) {
    strbuf_addf(sb, "%s changed: ", strcmp(c->what, "version") == 0 ? "kind implementation version" : c->what);
    add_value(sb, c->what, c->old);
    strbuf_addstr(sb, " -> ");
    add_value(sb, c->what, c->now);
    return;
  }
  if (!c->old)
    strbuf_addf(sb, "%s '%s' added: ", c->what, c->name);
  else if (!c->now)
    strbuf_addf(sb, "%s '%s' removed (was ", c->what, c->name);
  else
    strbuf_addf(sb, "%s '%s' changed: ", c->what, c->name);
  if (c->old && c->now) {
    add_value(sb, c->what, c->old);
    strbuf_addstr(sb, " -> ");
    add_value(sb, c->what, c->now);
  } else if (c->now) {
    add_value(sb, c->what, c->now);
  } else {
    add_value(sb, c->what, c->old);
    strbuf_addch(sb, ')');
  }
  if (strcmp(c->what, "input") == 0) {
    const char *dot = strchr(c->name, '.');
    if (dot)
      strbuf_addf(sb, " (output of task '%.*s')", (int)(dot - c->name), c->name);
  }
}

/* The stale task at the start of the chain that blocks task i. */
static int blocking_root(const struct graph *g, const struct sched *s, int i)
{
  for (;;) {
    struct sched_task_info info;
    const struct task *t = &g->tasks[i];
    size_t k;
    int next = -1;
    for (k = 0; k < t->ndeps && next < 0; k++) {
      sched_task(s, t->deps[k], &info);
      if (info.state == TASK_STALE || info.state == TASK_BLOCKED)
        next = t->deps[k];
    }
    if (next < 0)
      return i;
    sched_task(s, next, &info);
    if (info.state == TASK_STALE)
      return next;
    i = next;
  }
}

static void stale_reason(struct cache *c, const struct graph *g, const struct sched_task_info *info,
                         int i, struct strbuf *sb, int all, cJSON *json)
{
  struct explanation ex;
  size_t k;
  if (explain_task(c, g->path, g->tasks[i].name, info->preimage, &ex) < 0 || !ex.has_last) {
    strbuf_addstr(sb, "no earlier run of this task");
    if (json)
      cJSON_AddStringToObject(json, "reason", "new");
    explanation_release(&ex);
    return;
  }
  if (ex.same_key) {
    strbuf_addstr(sb, "same key as its last run, but its outputs are missing or damaged in the cache");
    if (json)
      cJSON_AddStringToObject(json, "reason", "outputs-missing");
    explanation_release(&ex);
    return;
  }
  if (json) {
    cJSON *arr = cJSON_AddArrayToObject(json, "changes");
    cJSON_AddStringToObject(json, "reason", "key-changed");
    for (k = 0; k < ex.nchanges; k++) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "what", ex.changes[k].what);
      cJSON_AddStringToObject(o, "name", ex.changes[k].name);
      if (ex.changes[k].old)
        cJSON_AddRawToObject(o, "old", ex.changes[k].old);
      if (ex.changes[k].now)
        cJSON_AddRawToObject(o, "new", ex.changes[k].now);
      cJSON_AddItemToArray(arr, o);
    }
  }
  for (k = 0; k < ex.nchanges; k++) {
    if (k && !all) {
      strbuf_addf(sb, " (+%zu more)", ex.nchanges - 1);
      break;
    }
    if (all)
      strbuf_addstr(sb, "\n  - ");
    describe_change(sb, &ex.changes[k]);
  }
  explanation_release(&ex);
}

char *explain_short(struct cache *c, const struct graph *g, const struct sched *s, int task)
{
  struct sched_task_info info;
  struct strbuf sb;
  strbuf_init(&sb, 64);
  sched_task(s, task, &info);
  if (info.state == TASK_STALE) {
    stale_reason(c, g, &info, task, &sb, 0, NULL);
  } else if (info.state == TASK_BLOCKED) {
    int root = blocking_root(g, s, task);
    strbuf_addf(&sb, "after '%s' reruns", g->tasks[root].name);
  } else if (info.error) {
    strbuf_addstr(&sb, info.error);
  }
  return strbuf_detach(&sb, NULL);
}

void explain_long(struct cache *c, const struct graph *g, const struct sched *s, int task,
                  struct strbuf *out, cJSON **json)
{
  struct sched_task_info info;
  const char *name = g->tasks[task].name;
  cJSON *j = json ? cJSON_CreateObject() : NULL;
  char hex[PD_DIGEST_HEX];

  sched_task(s, task, &info);
  if (j) {
    cJSON_AddStringToObject(j, "task", name);
    cJSON_AddStringToObject(j, "state", task_state_name(info.state));
    if (info.has_key) {
      digest_hex(info.key, hex);
      cJSON_AddStringToObject(j, "key", hex);
    }
  }
  switch (info.state) {
  case TASK_CACHED:
    digest_hex(info.key, hex);
    strbuf_addf(out, "%s is up to date (key %.16s…); it would not rerun\n", name, hex);
    break;
  case TASK_STALE:
    strbuf_addf(out, "%s would rerun:", name);
    stale_reason(c, g, &info, task, out, 1, j);
    strbuf_addch(out, '\n');
    break;
  case TASK_BLOCKED: {
    int root = blocking_root(g, s, task);
    struct sched_task_info rinfo;
    sched_task(s, root, &rinfo);
    strbuf_addf(out, "%s depends on '%s', which would rerun first; whether %s reruns then "
                     "depends on whether that changes its outputs (early cutoff).\n%s would rerun:",
                name, g->tasks[root].name, name, g->tasks[root].name);
    if (j)
      cJSON_AddStringToObject(j, "blocked_by", g->tasks[root].name);
    stale_reason(c, g, &rinfo, root, out, 1, j);
    strbuf_addch(out, '\n');
    break;
  }
  default:
    strbuf_addf(out, "%s: %s\n", name, info.error ? info.error : task_state_name(info.state));
    if (j && info.error)
      cJSON_AddStringToObject(j, "error", info.error);
    break;
  }
  if (json)
    *json = j;
}
