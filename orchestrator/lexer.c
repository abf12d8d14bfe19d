/* lexer.c - tokens of the graph language and the diagnostic format
 * (see lexer.h).
 *
 * Lines and columns count from 1; a column counts bytes, so a caret lines up
 * under ASCII text and under tabs (the caret line copies the source's tabs).
 * Strings may not span lines: a newline before the closing quote is an
 * "unterminated string" at the opening quote, which is where the mistake is.
 */
#include "lexer.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "strbuf.h"

/* --- diagnostics -------------------------------------------------------- */

/* Source lines longer than this are shown as a window around the column. */
#define DIAG_MAX_LINE 160

int diag_vset(struct pd_err *err, int code, const char *src, size_t n,
              const struct srcloc *loc, const char *fmt, va_list ap)
{
  struct strbuf sb;
  const char *p, *end, *line = NULL, *eol;
  int ln, col;
  size_t i, len, start = 0, stop;

  if (!err || err->code)
    return code;
  strbuf_init(&sb, 256);
  if (loc && loc->file)
    strbuf_addf(&sb, "%s:%d:%d: ", loc->file, loc->line, loc->col);
  strbuf_addstr(&sb, "error: ");
  strbuf_vaddf(&sb, fmt, ap);

  if (src && loc && loc->file && loc->line >= 1) {
    end = src + n;
    for (p = src, ln = 1; ln < loc->line && p < end; p++)
      if (*p == '\n')
        ln++;
    if (ln == loc->line)
      line = p;
  }
  if (line) {
    eol = memchr(line, '\n', (size_t)(src + n - line));
    if (!eol)
      eol = src + n;
    if (eol > line && eol[-1] == '\r')
      eol--;
    len = (size_t)(eol - line);
    col = loc->col < 1 ? 1 : loc->col;
    stop = len;
    if (len > DIAG_MAX_LINE) {
      if ((size_t)col > DIAG_MAX_LINE / 2)
        start = (size_t)col - DIAG_MAX_LINE / 2;
      if (start > len)
        start = len;
      stop = start + DIAG_MAX_LINE < len ? start + DIAG_MAX_LINE : len;
    }
    strbuf_addch(&sb, '\n');
    if (start)
      strbuf_addstr(&sb, "...");
    strbuf_add(&sb, line + start, stop - start);
    if (stop < len)
      strbuf_addstr(&sb, "...");
    strbuf_addch(&sb, '\n');
    if (start)
      strbuf_addstr(&sb, "   ");
    for (i = start; i + 1 < (size_t)col; i++)
      strbuf_addch(&sb, i < len && line[i] == '\t' ? '\t' : ' ');
    strbuf_addch(&sb, '^');
  }
  pd_err_set(err, code, __FILE__, __LINE__, "%s", sb.buf);
  strbuf_release(&sb);
  return code;
}

int diag_set(struct pd_err *err, int code, const char *src, size_t n,
             const struct srcloc *loc, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  code = diag_vset(err, code, src, n, loc, fmt, ap);
  va_end(ap);
  return code;
}

/* --- tokens ------------------------------------------------------------- */

/* Character classes, so that the hot loops test one table byte per
 * character (the C locale's classes: the program never sets a locale). */
enum {
  CC_WORD = 1 << 0,  /* [A-Za-z0-9_] */
  CC_START = 1 << 1, /* [A-Za-z_]: starts a word */
  CC_DIGIT = 1 << 2, /* [0-9] */
  CC_BLANK = 1 << 3, /* ' ', '\t', '\r': skipped between tokens */
  CC_STOP = 1 << 4   /* '"', '\\', '\n', '$': ends a run of plain string text */
};

