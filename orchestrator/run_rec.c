/* run_rec.c - parsing stored run records (see run_rec.h and record.c for
 * the format). Lenient about fields it does not need, strict about the
 * digests it hands on: a malformed one is an error naming the task. */
#define _GNU_SOURCE /* qsort_r */
#include "run_rec.h"

#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "err.h"

static const char *str_of(const cJSON *obj, const char *name)
{
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

static int hex_of(const cJSON *obj, const char *name, uint8_t d[PD_DIGEST_LEN])
{
  const char *s = str_of(obj, name);
  if (!s)
    return 0;
  return digest_from_hex(s, d) < 0 ? -1 : 1;
}

static int parse_task(struct run_rec *r, const cJSON *j, struct run_task *t,
                      struct pd_err *err)
{
  const cJSON *outs, *o, *v;
  int rc;
  t->json = j;
  t->name = str_of(j, "name");
  t->kind = str_of(j, "kind");
  t->state = str_of(j, "state");
  t->error = str_of(j, "error");
  if (!t->name || !t->kind || !t->state)
    return ERR_SET(err, PD_ECORRUPT, "run record '%s' is malformed: a task lacks its name, "
                   "kind or state", r->id);
  v = cJSON_GetObjectItemCaseSensitive(j, "version");
  t->version = cJSON_IsNumber(v) ? v->valueint : 0;
  if ((rc = hex_of(j, "key", t->key)) < 0)
    return ERR_SET(err, PD_ECORRUPT, "run record '%s': task '%s': malformed key", r->id,
                   t->name);
  t->has_key = rc;
  if ((rc = hex_of(j, "log", t->log)) < 0)
    return ERR_SET(err, PD_ECORRUPT, "run record '%s': task '%s': malformed log digest",
                   r->id, t->name);
  t->has_log = rc;
  outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
  if (!outs)
    return 0;
  if (!cJSON_IsObject(outs))
    return ERR_SET(err, PD_ECORRUPT, "run record '%s': task '%s': malformed outputs", r->id,
                   t->name);
  t->has_outputs = 1;
  t->outs = xcalloc((size_t)cJSON_GetArraySize(outs) + 1, sizeof *t->outs);
  cJSON_ArrayForEach(o, outs) {
    struct run_out *ro = &t->outs[t->nouts];
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
    ro->name = o->string;
    if (hex_of(o, "digest", ro->digest) != 1)
      return ERR_SET(err, PD_ECORRUPT, "run record '%s': task '%s': malformed digest of "
                     "output '%s'", r->id, t->name, o->string);
    ro->size = cJSON_IsNumber(size) && size->valuedouble >= 0 ? (uint64_t)size->valuedouble : 0;
    ro->is_tree = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "tree"));
    t->nouts++;
  }
  return 0;
}

static int by_name_cmp(const void *a, const void *b, void *arg)
{
  const struct run_rec *r = arg;
  return strcmp(r->tasks[*(const size_t *)a].name, r->tasks[*(const size_t *)b].name);
}

int run_rec_parse(const char *text, struct run_rec *r, struct pd_err *err)
{
  const cJSON *tasks, *j;
  size_t i;
  int rc;
  memset(r, 0, sizeof *r);
  r->text = xstrdup(text);
  r->json = cJSON_Parse(text);
  if (!r->json || !cJSON_IsObject(r->json)) {
    run_rec_release(r);
    return ERR_SET(err, PD_ECORRUPT, "run record is not valid JSON");
  }
  r->id = str_of(r->json, "id");
  r->graph = str_of(r->json, "graph");
  r->status = str_of(r->json, "status");
  if (!r->id || !r->graph) {
    run_rec_release(r);
    return ERR_SET(err, PD_ECORRUPT, "run record is malformed: no id or graph");
  }
  if ((rc = hex_of(r->json, "graph_digest", r->graph_digest)) < 0) {
    rc = ERR_SET(err, PD_ECORRUPT, "run record '%s': malformed graph_digest", r->id);
    run_rec_release(r);
    return rc;
  }
  r->has_graph_digest = rc;
  tasks = cJSON_GetObjectItemCaseSensitive(r->json, "tasks");
  r->tasks = xcalloc((size_t)cJSON_GetArraySize(tasks) + 1, sizeof *r->tasks);
  cJSON_ArrayForEach(j, tasks) {
    r->ntasks++;
    if ((rc = parse_task(r, j, &r->tasks[r->ntasks - 1], err)) < 0) {
      run_rec_release(r);
      return rc;
    }
  }
  r->by_name = xcalloc(r->ntasks + 1, sizeof *r->by_name);
  for (i = 0; i < r->ntasks; i++)
    r->by_name[i] = i;
  qsort_r(r->by_name, r->ntasks, sizeof *r->by_name, by_name_cmp, r);
  return 0;
}

int run_rec_load(struct cache *c, const char *id, struct run_rec *r, struct pd_err *err)
{
  char *text = NULL;
  int rc = cache_run_get(c, id, &text, err);
  memset(r, 0, sizeof *r);
  if (rc <= 0)
    return rc;
  rc = run_rec_parse(text, r, err);
  free(text);
  return rc < 0 ? rc : 1;
}

void run_rec_release(struct run_rec *r)
{
  size_t i;
  for (i = 0; i < r->ntasks; i++)
    free(r->tasks[i].outs);
  free(r->tasks);
  free(r->by_name);
  cJSON_Delete(r->json);
  free(r->text);
  memset(r, 0, sizeof *r);
}

int run_rec_find(const struct run_rec *r, const char *name)
{
  size_t lo = 0, hi = r->ntasks;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(r->tasks[r->by_name[mid]].name, name);
    if (c == 0)
      return (int)r->by_name[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

int run_task_find_out(const struct run_task *t, const char *name)
{
  size_t i;
  for (i = 0; i < t->nouts; i++)
    if (strcmp(t->outs[i].name, name) == 0)
      return (int)i;
  return -1;
}
