/* graph.c - loads a graph file into a validated graph (see graph.h).
 *
 * graph_load works in passes over the syntax trees (parse.c):
 *   0. read the top file and, depth first, every include (each real path
 *      once; a file on the include stack again is a cycle);
 *   1. params (with --set applied in place, so later params see the
 *      overridden value) and pools, in file order;
 *   2. tasks, expanding `for` loops; each task is checked against its kind
 *      and completed with defaults, then the kind's check() runs;
 *   3. references resolved to task indices, deps/rdeps, then one iterative
 *      depth-first search finds a cycle or yields the topological order.
 * Names live in open-addressing hash tables, so a 10,000-task graph loads in
 * time linear in its size; only error paths (did-you-mean) scan all names.
 *
 * graph_error_at has no graph argument, yet must print the source line: the
 * source texts of every loaded graph sit in a process-wide registry, found
 * by the srcloc's interned file pointer (under a mutex, since the scheduler
 * may report from other threads).
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
#include "graph.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "err.h"
#include "lexer.h"
#include "parse.h"
#include "registry.h"
#include "strbuf.h"

/* --- name tables -------------------------------------------------------- */

/* Open addressing, linear probing, power-of-two capacity. Keys are
 * borrowed: they belong to the task, param or pool they name. */
struct strmap {
  const char **keys;
  int *vals;
  size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
  uint64_t h = 14695981039346656037ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

static int strmap_get(const struct strmap *m, const char *k)
{
  size_t i;
  if (!m->cap)
    return -1;
  for (i = (size_t)hash_str(k) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
    if (strcmp(m->keys[i], k) == 0)
      return m->vals[i];
  return -1;
}

static void strmap_put(struct strmap *m, const char *k, int v);

static void strmap_grow(struct strmap *m)
{
  struct strmap old = *m;
  size_t i;
  m->cap = old.cap ? old.cap * 2 : 64;
  m->n = 0;
  m->keys = xcalloc(m->cap, sizeof *m->keys);
  m->vals = xcalloc(m->cap, sizeof *m->vals);
  for (i = 0; i < old.cap; i++)
    if (old.keys[i])
      strmap_put(m, old.keys[i], old.vals[i]);
  free(old.keys);
  free(old.vals);
}

/* k must not be in m yet. */
static void strmap_put(struct strmap *m, const char *k, int v)
{
  size_t i;
  if ((m->n + 1) * 4 > m->cap * 3)
    strmap_grow(m);
  for (i = (size_t)hash_str(k) & (m->cap - 1); m->keys[i]; i = (i + 1) & (m->cap - 1))
    ;
  m->keys[i] = k;
  m->vals[i] = v;
  m->n++;
}

static void strmap_free(struct strmap *m)
{
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

/* --- private state and the source registry ------------------------------ */

struct source {
  char *display; /* interned: every srcloc.file of this file points here */
  char *abs;     /* real path */
  char *dir;     /* its folder */
  char *text;
  size_t len;
};

struct priv {
  struct source **src;
  size_t nsrc;
  struct strmap tasks, params, pools;
  struct priv *reg_next; /* the registry of live graphs */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct priv *reg_head;

static void reg_add(struct priv *pv)
{
  pthread_mutex_lock(&reg_lock);
  pv->reg_next = reg_head;
  reg_head = pv;
  pthread_mutex_unlock(&reg_lock);
}

static void reg_remove(struct priv *pv)
{
  struct priv **pp;
  pthread_mutex_lock(&reg_lock);
  for (pp = &reg_head; *pp; pp = &(*pp)->reg_next)
    if (*pp == pv) {
      *pp = pv->reg_next;
      break;
    }
  pthread_mutex_unlock(&reg_lock);
}

static void priv_free(struct priv *pv)
{
  size_t i;
  if (!pv)
    return;
  reg_remove(pv);
  for (i = 0; i < pv->nsrc; i++) {
    free(pv->src[i]->display);
    free(pv->src[i]->abs);
    free(pv->src[i]->dir);
    free(pv->src[i]->text);
    free(pv->src[i]);
  }
  free(pv->src);
  strmap_free(&pv->tasks);
  strmap_free(&pv->params);
  strmap_free(&pv->pools);
  free(pv);
}

int graph_error_at(struct pd_err *err, int code, const struct srcloc *loc,
                   const char *fmt, ...)
{
  const struct source *found = NULL;
  struct priv *pv;
  va_list ap;
  size_t i;

  if (!code)
    code = PD_EGRAPH;
  pthread_mutex_lock(&reg_lock);
  if (loc && loc->file)
    for (pv = reg_head; pv && !found; pv = pv->reg_next)
      for (i = 0; i < pv->nsrc; i++)
        if (pv->src[i]->display == loc->file) {
          found = pv->src[i];
          break;
        }
  va_start(ap, fmt);
  diag_vset(err, code, found ? found->text : NULL, found ? found->len : 0, loc, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&reg_lock);
  return code;
}

/* --- did you mean ------------------------------------------------------- */

static int lower(int c)
{
  return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Optimal string alignment distance (Levenshtein plus transpositions),
 * ignoring case; gives up (returns limit + 1) once it exceeds limit. */
static size_t edit_distance(const char *a, const char *b, size_t limit)
{
  size_t na = strlen(a), nb = strlen(b), i, j, d;
  size_t *prev2, *prev, *cur, *buf;
  if ((na > nb ? na - nb : nb - na) > limit)
    return limit + 1;
  buf = xmalloc(3 * (nb + 1) * sizeof *buf);
  prev2 = buf;
  prev = buf + nb + 1;
  cur = buf + 2 * (nb + 1);
  for (j = 0; j <= nb; j++)
    prev[j] = j;
  for (i = 1; i <= na; i++) {
    size_t row_min;
    cur[0] = row_min = i;
    for (j = 1; j <= nb; j++) {
      size_t cost = lower((unsigned char)a[i - 1]) != lower((unsigned char)b[j - 1]);
      size_t v = prev[j] + 1;
      if (cur[j - 1] + 1 < v)
        v = cur[j - 1] + 1;
      if (prev[j - 1] + cost < v)
        v = prev[j - 1] + cost;
      if (i > 1 && j > 1 && lower((unsigned char)a[i - 1]) == lower((unsigned char)b[j - 2]) &&
          lower((unsigned char)a[i - 2]) == lower((unsigned char)b[j - 1]) &&
          prev2[j - 2] + 1 < v)
        v = prev2[j - 2] + 1;
      cur[j] = v;
      if (v < row_min)
        row_min = v;
    }
    if (row_min > limit) {
      free(buf);
      return limit + 1;
    }
    {
      size_t *t = prev2;
      prev2 = prev;
      prev = cur;
      cur = t;
    }
  }
  d = prev[nb];
  free(buf);
  return d;
}

const char *closest_name(const char *name, const char *const *cands, size_t n)
{
  size_t limit = strlen(name) / 3, best_d, i;
  const char *best = NULL;
  if (limit < 2)
    limit = 2;
  best_d = limit + 1;
  for (i = 0; i < n; i++) {
    size_t d;
    if (!cands[i])
      continue;
    d = edit_distance(name, cands[i], best_d - 1 < limit ? best_d - 1 : limit);
    if (d < best_d) {
      best_d = d;
      best = cands[i];
      if (d == 0)
        break;
    }
  }
  return best;
}

/* "; did you mean 'x'?" or "". */
static const char *suggest(char *buf, size_t size, const char *near)
{
  if (!near)
    return "";
  snprintf(buf, size, "; did you mean '%s'?", near);
  return buf;
}

/* --- public lookups ----------------------------------------------------- */

int graph_find_task(const struct graph *g, const char *name)
{
  size_t i;
  if (g->priv)
    return strmap_get(&((const struct priv *)g->priv)->tasks, name);
  for (i = 0; i < g->ntasks; i++)
    if (strcmp(g->tasks[i].name, name) == 0)
      return (int)i;
  return -1;
}

int graph__find_param(const struct graph *g, const char *name)
{
  size_t i;
  if (g->priv)
    return strmap_get(&((const struct priv *)g->priv)->params, name);
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

static void task_release(struct task *t)
{
  size_t i;
  free(t->name);
  val_release(&t->params);
  for (i = 0; i < t->noutputs; i++) {
    free(t->outputs[i].name);
    free(t->outputs[i].path);
  }
  free(t->outputs);
  free(t->deps);
  free(t->rdeps);
}

void graph_release(struct graph *g)
{
  size_t i;
  if (!g)
    return;
  priv_free(g->priv);
  for (i = 0; i < g->ntasks; i++)
    task_release(&g->tasks[i]);
  free(g->tasks);
  free(g->topo);
  for (i = 0; i < g->nparams; i++) {
    free(g->params[i].name);
    val_release(&g->params[i].value);
  }
  free(g->params);
  for (i = 0; i < g->npools; i++)
    free(g->pools[i].name);
  free(g->pools);
  for (i = 0; i < g->nsources; i++)
    free(g->sources[i]);
  free(g->sources);
  free(g->path);
  free(g->dir);
  memset(g, 0, sizeof *g);
}

/* --- type checks -------------------------------------------------------- */

static const char *a_val(enum val_kind k)
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
                      suggest(hint, sizeof hint, closest_name(v->u.str.s, cands, n)));
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
                          kp->name, a_ptype(kp->type), a_val(v->kind));
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

/* --- the loader --------------------------------------------------------- */

/* A kind's parameters (its own, then the common ones it does not shadow),
 * sorted by name, with their defaults parsed once per load. */
struct kind_info {
  const struct task_kind *kind;
  const struct kind_param **kps;
  struct val *defs; /* V_NULL where required */
  size_t n;
};

struct loader {
  struct graph *g;
  struct priv *pv;
  struct pd_err *err;
  const struct override *ov;
  size_t nov;
  char *ov_used;
  struct ast **asts;        /* every parsed file, owned */
  size_t nasts;
  struct source **stack;    /* files being included, for cycles */
  size_t nstack;
  struct binding *vars;     /* loop variables, innermost last */
  size_t nvars, capvars;
  size_t captasks;
  struct kind_info *kinds;
  size_t nkinds;
  int *scratch;             /* deps of one task while resolving */
  size_t nscratch, capscratch;
  struct val **refs;        /* every V_REF in task params, task by task */
  size_t nrefs, caprefs;
  size_t *ref_first;        /* per task: its first entry in refs */
  size_t ntask_stmts;       /* task statements seen in pass 1 (a size hint) */
};

static int read_all(const char *path, char **text, size_t *len)
{
  struct stat st;
  size_t cap, n = 0;
  char *buf;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    int e = S_ISDIR(st.st_mode) ? EISDIR : errno;
    close(fd);
    return -e;
  }
  cap = (size_t)st.st_size + 2; /* room for the read that sees the end */
  buf = xmalloc(cap);
  for (;;) {
    ssize_t r;
    if (n + 1 >= cap) {
      cap *= 2;
      buf = xrealloc(buf, cap);
    }
    r = read(fd, buf + n, cap - n - 1);
    if (r < 0) {
      int e = errno;
      if (e == EINTR)
        continue;
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
                                 size_t len)
{
  struct source *s = xcalloc(1, sizeof *s);
  struct graph *g = ld->g;
  s->display = display;
  s->abs = abs;
  s->dir = path_dirname(abs);
  s->text = text;
  s->len = len;
  pthread_mutex_lock(&reg_lock); /* graph_error_at may be reading the list */
  ld->pv->src = xrealloc(ld->pv->src, (ld->pv->nsrc + 1) * sizeof *ld->pv->src);
  ld->pv->src[ld->pv->nsrc++] = s;
  pthread_mutex_unlock(&reg_lock);
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
  int rc = 0;

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
  if ((rc = read_all(abs, &text, &len)) < 0) {
    rc = graph_error_at(ld->err, PD_EGRAPH, &s->name_loc, "cannot open include '%s': %s",
                        s->path, strerror(-rc));
    goto fail;
  }
  free(open_path);
  inc = add_source(ld, display, abs, text, len);
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
  size_t i;
  int rc;

  ld->asts = xrealloc(ld->asts, (ld->nasts + 1) * sizeof *ld->asts);
  ld->asts[ld->nasts++] = ast;
  if ((rc = parse_file(src->text, src->len, src->display, ast, ld->err)) < 0)
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

static void eval_init(struct loader *ld, struct eval_ctx *cx, enum eval_mode mode,
                      const struct ast *a)
{
  memset(cx, 0, sizeof *cx);
  cx->mode = mode;
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
  default: return a_val(k);
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
    v.u.str.s = xstrdup(o->value);
    v.u.str.n = strlen(o->value);
    ok = 1;
  } else if (parse_literal(o->value, &p->loc, &v, &scratch) < 0) {
    ok = 0;
  } else {
    if (p->value.kind == V_FLOAT && v.kind == V_INT) {
      double f = (double)v.u.i;
      v.kind = V_FLOAT;
      v.u.f = f;
    }
    ok = v.kind == p->value.kind;
  }
  if (!ok) {
    val_release(&v);
    return ERR_SET(ld->err, PD_EUSAGE, "--set %s=%s: '%s' is %s (declared at %s:%d:%d), got '%s'",
                   o->name, o->value, p->name, a_kind_for_set(p->value.kind), p->loc.file,
                   p->loc.line, p->loc.col, o->value);
  }
  v.loc = p->loc;
  val_release(&p->value);
  p->value = v;
  p->overridden = 1;
  return 0;
}

static int already_defined(struct loader *ld, const struct srcloc *at, const char *what,
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

  if ((k = strmap_get(&ld->pv->params, s->name)) >= 0)
    return already_defined(ld, &s->name_loc, "param", s->name, &g->params[k].loc);
  eval_init(ld, &cx, EV_PARAM, a);
  cx.vars = NULL;
  cx.nvars = 0;
  if ((rc = eval_expr(&s->value, &cx, &v, ld->err)) < 0)
    return rc;
  g->params = xrealloc(g->params, (g->nparams + 1) * sizeof *g->params);
  p = &g->params[g->nparams++];
  memset(p, 0, sizeof *p);
  p->name = xstrdup(s->name);
  p->value = v;
  p->loc = s->name_loc;
  strmap_put(&ld->pv->params, p->name, (int)(g->nparams - 1));
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
  if ((k = strmap_get(&ld->pv->pools, s->name)) >= 0)
    return already_defined(ld, &s->name_loc, "pool", s->name, &g->pools[k].loc);
  eval_init(ld, &cx, EV_PARAM, a);
  cx.where = "a pool size";
  if ((rc = eval_expr(&s->value, &cx, &v, ld->err)) < 0)
    return rc;
  if (v.kind != V_INT || v.u.i < 1 || v.u.i > INT_MAX) {
    if (v.kind == V_INT)
      rc = graph_error_at(ld->err, PD_EGRAPH, &v.loc,
                          "pool size must be an integer from 1 to %d, got %lld", INT_MAX,
                          (long long)v.u.i);
    else
      rc = graph_error_at(ld->err, PD_EGRAPH, &v.loc,
                          "pool size must be an integer >= 1, not %s", a_val(v.kind));
    val_release(&v);
    return rc;
  }
  g->pools = xrealloc(g->pools, (g->npools + 1) * sizeof *g->pools);
  p = &g->pools[g->npools++];
  p->name = xstrdup(s->name);
  p->size = (int)v.u.i;
  p->loc = s->name_loc;
  strmap_put(&ld->pv->pools, p->name, (int)(g->npools - 1));
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
               ld->ov[i].value, ld->ov[i].name, near ? suggest(hint, sizeof hint, near)
               : g->nparams ? "" : " (the graph declares no params)");
  free(names);
  return rc;
}

/* --- pass 2: tasks ------------------------------------------------------ */

static int kp_cmp(const void *a, const void *b)
{
  return strcmp((*(const struct kind_param *const *)a)->name,
                (*(const struct kind_param *const *)b)->name);
}

static int kind_info_get(struct loader *ld, const struct task_kind *k, struct kind_info **out)
{
  struct kind_info *ki;
  const struct kind_param *p;
  struct srcloc none = { NULL, 0, 0 };
  size_t i, n = 0;
  int rc;

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
  ki->defs = xcalloc(ki->n, sizeof *ki->defs);
  for (i = 0; i < ki->n; i++) {
    const struct kind_param *kp = ki->kps[i];
    if (!kp->def)
      continue;
    if (parse_literal(kp->def, &none, &ki->defs[i], NULL) < 0 ||
        graph__check_value(kp, &ki->defs[i], NULL) < 0) {
      rc = ERR_SET(ld->err, PD_EGRAPH, "task kind '%s': bad default '%s' for parameter '%s'",
                   k->name, kp->def, kp->name);
      return rc;
    }
  }
  *out = ki;
  return 0;
}

static void kind_info_free(struct kind_info *ki)
{
  size_t i;
  for (i = 0; i < ki->n; i++)
    val_release(&ki->defs[i]);
  free(ki->defs);
  free(ki->kps);
}

static int kind_info_find(const struct kind_info *ki, const char *name)
{
  size_t lo = 0, hi = ki->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(name, ki->kps[mid]->name);
    if (c == 0)
      return (int)mid;
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return -1;
}

static void set_loc_deep(struct val *v, const struct srcloc *loc)
{
  size_t i;
  v->loc = *loc;
  if (v->kind == V_LIST || v->kind == V_CONCAT)
    for (i = 0; i < v->u.list.n; i++)
      set_loc_deep(&v->u.list.v[i], loc);
  else if (v->kind == V_MAP)
    for (i = 0; i < v->u.map.n; i++)
      set_loc_deep(&v->u.map.v[i], loc);
}

static int unknown_kind(struct loader *ld, const struct stmt *s)
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
                      suggest(hint, sizeof hint, closest_name(s->kind_name, names, n)));
  free(names);
  return rc;
}

static int unknown_attr(struct loader *ld, const struct kind_info *ki, const struct attr *a)
{
  const char **names = xmalloc((ki->n + 1) * sizeof *names);
  char hint[160];
  size_t i;
  int rc;
  for (i = 0; i < ki->n; i++)
    names[i] = ki->kps[i]->name;
  rc = graph_error_at(ld->err, PD_EGRAPH, &a->loc, "unknown parameter '%s' for task kind '%s'%s",
                      a->name, ki->kind->name,
                      suggest(hint, sizeof hint, closest_name(a->name, names, ki->n)));
  free(names);
  return rc;
}

static int check_pool(struct loader *ld, const struct val *v)
{
  const struct graph *g = ld->g;
  const char **names;
  char hint[160];
  size_t i;
  int rc;
  if (strcmp(v->u.str.s, "cpu") == 0 || strcmp(v->u.str.s, "gpu") == 0 ||
      strmap_get(&ld->pv->pools, v->u.str.s) >= 0)
    return 0;
  names = xmalloc((g->npools + 2) * sizeof *names);
  names[0] = "cpu";
  names[1] = "gpu";
  for (i = 0; i < g->npools; i++)
    names[i + 2] = g->pools[i].name;
  rc = graph_error_at(ld->err, PD_EGRAPH, &v->loc,
                      "unknown pool '%s' (there are cpu, gpu and the pools the graph "
                      "declares)%s", v->u.str.s,
                      suggest(hint, sizeof hint, closest_name(v->u.str.s, names, g->npools + 2)));
  free(names);
  return rc;
}

/* The task's name: an identifier, or a string interpolated with params and
 * loop variables that must come out as one. */
static int task_name(struct loader *ld, const struct ast *a, const struct stmt *s, char **out)
{
  struct eval_ctx cx;
  struct val v;
  int rc;
  if (s->name) {
    *out = xstrdup(s->name);
    return 0;
  }
  eval_init(ld, &cx, EV_NAME, a);
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
    val_release(&v);
    return rc;
  }
  *out = v.u.str.s; /* taken */
  return 0;
}

/* Remembers where the references are while the values are still in the
 * cache: resolving them later by walking every value again costs more. */
static void collect_refs(struct loader *ld, struct val *v)
{
  size_t i;
  switch (v->kind) {
  case V_REF:
    if (ld->nrefs == ld->caprefs) {
      ld->caprefs = ld->caprefs ? 2 * ld->caprefs : 256;
      ld->refs = xrealloc(ld->refs, ld->caprefs * sizeof *ld->refs);
    }
    ld->refs[ld->nrefs++] = v;
    break;
  case V_LIST:
  case V_CONCAT:
    for (i = 0; i < v->u.list.n; i++)
      collect_refs(ld, &v->u.list.v[i]);
    break;
  case V_MAP:
    for (i = 0; i < v->u.map.n; i++)
      collect_refs(ld, &v->u.map.v[i]);
    break;
  default:
    break;
  }
}

static int eval_task(struct loader *ld, const struct ast *a, const struct stmt *s)
{
  struct graph *g = ld->g;
  const struct task_kind *kind;
  struct kind_info *ki = NULL;
  struct eval_ctx cx;
  struct task *t;
  struct val *vals = NULL;
  const struct attr **set = NULL, *set_inl[32];
  const struct kind_output *ko;
  const struct val *v;
  char *name = NULL;
  size_t i;
  int k, rc;

  if ((rc = task_name(ld, a, s, &name)) < 0)
    return rc;
  if ((k = strmap_get(&ld->pv->tasks, name)) >= 0) {
    rc = already_defined(ld, &s->name_loc, "task", name, &g->tasks[k].loc);
    free(name);
    return rc;
  }
  if (!(kind = registry_find(s->kind_name))) {
    free(name);
    return unknown_kind(ld, s);
  }
  if ((rc = kind_info_get(ld, kind, &ki)) < 0) {
    free(name);
    return rc;
  }
  if (g->ntasks == ld->captasks) {
    ld->captasks = ld->captasks ? 2 * ld->captasks
                   : ld->ntask_stmts > 16 ? ld->ntask_stmts : 16;
    g->tasks = xrealloc(g->tasks, ld->captasks * sizeof *g->tasks);
    ld->ref_first = xrealloc(ld->ref_first, (ld->captasks + 1) * sizeof *ld->ref_first);
  }
  ld->ref_first[g->ntasks] = ld->nrefs;
  t = &g->tasks[g->ntasks++];
  memset(t, 0, sizeof *t);
  t->name = name;
  t->kind = kind;
  t->loc = s->name_loc;
  strmap_put(&ld->pv->tasks, t->name, (int)(g->ntasks - 1));

  vals = xcalloc(ki->n, sizeof *vals);
  set = ki->n <= sizeof set_inl / sizeof set_inl[0] ? set_inl : xmalloc(ki->n * sizeof *set);
  memset(set, 0, ki->n * sizeof *set);
  eval_init(ld, &cx, EV_TASK, a);
  for (i = 0; i < s->nattrs; i++) {
    const struct attr *at = &s->attrs[i];
    int ix = kind_info_find(ki, at->name);
    if (ix < 0) {
      rc = unknown_attr(ld, ki, at);
      goto fail;
    }
    if (set[ix]) {
      rc = graph_error_at(ld->err, PD_EGRAPH, &at->loc,
                          "parameter '%s' is already set at %s:%d:%d", at->name,
                          set[ix]->loc.file, set[ix]->loc.line, set[ix]->loc.col);
      goto fail;
    }
    set[ix] = at;
    if ((rc = eval_expr(&at->value, &cx, &vals[ix], ld->err)) < 0 ||
        (rc = graph__check_value(ki->kps[ix], &vals[ix], ld->err)) < 0)
      goto fail;
  }
  for (i = 0; i < ki->n; i++) {
    if (set[i])
      continue;
    if (!ki->kps[i]->def) {
      rc = graph_error_at(ld->err, PD_EGRAPH, &t->loc,
                          "task '%s' (%s) is missing required parameter '%s'", t->name,
                          kind->name, ki->kps[i]->name);
      goto fail;
    }
    val_copy(&vals[i], &ki->defs[i]);
    set_loc_deep(&vals[i], &t->loc);
  }
  t->params.kind = V_MAP;
  t->params.loc = t->loc;
  t->params.u.map.n = ki->n;
  t->params.u.map.k = xmalloc(ki->n * sizeof *t->params.u.map.k);
  t->params.u.map.v = vals;
  vals = NULL;
  for (i = 0; i < ki->n; i++)
    t->params.u.map.k[i] = xstrdup(ki->kps[i]->name);
  collect_refs(ld, &t->params);
  if (set != set_inl)
    free(set);
  set = NULL;

  if ((v = task_param(t, "pool")) && v->kind == V_STR) {
    if ((rc = check_pool(ld, v)) < 0)
      return rc;
    t->pool = v->u.str.s;
  } else {
    t->pool = "cpu";
  }
  t->threads = (v = task_param(t, "threads")) && v->kind == V_INT ? (int)v->u.i : 1;
  t->retries = (v = task_param(t, "retries")) && v->kind == V_INT ? (int)v->u.i : 0;

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
    return rc;
  }
  return 0;
fail:
  if (vals)
    for (i = 0; i < ki->n; i++)
      val_release(&vals[i]);
  free(vals);
  if (set != set_inl)
    free(set);
  return rc;
}