static const unsigned char cclass[256] = {
  ['0' ... '9'] = CC_WORD | CC_DIGIT,
  ['A' ... 'Z'] = CC_WORD | CC_START,
  ['a' ... 'z'] = CC_WORD | CC_START,
  ['_'] = CC_WORD | CC_START,
  [' '] = CC_BLANK,
  ['\t'] = CC_BLANK,
  ['\r'] = CC_BLANK,
  ['"'] = CC_STOP,
  ['\\'] = CC_STOP,
  ['\n'] = CC_STOP,
  ['$'] = CC_STOP,
};

#define IS(c, cls) (cclass[(unsigned char)(c)] & (cls))

void lexer_init(struct lexer *lx, const char *src, size_t n, const char *file,
                struct arena *arena)
{
  memset(lx, 0, sizeof *lx);
  strbuf_init(&lx->text, 64);
  lx->arena = arena;
  lx->text_arena = arena;
  lx->src = lx->cur = lx->line_start = src;
  lx->end = src + n;
  lx->file = file;
  lx->line = 1;
  lx->last_end.file = file;
  lx->last_end.line = 1;
  lx->last_end.col = 1;
}

void lexer_release(struct lexer *lx)
{
  strbuf_release(&lx->text);
  free(lx->parts);
  lx->parts = NULL;
  lx->nparts = lx->capparts = 0;
}

static struct srcloc here(const struct lexer *lx, const char *p)
{
  struct srcloc loc;
  loc.file = lx->file;
  loc.line = lx->line;
  loc.col = (int)(p - lx->line_start) + 1;
  return loc;
}

/* A diagnostic at loc in this lexer's source. */
#define LEX_ERR(lx, err, loc, ...) \
  diag_set((err), PD_EPARSE, (lx)->src, (size_t)((lx)->end - (lx)->src), (loc), __VA_ARGS__)

const char *token_desc(const struct token *tok, char *buf, size_t size)
{
  switch (tok->kind) {
  case TK_EOF:
    snprintf(buf, size, "end of file");
    break;
  case TK_STRING:
    snprintf(buf, size, "a string");
    break;
  default:
    snprintf(buf, size, "'%.*s'", tok->n > 40 ? 40 : (int)tok->n, tok->p);
    break;
  }
  return buf;
}

/* Parts are gathered in the lexer's scratch array, then copied out once:
 * most strings are one part, and a token should cost one allocation. */
static void add_part(struct lexer *lx, enum str_part_kind kind, char *text, size_t n,
                     char *output, struct srcloc loc)
{
  struct str_part *sp;
  if (lx->nparts == lx->capparts) {
    lx->capparts = lx->capparts ? 2 * lx->capparts : 8;
    lx->parts = xrealloc(lx->parts, lx->capparts * sizeof *lx->parts);
  }
  sp = &lx->parts[lx->nparts++];
  sp->kind = kind;
  sp->text = text;
  sp->n = n;
  sp->output = output;
  sp->loc = loc;
}

static void flush_text(struct lexer *lx, const struct srcloc *open)
{
  add_part(lx, SP_TEXT, arena_strndup(lx->text_arena, lx->text.buf, lx->text.len),
           lx->text.len, NULL, *open);
  strbuf_reset(&lx->text);
}

/* Reads a string from the opening quote at lx->cur: escapes and ${...}
 * holes (the fast path in lex_string takes plain text). */
