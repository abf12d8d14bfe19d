/* audit_reexec.c - `audit --reexecute`: run the tasks of a run again in a
 * scratch cache and compare their outputs with the run's (see audit.h).
 *
 * Order of work:
 *   1. load the graph the run recorded, with the run's overrides;
 *   2. recompute each task's key from the run's own input digests: where it
 *      differs from the recorded key, the preimages are diffed and the task
 *      is reported as "cannot re-execute: source 'x.py' changed since the
 *      run" (or whatever changed) rather than compared, and so is every
 *      selected task whose closure holds such a task;
 *   3. run the scheduler on the remaining selected tasks in a fresh cache
 *      under the cache's tmp/ (their whole closure reruns: inputs come from
 *      the re-execution, which is the honest check);
 *   4. compare each task's new key (it differs when an upstream output did
 *      not reproduce: then the task is a different action and is not
 *      compared) and output digests with the run's.
 * An output whose digest differs goes to its kind's audit_compare hook when
 * the kind has one (registry.h): run statistics set aside, a numeric
 * tolerance; within it, the task counts as reproduced and the report says
 * how. The re-execution runs in a replay cache (cache_set_replay): memo
 * entries come from the run's cache and API tasks never call out.
 */
#include "audit_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "err.h"
#include "graph.h"
#include "key.h"
#include "lineage.h"
#include "registry.h"
#include "scheduler.h"
#include "strbuf.h"

#define NONDET_NOTE "nondeterministic kind: outputs that differ are compared by the kind's tolerance"

/* --- preimage diffs ------------------------------------------------------------- */

struct diff {
  struct strbuf sb;
  size_t n;
  char *input_from;             /* task of the first changed input, or NULL */
};

static void diff_add(struct diff *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diff_add(struct diff *d, const char *fmt, ...)
{
  va_list ap;
  if (d->n++)
    strbuf_addstr(&d->sb, ", ");
  va_start(ap, fmt);
  strbuf_vaddf(&d->sb, fmt, ap);
  va_end(ap);
}

/* Adds "OLD -> NEW" in graph-language form; long values are cut to a
 * window around where they first differ. */
static void add_change(struct strbuf *sb, const cJSON *a, const cJSON *b)
{
  struct strbuf x, y;
  size_t common = 0, from;
  strbuf_init(&x, 64);
  strbuf_init(&y, 64);
  if (a)
    lineage_value_text(&x, a);
  else
    strbuf_addstr(&x, "(none)");
  if (b)
    lineage_value_text(&y, b);
  else
    strbuf_addstr(&y, "(none)");
  while (common < x.len && common < y.len && x.buf[common] == y.buf[common])
    common++;
  from = x.len > 48 || y.len > 48 ? (common > 16 ? common - 16 : 0) : 0;
  strbuf_addf(sb, "%s%.40s%s -> %s%.40s%s", from ? "..." : "", x.buf + from,
              x.len - from > 40 ? "..." : "", from ? "..." : "", y.buf + from,
              y.len - from > 40 ? "..." : "");
  strbuf_release(&x);
  strbuf_release(&y);
}

static void diff_value(struct diff *d, const char *what, const char *path, const cJSON *a,
                       const cJSON *b)
{
  const cJSON *x;
  if (a && b && cJSON_Compare(a, b, 1))
    return;
  if (!a || !b) {
    diff_add(d, "%s '%s' %s", what, path, a ? "removed" : "added");
    return;
  }
  if (strcmp(what, "param") == 0 && cJSON_IsArray(a) && cJSON_IsArray(b) &&
      cJSON_GetArraySize(a) == cJSON_GetArraySize(b)) {
    int i, n = cJSON_GetArraySize(a);
    for (i = 0; i < n; i++) {
      char *sub = xasprintf("%s[%d]", path, i);
      diff_value(d, what, sub, cJSON_GetArrayItem(a, i), cJSON_GetArrayItem(b, i));
      free(sub);
    }
    return;
  }
  if (strcmp(what, "param") == 0 && cJSON_IsObject(a) && cJSON_IsObject(b) &&
      !(a->child && a->child->string[0] == '$') && !(b->child && b->child->string[0] == '$')) {
    cJSON_ArrayForEach(x, a) {
      char *sub = xasprintf("%s.%s", path, x->string);
      diff_value(d, what, sub, x, cJSON_GetObjectItemCaseSensitive(b, x->string));
      free(sub);
    }
    cJSON_ArrayForEach(x, b)
      if (!cJSON_GetObjectItemCaseSensitive(a, x->string)) {
        char *sub = xasprintf("%s.%s", path, x->string);
        diff_value(d, what, sub, NULL, x);
        free(sub);
      }
    return;
  }
  if (strcmp(what, "param") == 0) {
    diff_add(d, "param '%s' changed (", path);
    add_change(&d->sb, a, b);
    strbuf_addch(&d->sb, ')');
    return;
  }
  diff_add(d, "%s '%s' changed", what, path);
  if (strcmp(what, "input") == 0 && !d->input_from && strchr(path, '.'))
    d->input_from = xstrndup(path, (size_t)(strchr(path, '.') - path));
}

/* Describes how preimage now differs from old ("source 'x.py' changed, ..."). */
static void diff_preimages(const char *old, const char *now, struct diff *d)
{
  static const char *const scalars[][2] = {
    { "v", "key format" }, { "salt", "salt" }, { "kind", "kind" },
    { "version", "kind implementation version" }
  };
  static const char *const maps[][2] = {
    { "params", "param" }, { "inputs", "input" }, { "sources", "source" }
  };
  cJSON *a = cJSON_Parse(old), *b = cJSON_Parse(now);
  const cJSON *x;
  size_t i;
  if (!a || !b) {
    diff_add(d, "the key preimage is unreadable");
    goto out;
  }
  for (i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(a, scalars[i][0]);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(b, scalars[i][0]);
    if (p && q && cJSON_Compare(p, q, 1))
      continue;
    diff_add(d, "%s changed (", scalars[i][1]);
    add_change(&d->sb, p, q);
    strbuf_addch(&d->sb, ')');
  }
  for (i = 0; i < sizeof maps / sizeof maps[0]; i++) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(a, maps[i][0]);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(b, maps[i][0]);
    cJSON_ArrayForEach(x, p)
      diff_value(d, maps[i][1], x->string, x, cJSON_GetObjectItemCaseSensitive(q, x->string));
    cJSON_ArrayForEach(x, q)
      if (!cJSON_GetObjectItemCaseSensitive(p, x->string))
        diff_value(d, maps[i][1], x->string, NULL, x);
  }
out:
  cJSON_Delete(a);
  cJSON_Delete(b);
}

