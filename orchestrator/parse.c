/* parse.c - the graph language's parser and expression evaluator
 * (see parse.h).
 *
 * Recursive descent over the lexer's tokens with one token of lookahead.
 * Separators are forgiving: commas between list items, map entries and task
 * attributes are optional (a newline is whitespace), trailing commas are
 * fine. Nesting is capped so that a hostile file cannot overflow the stack.
 *
 * The evaluator does interpolation: a string whose parts are all text is a
 * V_STR; one that is exactly "${task.output}" or "${out}" (or a loop
 * variable holding one) is that bare V_REF / V_OUT; anything else with a
 * reference or ${out} in it is a V_CONCAT of V_STR / V_REF / V_OUT parts.
 * Left out: arithmetic, conditionals and functions other than file()/dir().
 */
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

#define MAX_DEPTH 100

static const char *const keywords[] = {
  "include", "param", "pool", "task", "for", "in", "true", "false",
};

int parse_is_ident(const char *s)
{
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
    return 0;
  for (s++; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_'))
      return 0;
  return 1;
}

int parse_is_keyword(const char *s)
{
  size_t i;
  for (i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
    if (strcmp(s, keywords[i]) == 0)
      return 1;
  return 0;
}

/* --- syntax tree -------------------------------------------------------- */

void ast_release(struct ast *ast)
{
  free(ast->stmts);
  free(ast->marks);
  ast->stmts = NULL;
  ast->marks = NULL;
  ast->n = 0;
  arena_release(&ast->arena);
}

/* --- parser ------------------------------------------------------------- */

struct parser {
  struct lexer lx;
  struct token tok; /* the current token */
  struct pd_err *err;
  struct arena *arena;
  int depth;
  /* Arrays of unknown length are built on this stack, then copied to the
   * arena at their exact size and popped; nested arrays are built above
   * and popped before their parent's next item is pushed. */
  char *stk;
  size_t top, cap;
};

static void stk_push(struct parser *ps, const void *item, size_t size)
{
  if (ps->top + size > ps->cap) {
    ps->cap = ps->cap ? 2 * ps->cap : 4096;
    while (ps->top + size > ps->cap)
      ps->cap *= 2;
    ps->stk = xrealloc(ps->stk, ps->cap);
  }
  memcpy(ps->stk + ps->top, item, size);
  ps->top += size;
}

/* Copies what was pushed since mark to the arena; returns it (NULL when
 * empty) and pops it. */
static void *stk_pop(struct parser *ps, size_t mark)
{
  void *p = NULL;
  if (ps->top > mark) {
    p = arena_alloc(ps->arena, ps->top - mark);
    memcpy(p, ps->stk + mark, ps->top - mark);
  }
  ps->top = mark;
  return p;
}

static int perr(struct parser *ps, const struct srcloc *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct parser *ps, const struct srcloc *loc, const char *fmt, ...)
{
  va_list ap;
  int rc;
  va_start(ap, fmt);
  rc = diag_vset(ps->err, PD_EPARSE, ps->lx.src, (size_t)(ps->lx.end - ps->lx.src), loc,
                 fmt, ap);
  va_end(ap);
  return rc;
}

/* "expected WHAT, found TOKEN" at the current token. */
static int expected(struct parser *ps, const char *what)
{
  char buf[64];
  return perr(ps, &ps->tok.loc, "expected %s, found %s", what,
              token_desc(&ps->tok, buf, sizeof buf));
}

static int advance(struct parser *ps)
{
  return lexer_next(&ps->lx, &ps->tok, ps->err);
}

static int is_word(const struct parser *ps, const char *w)
{
  size_t n = strlen(w);
  return ps->tok.kind == TK_IDENT && ps->tok.n == n && memcmp(ps->tok.p, w, n) == 0;
}

static char *tok_text(const struct parser *ps)
{
  return arena_strndup(ps->arena, ps->tok.p, ps->tok.n);
}

/* Checks a declared name (param, pool, loop variable, task). */
static int check_decl_name(struct parser *ps, const char *what)
{
  char name[16];
  if (ps->tok.n >= sizeof name)
    return 0; /* longer than any reserved word */
  memcpy(name, ps->tok.p, ps->tok.n);
  name[ps->tok.n] = '\0';
  if (parse_is_keyword(name))
    return perr(ps, &ps->tok.loc, "'%s' is a keyword and cannot name a %s", name, what);
  if (strcmp(name, "out") == 0)
    return perr(ps, &ps->tok.loc,
                "'out' is reserved (\"${out}\" is a task's output directory) and cannot "
                "name a %s", what);
  return 0;
}

static int parse_expr(struct parser *ps, struct expr *e);

static int take_string(struct parser *ps, struct expr *e)
{
  e->kind = E_STR;
  e->loc = ps->tok.loc;
  e->u.str.parts = ps->tok.parts;
  e->u.str.n = ps->tok.nparts;
  return advance(ps);
}

static int parse_list(struct parser *ps, struct expr *e)
{
  size_t mark = ps->top;
  int rc;
  e->kind = E_LIST;
  e->loc = ps->tok.loc;
  if ((rc = advance(ps)) < 0)
    return rc;
  for (;;) {
    struct expr item;
    if (ps->tok.kind == TK_RBRACKET) {
      e->u.list.n = (ps->top - mark) / sizeof item;
      e->u.list.v = stk_pop(ps, mark);
      return advance(ps);
    }
    if (ps->tok.kind == TK_COMMA) {
      if ((rc = advance(ps)) < 0)
        return rc;
      continue;
    }
    if (ps->tok.kind == TK_EOF)
      return expected(ps, "']' to close the list");
    if ((rc = parse_expr(ps, &item)) < 0)
      return rc;
    stk_push(ps, &item, sizeof item);
  }
}

static int parse_map(struct parser *ps, struct expr *e)
{
  size_t mark = ps->top;
  int rc;
  e->kind = E_MAP;
  e->loc = ps->tok.loc;
  if ((rc = advance(ps)) < 0)
    return rc;
  for (;;) {
    struct map_entry me;
    if (ps->tok.kind == TK_RBRACE) {
      e->u.map.n = (ps->top - mark) / sizeof me;
      e->u.map.e = stk_pop(ps, mark);
      return advance(ps);
    }
    if (ps->tok.kind == TK_COMMA) {
      if ((rc = advance(ps)) < 0)
        return rc;
      continue;
    }
    if (ps->tok.kind != TK_IDENT && ps->tok.kind != TK_STRING)
      return expected(ps, "a key or '}' in map");
    memset(&me, 0, sizeof me);
    if (ps->tok.kind == TK_IDENT) {
      struct str_part *sp = arena_alloc(ps->arena, sizeof *sp);
      sp->kind = SP_TEXT;
      sp->text = tok_text(ps);
      sp->n = ps->tok.n;
      sp->loc = ps->tok.loc;
      me.key.kind = E_STR;
      me.key.loc = ps->tok.loc;
      me.key.u.str.parts = sp;
      me.key.u.str.n = 1;
      if ((rc = advance(ps)) < 0)
        return rc;
    } else if ((rc = take_string(ps, &me.key)) < 0) {
      return rc;
    }
    if (ps->tok.kind != TK_EQ)
      return expected(ps, "'=' after map key");
    if ((rc = advance(ps)) < 0 || (rc = parse_expr(ps, &me.value)) < 0)
      return rc;
    stk_push(ps, &me, sizeof me);
  }
}

static int parse_ident_expr(struct parser *ps, struct expr *e)
{
  struct srcloc loc = ps->tok.loc;
  char *name = tok_text(ps);
  int rc;

  e->loc = loc;
  if ((rc = advance(ps)) < 0)
    return rc;
  if (strcmp(name, "true") == 0 || strcmp(name, "false") == 0) {
    e->kind = E_BOOL;
    e->u.b = name[0] == 't';
    return 0;
  }
  if (ps->tok.kind == TK_LPAREN) {
    static const char *const fns[] = { "file", "dir" };
    char what[64];
    if (strcmp(name, "file") != 0 && strcmp(name, "dir") != 0) {
      const char *near = closest_name(name, fns, 2);
      return perr(ps, &loc, "unknown function '%s'%s%s%s (there are file() and dir())", name,
                  near ? "; did you mean '" : "", near ? near : "", near ? "'?" : "");
    }
    e->kind = E_CALL;
    e->u.call.is_dir = name[0] == 'd';
    e->u.call.arg = arena_alloc(ps->arena, sizeof *e->u.call.arg);
    if ((rc = advance(ps)) < 0 || (rc = parse_expr(ps, e->u.call.arg)) < 0)
      return rc;
    if (ps->tok.kind != TK_RPAREN) {
      snprintf(what, sizeof what, "')' after the argument of %s()", name);
      return expected(ps, what);
    }
    return advance(ps);
  }
  if (ps->tok.kind == TK_DOT) {
    e->kind = E_REF;
    e->u.ref.task = name;
    if ((rc = advance(ps)) < 0)
      return rc;
    if (ps->tok.kind != TK_IDENT) {
      char what[128];
      snprintf(what, sizeof what, "an output name after '%.60s.'", e->u.ref.task);
      return expected(ps, what);
    }
    e->u.ref.output = tok_text(ps);
    return advance(ps);
  }
  e->kind = E_NAME;
  e->u.name = name;
  return 0;
}

static int parse_expr(struct parser *ps, struct expr *e)
{
  int rc;
  memset(e, 0, sizeof *e);
  if (++ps->depth > MAX_DEPTH) {
    rc = perr(ps, &ps->tok.loc, "values nested too deeply (more than %d levels)", MAX_DEPTH);
    goto out;
  }
  e->loc = ps->tok.loc;
  switch (ps->tok.kind) {
  case TK_INT:
    e->kind = E_INT;
    e->u.i = ps->tok.i;
    rc = advance(ps);
    break;
  case TK_FLOAT:
    e->kind = E_FLOAT;
    e->u.f = ps->tok.f;
    rc = advance(ps);
    break;
  case TK_STRING:
    rc = take_string(ps, e);
    break;
  case TK_LBRACKET:
    rc = parse_list(ps, e);
    break;
  case TK_LBRACE:
    rc = parse_map(ps, e);
    break;
  case TK_IDENT:
    rc = parse_ident_expr(ps, e);
    break;
  default:
    rc = expected(ps, "a value");
    break;
  }
out:
  ps->depth--;
  return rc;
}

static int expect_eq(struct parser *ps, const char *after)
{
  char what[96];
  if (ps->tok.kind != TK_EQ) {
    snprintf(what, sizeof what, "'=' after %.80s", after);
    return expected(ps, what);
  }
  return advance(ps);
}

static int parse_task(struct parser *ps, struct stmt *s)
{
  size_t mark = ps->top;
  int rc;
  if (ps->tok.kind == TK_IDENT) {
    if ((rc = check_decl_name(ps, "task")) < 0)
      return rc;
    s->name = tok_text(ps);
    s->name_loc = ps->tok.loc;
    if ((rc = advance(ps)) < 0)
      return rc;
  } else if (ps->tok.kind == TK_STRING) {
    s->name_loc = ps->tok.loc;
    if ((rc = take_string(ps, &s->name_str)) < 0)
      return rc;
  } else {
    return expected(ps, "a task name after 'task'");
  }
  if ((rc = expect_eq(ps, "task name")) < 0)
    return rc;
  if (ps->tok.kind != TK_IDENT)
    return expected(ps, "a task kind after '='");
  s->kind_name = tok_text(ps);
  s->kind_loc = ps->tok.loc;
  if ((rc = advance(ps)) < 0)
    return rc;
  if (ps->tok.kind != TK_LBRACE)
    return expected(ps, "'{' after the task kind");
  if ((rc = advance(ps)) < 0)
    return rc;
  for (;;) {
    struct attr a;
    char what[96];
    if (ps->tok.kind == TK_RBRACE) {
      s->nattrs = (ps->top - mark) / sizeof a;
      s->attrs = stk_pop(ps, mark);
      return advance(ps);
    }
    if (ps->tok.kind == TK_COMMA) {
      if ((rc = advance(ps)) < 0)
        return rc;
      continue;
    }
    if (ps->tok.kind != TK_IDENT)
      return expected(ps, "a parameter name or '}' in task body");
    memset(&a, 0, sizeof a);
    a.name = tok_text(ps);
    a.loc = ps->tok.loc;
    if ((rc = advance(ps)) < 0)
      return rc;
    snprintf(what, sizeof what, "'%.80s'", a.name);
    if ((rc = expect_eq(ps, what)) < 0 || (rc = parse_expr(ps, &a.value)) < 0)
      return rc;
    stk_push(ps, &a, sizeof a);
  }
}

static int parse_body(struct parser *ps, struct stmt *loop);

static int parse_stmt(struct parser *ps, struct stmt *s, int in_for)
{
  char buf[64];
  int rc;

  memset(s, 0, sizeof *s);
  s->loc = ps->tok.loc;
  if (is_word(ps, "task")) {
    s->kind = S_TASK;
    if ((rc = advance(ps)) < 0)
      return rc;
    return parse_task(ps, s);
  }
  if (is_word(ps, "for")) {
    s->kind = S_FOR;
    if ((rc = advance(ps)) < 0)
      return rc;
    if (ps->tok.kind != TK_IDENT)
      return expected(ps, "a loop variable after 'for'");
    if ((rc = check_decl_name(ps, "loop variable")) < 0)
      return rc;
    s->name = tok_text(ps);
    s->name_loc = ps->tok.loc;
    if ((rc = advance(ps)) < 0)
      return rc;
    if (!is_word(ps, "in"))
      return expected(ps, "'in' after the loop variable");
    if ((rc = advance(ps)) < 0 || (rc = parse_expr(ps, &s->value)) < 0)
      return rc;
    if (ps->tok.kind != TK_LBRACE)
      return expected(ps, "'{' after the list of a for loop");
    if (++ps->depth > MAX_DEPTH)
      return perr(ps, &s->loc, "for loops nested too deeply (more than %d levels)", MAX_DEPTH);
    if ((rc = advance(ps)) < 0)
      return rc;
    rc = parse_body(ps, s);
    ps->depth--;
    return rc;
  }
  if (in_for && (is_word(ps, "param") || is_word(ps, "pool") || is_word(ps, "include")))
    return perr(ps, &ps->tok.loc, "'%.*s' is not allowed inside a for loop (only task and for)",
                (int)ps->tok.n, ps->tok.p);
  if (is_word(ps, "param") || is_word(ps, "pool")) {
    int is_param = ps->tok.p[1] == 'a';
    s->kind = is_param ? S_PARAM : S_POOL;
    if ((rc = advance(ps)) < 0)
      return rc;
    if (ps->tok.kind != TK_IDENT)
      return expected(ps, is_param ? "a parameter name after 'param'"
                                   : "a pool name after 'pool'");
    if ((rc = check_decl_name(ps, is_param ? "param" : "pool")) < 0)
      return rc;
    s->name = tok_text(ps);
    s->name_loc = ps->tok.loc;
    if ((rc = advance(ps)) < 0)
      return rc;
    if ((rc = expect_eq(ps, is_param ? "parameter name" : "pool name")) < 0)
      return rc;
    return parse_expr(ps, &s->value);
  }
  if (is_word(ps, "include")) {
    size_t i;
    s->kind = S_INCLUDE;
    if ((rc = advance(ps)) < 0)
      return rc;
    if (ps->tok.kind != TK_STRING)
      return expected(ps, "a quoted path after 'include'");
    for (i = 0; i < ps->tok.nparts; i++)
      if (ps->tok.parts[i].kind != SP_TEXT)
        return perr(ps, &ps->tok.parts[i].loc, "an include path cannot use ${...}");
    s->path = ps->tok.parts[0].text;
    s->name_loc = ps->tok.loc;
    return advance(ps);
  }
  if (ps->tok.kind == TK_IDENT) {
    static const char *const stmts[] = { "include", "param", "pool", "task", "for" };
    char w[64];
    const char *near;
    snprintf(w, sizeof w, "%.*s", (int)(ps->tok.n < 63 ? ps->tok.n : 63), ps->tok.p);
    near = closest_name(w, in_for ? stmts + 3 : stmts, in_for ? 2 : 5);
    return perr(ps, &ps->tok.loc, "expected %s, found %s%s%s%s",
                in_for ? "'task', 'for' or '}'" : "'include', 'param', 'pool', 'task' or 'for'",
                token_desc(&ps->tok, buf, sizeof buf), near ? "; did you mean '" : "",
                near ? near : "", near ? "'?" : "");
  }
  return expected(ps, in_for ? "'task', 'for' or '}'"
                             : "'include', 'param', 'pool', 'task' or 'for'");
}

/* The statements of a for loop, up to its closing brace. */
static int parse_body(struct parser *ps, struct stmt *loop)
{
  size_t mark = ps->top;
  int rc;
  for (;;) {
    struct stmt s;
    if (ps->tok.kind == TK_RBRACE) {
      loop->nbody = (ps->top - mark) / sizeof s;
      loop->body = stk_pop(ps, mark);
      return advance(ps);
    }
    if (ps->tok.kind == TK_EOF)
      return expected(ps, "'}' to close the for loop");
    if ((rc = parse_stmt(ps, &s, 1)) < 0)
      return rc;
    stk_push(ps, &s, sizeof s);
  }
}

int parse_file(const char *src, size_t n, const char *file, struct ast *out,
               struct pd_err *err)
{
  struct parser ps;
  size_t cap = 0;
  int rc;

  memset(out, 0, sizeof *out);
  arena_init(&out->arena);
  memset(&ps, 0, sizeof ps);
  ps.err = err;
  ps.arena = &out->arena;
  lexer_init(&ps.lx, src, n, file, ps.arena);
  rc = lexer_next(&ps.lx, &ps.tok, err);
  while (rc == 0 && ps.tok.kind != TK_EOF) {
    struct stmt s;
    if (out->n == cap) {
      cap = cap ? 2 * cap : 64;
      out->stmts = xrealloc(out->stmts, cap * sizeof *out->stmts);
      out->marks = xrealloc(out->marks, cap * sizeof *out->marks);
    }
    if ((rc = parse_stmt(&ps, &s, 0)) < 0)
      break;
    out->stmts[out->n] = arena_alloc(ps.arena, sizeof s);
    *out->stmts[out->n] = s;
    out->marks[out->n++] = out->arena.nchunks;
  }
  lexer_release(&ps.lx);
  free(ps.stk);
  if (rc < 0)
    ast_release(out);
  return rc;
}

/* --- evaluation --------------------------------------------------------- */

static int ev_err(struct pd_err *err, const struct srcloc *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ev_err(struct pd_err *err, const struct srcloc *loc, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;
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
  if (cx->mode == EV_LITERAL)
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

static int out_not_here(const struct eval_ctx *cx, const struct srcloc *loc, struct pd_err *err)
{
  (void)cx;
  return ev_err(err, loc, "'${out}' (the task's output directory) is only valid inside a "
                          "task body");
}

static int refs_allowed(const struct eval_ctx *cx)
{
  return cx->mode == EV_FOR || cx->mode == EV_TASK;
}

/* Text of an interpolated string being built: inline storage first, so a
 * short string costs only its final allocation. */
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
  struct val v;  /* V_CONCAT being built: parts in inl, then on the heap */
  size_t cap;
  struct val inl[8];
  struct tbuf text;
  struct srcloc loc; /* of the string: text parts get it */
};

static void cat_push(struct concat *c, struct val *v)
{
  if (c->v.u.list.n == c->cap) {
    c->cap *= 2;
    if (c->v.u.list.v == c->inl) {
      c->v.u.list.v = xmalloc(c->cap * sizeof *c->v.u.list.v);
      memcpy(c->v.u.list.v, c->inl, sizeof c->inl);
    } else {
      c->v.u.list.v = xrealloc(c->v.u.list.v, c->cap * sizeof *c->v.u.list.v);
    }
  }
  c->v.u.list.v[c->v.u.list.n++] = *v;
}

/* Moves the parts to an exact-size heap array. */
static void cat_finish(struct concat *c)
{
  struct val *v = xmalloc(c->v.u.list.n * sizeof *v);
  memcpy(v, c->v.u.list.v, c->v.u.list.n * sizeof *v);
  if (c->v.u.list.v != c->inl)
    free(c->v.u.list.v);
  c->v.u.list.v = v;
}

static void cat_flush(struct concat *c)
{
  struct val v;
  if (!c->text.n)
    return;
  memset(&v, 0, sizeof v);
  v.kind = V_STR;
  v.loc = c->loc;
  v.u.str.s = xstrndup(c->text.p, c->text.n);
  v.u.str.n = c->text.n;
  c->text.n = 0;
  cat_push(c, &v);
}

static void cat_copy(struct concat *c, const struct val *src, const struct srcloc *loc)
{
  struct val v;
  cat_flush(c);
  val_copy(&v, src);
  v.loc = *loc;
  cat_push(c, &v);
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
    out->u.str.s = xstrndup(e->u.str.parts[0].text, e->u.str.parts[0].n);
    out->u.str.n = e->u.str.parts[0].n;
    return 0;
  }
  memset(&c.v, 0, sizeof c.v);
  c.v.kind = V_CONCAT;
  c.v.loc = e->loc;
  c.v.u.list.v = c.inl;
  c.cap = sizeof c.inl / sizeof c.inl[0];
  c.text.p = c.text.inl;
  c.text.n = 0;
  c.text.cap = sizeof c.text.inl;
  c.loc = e->loc;
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
        goto fail;
      }
      memset(&ref, 0, sizeof ref);
      ref.kind = V_REF;
      ref.loc = sp->loc;
      ref.u.ref.task = xstrdup(sp->text);
      ref.u.ref.output = xstrdup(sp->output);
      ref.u.ref.node = -1;
      cat_flush(&c);
      cat_push(&c, &ref);
      continue;
    }
    if (strcmp(sp->text, "out") == 0) {
      struct val o;
      if (cx->mode != EV_TASK) {
        rc = out_not_here(cx, &sp->loc, err);
        goto fail;
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
      goto fail;
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
        goto fail;
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
      goto fail;
    }
  }
  if (c.v.u.list.n == 0) {
    out->kind = V_STR;
    out->loc = e->loc;
    out->u.str.s = xstrndup(c.text.p, c.text.n);
    out->u.str.n = c.text.n;
  } else {
    cat_flush(&c);
    if (c.v.u.list.n == 1 && c.v.u.list.v[0].kind != V_STR) {
      *out = c.v.u.list.v[0];
      if (c.v.u.list.v != c.inl)
        free(c.v.u.list.v);
    } else {
      cat_finish(&c);
      *out = c.v;
    }
  }
  if (c.text.p != c.text.inl)
    free(c.text.p);
  return 0;
fail:
  if (c.text.p != c.text.inl)
    free(c.text.p);
  for (i = 0; i < c.v.u.list.n; i++)
    val_release(&c.v.u.list.v[i]);
  if (c.v.u.list.v != c.inl)
    free(c.v.u.list.v);
  return rc;
}

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
  struct key_ix *keys = xcalloc(n ? n : 1, sizeof *keys);
  struct val *vals = xcalloc(n ? n : 1, sizeof *vals);
  int rc = 0;

  for (i = 0; i < n; i++) {
    struct val k;
    memset(&k, 0, sizeof k);
    if ((rc = eval_expr(&e->u.map.e[i].key, cx, &k, err)) < 0)
      goto fail;
    if (k.kind != V_STR) {
      val_release(&k);
      rc = ev_err(err, &e->u.map.e[i].key.loc, "a map key must be plain text");
      goto fail;
    }
    keys[i].key = k.u.str.s; /* taken */
    keys[i].ix = i;
    keys[i].loc = e->u.map.e[i].key.loc;
  }
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
    goto fail;
  }
  for (i = 0; i < n; i++)
    if ((rc = eval_expr(&e->u.map.e[keys[i].ix].value, cx, &vals[i], err)) < 0)
      goto fail;
  out->kind = V_MAP;
  out->loc = e->loc;
  out->u.map.n = n;
  out->u.map.k = n ? xmalloc(n * sizeof *out->u.map.k) : NULL;
  out->u.map.v = n ? vals : NULL;
  for (i = 0; i < n; i++)
    out->u.map.k[i] = keys[i].key;
  if (!n)
    free(vals);
  free(keys);
  return 0;
