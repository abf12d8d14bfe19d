/* graph_task.c - pass 2 of graph_load: task statements (see graph.c).
 *
 * Each task is checked against its kind: parameters it knows, set once,
 * typed, in range; the rest get the kind's defaults (placed at the task's
 * name); then its pool is checked and the kind's check() runs. `for` loops
 * expand their bodies once per item, the loop variable bound to it.
 *
 * A task statement outside for loops whose attributes are constants (no
 * names, no file()) is evaluated into its params array by graph__on_task
 * while the parser still has it in the cache; pass 2 then only registers
 * it. Anything that would fail there is left to pass 2, which reports it
 * in order, as if nothing had been done early.
 */
#include "graph_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "registry.h"
#include "strbuf.h"

static int check_pool(struct loader *ld, const struct val *v)
{
  const struct graph *g = ld->g;
  const char **names;
  char hint[160];
  size_t i;
  int rc;
  if (strcmp(v->u.str.s, "cpu") == 0 || strcmp(v->u.str.s, "gpu") == 0 ||
      graph__map_get(&ld->pv->pools, v->u.str.s) >= 0)
    return 0;
  names = xmalloc((g->npools + 2) * sizeof *names);
  names[0] = "cpu";
  names[1] = "gpu";
  for (i = 0; i < g->npools; i++)
    names[i + 2] = g->pools[i].name;
  rc = graph_error_at(ld->err, PD_EGRAPH, &v->loc,
                      "unknown pool '%s' (there are cpu, gpu and the pools the graph "
                      "declares)%s", v->u.str.s,
                      graph__suggest(hint, sizeof hint,
                                     closest_name(v->u.str.s, names, g->npools + 2)));
  free(names);
  return rc;
}

/* The task's name: an identifier, or a string interpolated with params and
 * loop variables that must come out as one. In the arena. */
static int task_name(struct loader *ld, const struct ast *a, const struct stmt *s, char **out)
{
  struct eval_ctx cx;
  struct val v;
  int rc;
  if (s->name) {
    *out = s->name; /* in the arena */
    return 0;
  }
  graph__eval_init(ld, &cx, EV_NAME, a);
  if ((rc = eval_expr(&s->name_str, &cx, &v, ld->err)) < 0)
    return rc;
  if (v.kind != V_STR || strlen(v.u.str.s) != v.u.str.n || !parse_is_ident(v.u.str.s) ||
      parse_is_keyword(v.u.str.s) || strcmp(v.u.str.s, "out") == 0) {
    int ident = v.kind == V_STR && parse_is_ident(v.u.str.s);
    struct strbuf sb;
    strbuf_init(&sb, 64);
    val_to_source(&v, &sb);
    rc = graph_error_at(ld->err, PD_EGRAPH, &s->name_loc, "task name %s is not %s", sb.buf,
                        ident ? "allowed (it is reserved)" : "an identifier");
    strbuf_release(&sb);
    return rc;
  }
  *out = v.u.str.s;
  return 0;
}

/* Appends to *refs every V_REF in v. */
static void collect_refs(struct refs *refs, struct val *v)
{
  size_t i;
  switch (v->kind) {
  case V_REF:
    if (refs->n == refs->cap) {
      refs->cap = refs->cap ? 2 * refs->cap : 256;
      refs->v = xrealloc(refs->v, refs->cap * sizeof *refs->v);
    }
    refs->v[refs->n++] = v;
    break;
  case V_LIST:
  case V_CONCAT:
    for (i = 0; i < v->u.list.n; i++)
      collect_refs(refs, &v->u.list.v[i]);
    break;
  case V_MAP:
    for (i = 0; i < v->u.map.n; i++)
      collect_refs(refs, &v->u.map.v[i]);
    break;
  default:
    break;
  }
}

/* --- tasks -------------------------------------------------------------- */

/* What graph__on_task makes of a task statement (stmt.pre). */
struct pretask {
  struct val *vals;  /* the params, in kind_info order */
  size_t ref0, nref; /* its references: ld->prerefs.v[ref0 ...] */
};

