/* eval.c - the evaluator of graph-language expressions, and parse_literal
 * (see parse.h).
 *
 * Interpolation: a string whose parts are all text is a V_STR; one that is
 * exactly "${task.output}" or "${out}" (or a loop variable holding one) is
 * that bare V_REF / V_OUT; anything else with a reference or ${out} in it
 * is a V_CONCAT of V_STR / V_REF / V_OUT parts.
 *
 * Values are made in an arena (eval_ctx.arena) and own nothing: one malloc
 * per value (and its page faults) was most of what loading a big graph
 * cost. Values share what does not change: string text stays where the
 * lexer put it, a name evaluates to a copy of the top of its value that
 * shares the parts below.
 *
 * A reference by computed name ("sft_${seed}".model) becomes the same V_REF
 * as sft_1.model. A for expression ([for s in seeds : EXPR], {for s in
 * seeds : KEY => VALUE}) binds its variable on top of the enclosing ones, so
 * the body sees loop variables, params and outer for expressions.
 *
 * Left out: arithmetic, conditionals (no `if` in for expressions),
 * functions but file() and dir(). */
#include "parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "graph.h"
#include "strbuf.h"

static int ev_err(struct pd_err *err, const struct srcloc *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ev_err(struct pd_err *err, const struct srcloc *loc, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
  if (!err)
    return PD_EGRAPH; /* a trial evaluation: nobody to tell */
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return graph_error_at(err, PD_EGRAPH, loc, "%s", msg);
}

static const char *where(const struct eval_ctx *cx)
{
  if (cx->where)
    return cx->where;
  switch (cx->mode) {
  case EV_LITERAL: return "a literal";
  case EV_PARAM: return "a param";
  case EV_NAME: return "a task name";
  case EV_FOR: return "the list of a for loop";
  case EV_TASK: return "a task";
  }
  return "here";
}

static const struct val *lookup(const struct eval_ctx *cx, const char *name)
{
  size_t i = cx->nvars;
  int k;
  while (i-- > 0)
    if (strcmp(cx->vars[i].name, name) == 0)
      return cx->vars[i].v;
  if (cx->g && (k = graph__find_param(cx->g, name)) >= 0 && (size_t)k < cx->nparams)
    return &cx->g->params[k].value;
  return NULL;
}

static int unknown_name(const struct eval_ctx *cx, const char *name, const struct srcloc *loc,
                        struct pd_err *err)
{
  const char **cands;
  const char *near;
  size_t i, n = 0;
  int rc;
  if (cx->mode == EV_LITERAL || !err)
    return ev_err(err, loc, "names cannot be used in %s ('%s')", where(cx), name);
  cands = xmalloc((cx->nvars + cx->nparams + 1) * sizeof *cands);
  for (i = cx->nvars; i-- > 0;)
    cands[n++] = cx->vars[i].name;
  for (i = 0; i < cx->nparams; i++)
    cands[n++] = cx->g->params[i].name;
  near = closest_name(name, cands, n);
  if (near)
    rc = ev_err(err, loc, "unknown name '%s'; did you mean '%s'?", name, near);
  else
    rc = ev_err(err, loc, "unknown name '%s'", name);
  free(cands);
  return rc;
}

static int out_not_here(const struct srcloc *loc, struct pd_err *err)
{
  return ev_err(err, loc, "'${out}' (the task's output directory) is only valid inside a "
                          "task body");
}

/* Is s "out" (the name of ${out})? */
#define is_out(s) ((s)[0] == 'o' && (s)[1] == 'u' && (s)[2] == 't' && (s)[3] == '\0')

static int refs_allowed(const struct eval_ctx *cx)
{
  return cx->mode == EV_FOR || cx->mode == EV_TASK;
}

/* n values, each for eval_expr to fill (it sets every field). */
static struct val *vals_new(const struct eval_ctx *cx, size_t n)
{
  return n ? arena_alloc_raw(cx->arena, n * sizeof(struct val)) : NULL;
}

/* --- strings ------------------------------------------------------------ */

/* Text of an interpolated string being built: inline storage first, so a
 * short string costs only its final copy into the arena. */
struct tbuf {
  char *p;
  size_t n, cap;
  char inl[128];
};

static void tbuf_add(struct tbuf *b, const char *s, size_t n)
{
  if (b->n + n > b->cap) {
    size_t cap = b->cap * 2 > b->n + n ? b->cap * 2 : b->n + n;
    if (b->p == b->inl) {
      b->p = xmalloc(cap);
      memcpy(b->p, b->inl, b->n);
    } else {
      b->p = xrealloc(b->p, cap);
    }
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

struct concat {
  struct val *v; /* parts: inl, then on the heap */
  size_t n, cap;
  struct val inl[8];
  struct tbuf text;
  struct srcloc loc; /* of the string: text parts get it */
  struct arena *arena;
};

static void cat_push(struct concat *c, const struct val *v)
{
  if (c->n == c->cap) {
    c->cap *= 2;
    if (c->v == c->inl) {
      c->v = xmalloc(c->cap * sizeof *c->v);
      memcpy(c->v, c->inl, sizeof c->inl);
    } else {
      c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
  }
  c->v[c->n++] = *v;
}

static void cat_flush(struct concat *c)
{
  struct val v;
  if (!c->text.n)
    return;
  memset(&v, 0, sizeof v);
  v.kind = V_STR;
  v.loc = c->loc;
  v.u.str.s = arena_strndup(c->arena, c->text.p, c->text.n);
  v.u.str.n = c->text.n;
  c->text.n = 0;
  cat_push(c, &v);
}

/* A part that is a copy of src (sharing what is below it) placed at loc. */
static void cat_copy(struct concat *c, const struct val *src, const struct srcloc *loc)
{
  struct val v = *src;
  cat_flush(c);
  v.loc = *loc;
  cat_push(c, &v);
}

static void cat_free(struct concat *c)
{
  if (c->text.p != c->text.inl)
    free(c->text.p);
  if (c->v != c->inl)
    free(c->v);
}

static int eval_string(const struct expr *e, const struct eval_ctx *cx, struct val *out,
                       struct pd_err *err)
{
  struct concat c;
  size_t i, j;
  int rc = 0;

  if (e->u.str.n == 1 && e->u.str.parts[0].kind == SP_TEXT) { /* the common case */
    out->kind = V_STR;
    out->loc = e->loc;
    out->u.str.s = e->u.str.parts[0].text; /* in the text arena, NUL-terminated */
    out->u.str.n = e->u.str.parts[0].n;
    return 0;
  }
  c.v = c.inl;
  c.n = 0;
  c.cap = sizeof c.inl / sizeof c.inl[0];
  c.text.p = c.text.inl;
  c.text.n = 0;
  c.text.cap = sizeof c.text.inl;
  c.loc = e->loc;
  c.arena = cx->arena;
  for (i = 0; i < e->u.str.n; i++) {
    const struct str_part *sp = &e->u.str.parts[i];
    const struct val *v;
    char num[40];
    if (sp->kind == SP_TEXT) {
      tbuf_add(&c.text, sp->text, sp->n);
      continue;
    }
    if (sp->kind == SP_REF) {
      struct val ref;
      if (!refs_allowed(cx)) {
        rc = ev_err(err, &sp->loc, "a reference (%s.%s) cannot be used in %s", sp->text,
                    sp->output, where(cx));
        goto out;
      }
      memset(&ref, 0, sizeof ref);
      ref.kind = V_REF;
      ref.loc = sp->loc;
      ref.u.ref.task = sp->text;
      ref.u.ref.output = sp->output;
      ref.u.ref.node = -1;
      cat_flush(&c);
      cat_push(&c, &ref);
      continue;
    }
    if (is_out(sp->text)) {
      struct val o;
      if (cx->mode != EV_TASK) {
        rc = out_not_here(&sp->loc, err);
        goto out;
      }
      memset(&o, 0, sizeof o);
      o.kind = V_OUT;
      o.loc = sp->loc;
      cat_flush(&c);
      cat_push(&c, &o);
      continue;
    }
    if (!(v = lookup(cx, sp->text))) {
      rc = unknown_name(cx, sp->text, &sp->loc, err);
      goto out;
    }
    switch (v->kind) {
    case V_STR:
      tbuf_add(&c.text, v->u.str.s, v->u.str.n);
      break;
    case V_INT:
      snprintf(num, sizeof num, "%lld", (long long)v->u.i);
      tbuf_add(&c.text, num, strlen(num));
      break;
    case V_FLOAT:
      fmt_float(num, sizeof num, v->u.f);
      tbuf_add(&c.text, num, strlen(num));
      break;
    case V_BOOL:
      tbuf_add(&c.text, v->u.b ? "true" : "false", v->u.b ? 4 : 5);
      break;
    case V_REF:
    case V_OUT:
    case V_CONCAT:
      if (!refs_allowed(cx)) {
        rc = ev_err(err, &sp->loc, "'%s' holds a reference and cannot be used in %s",
                    sp->text, where(cx));
        goto out;
      }
      if (v->kind != V_CONCAT) {
        cat_copy(&c, v, &sp->loc);
        break;
      }
      for (j = 0; j < v->u.list.n; j++) {
        const struct val *p = &v->u.list.v[j];
        if (p->kind == V_STR)
          tbuf_add(&c.text, p->u.str.s, p->u.str.n);
        else
          cat_copy(&c, p, &sp->loc);
      }
      break;
    default:
      rc = ev_err(err, &sp->loc, "cannot put a %s ('%s') into a string", val_kind_name(v->kind),
                  sp->text);
      goto out;
    }
  }
  if (c.n == 0) {
    out->kind = V_STR;
    out->loc = e->loc;
    out->u.str.s = arena_strndup(cx->arena, c.text.p, c.text.n);
    out->u.str.n = c.text.n;
  } else {
    cat_flush(&c);
    if (c.n == 1 && c.v[0].kind != V_STR) {
      *out = c.v[0];
    } else {
      out->kind = V_CONCAT;
      out->loc = e->loc;
      out->u.list.n = c.n;
      out->u.list.v = arena_alloc_raw(cx->arena, c.n * sizeof *out->u.list.v);
      memcpy(out->u.list.v, c.v, c.n * sizeof *out->u.list.v);
    }
  }
out:
  cat_free(&c);
  return rc;
}

/* --- maps --------------------------------------------------------------- */

struct key_ix {
  char *key;
  size_t ix;
  struct srcloc loc;
};

static int key_cmp(const void *a, const void *b)
{
  const struct key_ix *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  if (c)
    return c;
  return x->ix < y->ix ? -1 : x->ix > y->ix;
}

static int eval_map(const struct expr *e, const struct eval_ctx *cx, struct val *out,
                    struct pd_err *err)
{
  size_t n = e->u.map.n, i, dup = (size_t)-1;
  struct key_ix inl[16], *keys = n <= 16 ? inl : xmalloc(n * sizeof *keys);
  struct val *vals = NULL;
  char **k;
  int rc = 0;

  for (i = 0; i < n; i++) {
    struct val kv;
    if ((rc = eval_expr(&e->u.map.e[i].key, cx, &kv, err)) < 0)
      goto out;
    if (kv.kind != V_STR) {
      rc = ev_err(err, &e->u.map.e[i].key.loc, "a map key must be plain text");
      goto out;
    }
    keys[i].key = kv.u.str.s;
    keys[i].ix = i;
    keys[i].loc = e->u.map.e[i].key.loc;
  }
  if (n > 1)
    qsort(keys, n, sizeof *keys, key_cmp);
  /* The second occurrence earliest in the file is the one to report. */
  for (i = 1; i < n; i++)
    if (strcmp(keys[i].key, keys[i - 1].key) == 0 && keys[i - 1].ix != keys[i].ix &&
        (i < 2 || strcmp(keys[i - 2].key, keys[i].key) != 0) &&
        (dup == (size_t)-1 || keys[i].ix < keys[dup].ix))
      dup = i;
  if (dup != (size_t)-1) {
    const struct srcloc *f = &keys[dup - 1].loc;
    rc = ev_err(err, &keys[dup].loc, "key '%s' is already defined at %s:%d:%d", keys[dup].key,
                f->file ? f->file : "?", f->line, f->col);
    goto out;
  }
  vals = vals_new(cx, n);
  for (i = 0; i < n; i++)
    if ((rc = eval_expr(&e->u.map.e[keys[i].ix].value, cx, &vals[i], err)) < 0)
      goto out;
  k = n ? arena_alloc_raw(cx->arena, n * sizeof *k) : NULL;
  for (i = 0; i < n; i++)
    k[i] = keys[i].key;
  out->kind = V_MAP;
  out->loc = e->loc;
  out->u.map.n = n;
  out->u.map.k = k;
  out->u.map.v = vals;
out:
  if (keys != inl)
    free(keys);
  return rc;
}

/* --- references by computed name ---------------------------------------- */

/* The name string as written, for messages: "sft_${seed}". */
static void cref_source(const struct expr *e, struct strbuf *sb)
{
  size_t i;
  strbuf_addch(sb, '"');
  for (i = 0; i < e->u.cref.n; i++) {
    const struct str_part *sp = &e->u.cref.parts[i];
    if (sp->kind == SP_TEXT)
      strbuf_add(sb, sp->text, sp->n);
    else if (sp->kind == SP_NAME)
      strbuf_addf(sb, "${%s}", sp->text);
    else
      strbuf_addf(sb, "${%s.%s}", sp->text, sp->output);
  }
  strbuf_addch(sb, '"');
}

/* "NAME".output: the name is interpolated as a task name is (params and
 * variables in scope, no references), and the result is the same V_REF a
 * plain reference makes: whether the task exists is pass 3's business,
 * which reports it at the string. */
static int eval_cref(const struct expr *e, const struct eval_ctx *cx, struct val *out,
                     struct pd_err *err)
{
  struct eval_ctx ncx = *cx;
  struct expr s;
  struct val name;
  size_t i;
  int rc;

  if (!refs_allowed(cx)) {
    struct strbuf sb;
    strbuf_init(&sb, 64);
    cref_source(e, &sb);
    rc = ev_err(err, &e->loc, "a reference (%s.%s) cannot be used in %s", sb.buf,
                e->u.cref.output, where(cx));
    strbuf_release(&sb);
    return rc;
  }
  for (i = 0; i < e->u.cref.n; i++)
    if (e->u.cref.parts[i].kind == SP_NAME && is_out(e->u.cref.parts[i].text))
      return ev_err(err, &e->u.cref.parts[i].loc, "'${out}' cannot name a task");
  memset(&s, 0, sizeof s);
  s.kind = E_STR;
  s.loc = e->loc;
  s.u.str.parts = e->u.cref.parts;
  s.u.str.n = e->u.cref.n;
  ncx.mode = EV_NAME;
  ncx.where = "the task name of a reference";
  if ((rc = eval_string(&s, &ncx, &name, err)) < 0)
    return rc;
  if (name.kind != V_STR || strlen(name.u.str.s) != name.u.str.n)
    return ev_err(err, &e->loc, "the task name of a reference must be plain text");
  out->kind = V_REF;
  out->loc = e->loc;
  out->u.ref.task = name.u.str.s; /* in the arena or the text arena */
  out->u.ref.output = e->u.cref.output;
  out->u.ref.node = -1;
  return 0;
}

/* --- for expressions ---------------------------------------------------- */

static const char *a_kind(enum val_kind k)
{
  const char *n = val_kind_name(k);
  return strchr("aeiou", n[0]) ? "an" : "a";
}

/* [for x in LIST : VALUE] and {for x in LIST : KEY => VALUE}: VALUE (and
 * KEY) once per item, in the scope of e plus x. Keys must be strings and
 * unique; the map comes out sorted like any other. */
static int eval_for_expr(const struct expr *e, const struct eval_ctx *cx, struct val *out,
                         struct pd_err *err)
{
  int is_map = e->kind == E_FOR_MAP;
  struct eval_ctx ncx = *cx;
  struct binding *vars = NULL;
  struct key_ix *keys = NULL;
  struct val list, *items = NULL, *vals;
  size_t i, n;
  int rc;

  if ((rc = eval_expr(e->u.comp.list, cx, &list, err)) < 0)
    return rc;
  if (list.kind != V_LIST)
    return ev_err(err, &e->u.comp.list->loc, "a for expression needs a list, not %s %s",
                  a_kind(list.kind), val_kind_name(list.kind));
  n = list.u.list.n;
  vars = xmalloc((cx->nvars + 1) * sizeof *vars);
  if (cx->nvars)
    memcpy(vars, cx->vars, cx->nvars * sizeof *vars);
  vars[cx->nvars].name = e->u.comp.var;
  ncx.vars = vars;
  ncx.nvars = cx->nvars + 1;
  items = vals_new(cx, n);
  if (is_map)
    keys = xmalloc((n + 1) * sizeof *keys);
  for (i = 0; i < n; i++) {
    vars[cx->nvars].v = &list.u.list.v[i];
    if (is_map) {
      struct val kv;
      if ((rc = eval_expr(e->u.comp.key, &ncx, &kv, err)) < 0)
        goto out;
      if (kv.kind != V_STR || strlen(kv.u.str.s) != kv.u.str.n) {
        rc = ev_err(err, &e->u.comp.key->loc, "a map key must be a string, not %s %s%s",
                    a_kind(kv.kind), val_kind_name(kv.kind),
                    kv.kind == V_INT || kv.kind == V_FLOAT || kv.kind == V_BOOL
                    ? " (interpolate it: \"${...}\")" : "");
        goto out;
      }
      keys[i].key = kv.u.str.s;
      keys[i].ix = i;
      keys[i].loc = e->u.comp.key->loc;
    }
    if ((rc = eval_expr(e->u.comp.value, &ncx, &items[i], err)) < 0)
      goto out;
  }
  out->loc = e->loc;
  if (!is_map) {
    out->kind = V_LIST;
    out->u.list.v = items;
    out->u.list.n = n;
    goto out;
  }
  if (n > 1)
    qsort(keys, n, sizeof *keys, key_cmp);
  for (i = 1; i < n; i++)
    if (strcmp(keys[i].key, keys[i - 1].key) == 0) {
      /* Sorted by key, then by item: the first two items that give it. */
      struct strbuf a, b;
      strbuf_init(&a, 32);
      strbuf_init(&b, 32);
      val_to_source(&list.u.list.v[keys[i - 1].ix], &a);
      val_to_source(&list.u.list.v[keys[i].ix], &b);
      rc = ev_err(err, &e->u.comp.key->loc,
                  "duplicate key '%s' in a for expression (from %s = %s and %s = %s)",
                  keys[i].key, e->u.comp.var, a.buf, e->u.comp.var, b.buf);
      strbuf_release(&a);
      strbuf_release(&b);
      goto out;
    }
  vals = vals_new(cx, n);
  out->u.map.k = n ? arena_alloc_raw(cx->arena, n * sizeof *out->u.map.k) : NULL;
  for (i = 0; i < n; i++) {
    out->u.map.k[i] = keys[i].key;
    vals[i] = items[keys[i].ix];
  }
  out->kind = V_MAP;
  out->u.map.v = vals;
  out->u.map.n = n;
out:
  free(keys);
  free(vars);
  return rc;
}

/* --- file() and dir() --------------------------------------------------- */

static int eval_call(const struct expr *e, const struct eval_ctx *cx, struct val *out,
                     struct pd_err *err)
{
  const char *fn = e->u.call.is_dir ? "dir" : "file";
  struct val arg;
  struct stat st;
  char *joined, *abs, *rel;
  int rc;

  if (!refs_allowed(cx))
    return ev_err(err, &e->loc, "%s() cannot be used in %s", fn, where(cx));
  if ((rc = eval_expr(e->u.call.arg, cx, &arg, err)) < 0)
    return rc;
  if (arg.kind != V_STR || arg.u.str.n == 0 || strlen(arg.u.str.s) != arg.u.str.n)
    return ev_err(err, &e->u.call.arg->loc, "%s() takes a path (a non-empty string), not %s%s",
                  fn, arg.kind == V_STR ? "an empty " : "a ", val_kind_name(arg.kind));
  joined = path_join(cx->srcdir ? cx->srcdir : "/", arg.u.str.s);
  abs = path_normalize(joined);
  free(joined);
  if (stat(abs, &st) != 0) {
    int e_ = errno;
    if (e_ == ENOENT || e_ == ENOTDIR)
      rc = ev_err(err, &e->loc, "%s '%s' does not exist (looked for '%s')",
                  e->u.call.is_dir ? "directory" : "file", arg.u.str.s, abs);
    else
      rc = ev_err(err, &e->loc, "cannot read %s '%s': %s",
                  e->u.call.is_dir ? "directory" : "file", arg.u.str.s, strerror(e_));
    goto out;
  }
  if (e->u.call.is_dir && !S_ISDIR(st.st_mode)) {
    rc = ev_err(err, &e->loc, "'%s' is not a directory%s", arg.u.str.s,
                S_ISREG(st.st_mode) ? "; use file() for a file" : "");
    goto out;
  }
  if (!e->u.call.is_dir && !S_ISREG(st.st_mode)) {
    rc = ev_err(err, &e->loc, "'%s' is not a regular file%s", arg.u.str.s,
                S_ISDIR(st.st_mode) ? "; use dir() for a directory" : "");
    goto out;
  }
  rel = path_relative(abs, cx->topdir ? cx->topdir : "/");
  out->kind = e->u.call.is_dir ? V_DIR : V_FILE;
  out->loc = e->loc;
  out->u.src.path = arena_strndup(cx->arena, abs, strlen(abs));
  out->u.src.rel = arena_strndup(cx->arena, rel, strlen(rel));
  free(rel);
out:
  free(abs);
  return rc;
}

/* --- expressions -------------------------------------------------------- */

int eval_expr(const struct expr *e, const struct eval_ctx *cx, struct val *out,
              struct pd_err *err)
{
  const struct val *v;
  size_t i;
  int rc = 0;

  memset(out, 0, sizeof *out);
  out->loc = e->loc;
  switch (e->kind) {
  case E_BOOL:
    out->kind = V_BOOL;
    out->u.b = e->u.b;
    return 0;
  case E_INT:
    out->kind = V_INT;
    out->u.i = e->u.i;
    return 0;
  case E_FLOAT:
    out->kind = V_FLOAT;
    out->u.f = e->u.f;
    return 0;
  case E_STR:
    rc = eval_string(e, cx, out, err);
    break;
  case E_LIST: {
    struct val *items = vals_new(cx, e->u.list.n);
    for (i = 0; i < e->u.list.n && rc == 0; i++)
      rc = eval_expr(&e->u.list.v[i], cx, &items[i], err);
    if (rc == 0) {
      out->kind = V_LIST;
      out->u.list.v = items;
      out->u.list.n = e->u.list.n;
    }
    break;
  }
  case E_MAP:
    rc = eval_map(e, cx, out, err);
    break;
  case E_NAME:
    if (is_out(e->u.name) && cx->mode == EV_TASK) {
      out->kind = V_OUT;
      return 0;
    }
    if (!(v = lookup(cx, e->u.name))) {
      if (is_out(e->u.name))
        rc = out_not_here(&e->loc, err);
      else
        rc = unknown_name(cx, e->u.name, &e->loc, err);
      break;
    }
    *out = *v; /* what is below is shared: values do not change once made */
    out->loc = e->loc;
    return 0;
  case E_REF:
    if (!refs_allowed(cx)) {
      rc = ev_err(err, &e->loc, "a reference (%s.%s) cannot be used in %s", e->u.ref.task,
                  e->u.ref.output, where(cx));
      break;
    }
    out->kind = V_REF;
    out->u.ref.task = e->u.ref.task; /* in the text arena */
    out->u.ref.output = e->u.ref.output;
    out->u.ref.node = -1;
    return 0;
  case E_CALL:
    rc = eval_call(e, cx, out, err);
    break;
  case E_CREF:
    rc = eval_cref(e, cx, out, err);
    break;
  case E_FOR_LIST:
  case E_FOR_MAP:
    rc = eval_for_expr(e, cx, out, err);
    break;
  default:
    BUG("bad expression kind");
  }
  if (rc < 0) {
    memset(out, 0, sizeof *out);
    out->loc = e->loc;
  }
  return rc;
}

int expr_is_const(const struct expr *e)
{
  size_t i;
  switch (e->kind) {
  case E_BOOL:
  case E_INT:
  case E_FLOAT:
  case E_REF:
    return 1;
  case E_STR:
    for (i = 0; i < e->u.str.n; i++)
      if (e->u.str.parts[i].kind == SP_NAME && !is_out(e->u.str.parts[i].text))
        return 0;
    return 1;
  case E_LIST:
    for (i = 0; i < e->u.list.n; i++)
      if (!expr_is_const(&e->u.list.v[i]))
        return 0;
    return 1;
  case E_MAP:
    for (i = 0; i < e->u.map.n; i++)
      if (!expr_is_const(&e->u.map.e[i].key) || !expr_is_const(&e->u.map.e[i].value))
        return 0;
    return 1;
  case E_CREF: /* const when the name is plain text */
    for (i = 0; i < e->u.cref.n; i++)
      if (e->u.cref.parts[i].kind != SP_TEXT)
        return 0;
    return 1;
  case E_NAME:
  case E_CALL:
  case E_FOR_LIST:
  case E_FOR_MAP:
    return 0;
  }
  return 0;
}

/* --- literals ----------------------------------------------------------- */

static void set_loc(struct val *v, const struct srcloc *loc)
{
  size_t i;
  v->loc = *loc;
  if (v->kind == V_LIST || v->kind == V_CONCAT)
    for (i = 0; i < v->u.list.n; i++)
      set_loc(&v->u.list.v[i], loc);
  else if (v->kind == V_MAP)
    for (i = 0; i < v->u.map.n; i++)
      set_loc(&v->u.map.v[i], loc);
}

int parse_literal_in(const char *text, const struct srcloc *loc, struct arena *arena,
                     struct val *out, struct pd_err *err)
{
  struct arena tree;
  struct expr e;
  struct eval_ctx cx;
  int rc;

  memset(out, 0, sizeof *out);
  memset(&cx, 0, sizeof cx);
  cx.mode = EV_LITERAL;
  cx.arena = arena;
  arena_init(&tree);
  /* The value's strings point into arena, where the text goes. */
  if ((rc = parse_expr_text(text, &tree, arena, &e, err)) == 0 &&
      (rc = eval_expr(&e, &cx, out, err)) == 0)
    set_loc(out, loc);
  arena_release(&tree);
  return rc;
}

int parse_literal(const char *text, const struct srcloc *loc, struct val *out,
                  struct pd_err *err)
{
  struct arena arena;
  struct val v;
  int rc;

  memset(out, 0, sizeof *out);
  arena_init(&arena);
  if ((rc = parse_literal_in(text, loc, &arena, &v, err)) == 0)
    val_copy(out, &v);
  arena_release(&arena);
  return rc;
}
