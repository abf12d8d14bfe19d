/* graph_kinds.c - task kinds as the loader sees them: each kind's
 * parameters sorted by name with their defaults parsed once per load, and
 * the checks of a value against a parameter's type, range and choices (see
 * graph_int.h).
 */
#include "graph_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "registry.h"
#include "strbuf.h"

/* --- type checks -------------------------------------------------------- */

const char *graph__a_val(enum val_kind k)
{
  switch (k) {
  case V_NULL: return "null";
  case V_BOOL: return "a bool";
  case V_INT: return "an integer";
  case V_FLOAT: return "a float";
  case V_STR: return "a string";
  case V_LIST: return "a list";
  case V_MAP: return "a map";
  case V_REF: return "a reference";
  case V_FILE: return "a file()";
  case V_DIR: return "a dir()";
  case V_OUT: return "${out}";
  case V_CONCAT: return "a string with references or ${out} in it";
  }
  return "?";
}

static const char *a_ptype(enum ptype t)
{
  switch (t) {
  case PT_BOOL: return "a bool";
  case PT_INT: return "an integer";
  case PT_FLOAT: return "a number";
  case PT_STRING: return "a plain string";
  case PT_LIST: return "a list";
  case PT_MAP: return "a map";
  case PT_ARTIFACT: return "a reference (task.output), file() or dir()";
  case PT_ANY: return "anything";
  }
  return "?";
}

static int check_choices(const struct kind_param *kp, const struct val *v, struct pd_err *err)
{
  const char *p = kp->choices, *bar;
  const char *cands[64];
  char *copy, *q, hint[160];
  size_t n = 0;
  struct strbuf list;
  int rc;

  for (;;) {
    size_t len;
    bar = strchr(p, '|');
    len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == v->u.str.n && memcmp(p, v->u.str.s, len) == 0)
      return 0;
    if (!bar)
      break;
    p = bar + 1;
  }
  copy = xstrdup(kp->choices);
  strbuf_init(&list, 64);
  for (q = copy; q && n < sizeof cands / sizeof cands[0]; ) {
    char *b = strchr(q, '|');
    if (b)
      *b = '\0';
    cands[n++] = q;
    strbuf_addf(&list, "%s'%s'", n > 1 ? ", " : "", q);
    q = b ? b + 1 : NULL;
  }
  rc = graph_error_at(err, PD_EGRAPH, &v->loc, "parameter '%s' must be one of %s, got '%s'%s",
                      kp->name, list.buf, v->u.str.s,
                      graph__suggest(hint, sizeof hint, closest_name(v->u.str.s, cands, n)));
  strbuf_release(&list);
  free(copy);
  return rc;
}

int graph__check_value(const struct kind_param *kp, struct val *v, struct pd_err *err)
{
  int ok;
  switch (kp->type) {
  case PT_BOOL: ok = v->kind == V_BOOL; break;
  case PT_INT: ok = v->kind == V_INT; break;
  case PT_FLOAT:
    if (v->kind == V_INT) {
      double f = (double)v->u.i;
      v->kind = V_FLOAT;
      v->u.f = f;
    }
    ok = v->kind == V_FLOAT;
    break;
  case PT_STRING: ok = v->kind == V_STR; break;
  case PT_LIST: ok = v->kind == V_LIST; break;
  case PT_MAP: ok = v->kind == V_MAP; break;
  case PT_ARTIFACT: ok = v->kind == V_REF || v->kind == V_FILE || v->kind == V_DIR; break;
  default: ok = 1; break;
  }
  if (!ok)
    return graph_error_at(err, PD_EGRAPH, &v->loc, "parameter '%s' must be %s, not %s",
                          kp->name, a_ptype(kp->type), graph__a_val(v->kind));
  if ((kp->type == PT_INT || kp->type == PT_FLOAT) && kp->min <= kp->max) {
    double x = v->kind == V_INT ? (double)v->u.i : v->u.f;
    if (x < kp->min || x > kp->max)
      return graph_error_at(err, PD_EGRAPH, &v->loc, "parameter '%s' must be in [%g, %g], got %g",
                            kp->name, kp->min, kp->max, x);
  }
  if (kp->type == PT_STRING && kp->choices)
    return check_choices(kp, v, err);
  return 0;
}

/* --- kinds -------------------------------------------------------------- */

static int kp_cmp(const void *a, const void *b)
{
  return strcmp((*(const struct kind_param *const *)a)->name,
                (*(const struct kind_param *const *)b)->name);
}