/* --- state --------------------------------------------------------------------- */

struct reexec {
  struct audit *a;
  struct graph g;
  int loaded;
  struct cache *sc;             /* the scratch cache */
  char *scdir;
  int *gidx;                    /* per run task: its graph index, or -1 */
  char **cannot;                /* per run task: why its key cannot be matched, or NULL */
  struct override *ov;
  size_t nov;
};

static const uint8_t *run_input(void *arg, int node, const char *output)
{
  struct reexec *x = arg;
  int u = run_rec_find(&x->a->rec, x->g.tasks[node].name), k;
  if (u < 0 || (k = run_task_find_out(&x->a->rec.tasks[u], output)) < 0)
    return NULL;
  return x->a->rec.tasks[u].outs[k].digest;
}

static cJSON *reexec_json(struct audit_task *t, const char *status, const char *detail)
{
  cJSON *j = cJSON_AddObjectToObject(t->j, "reexecute");
  cJSON_AddStringToObject(j, "status", status);
  if (detail)
    cJSON_AddStringToObject(j, "detail", detail);
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t->j, "nondeterministic")))
    cJSON_AddStringToObject(j, "note", NONDET_NOTE);
  return j;
}

static void cannot(struct audit *a, struct audit_task *t, const char *why)
{
  char *detail = xasprintf("cannot re-execute: %s", why);
  reexec_json(t, "cannot", detail);
  audit__problem(a, t, "reexecute", "%s", detail);
  free(detail);
}

/* Step 2: does task u's key, recomputed now from the run's input digests,
 * equal the recorded one? Fills x->cannot[u] when not. */