int graph__on_task(void *arg, struct stmt *s)
{
  struct loader *ld = arg;
  struct pretask *pt;
  const struct attr *set_inl[32], **set = NULL;
  const struct task_kind *kind;
  struct kind_info *ki;
  struct eval_ctx cx;
  struct val *vals;
  size_t i;
  int ix, ok = 0;

  if (!(kind = graph__find_kind(ld, s->kind_name)) || graph__kind_info_get(ld, kind, &ki, 1) < 0)
    return 0;
  set = ki->n <= sizeof set_inl / sizeof set_inl[0] ? set_inl : xmalloc(ki->n * sizeof *set);
  memset(set, 0, ki->n * sizeof *set);
  for (i = 0; i < s->nattrs; i++) {
    const struct attr *at = &s->attrs[i];
    if ((ix = graph__kind_info_find(ki, at->name)) < 0 || set[ix] || !expr_is_const(&at->value))
      goto out;
    set[ix] = at;
  }
  for (i = 0; i < ki->n; i++)
    if (!set[i] && !ki->kps[i]->def)
      goto out;
  /* Constants evaluate the same here as in pass 2 (no names, no files). */
  memset(&cx, 0, sizeof cx);
  cx.mode = EV_TASK;
  cx.arena = &ld->pv->arena;
  vals = arena_alloc_raw(cx.arena, ki->n * sizeof *vals);
  for (i = 0; i < ki->n; i++) {
    if (!set[i]) {
      val_copy_at(cx.arena, &vals[i], &ki->defs[i], &s->name_loc);
      continue;
    }
    if (eval_expr(&set[i]->value, &cx, &vals[i], NULL) < 0 ||
        graph__check_value(ki->kps[i], &vals[i], NULL) < 0)
      goto out; /* what was made stays in the arena, unused */
  }
  pt = arena_alloc_raw(cx.arena, sizeof *pt);
  pt->vals = vals;
  /* The references, while the values are in the cache (defaults have
   * none): pass 2 would have to walk them all again. */
  pt->ref0 = ld->prerefs.n;
  for (i = 0; i < ki->n; i++)
    if (set[i])
      collect_refs(&ld->prerefs, &vals[i]);
  pt->nref = ld->prerefs.n - pt->ref0;
  s->pre = pt;
  ok = 1;
out:
  if (set != set_inl)
    free(set);
  return ok;
}

static int eval_task(struct loader *ld, const struct ast *a, const struct stmt *s)
{
  struct graph *g = ld->g;
  const struct task_kind *kind;
  struct kind_info *ki = NULL;
  struct eval_ctx cx;
  struct task *t;
  struct val *vals;
  const struct attr **set = NULL, *set_inl[32];
  const struct kind_output *ko;
  const struct val *v;
  char *name = NULL;
  size_t i;
  int k, rc = 0;

  if ((rc = task_name(ld, a, s, &name)) < 0)
    return rc;
  /* Added now: a failure below fails the load, so the index is never
   * looked up before it is valid. */
  if ((k = graph__map_add(&ld->pv->tasks, name, (int)g->ntasks)) >= 0)
    return graph__already_defined(ld, &s->name_loc, "task", name, &g->tasks[k].loc);
  if (!(kind = graph__find_kind(ld, s->kind_name)))
    return graph__unknown_kind(ld, s);
  if ((rc = graph__kind_info_get(ld, kind, &ki, 0)) < 0)
    return rc;
  if (g->ntasks == ld->captasks) {
    /* In the arena, sized by pass 1's count: it grows only for loops. */
    struct task *old = g->tasks;
    ld->captasks = ld->captasks ? 2 * ld->captasks
                   : ld->ntask_stmts > 16 ? ld->ntask_stmts : 16;
    g->tasks = arena_alloc_raw(&ld->pv->arena, ld->captasks * sizeof *g->tasks);
    if (g->ntasks)
      memcpy(g->tasks, old, g->ntasks * sizeof *g->tasks);
    ld->ref_first = xrealloc(ld->ref_first, (ld->captasks + 1) * sizeof *ld->ref_first);
  }
  ld->ref_first[g->ntasks] = ld->refs.n;
  t = &g->tasks[g->ntasks++];
  memset(t, 0, sizeof *t);
  t->name = name;
  t->kind = kind;
  t->loc = s->name_loc;

  if (s->pre) { /* evaluated when parsed */
    const struct pretask *pt = s->pre;
    vals = pt->vals;
    if (ld->refs.n + pt->nref > ld->refs.cap) {
      ld->refs.cap = 2 * (ld->refs.n + pt->nref);
      ld->refs.v = xrealloc(ld->refs.v, ld->refs.cap * sizeof *ld->refs.v);
    }
    if (pt->nref)
      memcpy(ld->refs.v + ld->refs.n, ld->prerefs.v + pt->ref0, pt->nref * sizeof *ld->refs.v);
    ld->refs.n += pt->nref;
  } else {
    vals = arena_alloc(&ld->pv->arena, ki->n * sizeof *vals);
    set = ki->n <= sizeof set_inl / sizeof set_inl[0] ? set_inl : xmalloc(ki->n * sizeof *set);
    memset(set, 0, ki->n * sizeof *set);
    graph__eval_init(ld, &cx, EV_TASK, a);
    for (i = 0; i < s->nattrs; i++) {
      const struct attr *at = &s->attrs[i];
      int ix = graph__kind_info_find(ki, at->name);
      if (ix < 0) {
        rc = graph__unknown_attr(ld, ki, at);
        goto out;
      }
      if (set[ix]) {
        rc = graph_error_at(ld->err, PD_EGRAPH, &at->loc,
                            "parameter '%s' is already set at %s:%d:%d", at->name,
                            set[ix]->loc.file, set[ix]->loc.line, set[ix]->loc.col);
        goto out;
      }
      set[ix] = at;
      if ((rc = eval_expr(&at->value, &cx, &vals[ix], ld->err)) < 0 ||
          (rc = graph__check_value(ki->kps[ix], &vals[ix], ld->err)) < 0)
        goto out;
    }
    for (i = 0; i < ki->n; i++) {
      if (set[i])
        continue;
      if (!ki->kps[i]->def) {
        rc = graph_error_at(ld->err, PD_EGRAPH, &t->loc,
                            "task '%s' (%s) is missing required parameter '%s'", t->name,
                            kind->name, ki->kps[i]->name);
        goto out;
      }
      val_copy_at(&ld->pv->arena, &vals[i], &ki->defs[i], &t->loc);
    }
    for (i = 0; i < ki->n; i++)
      if (set[i]) /* defaults hold no references */
        collect_refs(&ld->refs, &vals[i]);
  }
  t->params.kind = V_MAP;
  t->params.loc = t->loc;
  t->params.u.map.n = ki->n;
  t->params.u.map.k = ki->keys;
  t->params.u.map.v = vals;

  if ((v = ki->ix_pool >= 0 ? &vals[ki->ix_pool] : NULL) && v->kind == V_STR) {
    if ((rc = check_pool(ld, v)) < 0)
      goto out;
    t->pool = v->u.str.s;
  } else {
    t->pool = "cpu";
  }
  t->threads = (v = ki->ix_threads >= 0 ? &vals[ki->ix_threads] : NULL) && v->kind == V_INT
               ? (int)v->u.i : 1;
  t->retries = (v = ki->ix_retries >= 0 ? &vals[ki->ix_retries] : NULL) && v->kind == V_INT
               ? (int)v->u.i : 0;

  /* Static outputs first; check() may add (exec's come from its params). */
  for (ko = kind->outputs; ko && ko->name; ko++) {
    t->outputs = xrealloc(t->outputs, (t->noutputs + 1) * sizeof *t->outputs);
    t->outputs[t->noutputs].name = xstrdup(ko->name);
    t->outputs[t->noutputs].path = xstrdup(ko->name);
    t->noutputs++;
  }
  if (kind->check && (rc = kind->check(g, t, ld->err)) < 0) {
    if (!ld->err || !ld->err->code)
      graph_error_at(ld->err, rc, &t->loc, "task '%s' (%s) is invalid", t->name, kind->name);
    goto out;
  }
  graph__resolve_early(ld, g->ntasks - 1);
out:
  if (set && set != set_inl)
    free(set);
  return rc;
}