fail:
  for (i = 0; i < n; i++) {
    free(keys[i].key);
    val_release(&vals[i]);
  }
  free(keys);
  free(vals);
  return rc;
}

static int eval_call(const struct expr *e, const struct eval_ctx *cx, struct val *out,
                     struct pd_err *err)
{
  const char *fn = e->u.call.is_dir ? "dir" : "file";
  struct val arg;
  struct stat st;
  char *joined, *abs;
  int rc;

  if (!refs_allowed(cx))
    return ev_err(err, &e->loc, "%s() cannot be used in %s", fn, where(cx));
  memset(&arg, 0, sizeof arg);
  if ((rc = eval_expr(e->u.call.arg, cx, &arg, err)) < 0)
    return rc;
  if (arg.kind != V_STR || arg.u.str.n == 0 || strlen(arg.u.str.s) != arg.u.str.n) {
    rc = ev_err(err, &e->u.call.arg->loc, "%s() takes a path (a non-empty string), not %s%s",
                fn, arg.kind == V_STR ? "an empty " : "a ", val_kind_name(arg.kind));
    val_release(&arg);
    return rc;
  }
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
    goto fail;
  }
  if (e->u.call.is_dir && !S_ISDIR(st.st_mode)) {
    rc = ev_err(err, &e->loc, "'%s' is not a directory%s", arg.u.str.s,
                S_ISREG(st.st_mode) ? "; use file() for a file" : "");
    goto fail;
  }
  if (!e->u.call.is_dir && !S_ISREG(st.st_mode)) {
    rc = ev_err(err, &e->loc, "'%s' is not a regular file%s", arg.u.str.s,
                S_ISDIR(st.st_mode) ? "; use dir() for a directory" : "");
    goto fail;
  }
  out->kind = e->u.call.is_dir ? V_DIR : V_FILE;
  out->loc = e->loc;
  out->u.src.path = abs;
  out->u.src.rel = path_relative(abs, cx->topdir ? cx->topdir : "/");
  val_release(&arg);
  return 0;