int graph__kind_info_find(const struct kind_info *ki, const char *name)
{
  size_t lo = 0, hi = ki->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *k = ki->kps[mid]->name;
    int c = (unsigned char)name[0] - (unsigned char)k[0]; /* mostly decides */
    if (c == 0)
      c = strcmp(name, k);
    if (c == 0)
      return (int)mid;
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return -1;
}

static void kind_info_free(struct kind_info *ki)
{
  free(ki->kps);
}

void graph__kinds_free(struct loader *ld)
{
  size_t i;
  for (i = 0; i < ld->nkinds; i++)
    kind_info_free(&ld->kinds[i]);
  free(ld->kinds);
  ld->kinds = NULL;
  ld->nkinds = 0;
}

/* The kind's parameters, found or made. A bad default is an error, unless
 * quiet: then nothing is kept, and the next call tries again. */
int graph__kind_info_get(struct loader *ld, const struct task_kind *k, struct kind_info **out,
                         int quiet)
{
  struct kind_info *ki;
  const struct kind_param *p;
  struct srcloc none = { NULL, 0, 0 };
  struct arena *arena = &ld->pv->arena;
  size_t i, n = 0;

  for (i = 0; i < ld->nkinds; i++)
    if (ld->kinds[i].kind == k) {
      *out = &ld->kinds[i];
      return 0;
    }
  ld->kinds = xrealloc(ld->kinds, (ld->nkinds + 1) * sizeof *ld->kinds);
  ki = &ld->kinds[ld->nkinds++];
  memset(ki, 0, sizeof *ki);
  ki->kind = k;
  for (p = k->params; p->name; p++)
    n++;
  for (p = registry_common_params; p->name; p++)
    n++;
  ki->kps = xmalloc(n * sizeof *ki->kps);
  for (p = k->params; p->name; p++)
    ki->kps[ki->n++] = p;
  for (p = registry_common_params; p->name; p++)
    if (registry_param(k, p->name) == p)
      ki->kps[ki->n++] = p;
  qsort(ki->kps, ki->n, sizeof *ki->kps, kp_cmp);
  ki->defs = arena_alloc(arena, ki->n * sizeof *ki->defs);
  ki->keys = arena_alloc_raw(arena, ki->n * sizeof *ki->keys);
  for (i = 0; i < ki->n; i++) {
    const struct kind_param *kp = ki->kps[i];
    ki->keys[i] = (char *)kp->name; /* static: never freed, never written */
    if (!kp->def)
      continue;
    if (parse_literal_in(kp->def, &none, arena, &ki->defs[i], NULL) < 0 ||
        graph__check_value(kp, &ki->defs[i], NULL) < 0) {
      kind_info_free(ki);
      ld->nkinds--;
      if (quiet)
        return PD_EGRAPH;
      return ERR_SET(ld->err, PD_EGRAPH, "task kind '%s': bad default '%s' for parameter '%s'",
                     k->name, kp->def, kp->name);
    }
  }
  ki->ix_pool = graph__kind_info_find(ki, "pool");
  ki->ix_threads = graph__kind_info_find(ki, "threads");
  ki->ix_retries = graph__kind_info_find(ki, "retries");
  *out = ki;
  return 0;
}

int graph__unknown_kind(struct loader *ld, const struct stmt *s)
{
  size_t n, i;
  const struct task_kind *const *all = registry_all(&n);
  const char **names = xmalloc((n + 1) * sizeof *names);
  char hint[160];
  int rc;
  for (i = 0; i < n; i++)
    names[i] = all[i]->name;
  rc = graph_error_at(ld->err, PD_EGRAPH, &s->kind_loc, "unknown task kind '%s'%s",
                      s->kind_name,
                      graph__suggest(hint, sizeof hint, closest_name(s->kind_name, names, n)));
  free(names);
  return rc;
}

int graph__unknown_attr(struct loader *ld, const struct kind_info *ki, const struct attr *a)
{
  const char **names = xmalloc((ki->n + 1) * sizeof *names);
  char hint[160];
  size_t i;
  int rc;
  for (i = 0; i < ki->n; i++)
    names[i] = ki->kps[i]->name;
  rc = graph_error_at(ld->err, PD_EGRAPH, &a->loc, "unknown parameter '%s' for task kind '%s'%s",
                      a->name, ki->kind->name,
                      graph__suggest(hint, sizeof hint, closest_name(a->name, names, ki->n)));
  free(names);
  return rc;
}

/* registry_find, remembering the last name: the parser hands out one
 * pointer for a kind name that repeats. */
const struct task_kind *graph__find_kind(struct loader *ld, const char *name)
{
  if (name != ld->kind_name) {
    ld->kind = registry_find(name);
    ld->kind_name = name;
  }
  return ld->kind;
}