static int lex_string_parts(struct lexer *lx, struct token *tok, struct pd_err *err)
{
  const char *p = lx->cur + 1, *q;
  struct srcloc open = tok->loc;
  int rc = 0;

  strbuf_reset(&lx->text);
  lx->nparts = 0;
  for (;;) {
    for (q = p; q < lx->end && !IS(*q, CC_STOP); q++)
      ;
    strbuf_add(&lx->text, p, (size_t)(q - p));
    p = q;
    if (p >= lx->end || *p == '\n') {
      rc = LEX_ERR(lx, err, &open, "unterminated string");
      goto fail;
    }
    if (*p == '"')
      break;
    if (*p == '\\') {
      char c = p + 1 < lx->end ? p[1] : '\0';
      switch (c) {
      case '"': strbuf_addch(&lx->text, '"'); break;
      case '\\': strbuf_addch(&lx->text, '\\'); break;
      case 'n': strbuf_addch(&lx->text, '\n'); break;
      case 't': strbuf_addch(&lx->text, '\t'); break;
      case '$': strbuf_addch(&lx->text, '$'); break;
      default: {
        struct srcloc loc = here(lx, p);
        if (p + 1 >= lx->end || c == '\n')
          rc = LEX_ERR(lx, err, &open, "unterminated string");
        else if (isprint((unsigned char)c))
          rc = LEX_ERR(lx, err, &loc,
                       "bad escape '\\%c' in string (use \\\" \\\\ \\n \\t or \\$)", c);
        else
          rc = LEX_ERR(lx, err, &loc, "bad escape in string (use \\\" \\\\ \\n \\t or \\$)");
        goto fail;
      }
      }
      p += 2;
      continue;
    }
    if (p + 1 < lx->end && p[1] == '{') {
      const char *name, *out = NULL;
      size_t nname, nout = 0;
      struct srcloc loc;
      q = p + 2;
      while (q < lx->end && (*q == ' ' || *q == '\t'))
        q++;
      loc = here(lx, q);
      if (q >= lx->end || !IS(*q, CC_START)) {
        if (q >= lx->end || *q == '\n')
          rc = LEX_ERR(lx, err, &open, "unterminated string");
        else
          rc = LEX_ERR(lx, err, &loc,
                       "expected a name after '${' (a param, a loop variable, "
                       "TASK.OUTPUT or out)");
        goto fail;
      }
      name = q;
      while (q < lx->end && IS(*q, CC_WORD))
        q++;
      nname = (size_t)(q - name);
      if (q < lx->end && *q == '.') {
        q++;
        out = q;
        if (q >= lx->end || !IS(*q, CC_START)) {
          struct srcloc oloc = here(lx, q);
          rc = LEX_ERR(lx, err, &oloc, "expected an output name after '%.*s.'", (int)nname,
                       name);
          goto fail;
        }
        while (q < lx->end && IS(*q, CC_WORD))
          q++;
        nout = (size_t)(q - out);
      }
      while (q < lx->end && (*q == ' ' || *q == '\t'))
        q++;
      if (q >= lx->end || *q != '}') {
        struct srcloc cloc = here(lx, q);
        if (q >= lx->end || *q == '\n')
          rc = LEX_ERR(lx, err, &open, "unterminated string");
        else
          rc = LEX_ERR(lx, err, &cloc, "expected '}' to close '${', found '%c'", *q);
        goto fail;
      }
      if (lx->text.len)
        flush_text(lx, &open);
      add_part(lx, out ? SP_REF : SP_NAME, arena_strndup(lx->text_arena, name, nname), nname,
               out ? arena_strndup(lx->text_arena, out, nout) : NULL, loc);
      p = q + 1;
      continue;
    }
    strbuf_addch(&lx->text, '$'); /* a '$' not followed by '{' */
    p++;
  }
  if (lx->text.len || lx->nparts == 0)
    flush_text(lx, &open);
  tok->parts = arena_alloc_raw(lx->arena, lx->nparts * sizeof *tok->parts);
  memcpy(tok->parts, lx->parts, lx->nparts * sizeof *tok->parts);
  tok->nparts = lx->nparts;
  lx->nparts = 0;
  lx->cur = p + 1;
  return 0;
fail:
  lx->nparts = 0; /* their text stays in the arena until it goes */
  return rc;
}

/* "${name}" or "${task.output}" whole, without spaces: one part (else
 * NULL, and lex_string_parts reads it). p is just after the quote. */