static int eval_file(struct loader *ld, struct ast *a);
static int eval_body(struct loader *ld, struct ast *a, const struct stmt *v, size_t n);

static int eval_for(struct loader *ld, struct ast *a, const struct stmt *s)
{
  struct eval_ctx cx;
  struct val list;
  size_t i;
  int rc = 0;

  eval_init(ld, &cx, EV_FOR, a);
  if ((rc = eval_expr(&s->value, &cx, &list, ld->err)) < 0)
    return rc;
  if (list.kind != V_LIST) {
    rc = graph_error_at(ld->err, PD_EGRAPH, &list.loc, "a for loop needs a list, not %s",
                        a_val(list.kind));
    val_release(&list);
    return rc;
  }
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
  val_release(&list);
  return rc;
}

static int eval_stmt(struct loader *ld, struct ast *a, const struct stmt *s)
{
  if (s->kind == S_INCLUDE && s->included)
    return eval_file(ld, s->included);
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
 * that memory, and a big graph needs about half the peak memory (page
 * faults are much of what loading costs). Once statement i is done, what
 * statements i + 1 and later use lies in chunks from marks[i - 1] - 1 on
 * (see struct ast). */
static int eval_file(struct loader *ld, struct ast *a)
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

/* --- pass 3: references, edges, order ----------------------------------- */

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
                        suggest(hint, sizeof hint,
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
                      suggest(hint, sizeof hint, closest_name(v->u.ref.output, names, n)));
  free(names);
  return rc;
}