static void match_key(struct reexec *x, size_t u)
{
  struct audit *a = x->a;
  const struct run_task *rt = &a->rec.tasks[u];
  struct pd_err err = { 0 };
  uint8_t key[PD_DIGEST_LEN];
  struct strbuf pre;
  struct diff d;
  int gi = graph_find_task(&x->g, rt->name), rc;

  x->gidx[u] = gi;
  if (!rt->has_outputs || !rt->has_key) {
    x->cannot[u] = xasprintf("it did not succeed in the run");
    return;
  }
  if (gi < 0) {
    x->cannot[u] = xasprintf("task '%s' is no longer in graph '%s'", rt->name, a->rec.graph);
    return;
  }
  strbuf_init(&pre, 256);
  rc = key_compute(x->sc, &x->g.tasks[gi], run_input, x, &pre, key, &err);
  if (rc < 0)
    x->cannot[u] = xasprintf("%s", err.msg);
  else if (rc > 0)
    x->cannot[u] = xasprintf("an input of it is not in the run record");
  else if (memcmp(key, rt->key, PD_DIGEST_LEN)) {
    memset(&d, 0, sizeof d);
    strbuf_init(&d.sb, 128);
    if (a->t[u].preimage)
      diff_preimages(a->t[u].preimage, pre.buf, &d);
    if (d.n)
      x->cannot[u] = xasprintf("%s since the run", d.sb.buf);
    else
      x->cannot[u] = xasprintf("its action key changed since the run (its recorded preimage "
                               "is missing, so what changed is unknown)");
    strbuf_release(&d.sb);
    free(d.input_from);
  }
  strbuf_release(&pre);
}

/* Why selected task u's closure cannot be re-executed, or NULL. */
static const char *closure_blocker(struct reexec *x, int gi, unsigned char *seen,
                                   const char **dep)
{
  const struct task *t = &x->g.tasks[gi];
  size_t k;
  for (k = 0; k < t->ndeps; k++) {
    int d = t->deps[k], u;
    const char *why;
    if (seen[d])
      continue;
    seen[d] = 1;
    u = run_rec_find(&x->a->rec, x->g.tasks[d].name);
    *dep = x->g.tasks[d].name;
    if (u < 0)
      return "it is not in the run";
    if (x->cannot[u])
      return x->cannot[u];
    if ((why = closure_blocker(x, d, seen, dep)))
      return why;
  }
  return NULL;
}

/* --- comparing ---------------------------------------------------------------- */

/* The kind's verdict on an output that differs: 1 within its tolerance, 0
 * not (or no hook), with *detail saying what was compared. */
static int tolerance(struct reexec *x, size_t u, const struct run_out *was,
                     const struct artifact *now, char **detail)
{
  const struct task *gt = &x->g.tasks[x->gidx[u]];
  struct artifact a = { (char *)was->name, { 0 }, was->size, was->is_tree };
  struct artifact b = *now;
  struct pd_err err = { 0 };
  char *pa = NULL, *pb = NULL;
  int ok = 0;
  if (!gt->kind || !gt->kind->audit_compare)
    return 0;
  memcpy(a.digest, was->digest, PD_DIGEST_LEN);
  b.name = (char *)was->name;
  if (cache_materialize(x->a->c, &a, &pa, &err) < 0 ||
      cache_materialize(x->sc, &b, &pb, &err) < 0)
    *detail = xasprintf("cannot compare: %s", err.msg);
  else
    ok = gt->kind->audit_compare(gt, was->name, pa, pb, detail);
  free(pa);
  free(pb);
  return ok;
}

