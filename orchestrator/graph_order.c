/* graph_order.c - pass 3 of graph_load: references become edges, and the
 * edges an order (see graph.c).
 *
 * Every reference in the tasks' params was noted in pass 2 (loader.refs,
 * task by task), so resolving them walks no values. deps and rdeps come
 * out sorted and unique; one iterative depth-first search, in declaration
 * order, yields the topological order or the first cycle it closes.
 */
#include "graph_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "registry.h"
#include "strbuf.h"

static int bad_ref(struct loader *ld, const struct val *v, int node)
{
  const struct graph *g = ld->g;
  const char **names;
  char hint[160];
  size_t i, n;
  int rc;
  if (node < 0) {
    names = xmalloc((g->ntasks + 1) * sizeof *names);
    for (i = 0; i < g->ntasks; i++)
      names[i] = g->tasks[i].name;
    rc = graph_error_at(ld->err, PD_EGRAPH, &v->loc, "unknown task '%s'%s", v->u.ref.task,
                        graph__suggest(hint, sizeof hint,
                                closest_name(v->u.ref.task, names, g->ntasks)));
    free(names);
    return rc;
  }
  n = g->tasks[node].noutputs;
  if (n == 0)
    return graph_error_at(ld->err, PD_EGRAPH, &v->loc, "task '%s' (%s) has no outputs",
                          v->u.ref.task, g->tasks[node].kind->name);
  names = xmalloc(n * sizeof *names);
  for (i = 0; i < n; i++)
    names[i] = g->tasks[node].outputs[i].name;
  rc = graph_error_at(ld->err, PD_EGRAPH, &v->loc, "task '%s' (%s) has no output '%s'%s",
                      v->u.ref.task, g->tasks[node].kind->name, v->u.ref.output,
                      graph__suggest(hint, sizeof hint, closest_name(v->u.ref.output, names, n)));
  free(names);
  return rc;
}

/* Sorts a task's deps: a handful, so insertion sort. */
static void sort_ints(int *v, size_t n)
{
  size_t i, j;
  for (i = 1; i < n; i++) {
    int x = v[i];
    for (j = i; j > 0 && v[j - 1] > x; j--)
      v[j] = v[j - 1];
    v[j] = x;
  }
}

/* Sorts and dedups the deps gathered in ld->scratch into task t's. */
static void set_deps(struct loader *ld, struct task *t)
{
  size_t j, n = 0;
  sort_ints(ld->scratch, ld->nscratch);
  for (j = 0; j < ld->nscratch; j++)
    if (n == 0 || ld->scratch[j] != ld->scratch[n - 1])
      ld->scratch[n++] = ld->scratch[j];
  t->ndeps = n;
  t->deps = n ? arena_alloc_raw(&ld->pv->arena, n * sizeof *t->deps) : NULL;
  if (n)
    memcpy(t->deps, ld->scratch, n * sizeof *t->deps);
}

static void scratch_reserve(struct loader *ld, size_t n)
{
  ld->nscratch = 0;
  if (ld->capscratch < n) {
    ld->capscratch = n;
    ld->scratch = xrealloc(ld->scratch, ld->capscratch * sizeof *ld->scratch);
  }
}

void graph__resolve_early(struct loader *ld, size_t i)
{
  struct graph *g = ld->g;
  size_t r;
  scratch_reserve(ld, ld->refs.n - ld->ref_first[i]);
  for (r = ld->ref_first[i]; r < ld->refs.n; r++) {
    struct val *v = ld->refs.v[r];
    int node = graph_find_task(g, v->u.ref.task);
    if (node < 0 || task_find_output(&g->tasks[node], v->u.ref.output) < 0) {
      if (ld->ndeferred == ld->capdeferred) {
        ld->capdeferred = ld->capdeferred ? 2 * ld->capdeferred : 64;
        ld->deferred = xrealloc(ld->deferred, ld->capdeferred * sizeof *ld->deferred);
      }
      ld->deferred[ld->ndeferred++] = (int)i;
      return;
    }
    v->u.ref.node = node;
    ld->scratch[ld->nscratch++] = node;
  }
  set_deps(ld, &g->tasks[i]);
}