fail:
  free(abs);
  val_release(&arg);
  return rc;
}

int eval_expr(const struct expr *e, const struct eval_ctx *cx, struct val *out,
              struct pd_err *err)
{
  const struct val *v;
  size_t i;
  int rc;

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
    return eval_string(e, cx, out, err);
  case E_LIST:
    out->kind = V_LIST;
    out->u.list.v = e->u.list.n ? xcalloc(e->u.list.n, sizeof *out->u.list.v) : NULL;
    for (i = 0; i < e->u.list.n; i++) {
      if ((rc = eval_expr(&e->u.list.v[i], cx, &out->u.list.v[i], err)) < 0) {
        out->u.list.n = i;
        val_release(out);
        return rc;
      }
    }
    out->u.list.n = e->u.list.n;
    return 0;
  case E_MAP:
    return eval_map(e, cx, out, err);
  case E_NAME:
    if (strcmp(e->u.name, "out") == 0 && cx->mode == EV_TASK) {
      out->kind = V_OUT;
      return 0;
    }
    if (!(v = lookup(cx, e->u.name))) {
      if (strcmp(e->u.name, "out") == 0)
        return out_not_here(cx, &e->loc, err);
      return unknown_name(cx, e->u.name, &e->loc, err);
    }
    val_copy(out, v);
    out->loc = e->loc;
    return 0;
  case E_REF:
    if (!refs_allowed(cx))
      return ev_err(err, &e->loc, "a reference (%s.%s) cannot be used in %s", e->u.ref.task,
                    e->u.ref.output, where(cx));
    out->kind = V_REF;
    out->u.ref.task = xstrdup(e->u.ref.task);
    out->u.ref.output = xstrdup(e->u.ref.output);
    out->u.ref.node = -1;
    return 0;
  case E_CALL:
    return eval_call(e, cx, out, err);
  }
  BUG("bad expression kind");
}

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