static struct str_part *lex_hole_only(struct lexer *lx, const char *p)
{
  const char *name = p + 2, *q = name, *out = NULL;
  struct str_part *sp;
  if (!IS(*q, CC_START))
    return NULL;
  while (q < lx->end && IS(*q, CC_WORD))
    q++;
  if (q < lx->end && *q == '.') {
    out = ++q;
    if (q >= lx->end || !IS(*q, CC_START))
      return NULL;
    while (q < lx->end && IS(*q, CC_WORD))
      q++;
  }
  if (q + 1 >= lx->end || q[0] != '}' || q[1] != '"')
    return NULL;
  sp = arena_alloc_raw(lx->arena, sizeof *sp);
  sp->kind = out ? SP_REF : SP_NAME;
  sp->n = (size_t)((out ? out - 1 : q) - name);
  sp->text = arena_strndup(lx->text_arena, name, sp->n);
  sp->output = out ? arena_strndup(lx->text_arena, out, (size_t)(q - out)) : NULL;
  sp->loc = here(lx, name);
  lx->cur = q + 2;
  return sp;
}

/* Reads a string from the opening quote at lx->cur. Most strings are
 * plain text, or one ${...}: one part, copied straight from the source. */
static int lex_string(struct lexer *lx, struct token *tok, struct pd_err *err)
{
  const char *p = lx->cur + 1, *q = p;
  struct str_part *sp;
  if (p + 2 < lx->end && p[0] == '$' && p[1] == '{' && (sp = lex_hole_only(lx, p))) {
    tok->parts = sp;
    tok->nparts = 1;
    return 0;
  }
  for (;;) {
    while (q < lx->end && !IS(*q, CC_STOP))
      q++;
    if (q + 1 < lx->end && *q == '$' && q[1] != '{')
      q++; /* a '$' not followed by '{' is text */
    else
      break;
  }
  if (q >= lx->end || *q != '"')
    return lex_string_parts(lx, tok, err);
  sp = arena_alloc_raw(lx->arena, sizeof *sp);
  sp->kind = SP_TEXT;
  sp->n = (size_t)(q - p);
  sp->text = arena_strndup(lx->text_arena, p, sp->n);
  sp->output = NULL;
  sp->loc = tok->loc;
  tok->parts = sp;
  tok->nparts = 1;
  lx->cur = q + 1;
  return 0;
}

/* Reads a number: -?digits(.digits)?([eE][+-]?digits)? */
static int lex_number(struct lexer *lx, struct token *tok, struct pd_err *err)
{
  const char *p = lx->cur, *start = lx->cur;
  char buf[64];
  int is_float = 0;
  size_t n;

  if (*p == '-')
    p++;
  while (p < lx->end && IS(*p, CC_DIGIT))
    p++;
  if (p + 1 < lx->end && *p == '.' && IS(p[1], CC_DIGIT)) {
    is_float = 1;
    p++;
    while (p < lx->end && IS(*p, CC_DIGIT))
      p++;
  }
  if (p < lx->end && (*p == 'e' || *p == 'E')) {
    const char *q = p + 1;
    if (q < lx->end && (*q == '+' || *q == '-'))
      q++;
    if (q < lx->end && IS(*q, CC_DIGIT)) {
      is_float = 1;
      p = q;
      while (p < lx->end && IS(*p, CC_DIGIT))
        p++;
    }
  }
  if (p < lx->end && IS(*p, CC_WORD)) {
    while (p < lx->end && (IS(*p, CC_WORD) || *p == '.'))
      p++;
    return LEX_ERR(lx, err, &tok->loc,
                    "invalid number '%.*s'", (int)(p - start), start);
  }
  n = (size_t)(p - start);
  tok->p = start;
  tok->n = n;
  if (n >= sizeof buf)
    return LEX_ERR(lx, err, &tok->loc,
                    "number '%.*s...' is too long", 20, start);
  if (!is_float && n <= (*start == '-' ? 19u : 18u)) {
    /* Up to 18 digits cannot overflow: no strtoll. */
    const char *d = *start == '-' ? start + 1 : start;
    int64_t v = 0;
    for (; d < p; d++)
      v = v * 10 + (*d - '0');
    tok->kind = TK_INT;
    tok->i = *start == '-' ? -v : v;
    lx->cur = p;
    return 0;
  }
  memcpy(buf, start, n);
  buf[n] = '\0';
  errno = 0;
  if (is_float) {
    tok->kind = TK_FLOAT;
    tok->f = strtod(buf, NULL);
    if (errno == ERANGE && (tok->f > 1.0 || tok->f < -1.0))
      return LEX_ERR(lx, err, &tok->loc,
                      "float '%s' is out of range", buf);
  } else {
    tok->kind = TK_INT;
    tok->i = strtoll(buf, NULL, 10);
    if (errno == ERANGE)
      return LEX_ERR(lx, err, &tok->loc,
                      "integer '%s' is out of range", buf);
  }
  lx->cur = p;
  return 0;
}

