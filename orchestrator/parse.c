/* parse.c - the graph language's parser (see parse.h; the evaluator is in
 * eval.c).
 *
 * Recursive descent over the lexer's tokens with one token of lookahead.
 * Separators are forgiving: commas between list items, map entries and task
 * attributes are optional (a newline is whitespace), trailing commas are
 * fine. Nesting is capped so that a hostile file cannot overflow the stack.
 *
 * Two forms need more than the next token: a string followed by '.' is a
 * reference by computed name ("sft_${seed}".model), and a list or map whose
 * first word is `for` is a for expression ([for s in seeds : EXPR],
 * {for s in seeds : KEY => VALUE}); `{ for = 1 }` stays a map whose key is
 * for. A for expression has one variable and no `if` filter.
 *
 * Names that values may point to (task, param and pool names, references,
 * map keys) and string text go to the text arena, which the loader keeps
 * with the graph; the rest of the tree is freed once evaluated. A task
 * statement's attributes can be handed to a callback as soon as they are
 * parsed, and their memory reused when it takes them.
 */
#include "parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  const struct parse_opts *opts; /* NULL: none */
  const char *kind_name; /* the last task kind read: most tasks repeat it */
  int depth;
  /* Arrays of unknown length are built on this stack, then copied to the
   * arena at their exact size and popped; nested arrays are built above
   * and popped before their parent's next item is pushed. */
  char *stk;
  size_t top, cap;
};

static void stk_grow(struct parser *ps, size_t size)
{
  ps->cap = ps->cap ? 2 * ps->cap : 4096;
  while (ps->top + size > ps->cap)
    ps->cap *= 2;
  ps->stk = xrealloc(ps->stk, ps->cap);
}

