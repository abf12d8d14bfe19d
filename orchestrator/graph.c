/* graph.c - loads a graph file into a validated graph (see graph.h).
 *
 * graph_load works in passes over the syntax trees (parse.c):
 *   0. read the top file and, depth first, every include (each real path
 *      once; a file on the include stack again is a cycle);
 *   1. params (with --set applied in place, so later params see the
 *      overridden value) and pools, in file order;
 *   2. tasks, expanding `for` loops; each task is checked against its kind
 *      and completed with defaults, then the kind's check() runs
 *      (graph_task.c);
 *   3. references resolved to task indices, deps/rdeps, then one iterative
 *      depth-first search finds a cycle or yields the topological order
 *      (graph_order.c).
 * Kinds and type checks are in graph_kinds.c; name tables, the diagnostics'
 * source registry and the sources' digest in graph_names.c.
 *
 * Memory: the graph's tasks, values, names and small arrays live in one
 * arena (priv->arena, on huge pages once it is big), freed whole. Loading
 * a big graph was mostly malloc and page faults; now a task costs its
 * values and the few arrays the kinds' check() allocate (outputs). A task
 * whose attributes are constants (most are) is evaluated as soon as it is
 * parsed, so its syntax tree is reused at once instead of piling up until
 * pass 2, and references to tasks defined earlier are resolved as soon as
 * the task is checked, while their targets are still in the cache.
 *
 * Paths: a file is known by its real path (g->sources, include dedup and
 * cycles) and shown by its display name: the top file as the user gave it,
 * an include as its includer's display folder joined with the path written.
 * file()/dir() resolve against the real folder of the file they stand in
 * (lexically normalized, symlinks in the argument kept); rel is that path
 * relative to the top file's real folder, so action keys survive moving
 * the project. A kind's static outputs are filled before its check() runs,
 * which may add more (exec's come from its `outputs` parameter).
 */
#include "graph_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "strbuf.h"

/* --- public lookups ----------------------------------------------------- */

int graph_find_task(const struct graph *g, const char *name)
{
  size_t i;
  if (g->priv)
    return graph__map_get(&((const struct priv *)g->priv)->tasks, name);
  for (i = 0; i < g->ntasks; i++)
    if (strcmp(g->tasks[i].name, name) == 0)
      return (int)i;
  return -1;
}

int graph__find_param(const struct graph *g, const char *name)
{
  size_t i;
  if (g->priv)
    return graph__map_get(&((const struct priv *)g->priv)->params, name);
  for (i = 0; i < g->nparams; i++)
    if (strcmp(g->params[i].name, name) == 0)
      return (int)i;
  return -1;
}

int task_find_output(const struct task *t, const char *name)
{
  size_t i;
  for (i = 0; i < t->noutputs; i++)
    if (strcmp(t->outputs[i].name, name) == 0)
      return (int)i;
  return -1;
}

const struct val *task_param(const struct task *t, const char *name)
{
  return val_map_get(&t->params, name);
}

/* --- release ------------------------------------------------------------ */

static void priv_free(struct priv *pv)
{
  size_t i;
  if (!pv)
    return;
  graph__reg_remove(pv);
  for (i = 0; i < pv->nsrc; i++) {
    free(pv->src[i]->display);
    free(pv->src[i]->abs);
    free(pv->src[i]->dir);
    if (!pv->src[i]->text_in_arena)
      free(pv->src[i]->text);
    free(pv->src[i]);
  }
  free(pv->src);
  graph__map_free(&pv->tasks);
  graph__map_free(&pv->params);
  graph__map_free(&pv->pools);
  arena_release(&pv->arena);
  free(pv);
}

void graph_release(struct graph *g)
{
  size_t i, j;
  if (!g)
    return;
  /* Tasks, names, values, deps, rdeps and topo are in the arena; outputs
   * are the kinds' (check() reallocates them). */
  for (i = 0; i < g->ntasks; i++) {
    struct task *t = &g->tasks[i];
    for (j = 0; j < t->noutputs; j++) {
      free(t->outputs[j].name);
      free(t->outputs[j].path);
    }
    free(t->outputs);
  }
  priv_free(g->priv);
  free(g->params);
  free(g->pools);
  for (i = 0; i < g->nsources; i++)
    free(g->sources[i]);
  free(g->sources);
  free(g->path);
  free(g->dir);
  memset(g, 0, sizeof *g);
}

