/* parse.h - syntax tree of the graph language, the parser, and the
 * evaluator of expressions. Internal to the front end (graph.c is the only
 * user besides the tests); everyone else uses graph.h.
 *
 * parse_file turns one source buffer into statements; it does not follow
 * includes (graph.c does, so that it can skip files already read and report
 * include cycles). eval_expr (eval.c) turns an expression into a value in a
 * scope: loop variables, the params declared so far, and what the place
 * allows (references, file(), ${out}).
 */
#ifndef PD_PARSE_H
#define PD_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "lexer.h"
#include "value.h"

struct graph;
struct pd_err;
struct kind_param;

enum expr_kind {
  E_BOOL,  /* u.b */
  E_INT,   /* u.i */
  E_FLOAT, /* u.f */
  E_STR,   /* u.str: parts of a "..." string */
  E_LIST,  /* u.list */
  E_MAP,   /* u.map */
  E_NAME,  /* u.name: a param or loop variable (or out) */
  E_REF,   /* u.ref: TASK.OUTPUT */
  E_CALL,  /* u.call: file(...) or dir(...) */
  E_CREF,  /* u.cref: "NAME".OUTPUT, a reference by computed name */
  E_FOR_LIST, /* u.comp: [for VAR in LIST : VALUE] */
  E_FOR_MAP   /* u.comp: {for VAR in LIST : KEY => VALUE} */
};

struct map_entry;

struct expr {
  enum expr_kind kind;
  struct srcloc loc;
  union {
    int b;
    int64_t i;
    double f;
    struct { struct str_part *parts; size_t n; } str;
    struct { struct expr *v; size_t n; } list;
    struct { struct map_entry *e; size_t n; } map;
    char *name;
    struct { char *task; char *output; } ref;
    struct { int is_dir; struct expr *arg; } call;
    /* The name's parts are interpolated as a task name is (params and
     * variables in scope, no references); output is in the text arena. */
    struct { struct str_part *parts; size_t n; char *output; } cref;
    /* key is NULL for a list. VALUE (and KEY) are evaluated once per item
     * of LIST with var bound to it. */
    struct {
      char *var;
      struct srcloc var_loc;
      struct expr *list, *key, *value;
    } comp;
  } u;
};

/* A map key is an identifier (kept as an E_STR of one text part) or a
 * string, possibly interpolated. */
struct map_entry {
  struct expr key;
  struct expr value;
};

/* NAME = EXPR in a task body. */
struct attr {
  char *name;
  struct srcloc loc;
  struct expr value;
};

enum stmt_kind {
  S_INCLUDE, /* include "path": path, name_loc (the string); included */
  S_PARAM,   /* param NAME = value */
  S_POOL,    /* pool NAME = value */
  S_TASK,    /* task NAME|"string" = KIND { attrs } */
  S_FOR      /* for NAME in value { body } */
};

struct ast;

struct stmt {
  enum stmt_kind kind;
  struct srcloc loc;      /* the keyword */
  /* Strings and arrays below are in the file's arena, but for names and
   * string text, which are in the text arena (see struct parse_opts). */
  char *name;             /* param/pool/loop variable/task name; NULL for a
                             task named by a string (then name_str) */
  struct srcloc name_loc; /* of the name or the name string */
  union {                 /* by kind, so that a statement stays small */
    struct {              /* S_TASK */
      struct expr name_str; /* with a string name: E_STR */
      char *kind_name;
      struct srcloc kind_loc;
      struct attr *attrs;
      size_t nattrs;
      void *pre;          /* what parse_opts.on_task made of the attrs, which
                             are then dropped (nattrs 0); else NULL */
    };
    struct {              /* S_PARAM, S_POOL, S_FOR */
      struct expr value;  /* the value; S_FOR: the list */
      struct stmt *body;  /* S_FOR */
      size_t nbody;
    };
    struct {              /* S_INCLUDE */
      char *path;         /* as written */
      struct ast *included; /* borrowed, set by graph.c; NULL when the file
                               was read already */
    };
  };
};

/* A parsed file. Every statement and node lives in arena (names and string
 * text too, unless parse_opts.text says otherwise); the arrays stmts and
 * marks are malloc'd. marks[i] is the number of arena
 * chunks in use once statement i was parsed (its lookahead token
 * included): what statement i + 2 and later allocate lies in chunks from
 * index marks[i] - 1 on, which lets graph.c free chunks as it goes. */
struct ast {
  struct stmt **stmts;
  size_t *marks;
  size_t n;
  struct arena arena;
  const char *dir; /* folder of the source file, absolute; set by the caller */
};

/* Parses src (file is the interned display name used in srclocs). Returns 0,
 * or PD_EPARSE with the diagnostic in err; out is then empty. */