int parse_literal(const char *text, const struct srcloc *loc, struct val *out,
                  struct pd_err *err)
{
  struct parser ps;
  struct arena arena;
  struct expr e;
  struct eval_ctx cx;
  int rc;

  memset(out, 0, sizeof *out);
  memset(&ps, 0, sizeof ps);
  memset(&cx, 0, sizeof cx);
  arena_init(&arena);
  ps.err = err;
  ps.arena = &arena;
  cx.mode = EV_LITERAL;
  lexer_init(&ps.lx, text, strlen(text), NULL, &arena);
  if ((rc = lexer_next(&ps.lx, &ps.tok, err)) < 0 || (rc = parse_expr(&ps, &e)) < 0)
    goto out;
  if (ps.tok.kind != TK_EOF) {
    rc = expected(&ps, "end of the value");
    goto out;
  }
  if ((rc = eval_expr(&e, &cx, out, err)) < 0)
    goto out;
  set_loc(out, loc);
out:
  lexer_release(&ps.lx);
  free(ps.stk);
  arena_release(&arena);
  return rc;
}

/* --- paths -------------------------------------------------------------- */

char *path_join(const char *dir, const char *rel)
{
  size_t n = strlen(dir);
  if (rel[0] == '/')
    return xstrdup(rel);
  if (n && dir[n - 1] == '/')
    return xasprintf("%s%s", dir, rel);
  return xasprintf("%s/%s", dir, rel);
}