static int int_cmp(const void *a, const void *b)
{
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

static int build_edges(struct loader *ld)
{
  struct graph *g = ld->g;
  size_t i, j, *nr;

  if (g->ntasks)
    ld->ref_first[g->ntasks] = ld->nrefs;
  for (i = 0; i < g->ntasks; i++) {
    struct task *t = &g->tasks[i];
    size_t n = 0, r;
    ld->nscratch = 0;
    if (ld->capscratch < ld->ref_first[i + 1] - ld->ref_first[i]) {
      ld->capscratch = ld->ref_first[i + 1] - ld->ref_first[i];
      ld->scratch = xrealloc(ld->scratch, ld->capscratch * sizeof *ld->scratch);
    }
    for (r = ld->ref_first[i]; r < ld->ref_first[i + 1]; r++) {
      struct val *v = ld->refs[r];
      int node = graph_find_task(g, v->u.ref.task);
      if (node < 0 || task_find_output(&g->tasks[node], v->u.ref.output) < 0)
        return bad_ref(ld, v, node);
      v->u.ref.node = node;
      ld->scratch[ld->nscratch++] = node;
    }
    if (ld->nscratch > 1)
      qsort(ld->scratch, ld->nscratch, sizeof *ld->scratch, int_cmp);
    for (j = 0; j < ld->nscratch; j++)
      if (n == 0 || ld->scratch[j] != ld->scratch[n - 1])
        ld->scratch[n++] = ld->scratch[j];
    t->ndeps = n;
    t->deps = n ? xmalloc(n * sizeof *t->deps) : NULL;
    if (n)
      memcpy(t->deps, ld->scratch, n * sizeof *t->deps);
  }
  nr = xcalloc(g->ntasks + 1, sizeof *nr);
  for (i = 0; i < g->ntasks; i++)
    for (j = 0; j < g->tasks[i].ndeps; j++)
      nr[g->tasks[i].deps[j]]++;
  for (i = 0; i < g->ntasks; i++)
    g->tasks[i].rdeps = nr[i] ? xmalloc(nr[i] * sizeof(int)) : NULL;
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
static int order(struct loader *ld)
{
  struct graph *g = ld->g;
  size_t n = g->ntasks, top = 0, nt = 0, r;
  char *state = xcalloc(n + 1, 1); /* 0 new, 1 on the stack, 2 done */
  int *stack = xmalloc((n + 1) * sizeof *stack);
  size_t *next = xcalloc(n + 1, sizeof *next);
  size_t *pos = xcalloc(n + 1, sizeof *pos);
  int rc = 0;

  g->topo = xmalloc((n + 1) * sizeof *g->topo);
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
  free(state);
  free(stack);
  free(next);
  free(pos);
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
  for (i = 0; i < ld->nkinds; i++)
    kind_info_free(&ld->kinds[i]);
  free(ld->kinds);
  free(ld->scratch);
  free(ld->refs);
  free(ld->ref_first);
}

int graph_load(struct graph *g, const char *path, const struct override *overrides,
               size_t noverrides, struct pd_err *err)
{
  struct loader ld;
  struct digest_ctx dc;
  struct source *top;
  char *abs = NULL, *text = NULL;
  size_t len = 0, i;
  int rc;

  memset(g, 0, sizeof *g);
  memset(&ld, 0, sizeof ld);
  ld.g = g;
  ld.err = err;
  ld.ov = overrides;
  ld.nov = overrides ? noverrides : 0;
  ld.ov_used = xcalloc(ld.nov + 1, 1);
  ld.pv = xcalloc(1, sizeof *ld.pv);
  g->priv = ld.pv;
  reg_add(ld.pv);

  if ((rc = read_all(path, &text, &len)) < 0 || !(abs = realpath(path, NULL))) {
    if (rc == 0)
      rc = -errno;
    free(text);
    rc = ERR_SET(err, rc, "cannot open '%s': %s", path, strerror(-rc));
    goto fail;
  }
  g->path = xstrdup(abs);
  g->dir = path_dirname(abs);
  top = add_source(&ld, xstrdup(path), abs, text, len);
  if ((rc = load_file(&ld, top)) < 0 || (rc = pass_decls(&ld, ld.asts[0])) < 0 ||
      (rc = check_overrides(&ld)) < 0 ||
      (rc = eval_file(&ld, ld.asts[0])) < 0 ||
      (rc = build_edges(&ld)) < 0 || (rc = order(&ld)) < 0)
    goto fail;

  digest_init(&dc);
  for (i = 0; i < ld.pv->nsrc; i++) {
    uint8_t n8[8];
    uint64_t n = ld.pv->src[i]->len;
    int b;
    for (b = 0; b < 8; b++)
      n8[b] = (uint8_t)(n >> (8 * b));
    digest_update(&dc, n8, sizeof n8);
    digest_update(&dc, ld.pv->src[i]->text, ld.pv->src[i]->len);
  }
  digest_final(&dc, g->digest);
  loader_release(&ld);
  return 0;
fail:
  loader_release(&ld);
  graph_release(g);
  return rc;
}
