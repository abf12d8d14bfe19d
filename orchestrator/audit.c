/* audit.c - the audit of a run: integrity and provenance, and the report
 * (see audit.h; re-execution is audit_reexec.c, rendering audit_report.c).
 *
 * Every blob is re-hashed for real: inline bytes, each cas file (streamed),
 * each tree's manifest and everything below it. A blob named by several
 * artifacts (an empty log, a file shared by two trees) is hashed once, and
 * its verdict reported for each artifact that names it.
 */
#include "audit_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "err.h"
#include "graph.h"
#include "parse.h"
#include "registry.h"
#include "strbuf.h"

/* --- report helpers ------------------------------------------------------------ */

void audit__problem(struct audit *a, struct audit_task *t, const char *check,
                    const char *fmt, ...)
{
  struct strbuf sb;
  cJSON *p = cJSON_CreateObject();
  va_list ap;
  (void)a;
  strbuf_init(&sb, 128);
  va_start(ap, fmt);
  strbuf_vaddf(&sb, fmt, ap);
  va_end(ap);
  cJSON_AddStringToObject(p, "check", check);
  cJSON_AddStringToObject(p, "message", sb.buf);
  cJSON_AddItemToArray(t->problems, p);
  strbuf_release(&sb);
  if (strcmp(check, "integrity") == 0)
    t->bad_integrity++;
  else if (strcmp(check, "provenance") == 0)
    t->bad_provenance++;
  else
    t->bad_reexec++;
}

void audit__note(struct audit *a, const char *fmt, ...)
{
  struct strbuf sb;
  cJSON *notes = cJSON_GetObjectItemCaseSensitive(a->report, "notes");
  va_list ap;
  strbuf_init(&sb, 128);
  va_start(ap, fmt);
  strbuf_vaddf(&sb, fmt, ap);
  va_end(ap);
  cJSON_AddItemToArray(notes, cJSON_CreateString(sb.buf));
  strbuf_release(&sb);
}

static void add_hex(cJSON *obj, const char *name, const uint8_t d[PD_DIGEST_LEN])
{
  char hex[PD_DIGEST_HEX];
  digest_hex(d, hex);
  cJSON_AddStringToObject(obj, name, hex);
}

/* --- parameters and seeds -------------------------------------------------------- */

/* A kind's default for kp as canonical JSON, or NULL when it has none. */
static cJSON *default_json(const struct kind_param *kp)
{
  struct srcloc loc = { "<default>", 1, 1 };
  struct pd_err err = { 0 };
  struct strbuf sb;
  struct val v;
  cJSON *j = NULL;
  if (!kp->def || parse_literal(kp->def, &loc, &v, &err) < 0)
    return NULL;
  if (kp->type == PT_FLOAT && v.kind == V_INT) { /* as the front end widens it */
    double f = (double)v.u.i;
    v.kind = V_FLOAT;
    v.u.f = f;
  }
  strbuf_init(&sb, 64);
  val_to_json(&v, &sb);
  j = cJSON_Parse(sb.buf);
  strbuf_release(&sb);
  val_release(&v);
  return j;
}

cJSON *audit_changed_params(const char *kind, const cJSON *params)
{
  const struct task_kind *k = kind ? registry_find(kind) : NULL;
  cJSON *out = cJSON_CreateObject();
  const cJSON *p;
  cJSON_ArrayForEach(p, params) {
    const struct kind_param *kp = k ? registry_param(k, p->string) : NULL;
    cJSON *def = kp ? default_json(kp) : NULL;
    if (!def || !cJSON_Compare(def, p, 1))
      cJSON_AddItemToObject(out, p->string, cJSON_Duplicate(p, 1));
    cJSON_Delete(def);
  }
  return out;
}

static int is_seed_name(const char *s)
{
  size_t n = strlen(s);
  return strcmp(s, "seed") == 0 || strncmp(s, "seed_", 5) == 0 ||
         (n > 5 && strcmp(s + n - 5, "_seed") == 0);
}

