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

/* --- arena ------------------------------------------------------------- */

/* Below glibc's mmap threshold, so that freed chunks go back to the heap
 * and the graph built next reuses them. */
#define ARENA_CHUNK (64 * 1024 - 64)

void arena_init(struct arena *a)
{
  memset(a, 0, sizeof *a);
}

static void arena_add_chunk(struct arena *a, char *c)
{
  if (a->nchunks == a->cap) {
    a->cap = a->cap ? 2 * a->cap : 16;
    a->chunks = xrealloc(a->chunks, a->cap * sizeof *a->chunks);
  }
  a->chunks[a->nchunks++] = c;
}

void *arena_alloc(struct arena *a, size_t n)
{
  char *p;
  n = (n + 7) & ~(size_t)7;
  if (n > (size_t)(a->end - a->p)) {
    if (n > ARENA_CHUNK / 4) {
      /* A chunk of its own; later allocations start a fresh chunk, which
       * keeps chunks in allocation order. */
      p = xcalloc(1, n);
      arena_add_chunk(a, p);
      a->p = a->end = NULL;
      return p;
    }
    p = xmalloc(ARENA_CHUNK);
    arena_add_chunk(a, p);
    a->p = p;
    a->end = p + ARENA_CHUNK;
  }
  p = a->p;
  a->p += n;
  memset(p, 0, n);
  return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
  char *p = arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void arena_free_before(struct arena *a, size_t upto)
{
  size_t i;
  for (i = a->freed; i < upto && i < a->nchunks; i++) {
    free(a->chunks[i]);
    a->chunks[i] = NULL;
  }
  if (i > a->freed)
    a->freed = i;
}

void arena_release(struct arena *a)
{
  arena_free_before(a, a->nchunks);
  free(a->chunks);
  memset(a, 0, sizeof *a);
}

/* --- tokens ------------------------------------------------------------- */

void lexer_init(struct lexer *lx, const char *src, size_t n, const char *file,
                struct arena *arena)
{
  memset(lx, 0, sizeof *lx);
  strbuf_init(&lx->text, 64);
  lx->arena = arena;
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

static int is_word(int c)
{
  return isalnum(c) || c == '_';
}

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
  add_part(lx, SP_TEXT, arena_strndup(lx->arena, lx->text.buf, lx->text.len), lx->text.len,
           NULL, *open);
  strbuf_reset(&lx->text);
}

/* Reads a string from the opening quote at lx->cur. */
static int lex_string(struct lexer *lx, struct token *tok, struct pd_err *err)
{
  const char *p = lx->cur + 1, *q;
  struct srcloc open = tok->loc;
  int rc = 0;

  strbuf_reset(&lx->text);
  lx->nparts = 0;
  for (;;) {
    for (q = p; q < lx->end && *q != '"' && *q != '\\' && *q != '\n' && *q != '$'; q++)
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
      if (q >= lx->end || !(isalpha((unsigned char)*q) || *q == '_')) {
        if (q >= lx->end || *q == '\n')
          rc = LEX_ERR(lx, err, &open, "unterminated string");
        else
          rc = LEX_ERR(lx, err, &loc,
                       "expected a name after '${' (a param, a loop variable, "
                       "TASK.OUTPUT or out)");
        goto fail;
      }
      name = q;
      while (q < lx->end && is_word((unsigned char)*q))
        q++;
      nname = (size_t)(q - name);
      if (q < lx->end && *q == '.') {
        q++;
        out = q;
        if (q >= lx->end || !(isalpha((unsigned char)*q) || *q == '_')) {
          struct srcloc oloc = here(lx, q);
          rc = LEX_ERR(lx, err, &oloc, "expected an output name after '%.*s.'", (int)nname,
                       name);
          goto fail;
        }
        while (q < lx->end && is_word((unsigned char)*q))
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
      add_part(lx, out ? SP_REF : SP_NAME, arena_strndup(lx->arena, name, nname), nname,
               out ? arena_strndup(lx->arena, out, nout) : NULL, loc);
      p = q + 1;
      continue;
    }
    strbuf_addch(&lx->text, '$'); /* a '$' not followed by '{' */
    p++;
  }
  if (lx->text.len || lx->nparts == 0)
    flush_text(lx, &open);
  tok->parts = arena_alloc(lx->arena, lx->nparts * sizeof *tok->parts);
  memcpy(tok->parts, lx->parts, lx->nparts * sizeof *tok->parts);
  tok->nparts = lx->nparts;
  lx->nparts = 0;
  lx->cur = p + 1;
  return 0;
fail:
  lx->nparts = 0; /* their text stays in the arena until it goes */
  return rc;
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
  while (p < lx->end && isdigit((unsigned char)*p))
    p++;
  if (p + 1 < lx->end && *p == '.' && isdigit((unsigned char)p[1])) {
    is_float = 1;
    p++;
    while (p < lx->end && isdigit((unsigned char)*p))
      p++;
  }
  if (p < lx->end && (*p == 'e' || *p == 'E')) {
    const char *q = p + 1;
    if (q < lx->end && (*q == '+' || *q == '-'))
      q++;
    if (q < lx->end && isdigit((unsigned char)*q)) {
      is_float = 1;
      p = q;
      while (p < lx->end && isdigit((unsigned char)*p))
        p++;
    }
  }
  if (p < lx->end && is_word((unsigned char)*p)) {
    while (p < lx->end && (is_word((unsigned char)*p) || *p == '.'))
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

int lexer_next(struct lexer *lx, struct token *tok, struct pd_err *err)
{
  const char *p;
  int rc;

  memset(tok, 0, sizeof *tok);
  for (;;) {
    p = lx->cur;
    if (p >= lx->end)
      break;
    if (*p == '\n') {
      lx->line++;
      lx->line_start = lx->cur = p + 1;
    } else if (*p == ' ' || *p == '\t' || *p == '\r') {
      lx->cur++;
    } else if (*p == '#') {
      const char *nl = memchr(p, '\n', (size_t)(lx->end - p));
      lx->cur = nl ? nl : lx->end;
    } else {
      break;
    }
  }
  p = lx->cur;
  tok->loc = here(lx, p);
  tok->p = p;
  if (p >= lx->end) {
    tok->kind = TK_EOF;
    tok->loc = lx->last_end;
    tok->n = 0;
    return 0;
  }
  switch (*p) {
  case '=': tok->kind = TK_EQ; break;
  case '{': tok->kind = TK_LBRACE; break;
  case '}': tok->kind = TK_RBRACE; break;
  case '[': tok->kind = TK_LBRACKET; break;
  case ']': tok->kind = TK_RBRACKET; break;
  case '(': tok->kind = TK_LPAREN; break;
  case ')': tok->kind = TK_RPAREN; break;
  case ',': tok->kind = TK_COMMA; break;
  case '.': tok->kind = TK_DOT; break;
  case '"':
    tok->kind = TK_STRING;
    if ((rc = lex_string(lx, tok, err)) < 0)
      return rc;
    goto done;
  default:
    if (isalpha((unsigned char)*p) || *p == '_') {
      tok->kind = TK_IDENT;
      while (p < lx->end && is_word((unsigned char)*p))
        p++;
      lx->cur = p;
      goto done;
    }
    if (isdigit((unsigned char)*p) ||
        (*p == '-' && p + 1 < lx->end && isdigit((unsigned char)p[1]))) {
      if ((rc = lex_number(lx, tok, err)) < 0)
        return rc;
      goto done;
    }
    if (isprint((unsigned char)*p))
      return LEX_ERR(lx, err, &tok->loc,
                      "unexpected character '%c'", *p);
    return LEX_ERR(lx, err, &tok->loc,
                    "unexpected byte 0x%02x", (unsigned char)*p);
  }
  lx->cur = p + 1;
done:
  tok->n = (size_t)(lx->cur - tok->p);
  lx->last_end = here(lx, lx->cur);
  return 0;
}