/* --- pass 0: files ------------------------------------------------------ */

/* Files this big are read into the graph's arena (huge pages), not malloc:
 * cheaper to fill, and they stay as long as the graph anyway. */
#define TEXT_IN_ARENA (1024 * 1024)

/* Reads path whole, NUL-terminated. *in_arena says whether the text is in
 * arena (else the caller frees it). */
static int read_all(const char *path, struct arena *arena, char **text, size_t *len,
                    int *in_arena)
{
  struct stat st;
  size_t cap, n = 0;
  char *buf;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  *in_arena = 0;
  if (fd < 0)
    return -errno;
  if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    int e = S_ISDIR(st.st_mode) ? EISDIR : errno;
    close(fd);
    return -e;
  }
  cap = (size_t)st.st_size + 2; /* room for the read that sees the end */
  if (cap >= TEXT_IN_ARENA) {
    buf = arena_alloc_raw(arena, cap);
    *in_arena = 1;
  } else {
    buf = xmalloc(cap);
  }
  for (;;) {
    ssize_t r;
    if (n + 1 >= cap) { /* the file grew */
      char *b = xmalloc(2 * cap);
      memcpy(b, buf, n);
      if (!*in_arena)
        free(buf);
      *in_arena = 0;
      buf = b;
      cap *= 2;
    }
    r = read(fd, buf + n, cap - n - 1);
    if (r < 0) {
      int e = errno;
      if (e == EINTR)
        continue;
      if (!*in_arena)
        free(buf);
      close(fd);
      return -e;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  *text = buf;
  *len = n;
  return 0;
}

static struct source *add_source(struct loader *ld, char *display, char *abs, char *text,
                                 size_t len, int in_arena)
{
  struct source *s = xcalloc(1, sizeof *s);
  struct graph *g = ld->g;
  s->display = display;
  s->abs = abs;
  s->dir = path_dirname(abs);
  s->text = text;
  s->len = len;
  s->text_in_arena = in_arena;
  graph__reg_add_source(ld->pv, s);
  g->sources = xrealloc(g->sources, (g->nsources + 1) * sizeof *g->sources);
  g->sources[g->nsources++] = xstrdup(abs);
  return s;
}

static int load_file(struct loader *ld, struct source *src);

/* include "path" in src: display is the includer's display folder joined
 * with the path, the file is found relative to the includer's real folder. */
static int load_include(struct loader *ld, struct source *src, struct stmt *s)
{
  char *open_path = path_join(src->dir, s->path), *abs, *display, *text;
  struct strbuf cyc;
  struct source *inc;
  size_t len, i;
  int rc = 0, in_arena;

  if (s->path[0] == '/' || !strchr(src->display, '/')) {
    display = xstrdup(s->path);
  } else {
    char *d = path_dirname(src->display);
    display = path_join(d, s->path);
    free(d);
  }
  if (!(abs = realpath(open_path, NULL))) {
    rc = graph_error_at(ld->err, PD_EGRAPH, &s->name_loc, "cannot open include '%s': %s",
                        s->path, strerror(errno));
    goto fail;
  }
  for (i = 0; i < ld->nstack && strcmp(ld->stack[i]->abs, abs) != 0; i++)
    ;
  if (i < ld->nstack) {
    size_t first = i;
    strbuf_init(&cyc, 128);
    for (; i < ld->nstack; i++)
      strbuf_addf(&cyc, "%s -> ", ld->stack[i]->display);
    strbuf_addstr(&cyc, ld->stack[first]->display);
    rc = graph_error_at(ld->err, PD_EGRAPH, &s->loc, "include cycle: %s", cyc.buf);
    strbuf_release(&cyc);
    goto fail;
  }
  for (i = 0; i < ld->pv->nsrc && strcmp(ld->pv->src[i]->abs, abs) != 0; i++)
    ;
  if (i < ld->pv->nsrc) { /* read already (a diamond): its statements took effect */
    s->included = NULL;
    goto fail; /* rc == 0: frees what this call made */
  }
  if ((rc = read_all(abs, &ld->pv->arena, &text, &len, &in_arena)) < 0) {
    rc = graph_error_at(ld->err, PD_EGRAPH, &s->name_loc, "cannot open include '%s': %s",
                        s->path, strerror(-rc));
    goto fail;
  }
  free(open_path);
  inc = add_source(ld, display, abs, text, len, in_arena);
  return load_file(ld, inc);
fail:
  free(open_path);
  free(abs);
  free(display);
  return rc;
}

/* Parses src and, depth first, the files it includes. */
static int load_file(struct loader *ld, struct source *src)
{
  struct ast *ast = xcalloc(1, sizeof *ast);
  struct parse_opts opts;
  size_t i;
  int rc;

  ld->asts = xrealloc(ld->asts, (ld->nasts + 1) * sizeof *ld->asts);
  ld->asts[ld->nasts++] = ast;
  opts.text = &ld->pv->arena;
  opts.on_task = graph__on_task;
  opts.arg = ld;
  if ((rc = parse_file_opts(src->text, src->len, src->display, &opts, ast, ld->err)) < 0)
    return rc;
  ast->dir = src->dir;
  ld->stack = xrealloc(ld->stack, (ld->nstack + 1) * sizeof *ld->stack);
  ld->stack[ld->nstack++] = src;
  for (i = 0; i < ast->n; i++)
    if (ast->stmts[i]->kind == S_INCLUDE) {
      struct stmt *s = ast->stmts[i];
      size_t before = ld->nasts;
      if ((rc = load_include(ld, src, s)) < 0)
        return rc;
      if (ld->nasts > before)
        s->included = ld->asts[before];
    }
  ld->nstack--;
  return 0;
}

/* --- pass 1: params and pools ------------------------------------------- */

void graph__eval_init(struct loader *ld, struct eval_ctx *cx, enum eval_mode mode,
                      const struct ast *a)
{
  memset(cx, 0, sizeof *cx);
  cx->mode = mode;
  cx->arena = &ld->pv->arena;
  cx->g = ld->g;
  cx->nparams = ld->g->nparams;
  cx->vars = ld->vars;
  cx->nvars = ld->nvars;
  cx->srcdir = a->dir;
  cx->topdir = ld->g->dir;
}

static const char *a_kind_for_set(enum val_kind k)
{
  switch (k) {
  case V_BOOL: return "a bool (true or false)";
  case V_INT: return "an integer";
  case V_FLOAT: return "a float";
  case V_LIST: return "a list";
  case V_MAP: return "a map";
  default: return graph__a_val(k);
  }
}

/* Replaces p->value with the --set text, typed like the declared value. */
static int apply_override(struct loader *ld, struct param_decl *p, const struct override *o)
{
  struct pd_err scratch;
  struct val v;
  int ok;

  memset(&scratch, 0, sizeof scratch);
  memset(&v, 0, sizeof v);
  if (p->value.kind == V_STR) {
    v.kind = V_STR;
    v.u.str.n = strlen(o->value);
    v.u.str.s = arena_strndup(&ld->pv->arena, o->value, v.u.str.n);
    ok = 1;
  } else if (parse_literal_in(o->value, &p->loc, &ld->pv->arena, &v, &scratch) < 0) {
    ok = 0;
  } else {
    if (p->value.kind == V_FLOAT && v.kind == V_INT) {
      double f = (double)v.u.i;
      v.kind = V_FLOAT;
      v.u.f = f;
    }
    ok = v.kind == p->value.kind;
  }
  if (!ok)
    return ERR_SET(ld->err, PD_EUSAGE, "--set %s=%s: '%s' is %s (declared at %s:%d:%d), got '%s'",
                   o->name, o->value, p->name, a_kind_for_set(p->value.kind), p->loc.file,
                   p->loc.line, p->loc.col, o->value);
  v.loc = p->loc;
  p->value = v;
  p->overridden = 1;
  return 0;
}

int graph__already_defined(struct loader *ld, const struct srcloc *at, const char *what,
                           const char *name, const struct srcloc *first)
{
  return graph_error_at(ld->err, PD_EGRAPH, at, "%s '%s' is already defined at %s:%d:%d", what,
                        name, first->file, first->line, first->col);
}

static int declare_param(struct loader *ld, const struct ast *a, const struct stmt *s)
{
  struct graph *g = ld->g;
  struct eval_ctx cx;
  struct param_decl *p;
  struct val v;
  size_t i;
  int k, rc;

  if ((k = graph__map_get(&ld->pv->params, s->name)) >= 0)
    return graph__already_defined(ld, &s->name_loc, "param", s->name, &g->params[k].loc);
  graph__eval_init(ld, &cx, EV_PARAM, a);
  cx.vars = NULL;
  cx.nvars = 0;
  if ((rc = eval_expr(&s->value, &cx, &v, ld->err)) < 0)
    return rc;
  g->params = xrealloc(g->params, (g->nparams + 1) * sizeof *g->params);
  p = &g->params[g->nparams++];
  memset(p, 0, sizeof *p);
  p->name = s->name; /* in the arena */
  p->value = v;
  p->loc = s->name_loc;
  graph__map_put(&ld->pv->params, p->name, (int)(g->nparams - 1));
  /* The last --set of a name wins, as on most command lines. */
  for (i = ld->nov; i-- > 0;)
    if (strcmp(ld->ov[i].name, s->name) == 0)
      break;
  if (i != (size_t)-1) {
    size_t j;
    for (j = 0; j < ld->nov; j++)
      if (strcmp(ld->ov[j].name, s->name) == 0)
        ld->ov_used[j] = 1;
    return apply_override(ld, p, &ld->ov[i]);
  }
  return 0;
}

static int declare_pool(struct loader *ld, const struct ast *a, const struct stmt *s)
{
  struct graph *g = ld->g;
  struct eval_ctx cx;
  struct pool_decl *p;
  struct val v;
  int k, rc;

  if (strcmp(s->name, "cpu") == 0 || strcmp(s->name, "gpu") == 0)
    return graph_error_at(ld->err, PD_EGRAPH, &s->name_loc,
                          "pool '%s' is built in; size it with -j/--gpus", s->name);
  if ((k = graph__map_get(&ld->pv->pools, s->name)) >= 0)
    return graph__already_defined(ld, &s->name_loc, "pool", s->name, &g->pools[k].loc);
  graph__eval_init(ld, &cx, EV_PARAM, a);
  cx.where = "a pool size";
  if ((rc = eval_expr(&s->value, &cx, &v, ld->err)) < 0)
    return rc;
  if (v.kind != V_INT || v.u.i < 1 || v.u.i > INT_MAX) {
    if (v.kind == V_INT)
      return graph_error_at(ld->err, PD_EGRAPH, &v.loc,
                            "pool size must be an integer from 1 to %d, got %lld", INT_MAX,
                            (long long)v.u.i);
    return graph_error_at(ld->err, PD_EGRAPH, &v.loc,
                          "pool size must be an integer >= 1, not %s", graph__a_val(v.kind));
  }
  g->pools = xrealloc(g->pools, (g->npools + 1) * sizeof *g->pools);
  p = &g->pools[g->npools++];
  p->name = s->name; /* in the arena */
  p->size = (int)v.u.i;
  p->loc = s->name_loc;
  graph__map_put(&ld->pv->pools, p->name, (int)(g->npools - 1));
  return 0;
}

static int pass_decls(struct loader *ld, const struct ast *a)
{
  size_t i;
  int rc = 0;
  for (i = 0; i < a->n && rc == 0; i++) {
    const struct stmt *s = a->stmts[i];
    if (s->kind == S_INCLUDE && s->included)
      rc = pass_decls(ld, s->included);
    else if (s->kind == S_PARAM)
      rc = declare_param(ld, a, s);
    else if (s->kind == S_POOL)
      rc = declare_pool(ld, a, s);
    else if (s->kind == S_TASK)
      ld->ntask_stmts++;
  }
  return rc;
}

static int check_overrides(struct loader *ld)
{
  struct graph *g = ld->g;
  const char **names;
  const char *near;
  char hint[160];
  size_t i, j;
  int rc;

  for (i = 0; i < ld->nov; i++)
    if (!ld->ov_used[i])
      break;
  if (i == ld->nov)
    return 0;
  names = xmalloc((g->nparams + 1) * sizeof *names);
  for (j = 0; j < g->nparams; j++)
    names[j] = g->params[j].name;
  near = closest_name(ld->ov[i].name, names, g->nparams);
  rc = ERR_SET(ld->err, PD_EUSAGE, "--set %s=%s: unknown param '%s'%s", ld->ov[i].name,
               ld->ov[i].value, ld->ov[i].name, near ? graph__suggest(hint, sizeof hint, near)
               : g->nparams ? "" : " (the graph declares no params)");
  free(names);
  return rc;
}

/* --- graph_load --------------------------------------------------------- */

static void loader_release(struct loader *ld)
{
  size_t i;
  for (i = 0; i < ld->nasts; i++) {
    ast_release(ld->asts[i]);
    free(ld->asts[i]);
  }
  free(ld->asts);
  free(ld->stack);
  free(ld->vars);
  free(ld->ov_used);
  graph__kinds_free(ld);
  free(ld->scratch);
  free(ld->refs.v);
  free(ld->prerefs.v);
  free(ld->ref_first);
  free(ld->deferred);
}

int graph_load(struct graph *g, const char *path, const struct override *overrides,
               size_t noverrides, struct pd_err *err)
{
  struct loader ld;
  struct digester dg;
  struct source *top;
  char *abs = NULL, *text = NULL;
  size_t len = 0;
  int rc, in_arena = 0;

  memset(g, 0, sizeof *g);
  memset(&ld, 0, sizeof ld);
  memset(&dg, 0, sizeof dg);
  ld.g = g;
  ld.err = err;
  ld.ov = overrides;
  ld.nov = overrides ? noverrides : 0;
  ld.ov_used = xcalloc(ld.nov + 1, 1);
  ld.pv = xcalloc(1, sizeof *ld.pv);
  arena_init_big(&ld.pv->arena);
  g->priv = ld.pv;
  graph__reg_add(ld.pv);

  if ((rc = read_all(path, &ld.pv->arena, &text, &len, &in_arena)) < 0 ||
      !(abs = realpath(path, NULL))) {
    if (rc == 0)
      rc = -errno;
    if (!in_arena)
      free(text);
    rc = ERR_SET(err, rc, "cannot open '%s': %s", path, strerror(-rc));
    goto fail;
  }
  g->path = xstrdup(abs);
  g->dir = path_dirname(abs);
  top = add_source(&ld, xstrdup(path), abs, text, len, in_arena);
  if ((rc = load_file(&ld, top)) < 0)
    goto fail;
  graph__digest_start(&dg, ld.pv);
  if ((rc = pass_decls(&ld, ld.asts[0])) < 0 || (rc = check_overrides(&ld)) < 0)
    goto fail;
  graph__map_reserve(&ld.pv->tasks, ld.ntask_stmts);
  if ((rc = graph__eval_file(&ld, ld.asts[0])) < 0 || (rc = graph__build_edges(&ld)) < 0 ||
      (rc = graph__order(&ld)) < 0)
    goto fail;
  graph__digest_finish(&dg, g->digest);
  loader_release(&ld);
  return 0;
fail:
  graph__digest_finish(&dg, NULL); /* a thread may be reading the sources */
  loader_release(&ld);
  graph_release(g);
  return rc;
}