cJSON *audit_seeds(const cJSON *params)
{
  cJSON *out = cJSON_CreateObject();
  const cJSON *p;
  cJSON_ArrayForEach(p, params)
    if (p->string && is_seed_name(p->string))
      cJSON_AddItemToObject(out, p->string, cJSON_Duplicate(p, 1));
  return out;
}

/* --- integrity ----------------------------------------------------------------- */

struct check_arg {
  struct audit *a;
  struct audit_task *t;
  const char *what;             /* "output 'model'", "log", "input 'a.b'" */
  int64_t top_size;             /* recorded size of the artifact, -1 unknown */
  uint64_t blobs, bytes;
};

/* Re-hashes one blob. Returns NULL when intact, else a malloc'd verdict. */
static char *check_blob(const struct blob_info *b, int64_t want_size)
{
  char hex[PD_DIGEST_HEX], got_hex[PD_DIGEST_HEX];
  uint8_t got[PD_DIGEST_LEN];
  uint64_t size = b->size;
  struct pd_err err = { 0 };
  switch (b->kind) {
  case CACHE_BLOB_MISSING:
    return xstrdup("missing from the cache");
  case CACHE_BLOB_MALFORMED:
    return xstrdup("its record in the cache is malformed");
  case CACHE_BLOB_BADTREE:
    return xstrdup("damaged: its tree manifest does not parse");
  case CACHE_BLOB_FILE:
    digest_hex(b->digest, hex);
    if (digest_file(b->path, got, &size, &err) < 0)
      return err.code == -ENOENT
                 ? xasprintf("missing: its file cas/%.2s/%s is gone", hex, hex)
                 : xasprintf("unreadable: %s", err.msg);
    break;
  default:
    digest_buf(b->data, b->len, got);
    break;
  }
  if (memcmp(got, b->digest, PD_DIGEST_LEN)) {
    digest_hex(got, got_hex);
    if (b->kind == CACHE_BLOB_FILE)
      return xasprintf("damaged: file cas/%.2s/%s hashes to %s", hex, hex, got_hex);
    return xasprintf("damaged: %s hashes to %s",
                     b->kind == CACHE_BLOB_TREE ? "its tree manifest" : "its content", got_hex);
  }
  if (b->expect_tree >= 0 && (b->kind == CACHE_BLOB_TREE) != b->expect_tree)
    return xasprintf("is %s, but recorded as %s", b->kind == CACHE_BLOB_TREE ? "a directory"
                     : "a file", b->expect_tree ? "a directory" : "a file");
  if (b->kind != CACHE_BLOB_TREE && size != b->size)
    return xasprintf("damaged: %llu bytes, recorded %llu", (unsigned long long)size,
                     (unsigned long long)b->size);
  if (want_size >= 0 && b->size != (uint64_t)want_size)
    return xasprintf("size %llu differs from the %lld bytes recorded for it",
                     (unsigned long long)b->size, (long long)want_size);
  return NULL;
}

static int on_blob(void *arg, const struct blob_info *b, struct pd_err *err)
{
  struct check_arg *x = arg;
  struct audit *a = x->a;
  char hex[PD_DIGEST_HEX];
  int64_t want = *b->name ? b->expect_size : x->top_size;
  int added, *slot;
  (void)err;
  if (b->kind == CACHE_BLOB_BADTREE) {
    audit__problem(a, x->t, "integrity", "%s: %s", x->what, "damaged: its tree manifest "
                   "does not parse");
    return 0;
  }
  x->blobs++;
  x->bytes += b->kind == CACHE_BLOB_TREE ? 0 : b->size;
  slot = digest_map_put(&a->checked, b->digest, &added);
  if (added) {
    char *verdict = check_blob(b, want);
    *slot = -1;
    if (verdict) {
      a->msgs = xrealloc(a->msgs, (a->nmsgs + 1) * sizeof *a->msgs);
      a->msgs[a->nmsgs++] = verdict;
      *slot = (int)a->nmsgs;
    }
  }
  if (*slot > 0) {
    digest_hex(b->digest, hex);
    if (*b->name)
      audit__problem(a, x->t, "integrity", "%s, file '%s' (blob %.12s): %s", x->what, b->name,
                     hex, a->msgs[*slot - 1]);
    else
      audit__problem(a, x->t, "integrity", "%s (blob %.12s): %s", x->what, hex,
                     a->msgs[*slot - 1]);
  }
  return 0;
}