static void compare(struct reexec *x, struct sched *s, size_t u)
{
  struct audit *a = x->a;
  struct audit_task *t = &a->t[u];
  const struct run_task *rt = t->rt;
  struct sched_task_info info;
  char hex[PD_DIGEST_HEX], hex2[PD_DIGEST_HEX];
  cJSON *j, *outs;
  size_t k, differ = 0;

  sched_task(s, x->gidx[u], &info);
  if ((info.state != TASK_DONE && info.state != TASK_CACHED) || !info.res) {
    const char *why = info.error ? info.error : task_state_name(info.state);
    char *detail = xasprintf("re-execution %s: %s",
                             info.state == TASK_CANCELLED ? "interrupted" : "failed", why);
    reexec_json(t, "failed", detail);
    audit__problem(a, t, "reexecute", "%s", detail);
    free(detail);
    return;
  }
  if (memcmp(info.key, rt->key, PD_DIGEST_LEN)) {
    struct diff d;
    struct pd_err err = { 0 };
    char *now = NULL, *detail;
    memset(&d, 0, sizeof d);
    strbuf_init(&d.sb, 128);
    if (cache_preimage_get(x->sc, info.key, &now, &err) == 1 && t->preimage)
      diff_preimages(t->preimage, now, &d);
    if (d.input_from)
      detail = xasprintf("not compared: %s in the re-execution (task '%s' did not reproduce "
                         "its output), so this is a different action", d.sb.buf, d.input_from);
    else
      detail = xasprintf("not compared: its action key differs in the re-execution%s%s",
                         d.n ? ": " : "", d.sb.buf);
    reexec_json(t, "not-compared", detail);
    audit__problem(a, t, "reexecute", "%s", detail);
    free(detail);
    free(now);
    free(d.input_from);
    strbuf_release(&d.sb);
    return;
  }
  j = reexec_json(t, "reproduced", NULL);
  outs = cJSON_AddObjectToObject(j, "outputs");
  for (k = 0; k < rt->nouts; k++) {
    const struct artifact *now = NULL;
    cJSON *o = cJSON_AddObjectToObject(outs, rt->outs[k].name);
    size_t m;
    for (m = 0; m < info.res->nouts; m++)
      if (info.res->outs[m].name && strcmp(info.res->outs[m].name, rt->outs[k].name) == 0)
        now = &info.res->outs[m];
    digest_hex(rt->outs[k].digest, hex);
    cJSON_AddStringToObject(o, "run", hex);
    if (now) {
      digest_hex(now->digest, hex2);
      cJSON_AddStringToObject(o, "now", hex2);
    }
    cJSON_AddBoolToObject(o, "same", now && !memcmp(now->digest, rt->outs[k].digest,
                                                    PD_DIGEST_LEN));
    if (!now) {
      audit__problem(a, t, "reexecute", "output '%s' was not produced by the re-execution",
                     rt->outs[k].name);
      differ++;
    } else if (memcmp(now->digest, rt->outs[k].digest, PD_DIGEST_LEN)) {
      char *detail = NULL;
      int ok = tolerance(x, u, &rt->outs[k], now, &detail);
      if (detail)
        cJSON_AddStringToObject(o, "tolerance", detail);
      if (ok == 1) {
        cJSON_AddBoolToObject(o, "within_tolerance", 1);
      } else {
        audit__problem(a, t, "reexecute", "output '%s' differs: the run has %.12s, the "
                       "re-execution %.12s%s%s", rt->outs[k].name, hex, hex2,
                       detail ? ": " : "", detail ? detail : "");
        differ++;
      }
      free(detail);
    }
  }
  if (differ) {
    cJSON_ReplaceItemInObjectCaseSensitive(j, "status", cJSON_CreateString("differs"));
    cJSON_AddStringToObject(j, "detail", differ == rt->nouts ? "every output differs"
                            : "some outputs differ");
  }
}

/* --- driver ---------------------------------------------------------------------- */

static void load_overrides(struct reexec *x)
{
  const cJSON *ov = cJSON_GetObjectItemCaseSensitive(x->a->rec.json, "overrides"), *v;
  x->ov = xcalloc((size_t)cJSON_GetArraySize(ov) + 1, sizeof *x->ov);
  cJSON_ArrayForEach(v, ov)
    if (cJSON_IsString(v)) {
      x->ov[x->nov].name = v->string;
      x->ov[x->nov].value = v->valuestring;
      x->nov++;
    }
}