/* Single-character tokens: their kind + 1, else 0. */
static const unsigned char punct[256] = {
  ['='] = TK_EQ + 1,
  ['{'] = TK_LBRACE + 1,
  ['}'] = TK_RBRACE + 1,
  ['['] = TK_LBRACKET + 1,
  [']'] = TK_RBRACKET + 1,
  ['('] = TK_LPAREN + 1,
  [')'] = TK_RPAREN + 1,
  [','] = TK_COMMA + 1,
  ['.'] = TK_DOT + 1,
  [':'] = TK_COLON + 1,
};

int lexer_next(struct lexer *lx, struct token *tok, struct pd_err *err)
{
  /* The hot state in locals: stores through tok could alias lx. */
  const char *p = lx->cur, *end = lx->end, *line_start = lx->line_start;
  int line = lx->line, rc, k;

  /* Every field is set (as a memset would), without the memset. */
  tok->n = 0;
  tok->parts = NULL;
  tok->nparts = 0;
  tok->i = 0;
  tok->f = 0;
  for (; p < end; p++) {
    if (IS(*p, CC_BLANK))
      continue;
    if (*p == '\n') {
      line++;
      line_start = p + 1;
    } else if (*p == '#') {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      p = (nl ? nl : end) - 1;
    } else {
      break;
    }
  }
  lx->cur = p;
  lx->line = line;
  lx->line_start = line_start;
  tok->p = p;
  if (p >= end) {
    tok->kind = TK_EOF;
    tok->loc = lx->last_end;
    return 0;
  }
  tok->loc.file = lx->file;
  tok->loc.line = line;
  tok->loc.col = (int)(p - line_start) + 1;
  if (*p == '=' && p + 1 < end && p[1] == '>') {
    tok->kind = TK_ARROW;
    p += 2;
  } else if ((k = punct[(unsigned char)*p])) {
    tok->kind = (enum tok_kind)(k - 1);
    p++;
  } else if (IS(*p, CC_START)) {
    tok->kind = TK_IDENT;
    for (p++; p < end && IS(*p, CC_WORD); p++)
      ;
  } else if (*p == '"') {
    tok->kind = TK_STRING;
    if ((rc = lex_string(lx, tok, err)) < 0)
      return rc;
    p = lx->cur;
  } else if (IS(*p, CC_DIGIT) || (*p == '-' && p + 1 < end && IS(p[1], CC_DIGIT))) {
    tok->kind = TK_EOF;
    if ((rc = lex_number(lx, tok, err)) < 0)
      return rc;
    p = lx->cur;
  } else {
    tok->kind = TK_EOF;
    if (isprint((unsigned char)*p))
      return LEX_ERR(lx, err, &tok->loc, "unexpected character '%c'", *p);
    return LEX_ERR(lx, err, &tok->loc, "unexpected byte 0x%02x", (unsigned char)*p);
  }
  lx->cur = p;
  tok->n = (size_t)(p - tok->p);
  lx->last_end.file = lx->file;
  lx->last_end.line = line;
  lx->last_end.col = (int)(p - line_start) + 1;
  return 0;
}