static int check_artifact(struct audit *a, struct check_arg *x, const char *what,
                          const uint8_t d[PD_DIGEST_LEN], int is_tree, int64_t size,
                          struct pd_err *err)
{
  x->what = what;
  x->top_size = size;
  return cache_blob_walk(a->c, d, is_tree, on_blob, x, err);
}

static int integrity(struct audit *a, struct audit_task *t, struct pd_err *err)
{
  struct check_arg x;
  cJSON *j = cJSON_AddObjectToObject(t->j, "integrity");
  size_t k;
  int rc = 0;
  memset(&x, 0, sizeof x);
  x.a = a;
  x.t = t;
  for (k = 0; k < t->rt->nouts && rc == 0; k++) {
    char *what = xasprintf("output '%s'", t->rt->outs[k].name);
    rc = check_artifact(a, &x, what, t->rt->outs[k].digest, t->rt->outs[k].is_tree,
                        (int64_t)t->rt->outs[k].size, err);
    free(what);
  }
  if (rc == 0 && t->rt->has_log)
    rc = check_artifact(a, &x, "log", t->rt->log, 0, -1, err);
  cJSON_AddStringToObject(j, "status", t->bad_integrity ? "failed"
                          : x.blobs ? "ok" : "none");
  cJSON_AddNumberToObject(j, "blobs", (double)x.blobs);
  cJSON_AddNumberToObject(j, "bytes", (double)x.bytes);
  return rc;
}

/* --- provenance ------------------------------------------------------------------ */

static int same_outputs(const struct run_task *rt, const struct action_result *r)
{
  size_t i;
  int k;
  if (r->nouts != rt->nouts)
    return 0;
  for (i = 0; i < r->nouts; i++) {
    if (!r->outs[i].name || (k = run_task_find_out(rt, r->outs[i].name)) < 0 ||
        memcmp(rt->outs[k].digest, r->outs[i].digest, PD_DIGEST_LEN))
      return 0;
  }
  return 1;
}

/* The action record: who produced the outputs, when, and do they agree. */
static int prov_action(struct audit *a, struct audit_task *t, cJSON *j, struct pd_err *err)
{
  struct action_result r;
  struct pd_err e = { 0 };
  int rc = cache_action_peek(a->c, t->rt->key, &r, &e);
  (void)err;
  if (rc < 0) {
    audit__problem(a, t, "provenance", "action record unreadable: %s", e.msg);
    return 0;
  }
  if (rc == 0) {
    audit__problem(a, t, "provenance", "action record missing from the cache: exit status "
                   "and timings of the action cannot be traced");
    return 0;
  }
  {
    cJSON *p = cJSON_AddObjectToObject(j, "produced");
    if (r.task)
      cJSON_AddStringToObject(p, "task", r.task);
    cJSON_AddNumberToObject(p, "start", r.start);
    cJSON_AddNumberToObject(p, "duration", r.duration);
    cJSON_AddNumberToObject(p, "exit_status", r.exit_status);
  }
  if (!same_outputs(t->rt, &r))
    audit__problem(a, t, "provenance", "the action record names other outputs than this run "
                   "recorded (the action was executed again after this run, with other "
                   "results)");
  action_result_release(&r);
  return 0;
}