static void run_targets(struct reexec *x, const int *targets, size_t n)
{
  struct audit *a = x->a;
  struct sched_opts so = a->o->sched;
  struct sched *s = NULL;
  struct pd_err serr = { 0 };
  size_t u;
  int rc;

  so.targets = targets;
  so.ntargets = n;
  so.plan = 0;
  so.keep_going = 1; /* one failure must not keep the others from being compared */
  so.overrides = x->ov;
  so.noverrides = x->nov;
  rc = sched_run(&x->g, x->sc, &so, &s, &serr);
  if (rc < 0) {
    for (u = 0; u < a->rec.ntasks; u++)
      if (a->t[u].selected && x->gidx[u] >= 0 && !cJSON_GetObjectItem(a->t[u].j, "reexecute")) {
        char *detail = xasprintf("re-execution failed: %s", serr.msg);
        reexec_json(&a->t[u], "failed", detail);
        audit__problem(a, &a->t[u], "reexecute", "%s", detail);
        free(detail);
      }
  } else {
    if (sched_exit_code(s) == 130)
      a->interrupted = 1;
    for (u = 0; u < a->rec.ntasks; u++)
      if (a->t[u].selected && !cJSON_GetObjectItem(a->t[u].j, "reexecute"))
        compare(x, s, u);
  }
  sched_free(s);
}

int audit__reexecute(struct audit *a, struct pd_err *err)
{
  struct reexec x;
  struct pd_err gerr = { 0 };
  unsigned char *seen = NULL;
  int *targets = NULL, rc;
  size_t u, n = 0;

  memset(&x, 0, sizeof x);
  x.a = a;
  load_overrides(&x);
  if ((rc = graph_load(&x.g, a->rec.graph, x.ov, x.nov, &gerr)) < 0) {
    char *why = xasprintf("graph '%s' does not load: %s", a->rec.graph, gerr.msg);
    char *nl = strchr(why, '\n');
    if (nl)
      *nl = '\0'; /* the first line of a diagnostic says it */
    cJSON_AddStringToObject(a->report, "graph_now", "unloadable");
    for (u = 0; u < a->rec.ntasks; u++)
      if (a->t[u].selected && a->rec.tasks[u].has_outputs)
        cannot(a, &a->t[u], why);
    free(why);
    free(x.ov);
    return 0;
  }
  x.loaded = 1;
  cJSON_AddStringToObject(a->report, "graph_now",
                          a->rec.has_graph_digest &&
                          memcmp(x.g.digest, a->rec.graph_digest, PD_DIGEST_LEN) == 0
                              ? "unchanged" : "changed");
  if ((rc = cache_mkdtemp(a->c, "audit", &x.scdir, err)) < 0 ||
      (rc = cache_open(&x.sc, x.scdir, err)) < 0)
    goto out;
  cache_set_replay(x.sc, a->c);
  x.gidx = xcalloc(a->rec.ntasks + 1, sizeof *x.gidx);
  x.cannot = xcalloc(a->rec.ntasks + 1, sizeof *x.cannot);
  for (u = 0; u < a->rec.ntasks; u++)
    match_key(&x, u);
  targets = xcalloc(a->rec.ntasks + 1, sizeof *targets);
  seen = xmalloc(x.g.ntasks + 1);
  for (u = 0; u < a->rec.ntasks; u++) {
    struct audit_task *t = &a->t[u];
    const char *why, *dep = NULL;
    if (!t->selected)
      continue;
    if (!t->rt->has_outputs) {
      reexec_json(t, "skipped", "it did not succeed in the run");
      continue;
    }
    if (x.cannot[u]) {
      cannot(a, t, x.cannot[u]);
      continue;
    }
    memset(seen, 0, x.g.ntasks + 1);
    if ((why = closure_blocker(&x, x.gidx[u], seen, &dep))) {
      char *msg = xasprintf("it depends on '%s': %s", dep, why);
      cannot(a, t, msg);
      free(msg);
      continue;
    }
    targets[n++] = x.gidx[u];
  }
  if (a->rec.has_graph_digest && memcmp(x.g.digest, a->rec.graph_digest, PD_DIGEST_LEN))
    audit__note(a, "graph '%s' changed since the run; tasks whose keys still match were "
                "re-executed", a->rec.graph);
  if (n)
    run_targets(&x, targets, n);
out:
  free(seen);
  free(targets);
  for (u = 0; x.cannot && u < a->rec.ntasks; u++)
    free(x.cannot[u]);
  free(x.cannot);
  free(x.gidx);
  if (x.sc)
    cache_close(x.sc);
  if (x.scdir && !getenv("POVID_KEEP_TMP"))
    cache_rmtree(x.scdir);
  free(x.scdir);
  if (x.loaded)
    graph_release(&x.g);
  free(x.ov);
  return rc < 0 ? rc : 0;
}