int parse_file(const char *src, size_t n, const char *file, struct ast *out,
               struct pd_err *err);
void ast_release(struct ast *ast);

/* Called for each task statement outside for loops once its body is
 * parsed, before anything after it is read. It may keep what it needs in
 * s->pre and return 1: the parser then drops the attributes (attrs NULL,
 * nattrs 0) and reuses their memory for the next statement. */
typedef int parse_task_cb(void *arg, struct stmt *s);

struct parse_opts {
  struct arena *text;     /* names and string text go here, so that values
                             can point into it (NULL: the ast's arena) */
  parse_task_cb *on_task; /* may be NULL */
  void *arg;
};

/* parse_file with options (opts may be NULL). */
int parse_file_opts(const char *src, size_t n, const char *file, const struct parse_opts *opts,
                    struct ast *out, struct pd_err *err);

/* Parses text as one expression, up to its end: nodes in tree, names and
 * string text in text_arena. Returns 0 or PD_EPARSE (e is then garbage). */
int parse_expr_text(const char *text, struct arena *tree, struct arena *text_arena,
                    struct expr *e, struct pd_err *err);

/* Parses text as one literal value (eval.c; no names, references or calls): the
 * defaults of kind parameters and --set values. Every value gets loc.
 * Returns 0, or PD_EPARSE (syntax) / PD_EGRAPH (a name, reference, call or
 * duplicate key) with a message without position ("error: ..."). out is
 * the caller's to val_release. */
int parse_literal(const char *text, const struct srcloc *loc, struct val *out,
                  struct pd_err *err);
/* The same, with out's memory in arena (freed with it, not val_release). */
int parse_literal_in(const char *text, const struct srcloc *loc, struct arena *arena,
                     struct val *out, struct pd_err *err);

/* --- evaluation --------------------------------------------------------- */

enum eval_mode {
  EV_LITERAL, /* literals only */
  EV_PARAM,   /* a param or pool: earlier params, no references/file()/${out} */
  EV_NAME,    /* a task name: like EV_PARAM, plus loop variables */
  EV_FOR,     /* the list of a for loop: references and file() allowed */
  EV_TASK     /* a task body: everything, ${out} included */
};

/* A loop variable: name and value borrowed from the loop. */
struct binding {
  const char *name;
  const struct val *v;
};

struct eval_ctx {
  enum eval_mode mode;
  struct arena *arena;    /* where values go: they own nothing, and share
                             parts with the values they were made from (loop
                             variables, params, string text in the arena) */
  struct graph *g;        /* params: g->params[0..nparams) are visible */
  size_t nparams;
  const struct binding *vars; /* innermost last */
  size_t nvars;
  const char *where;      /* "a param", "a pool size"...: for messages; NULL = by mode */
  const char *srcdir;     /* folder of the file the expression is in (file()) */
  const char *topdir;     /* folder of the top graph file (rel paths) */
};

/* Evaluates e into out (its parts in cx->arena; left V_NULL on error).
 * Returns 0, or PD_EGRAPH with the diagnostic in err (err may be NULL). */
int eval_expr(const struct expr *e, const struct eval_ctx *cx, struct val *out,
              struct pd_err *err);

/* Whether e's value depends on nothing but e: no names (but out), no
 * file()/dir(), no for expressions. Such an expression evaluates the same
 * anywhere. */
int expr_is_const(const struct expr *e);

/* dst = a copy of src in arena whose every value has loc (the defaults of
 * kind parameters, placed at a task). Strings and map keys are shared. In
 * value.c. */
void val_copy_at(struct arena *arena, struct val *dst, const struct val *src,
                 const struct srcloc *loc);

/* Shortest text that reads back as f, without a forced '.0' (1000, 0.1,
 * 1e+20): for interpolation. In value.c. */
void fmt_float(char *buf, size_t size, double f);

/* Lexical path helpers (no file system access). Results are malloc'd.
 * In path.c. */
char *path_join(const char *dir, const char *rel);   /* rel absolute -> rel */
char *path_normalize(const char *abs);                /* removes . .. // */
char *path_relative(const char *path, const char *base); /* both normalized */
char *path_dirname(const char *path);                 /* "a/b" -> "a", "b" -> "." */

/* --- shared with graph.c ------------------------------------------------ */

/* Index of the param named name in g->params, or -1 (graph.c). */
int graph__find_param(const struct graph *g, const char *name);

/* Checks (and widens int -> float) a value against a kind parameter's type,
 * range and choices. Returns 0 or PD_EGRAPH with a diagnostic at v->loc
 * (graph.c). */
int graph__check_value(const struct kind_param *kp, struct val *v, struct pd_err *err);

/* Is s an identifier, and is it a reserved word of the language? */
int parse_is_ident(const char *s);
int parse_is_keyword(const char *s);

#endif