/* Each input of the preimage, traced to the task of this run that made it. */
static int prov_inputs(struct audit *a, struct audit_task *t, const cJSON *ins, cJSON *j,
                       struct pd_err *err)
{
  cJSON *out = cJSON_AddObjectToObject(j, "inputs");
  const cJSON *in;
  int rc = 0;
  cJSON_ArrayForEach(in, ins) {
    const char *dot = strrchr(in->string, '.');
    const char *hex = cJSON_GetStringValue(in);
    uint8_t d[PD_DIGEST_LEN];
    cJSON *o = cJSON_AddObjectToObject(out, in->string);
    char *from;
    int u, k;
    if (!hex || digest_from_hex(hex, d) < 0 || !dot) {
      audit__problem(a, t, "provenance", "input '%s' is malformed in the key preimage",
                     in->string);
      continue;
    }
    cJSON_AddStringToObject(o, "digest", hex);
    from = xstrndup(in->string, (size_t)(dot - in->string));
    cJSON_AddStringToObject(o, "from", from);
    u = run_rec_find(&a->rec, from);
    if (u >= 0 && (k = run_task_find_out(&a->rec.tasks[u], dot + 1)) >= 0) {
      if (memcmp(a->rec.tasks[u].outs[k].digest, d, PD_DIGEST_LEN))
        audit__problem(a, t, "provenance", "input '%s' is not the output task '%s' recorded "
                       "in this run", in->string, from);
    } else {
      /* Not made in this run (the record lacks it): check the bytes here. */
      struct check_arg x;
      char *what = xasprintf("input '%s' (not produced in this run)", in->string);
      memset(&x, 0, sizeof x);
      x.a = a;
      x.t = t;
      rc = check_artifact(a, &x, what, d, -1, -1, err);
      free(what);
      cJSON_AddBoolToObject(o, "in_run", 0);
    }
    free(from);
    if (rc < 0)
      break;
  }
  return rc;
}

static int provenance(struct audit *a, struct audit_task *t, struct pd_err *err)
{
  const struct run_task *rt = t->rt;
  cJSON *j = cJSON_AddObjectToObject(t->j, "provenance"), *pre = NULL, *v;
  struct pd_err e = { 0 };
  uint8_t d[PD_DIGEST_LEN];
  const char *kind;
  int rc, bad0 = t->bad_provenance;

  if (!rt->has_key) {
    if (rt->has_outputs)
      audit__problem(a, t, "provenance", "no action key recorded for its outputs");
    cJSON_AddStringToObject(j, "status", rt->has_outputs ? "failed" : "none");
    return 0;
  }
  rc = cache_preimage_get(a->c, rt->key, &t->preimage, &e);
  if (rc < 0 && rt->has_outputs)
    audit__problem(a, t, "provenance", "key preimage unreadable: %s", e.msg);
  else if (rc == 0 && rt->has_outputs)
    audit__problem(a, t, "provenance", "key preimage missing from the cache: its parameters, "
                   "inputs and sources cannot be traced");
  if (t->preimage) {
    digest_buf(t->preimage, strlen(t->preimage), d);
    if (memcmp(d, rt->key, PD_DIGEST_LEN))
      audit__problem(a, t, "provenance", "key preimage is damaged: it does not hash to the key");
    else if (!(pre = cJSON_Parse(t->preimage)))
      audit__problem(a, t, "provenance", "key preimage is not valid JSON");
  }
  if (pre) {
    kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pre, "kind"));
    v = cJSON_GetObjectItemCaseSensitive(pre, "version");
    if (!kind || strcmp(kind, rt->kind) || !cJSON_IsNumber(v) || v->valueint != rt->version)
      audit__problem(a, t, "provenance", "key preimage is for kind '%s' version %d, the run "
                     "recorded '%s' version %d", kind ? kind : "?",
                     cJSON_IsNumber(v) ? v->valueint : -1, rt->kind, rt->version);
    v = cJSON_GetObjectItemCaseSensitive(pre, "salt");
    if (cJSON_IsString(v))
      cJSON_AddStringToObject(j, "salt", v->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(pre, "params");
    cJSON_AddItemToObject(j, "params", cJSON_Duplicate(v, 1));
    cJSON_AddItemToObject(j, "changed_params", audit_changed_params(rt->kind, v));
    cJSON_AddItemToObject(j, "seeds", audit_seeds(v));
    rc = prov_inputs(a, t, cJSON_GetObjectItemCaseSensitive(pre, "inputs"), j, err);
    v = cJSON_GetObjectItemCaseSensitive(pre, "sources");
    cJSON_AddItemToObject(j, "sources", cJSON_Duplicate(v, 1));
    cJSON_Delete(pre);
    if (rc < 0)
      return rc;
  }
  if (rt->has_outputs)
    prov_action(a, t, j, err);
  cJSON_AddStringToObject(j, "status", t->bad_provenance > bad0 ? "failed"
                          : rt->has_outputs || t->preimage ? "ok" : "none");
  return 0;
}

