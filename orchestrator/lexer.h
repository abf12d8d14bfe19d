/* lexer.h - tokens of the graph language, and the diagnostic format.
 *
 * The lexer reads a whole source buffer (it does not own it) and hands out
 * one token at a time. Words are all TK_IDENT: keywords (include, param,
 * pool, task, for, in, true, false) are told apart by the parser, so that
 * `pool = "api"` in a task body still reads as an attribute. Punctuation is
 * one character, but for "=>" (one TK_ARROW, never TK_EQ then '>').
 * Strings come out already split into parts: text (escapes done) and
 * `${...}` holes.
 */
#ifndef PD_LEXER_H
#define PD_LEXER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "strbuf.h"
#include "value.h"

struct pd_err;

enum tok_kind {
  TK_EOF,      /* end of input; loc is just after the last token */
  TK_IDENT,    /* [A-Za-z_][A-Za-z0-9_]*, keywords included */
  TK_INT,      /* tok.i */
  TK_FLOAT,    /* tok.f */
  TK_STRING,   /* tok.parts */
  TK_EQ,       /* = */
  TK_LBRACE,   /* { */
  TK_RBRACE,   /* } */
  TK_LBRACKET, /* [ */
  TK_RBRACKET, /* ] */
  TK_LPAREN,   /* ( */
  TK_RPAREN,   /* ) */
  TK_COMMA,    /* , */
  TK_DOT,      /* . */
  TK_COLON,    /* : (in [for x in LIST : EXPR]) */
  TK_ARROW     /* => (in {for x in LIST : KEY => VALUE}) */
};

enum str_part_kind {
  SP_TEXT, /* text: literal bytes, escapes done (may hold NULs: use n) */
  SP_NAME, /* ${text}: a param, a loop variable, or out */
  SP_REF   /* ${text.output}: a task's output */
};

struct str_part {
  enum str_part_kind kind;
  char *text;   /* in the lexer's text arena, NUL-terminated */
  size_t n;     /* length of text */
  char *output; /* SP_REF: in the text arena; else NULL */
  struct srcloc loc; /* SP_TEXT: the opening quote; else the name inside ${} */
};

struct token {
  enum tok_kind kind;
  struct srcloc loc;
  const char *p;  /* raw text in the source buffer (valid as long as it) */
  size_t n;
  int64_t i;
  double f;
  struct str_part *parts; /* TK_STRING: in the lexer's arena */
  size_t nparts;
};

struct lexer {
  const char *src, *end, *cur;
  const char *line_start;
  const char *file; /* display name for srclocs, borrowed */
  int line;
  struct srcloc last_end; /* just after the last token, for TK_EOF */
  struct arena *arena;    /* where string parts go */
  struct arena *text_arena; /* where their text goes: arena unless the
                               caller wants it to outlive the parts */
  struct strbuf text;     /* scratch for string tokens */
  struct str_part *parts; /* scratch for string tokens */
  size_t nparts, capparts;
};

/* src must stay valid while tokens are used; it need not be NUL-terminated.
 * String parts are allocated in arena (their text in lx->text_arena, which
 * starts as arena). lexer_release frees the lexer's scratch buffers (not
 * the arena). */
void lexer_init(struct lexer *lx, const char *src, size_t n, const char *file,
                struct arena *arena);
void lexer_release(struct lexer *lx);
/* Reads the next token into tok. Returns 0, or PD_EPARSE with a full
 * diagnostic in err. */
int lexer_next(struct lexer *lx, struct token *tok, struct pd_err *err);

/* Describes a token for "found X" in messages: "'{'", "'name'", "a string",
 * "end of file". Writes into buf and returns it. */
const char *token_desc(const struct token *tok, char *buf, size_t size);

/* Formats "FILE:LINE:COL: error: MESSAGE\nSOURCE LINE\nCARET" into err
 * (first error wins) and returns code. src/n is the text of loc->file;
 * src may be NULL (then only the first line is written), and so may
 * loc->file (then the message starts with "error: "). */
int diag_set(struct pd_err *err, int code, const char *src, size_t n,
             const struct srcloc *loc, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
int diag_vset(struct pd_err *err, int code, const char *src, size_t n,
              const struct srcloc *loc, const char *fmt, va_list ap);

#endif