int graph__build_edges(struct loader *ld)
{
  struct graph *g = ld->g;
  struct arena *arena = &ld->pv->arena;
  size_t i, j, k, *nr;

  if (g->ntasks)
    ld->ref_first[g->ntasks] = ld->refs.n;
  /* Tasks in order, references in order: the first bad one is reported. */
  for (k = 0; k < ld->ndeferred; k++) {
    size_t r;
    i = (size_t)ld->deferred[k];
    scratch_reserve(ld, ld->ref_first[i + 1] - ld->ref_first[i]);
    for (r = ld->ref_first[i]; r < ld->ref_first[i + 1]; r++) {
      struct val *v = ld->refs.v[r];
      int node = graph_find_task(g, v->u.ref.task);
      if (node < 0 || task_find_output(&g->tasks[node], v->u.ref.output) < 0)
        return bad_ref(ld, v, node);
      v->u.ref.node = node;
      ld->scratch[ld->nscratch++] = node;
    }
    set_deps(ld, &g->tasks[i]);
  }
  nr = xcalloc(g->ntasks + 1, sizeof *nr);
  for (i = 0; i < g->ntasks; i++)
    for (j = 0; j < g->tasks[i].ndeps; j++)
      nr[g->tasks[i].deps[j]]++;
  for (i = 0; i < g->ntasks; i++)
    g->tasks[i].rdeps = nr[i] ? arena_alloc_raw(arena, nr[i] * sizeof(int)) : NULL;
  /* Filled in ascending order of the dependent: sorted, and unique because
   * each task's deps are. */
  for (i = 0; i < g->ntasks; i++)
    for (j = 0; j < g->tasks[i].ndeps; j++) {
      struct task *d = &g->tasks[g->tasks[i].deps[j]];
      d->rdeps[d->nrdeps++] = (int)i;
    }
  free(nr);
  return 0;
}

#define CYCLE_SHOWN 12

static int report_cycle(struct loader *ld, const int *cyc, size_t n)
{
  struct graph *g = ld->g;
  struct strbuf sb;
  size_t i, start = 0;
  int rc;
  /* Start at the task declared first, so the message does not depend on
   * where the search happened to enter the cycle. */
  for (i = 1; i < n; i++)
    if (cyc[i] < cyc[start])
      start = i;
  strbuf_init(&sb, 128);
  for (i = 0; i < n; i++) {
    if (n > CYCLE_SHOWN && i == CYCLE_SHOWN - 2) {
      strbuf_addf(&sb, "... (%zu more) -> ", n - CYCLE_SHOWN + 1);
      i = n - 1;
    }
    strbuf_addf(&sb, "%s -> ", g->tasks[cyc[(start + i) % n]].name);
  }
  strbuf_addstr(&sb, g->tasks[cyc[start]].name);
  rc = graph_error_at(ld->err, PD_ECYCLE, &g->tasks[cyc[start]].loc, "dependency cycle: %s",
                      sb.buf);
  strbuf_release(&sb);
  return rc;
}

/* Iterative depth-first search from each task in declaration order, deps
 * ascending: post-order is the topological order (dependencies first), and
 * an edge to a task still on the stack closes a cycle. */
int graph__order(struct loader *ld)
{
  struct graph *g = ld->g;
  size_t n = g->ntasks, top = 0, nt = 0, r;
  /* One block: next and pos per task, then the stack, then the states. */
  size_t *next = xcalloc(2 * (n + 1) * sizeof(size_t) + (n + 1) * sizeof(int) + n + 1, 1);
  size_t *pos = next + n + 1;
  int *stack = (int *)(pos + n + 1);
  char *state = (char *)(stack + n + 1); /* 0 new, 1 on the stack, 2 done */
  int rc = 0;

  g->topo = arena_alloc_raw(&ld->pv->arena, (n + 1) * sizeof *g->topo);
  for (r = 0; r < n && rc == 0; r++) {
    if (state[r])
      continue;
    state[r] = 1;
    pos[r] = top;
    stack[top++] = (int)r;
    while (top > 0) {
      int v = stack[top - 1];
      struct task *t = &g->tasks[v];
      if (next[v] < t->ndeps) {
        int w = t->deps[next[v]++];
        if (state[w] == 1) {
          rc = report_cycle(ld, stack + pos[w], top - pos[w]);
          break;
        }
        if (state[w] == 0) {
          state[w] = 1;
          pos[w] = top;
          stack[top++] = w;
        }
      } else {
        state[v] = 2;
        g->topo[nt++] = v;
        top--;
      }
    }
  }
  free(next);
  return rc;
}