/* --- the report ---------------------------------------------------------------- */

static void copy_member(cJSON *to, const cJSON *from, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, name);
  if (v)
    cJSON_AddItemToObject(to, name, cJSON_Duplicate(v, 1));
}

static cJSON *task_json(const struct run_task *rt)
{
  cJSON *j = cJSON_CreateObject();
  static const char *const copied[] = { "outputs", "log", "start", "duration", "attempts",
                                        "error" };
  size_t i;
  cJSON_AddStringToObject(j, "name", rt->name);
  cJSON_AddStringToObject(j, "kind", rt->kind);
  cJSON_AddNumberToObject(j, "version", rt->version);
  cJSON_AddStringToObject(j, "state", rt->state);
  if (rt->has_key)
    add_hex(j, "key", rt->key);
  for (i = 0; i < sizeof copied / sizeof copied[0]; i++)
    copy_member(j, rt->json, copied[i]);
  if (registry_find(rt->kind) &&
      (registry_find(rt->kind)->flags & KIND_NONDETERMINISTIC))
    cJSON_AddBoolToObject(j, "nondeterministic", 1);
  return j;
}

static cJSON *report_head(const struct audit *a)
{
  cJSON *r = cJSON_CreateObject(), *checks;
  static const char *const copied[] = { "graph", "graph_digest", "status", "started", "ended",
                                        "snapshot", "counts", "argv", "params", "overrides",
                                        "sources", "env" };
  size_t i;
  cJSON_AddStringToObject(r, "run", a->rec.id);
  for (i = 0; i < sizeof copied / sizeof copied[0]; i++)
    copy_member(r, a->rec.json, copied[i]);
  cJSON_AddItemToObject(r, "seeds",
                        audit_seeds(cJSON_GetObjectItemCaseSensitive(a->rec.json, "params")));
  checks = cJSON_AddArrayToObject(r, "checks");
  cJSON_AddItemToArray(checks, cJSON_CreateString("integrity"));
  cJSON_AddItemToArray(checks, cJSON_CreateString("provenance"));
  if (a->o->reexecute)
    cJSON_AddItemToArray(checks, cJSON_CreateString("reexecute"));
  cJSON_AddArrayToObject(r, "notes");
  return r;
}

static void summarize(struct audit *a)
{
  cJSON *s = cJSON_CreateObject();
  size_t i, tasks = 0, problems = 0, integ = 0, prov = 0, reex = 0, failed = 0, bad = 0;
  for (i = 0; i < a->rec.ntasks; i++) {
    struct audit_task *t = &a->t[i];
    if (!t->selected)
      continue;
    tasks++;
    problems += (size_t)cJSON_GetArraySize(t->problems);
    integ += t->bad_integrity > 0;
    prov += t->bad_provenance > 0;
    reex += t->bad_reexec > 0;
    bad += cJSON_GetArraySize(t->problems) > 0;
    cJSON_AddBoolToObject(t->j, "ok", !t->bad_integrity && !t->bad_provenance && !t->bad_reexec);
    if (!t->rt->has_outputs)
      failed++;
  }
  if (failed)
    audit__note(a, "%zu task%s did not succeed in the run: no outputs to check, only the "
                "logs of failed attempts", failed, failed == 1 ? "" : "s");
  cJSON_AddNumberToObject(s, "tasks", (double)tasks);
  cJSON_AddNumberToObject(s, "problems", (double)problems);
  cJSON_AddNumberToObject(s, "tasks_failed", (double)bad);
  cJSON_AddNumberToObject(s, "integrity_failed", (double)integ);
  cJSON_AddNumberToObject(s, "provenance_failed", (double)prov);
  if (a->o->reexecute)
    cJSON_AddNumberToObject(s, "reexecute_failed", (double)reex);
  cJSON_AddItemToObject(a->report, "summary", s);
  cJSON_AddBoolToObject(a->report, "interrupted", a->interrupted);
  cJSON_AddBoolToObject(a->report, "ok", problems == 0 && !a->interrupted);
}