static inline void stk_push(struct parser *ps, const void *item, size_t size)
{
  if (ps->top + size > ps->cap)
    stk_grow(ps, size);
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

/* The current token's text, in the text arena; in the tree's arena when
 * nothing points to it once evaluated (attribute and loop names). */
#define tok_text(ps) arena_strndup((ps)->lx.text_arena, (ps)->tok.p, (ps)->tok.n)
#define tok_text_tree(ps) arena_strndup((ps)->arena, (ps)->tok.p, (ps)->tok.n)

/* Checks a declared name (param, pool, loop variable, task). */
static int check_decl_name(struct parser *ps, const char *what)
{
  char name[16];
  size_t i;
  if (ps->tok.n >= sizeof name || !strchr("iptfo", ps->tok.p[0]))
    return 0; /* not a reserved word: they are short, and start so */
  memcpy(name, ps->tok.p, ps->tok.n);
  name[ps->tok.n] = '\0';
  for (i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
    if (is_word(ps, keywords[i]))
      return perr(ps, &ps->tok.loc, "'%s' is a keyword and cannot name a %s", name, what);
  if (is_word(ps, "out"))
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

/* The rest of a for expression, from the token after 'for' to the closing
 * bracket or brace; e->loc is the opening one. */
static int parse_for_expr(struct parser *ps, struct expr *e, int is_map)
{
  char what[96];
  int rc;
  e->kind = is_map ? E_FOR_MAP : E_FOR_LIST;
  if (ps->tok.kind != TK_IDENT)
    return expected(ps, "a variable after 'for'");
  if ((rc = check_decl_name(ps, "loop variable")) < 0)
    return rc;
  e->u.comp.var = tok_text_tree(ps);
  e->u.comp.var_loc = ps->tok.loc;
  if ((rc = advance(ps)) < 0)
    return rc;
  if (ps->tok.kind == TK_COMMA)
    return perr(ps, &ps->tok.loc, "a for expression takes one variable (for x in LIST), "
                                  "not two");
  if (!is_word(ps, "in"))
    return expected(ps, "'in' after the variable of a for expression");
  e->u.comp.list = arena_alloc(ps->arena, sizeof *e->u.comp.list);
  if ((rc = advance(ps)) < 0 || (rc = parse_expr(ps, e->u.comp.list)) < 0)
    return rc;
  if (ps->tok.kind != TK_COLON)
    return expected(ps, "':' after the list of a for expression");
  if ((rc = advance(ps)) < 0)
    return rc;
  if (is_map) {
    e->u.comp.key = arena_alloc(ps->arena, sizeof *e->u.comp.key);
    if ((rc = parse_expr(ps, e->u.comp.key)) < 0)
      return rc;
    if (ps->tok.kind != TK_ARROW)
      return expected(ps, "'=>' after the key of a for expression");
    if ((rc = advance(ps)) < 0)
      return rc;
  }
  e->u.comp.value = arena_alloc(ps->arena, sizeof *e->u.comp.value);
  if ((rc = parse_expr(ps, e->u.comp.value)) < 0)
    return rc;
  if (is_word(ps, "if"))
    return perr(ps, &ps->tok.loc, "'if' in a for expression is not supported");
  if (ps->tok.kind != (is_map ? TK_RBRACE : TK_RBRACKET)) {
    snprintf(what, sizeof what, "'%c' to close the for expression opened at %d:%d",
             is_map ? '}' : ']', e->loc.line, e->loc.col);
    return expected(ps, what);
  }
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
  if (is_word(ps, "for")) { /* no value is named for: a keyword */
    if ((rc = advance(ps)) < 0)
      return rc;
    return parse_for_expr(ps, e, 0);
  }
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
    if (ps->tok.kind == TK_EOF || ps->tok.kind == TK_RBRACE || ps->tok.kind == TK_RPAREN) {
      /* Most often a forgotten ']': say where the list opened. */
      char what[64];
      snprintf(what, sizeof what, "']' to close the list opened at %d:%d", e->loc.line,
               e->loc.col);
      return expected(ps, what);
    }
    if ((rc = parse_expr(ps, &item)) < 0)
      return rc;
    stk_push(ps, &item, sizeof item);
  }
}

/* A map key written as a bare word: an E_STR of one text part. */
static void word_key(struct parser *ps, struct expr *key, char *text, size_t n,
                     const struct srcloc *loc)
{
  struct str_part *sp = arena_alloc(ps->arena, sizeof *sp);
  sp->kind = SP_TEXT;
  sp->text = text;
  sp->n = n;
  sp->loc = *loc;
  key->kind = E_STR;
  key->loc = *loc;
  key->u.str.parts = sp;
  key->u.str.n = 1;
}

static int parse_map(struct parser *ps, struct expr *e)
{
  size_t mark = ps->top;
  struct srcloc for_loc = ps->tok.loc;
  int rc, for_key = 0;
  e->kind = E_MAP;
  e->loc = ps->tok.loc;
  if ((rc = advance(ps)) < 0)
    return rc;
  if (is_word(ps, "for")) {
    /* {for x in ...} is a for expression, { for = 1 } a map with key for. */
    for_loc = ps->tok.loc;
    if ((rc = advance(ps)) < 0)
      return rc;
    if (ps->tok.kind != TK_EQ)
      return parse_for_expr(ps, e, 1);
    for_key = 1;
  }
  for (;;) {
    struct map_entry me;
    if (for_key) {
      memset(&me, 0, sizeof me);
      word_key(ps, &me.key, arena_strndup(ps->lx.text_arena, "for", 3), 3, &for_loc);
      for_key = 0;
      goto value;
    }
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
      word_key(ps, &me.key, tok_text(ps), ps->tok.n, &ps->tok.loc);
      if ((rc = advance(ps)) < 0)
        return rc;
    } else if ((rc = take_string(ps, &me.key)) < 0) {
      return rc;
    }
  value:
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
  char *name;
  int rc;

  e->loc = loc;
  if (is_word(ps, "true") || is_word(ps, "false")) {
    e->kind = E_BOOL;
    e->u.b = ps->tok.p[0] == 't';
    return advance(ps);
  }
  name = tok_text(ps);
  if ((rc = advance(ps)) < 0)
    return rc;
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
  case TK_STRING: {
    struct str_part *parts = ps->tok.parts;
    size_t nparts = ps->tok.nparts;
    if ((rc = take_string(ps, e)) < 0 || ps->tok.kind != TK_DOT)
      break;
    /* "NAME".OUTPUT: a reference to the task the string names. */
    memset(&e->u, 0, sizeof e->u);
    e->kind = E_CREF;
    e->u.cref.parts = parts;
    e->u.cref.n = nparts;
    if ((rc = advance(ps)) < 0)
      break;
    if (ps->tok.kind != TK_IDENT) {
      rc = expected(ps, "an output name after the task name string and '.'");
      break;
    }
    e->u.cref.output = tok_text(ps);
    rc = advance(ps);
    break;
  }
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

static int parse_task(struct parser *ps, struct stmt *s, int in_for)
{
  size_t mark = ps->top;
  struct arena_mark am;
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
  if (ps->kind_name && strlen(ps->kind_name) == ps->tok.n &&
      memcmp(ps->kind_name, ps->tok.p, ps->tok.n) == 0)
    s->kind_name = (char *)ps->kind_name; /* the same kind as the last task */
  else
    ps->kind_name = s->kind_name = tok_text(ps); /* shared: not in the tree */
  s->kind_loc = ps->tok.loc;
  if ((rc = advance(ps)) < 0)
    return rc;
  if (ps->tok.kind != TK_LBRACE)
    return expected(ps, "'{' after the task kind");
  am = arena_mark(ps->arena); /* the attributes start here */
  if ((rc = advance(ps)) < 0)
    return rc;
  for (;;) {
    struct attr a;
    char what[96];
    if (ps->tok.kind == TK_RBRACE) {
      s->nattrs = (ps->top - mark) / sizeof a;
      s->attrs = stk_pop(ps, mark);
      /* Before the next token is read, so that nothing after the
       * attributes is in the memory given back. */
      if (!in_for && ps->opts && ps->opts->on_task && ps->opts->on_task(ps->opts->arg, s)) {
        s->attrs = NULL;
        s->nattrs = 0;
        arena_rewind(ps->arena, am);
      }
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
    a.name = tok_text_tree(ps);
    a.loc = ps->tok.loc;
    if ((rc = advance(ps)) < 0)
      return rc;
    if (ps->tok.kind != TK_EQ) { /* the message only when it is needed */
      snprintf(what, sizeof what, "'%.80s'", a.name);
      return expect_eq(ps, what);
    }
    if ((rc = advance(ps)) < 0 || (rc = parse_expr(ps, &a.value)) < 0)
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
    return parse_task(ps, s, in_for);
  }
  if (is_word(ps, "for")) {
    s->kind = S_FOR;
    if ((rc = advance(ps)) < 0)
      return rc;
    if (ps->tok.kind != TK_IDENT)
      return expected(ps, "a loop variable after 'for'");
    if ((rc = check_decl_name(ps, "loop variable")) < 0)
      return rc;
    s->name = tok_text_tree(ps);
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
  return parse_file_opts(src, n, file, NULL, out, err);
}

int parse_file_opts(const char *src, size_t n, const char *file, const struct parse_opts *opts,
                    struct ast *out, struct pd_err *err)
{
  struct parser ps;
  size_t cap = 0;
  int rc;

  memset(out, 0, sizeof *out);
  arena_init(&out->arena);
  memset(&ps, 0, sizeof ps);
  ps.err = err;
  ps.arena = &out->arena;
  ps.opts = opts;
  lexer_init(&ps.lx, src, n, file, ps.arena);
  if (opts && opts->text)
    ps.lx.text_arena = opts->text;
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

int parse_expr_text(const char *text, struct arena *tree, struct arena *text_arena,
                    struct expr *e, struct pd_err *err)
{
  struct parser ps;
  int rc;

  memset(&ps, 0, sizeof ps);
  ps.err = err;
  ps.arena = tree;
  lexer_init(&ps.lx, text, strlen(text), NULL, tree);
  ps.lx.text_arena = text_arena;
  if ((rc = lexer_next(&ps.lx, &ps.tok, err)) == 0 && (rc = parse_expr(&ps, e)) == 0 &&
      ps.tok.kind != TK_EOF)
    rc = expected(&ps, "end of the value");
  lexer_release(&ps.lx);
  free(ps.stk);
  return rc;
}