static int eval_body(struct loader *ld, struct ast *a, const struct stmt *v, size_t n);

static int eval_for(struct loader *ld, struct ast *a, const struct stmt *s)
{
  struct eval_ctx cx;
  struct val list;
  size_t i;
  int rc = 0;

  graph__eval_init(ld, &cx, EV_FOR, a);
  if ((rc = eval_expr(&s->value, &cx, &list, ld->err)) < 0)
    return rc;
  if (list.kind != V_LIST)
    return graph_error_at(ld->err, PD_EGRAPH, &list.loc, "a for loop needs a list, not %s",
                          graph__a_val(list.kind));
  if (ld->nvars == ld->capvars) {
    ld->capvars = ld->capvars ? 2 * ld->capvars : 8;
    ld->vars = xrealloc(ld->vars, ld->capvars * sizeof *ld->vars);
  }
  ld->nvars++;
  for (i = 0; i < list.u.list.n && rc == 0; i++) {
    ld->vars[ld->nvars - 1].name = s->name;
    ld->vars[ld->nvars - 1].v = &list.u.list.v[i];
    rc = eval_body(ld, a, s->body, s->nbody);
  }
  ld->nvars--;
  return rc;
}

static int eval_stmt(struct loader *ld, struct ast *a, const struct stmt *s)
{
  if (s->kind == S_INCLUDE && s->included)
    return graph__eval_file(ld, s->included);
  if (s->kind == S_TASK)
    return eval_task(ld, a, s);
  if (s->kind == S_FOR)
    return eval_for(ld, a, s);
  return 0; /* params and pools: pass 1 */
}

static int eval_body(struct loader *ld, struct ast *a, const struct stmt *v, size_t n)
{
  size_t i;
  int rc = 0;
  for (i = 0; i < n && rc == 0; i++)
    rc = eval_stmt(ld, a, &v[i]);
  return rc;
}

/* The statements of a file are evaluated once, after pass 1, so the
 * syntax tree behind them is freed as they are done: the graph then reuses
 * that memory (page faults are much of what loading costs). Once statement
 * i is done, what statements i + 1 and later use lies in chunks from
 * marks[i - 1] - 1 on (see struct ast). */
int graph__eval_file(struct loader *ld, struct ast *a)
{
  size_t i;
  int rc = 0;
  for (i = 0; i < a->n && rc == 0; i++) {
    rc = eval_stmt(ld, a, a->stmts[i]);
    if (i > 0 && a->marks[i - 1] > 1)
      arena_free_before(&a->arena, a->marks[i - 1] - 1);
  }
  if (rc == 0)
    arena_free_before(&a->arena, a->arena.nchunks);
  return rc;
}