char *path_dirname(const char *path)
{
  const char *slash = strrchr(path, '/');
  if (!slash)
    return xstrdup(".");
  while (slash > path && slash[-1] == '/')
    slash--;
  if (slash == path)
    return xstrdup("/");
  return xstrndup(path, (size_t)(slash - path));
}

char *path_normalize(const char *abs)
{
  size_t n = strlen(abs), len = 0;
  char *out = xmalloc(n + 2);
  const char *p = abs;

  while (*p) {
    const char *q;
    size_t cn;
    while (*p == '/')
      p++;
    if (!*p)
      break;
    q = strchr(p, '/');
    cn = q ? (size_t)(q - p) : strlen(p);
    if (cn == 1 && p[0] == '.') {
      /* skip */
    } else if (cn == 2 && p[0] == '.' && p[1] == '.') {
      while (len > 0 && out[len - 1] != '/')
        len--;
      if (len > 0)
        len--; /* the slash before the dropped component */
    } else {
      out[len++] = '/';
      memcpy(out + len, p, cn);
      len += cn;
    }
    p += cn;
  }
  if (len == 0)
    out[len++] = '/';
  out[len] = '\0';
  return out;
}

/* Number of components in a normalized absolute path ("/" has none). */
static size_t path_ncomp(const char *p)
{
  size_t n = 0;
  for (; *p; p++)
    if (*p == '/' && p[1])
      n++;
  return n;
}

char *path_relative(const char *path, const char *base)
{
  struct strbuf sb;
  size_t i = 0, common = 0, up;
  const char *rest;
  char *out;

  /* Longest common prefix ending at a component boundary. */
  while (path[i] && path[i] == base[i]) {
    i++;
    if ((path[i] == '/' || path[i] == '\0') && (base[i] == '/' || base[i] == '\0'))
      common = i;
  }
  if (strcmp(base, "/") == 0)
    common = 0;
  up = path_ncomp(base + common);
  rest = path + common;
  while (*rest == '/')
    rest++;
  strbuf_init(&sb, 64);
  for (i = 0; i < up; i++)
    strbuf_addstr(&sb, i ? "/.." : "..");
  if (*rest) {
    if (up)
      strbuf_addch(&sb, '/');
    strbuf_addstr(&sb, rest);
  }
  if (!sb.len)
    strbuf_addch(&sb, '.');
  out = xstrdup(sb.buf);
  strbuf_release(&sb);
  return out;
}