/* Marks the --task names selected; an unknown one is a usage error. */
static int select_tasks(struct audit *a, struct pd_err *err)
{
  size_t i;
  if (!a->o->ntasks) {
    for (i = 0; i < a->rec.ntasks; i++)
      a->t[i].selected = 1;
    return 0;
  }
  for (i = 0; i < a->o->ntasks; i++) {
    int k = run_rec_find(&a->rec, a->o->tasks[i]);
    if (k < 0) {
      const char **names = xcalloc(a->rec.ntasks + 1, sizeof *names);
      const char *near;
      size_t n;
      int rc;
      for (n = 0; n < a->rec.ntasks; n++)
        names[n] = a->rec.tasks[n].name;
      near = closest_name(a->o->tasks[i], names, a->rec.ntasks);
      rc = ERR_SET(err, PD_EUSAGE, "no task '%s' in run '%s'%s%s%s", a->o->tasks[i], a->rec.id,
                   near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
      free(names);
      return rc;
    }
    a->t[k].selected = 1;
  }
  return 0;
}

int audit_run(struct cache *c, const struct audit_opts *o, cJSON **report, struct pd_err *err)
{
  struct audit a;
  cJSON *tasks;
  size_t i;
  int rc;

  *report = NULL;
  memset(&a, 0, sizeof a);
  a.c = c;
  a.o = o;
  if ((rc = run_rec_load(c, o->run_id, &a.rec, err)) <= 0)
    return rc < 0 ? rc : ERR_SET(err, PD_ENOTFOUND, "no run '%s' in cache '%s'", o->run_id,
                                 cache_path(c));
  a.t = xcalloc(a.rec.ntasks + 1, sizeof *a.t);
  digest_map_init(&a.checked);
  if ((rc = select_tasks(&a, err)) < 0)
    goto out;
  a.report = report_head(&a);
  tasks = cJSON_AddArrayToObject(a.report, "tasks");
  for (i = 0; i < a.rec.ntasks; i++) {
    struct audit_task *t = &a.t[i];
    t->rt = &a.rec.tasks[i];
    if (!t->selected)
      continue;
    t->j = task_json(t->rt);
    cJSON_AddItemToArray(tasks, t->j);
  }
  for (i = 0; i < a.rec.ntasks && rc == 0; i++) {
    struct audit_task *t = &a.t[i];
    if (!t->selected)
      continue;
    t->problems = cJSON_CreateArray();
    if ((rc = integrity(&a, t, err)) == 0)
      rc = provenance(&a, t, err);
  }
  if (rc == 0 && o->reexecute)
    rc = audit__reexecute(&a, err);
  if (rc == 0) {
    for (i = 0; i < a.rec.ntasks; i++)
      if (a.t[i].selected)
        cJSON_AddItemToObject(a.t[i].j, "problems", a.t[i].problems);
    summarize(&a);
    *report = a.report;
    a.report = NULL;
  } else {
    for (i = 0; i < a.rec.ntasks; i++)
      cJSON_Delete(a.t[i].problems);
  }
out:
  cJSON_Delete(a.report);
  for (i = 0; i < a.rec.ntasks; i++)
    free(a.t[i].preimage);
  for (i = 0; i < a.nmsgs; i++)
    free(a.msgs[i]);
  free(a.msgs);
  free(a.t);
  digest_map_release(&a.checked);
  run_rec_release(&a.rec);
  return rc;
}
