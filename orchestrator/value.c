/* value.c - evaluated values of the graph language (see value.h).
 *
 * Two renderings: val_to_json is the canonical form that goes into action
 * keys, so it must never change for equal values (sorted keys, no
 * whitespace, %.17g floats); val_to_source prints graph-language syntax that
 * the parser reads back to an equal value (floats in their shortest
 * round-trip form). Maps keep their keys sorted by strcmp: the front end
 * sorts them when it builds a map, and nothing here re-sorts.
 */
#include "value.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "parse.h"
#include "strbuf.h"

void val_release(struct val *v)
{
  size_t i;
  if (!v)
    return;
  switch (v->kind) {
  case V_STR:
    free(v->u.str.s);
    break;
  case V_LIST:
  case V_CONCAT:
    for (i = 0; i < v->u.list.n; i++)
      val_release(&v->u.list.v[i]);
    free(v->u.list.v);
    break;
  case V_MAP:
    for (i = 0; i < v->u.map.n; i++) {
      free(v->u.map.k[i]);
      val_release(&v->u.map.v[i]);
    }
    free(v->u.map.k);
    free(v->u.map.v);
    break;
  case V_REF:
    free(v->u.ref.task);
    free(v->u.ref.output);
    break;
  case V_FILE:
  case V_DIR:
    free(v->u.src.path);
    free(v->u.src.rel);
    break;
  default:
    break;
  }
  memset(v, 0, sizeof *v);
}

static char *dup_or_null(const char *s)
{
  return s ? xstrdup(s) : NULL;
}

void val_copy(struct val *dst, const struct val *src)
{
  size_t i, n;
  *dst = *src;
  switch (src->kind) {
  case V_STR:
    dst->u.str.s = xstrndup(src->u.str.s, src->u.str.n);
    break;
  case V_LIST:
  case V_CONCAT:
    n = src->u.list.n;
    dst->u.list.v = n ? xmalloc(n * sizeof *dst->u.list.v) : NULL;
    for (i = 0; i < n; i++)
      val_copy(&dst->u.list.v[i], &src->u.list.v[i]);
    break;
  case V_MAP:
    n = src->u.map.n;
    dst->u.map.k = n ? xmalloc(n * sizeof *dst->u.map.k) : NULL;
    dst->u.map.v = n ? xmalloc(n * sizeof *dst->u.map.v) : NULL;
    for (i = 0; i < n; i++) {
      dst->u.map.k[i] = xstrdup(src->u.map.k[i]);
      val_copy(&dst->u.map.v[i], &src->u.map.v[i]);
    }
    break;
  case V_REF:
    dst->u.ref.task = xstrdup(src->u.ref.task);
    dst->u.ref.output = xstrdup(src->u.ref.output);
    break;
  case V_FILE:
  case V_DIR:
    dst->u.src.path = dup_or_null(src->u.src.path);
    dst->u.src.rel = dup_or_null(src->u.src.rel);
    break;
  default:
    break;
  }
}

void val_copy_at(struct arena *arena, struct val *dst, const struct val *src,
                 const struct srcloc *loc)
{
  size_t i, n;
  *dst = *src;
  dst->loc = *loc;
  switch (src->kind) {
  case V_LIST:
  case V_CONCAT:
    if (!(n = src->u.list.n))
      break;
    dst->u.list.v = arena_alloc_raw(arena, n * sizeof *dst->u.list.v);
    for (i = 0; i < n; i++)
      val_copy_at(arena, &dst->u.list.v[i], &src->u.list.v[i], loc);
    break;
  case V_MAP:
    if (!(n = src->u.map.n))
      break;
    dst->u.map.v = arena_alloc_raw(arena, n * sizeof *dst->u.map.v);
    for (i = 0; i < n; i++)
      val_copy_at(arena, &dst->u.map.v[i], &src->u.map.v[i], loc);
    break;
  default:
    break;
  }
}

static int str_eq(const char *a, const char *b)
{
  if (!a || !b)
    return a == b;
  return strcmp(a, b) == 0;
}

int val_equal(const struct val *a, const struct val *b)
{
  size_t i;
  if (a->kind != b->kind)
    return 0;
  switch (a->kind) {
  case V_NULL:
  case V_OUT:
    return 1;
  case V_BOOL:
    return !a->u.b == !b->u.b;
  case V_INT:
    return a->u.i == b->u.i;
  case V_FLOAT:
    return a->u.f == b->u.f;
  case V_STR:
    return a->u.str.n == b->u.str.n && memcmp(a->u.str.s, b->u.str.s, a->u.str.n) == 0;
  case V_LIST:
  case V_CONCAT:
    if (a->u.list.n != b->u.list.n)
      return 0;
    for (i = 0; i < a->u.list.n; i++)
      if (!val_equal(&a->u.list.v[i], &b->u.list.v[i]))
        return 0;
    return 1;
  case V_MAP:
    if (a->u.map.n != b->u.map.n)
      return 0;
    for (i = 0; i < a->u.map.n; i++)
      if (strcmp(a->u.map.k[i], b->u.map.k[i]) != 0 ||
          !val_equal(&a->u.map.v[i], &b->u.map.v[i]))
        return 0;
    return 1;
  case V_REF:
    return strcmp(a->u.ref.task, b->u.ref.task) == 0 &&
           strcmp(a->u.ref.output, b->u.ref.output) == 0;
  case V_FILE:
  case V_DIR:
    return str_eq(a->u.src.path, b->u.src.path) && str_eq(a->u.src.rel, b->u.src.rel);
  }
  return 0;
}

const struct val *val_map_get(const struct val *map, const char *key)
{
  size_t lo = 0, hi;
  if (!map || map->kind != V_MAP)
    return NULL;
  hi = map->u.map.n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *k = map->u.map.k[mid];
    /* The first bytes mostly differ: strcmp only when they do not. */
    int c = (unsigned char)key[0] - (unsigned char)k[0];
    if (c == 0)
      c = strcmp(key, k);
    if (c == 0)
      return &map->u.map.v[mid];
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

/* --- JSON --------------------------------------------------------------- */

/* Appends n bytes; strbuf_add without its call for one byte. */
static inline void put(struct strbuf *out, const char *s, size_t n)
{
  strbuf_grow(out, n);
  memcpy(out->buf + out->len, s, n);
  out->len += n;
  out->buf[out->len] = '\0';
}

#define PUT_LIT(out, lit) put((out), (lit), sizeof(lit) - 1)

/* Writes v in decimal (as %lld would) at the end of buf; returns the
 * start. buf must hold 20 bytes. */
static char *fmt_int(char *end, int64_t v)
{
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  char *p = end;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    *--p = '-';
  return p;
}

static void json_int(struct strbuf *out, int64_t v)
{
  char buf[24], *p = fmt_int(buf + sizeof buf, v);
  put(out, p, (size_t)(buf + sizeof buf - p));
}

static void json_float(struct strbuf *out, double f)
{
  char buf[40];
  if (!isfinite(f)) {
    PUT_LIT(out, "null"); /* JSON has no inf/nan; the language cannot make them */
    return;
  }
  /* Whole numbers well inside 2^53 print as their digits under %.17g, and
   * most floats in graphs are (0, 1, 300): no printf for them. -0 keeps
   * its sign, so it takes the printf path. */
  if (f > -1e15 && f < 1e15 && f == (double)(int64_t)f && !(f == 0 && signbit(f))) {
    char *p = fmt_int(buf + sizeof buf - 2, (int64_t)f);
    buf[sizeof buf - 2] = '.';
    buf[sizeof buf - 1] = '0';
    put(out, p, (size_t)(buf + sizeof buf - p));
    return;
  }
  snprintf(buf, sizeof buf, "%.17g", f);
  strbuf_addstr(out, buf);
  if (!strpbrk(buf, ".e"))
    PUT_LIT(out, ".0");
}

static void json_src(struct strbuf *out, const char *tag, const struct val *v)
{
  const char *p = v->u.src.rel ? v->u.src.rel : v->u.src.path ? v->u.src.path : "";
  strbuf_addf(out, "{\"%s\":", tag);
  strbuf_add_json_str(out, p, strlen(p));
  strbuf_addch(out, '}');
}

/* Whether a JSON string of s is s in quotes: names of tasks and outputs are
 * identifiers, which no JSON encoder escapes. */
static int json_plain(const char *s, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

static void json_ref(struct strbuf *out, const struct val *v)
{
  size_t nt = strlen(v->u.ref.task), no = strlen(v->u.ref.output);
  if (json_plain(v->u.ref.task, nt) && json_plain(v->u.ref.output, no)) {
    PUT_LIT(out, "{\"$ref\":\"");
    put(out, v->u.ref.task, nt);
    put(out, ".", 1);
    put(out, v->u.ref.output, no);
    PUT_LIT(out, "\"}");
  } else {
    struct strbuf sb;
    strbuf_init(&sb, nt + no + 2);
    strbuf_addf(&sb, "%s.%s", v->u.ref.task, v->u.ref.output);
    PUT_LIT(out, "{\"$ref\":");
    strbuf_add_json_str(out, sb.buf, sb.len);
    put(out, "}", 1);
    strbuf_release(&sb);
  }
}

void val_to_json(const struct val *v, struct strbuf *out)
{
  size_t i;
  switch (v->kind) {
  case V_NULL:
    PUT_LIT(out, "null");
    break;
  case V_BOOL:
    if (v->u.b)
      PUT_LIT(out, "true");
    else
      PUT_LIT(out, "false");
    break;
  case V_INT:
    json_int(out, v->u.i);
    break;
  case V_FLOAT:
    json_float(out, v->u.f);
    break;
  case V_STR:
    strbuf_add_json_str(out, v->u.str.s, v->u.str.n);
    break;
  case V_LIST:
    put(out, "[", 1);
    for (i = 0; i < v->u.list.n; i++) {
      if (i)
        put(out, ",", 1);
      val_to_json(&v->u.list.v[i], out);
    }
    put(out, "]", 1);
    break;
  case V_MAP:
    put(out, "{", 1);
    for (i = 0; i < v->u.map.n; i++) {
      if (i)
        put(out, ",", 1);
      strbuf_add_json_str(out, v->u.map.k[i], strlen(v->u.map.k[i]));
      put(out, ":", 1);
      val_to_json(&v->u.map.v[i], out);
    }
    put(out, "}", 1);
    break;
  case V_REF:
    json_ref(out, v);
    break;
  case V_FILE:
    json_src(out, "$file", v);
    break;
  case V_DIR:
    json_src(out, "$dir", v);
    break;
  case V_OUT:
    PUT_LIT(out, "{\"$out\":true}");
    break;
  case V_CONCAT:
    PUT_LIT(out, "{\"$cat\":[");
    for (i = 0; i < v->u.list.n; i++) {
      if (i)
        put(out, ",", 1);
      val_to_json(&v->u.list.v[i], out);
    }
    PUT_LIT(out, "]}");
    break;
  }
}

/* --- graph-language source ---------------------------------------------- */

/* Shortest text that reads back as f: the fewest significant digits that
 * round-trip, in fixed notation for exponents -5..16 (1000, not 1e+03). */
void fmt_float(char *buf, size_t size, double f)
{
  int prec, exp10;
  char e[40];
  for (prec = 1; prec < 17; prec++) {
    snprintf(buf, size, "%.*g", prec, f);
    if (strtod(buf, NULL) == f)
      break;
  }
  snprintf(e, sizeof e, "%.*e", prec - 1, f);
  exp10 = atoi(strchr(e, 'e') + 1);
  if (exp10 >= -5 && exp10 < 17 && exp10 + 1 > prec)
    prec = exp10 + 1;
  snprintf(buf, size, "%.*g", prec, f);
}

/* fmt_float, always with a '.' or an exponent so that it reads back as a
 * float. */
static void source_float(struct strbuf *out, double f)
{
  char buf[40];
  if (!isfinite(f)) {
    strbuf_addstr(out, isnan(f) ? "nan" : f > 0 ? "inf" : "-inf"); /* not readable back */
    return;
  }
  fmt_float(buf, sizeof buf, f);
  strbuf_addstr(out, buf);
  if (!strpbrk(buf, ".e"))
    strbuf_addstr(out, ".0");
}

/* Text inside "...": escapes what the lexer would read differently. */
static void source_text(struct strbuf *out, const char *s, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++) {
    switch (s[i]) {
    case '"': strbuf_addstr(out, "\\\""); break;
    case '\\': strbuf_addstr(out, "\\\\"); break;
    case '\n': strbuf_addstr(out, "\\n"); break;
    case '\t': strbuf_addstr(out, "\\t"); break;
    case '$':
      strbuf_addstr(out, i + 1 < n && s[i + 1] == '{' ? "\\$" : "$");
      break;
    default: strbuf_addch(out, s[i]); break;
    }
  }
}

static int is_ident(const char *s)
{
  if (!(isalpha((unsigned char)*s) || *s == '_'))
    return 0;
  for (s++; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_'))
      return 0;
  return 1;
}

static void source_src(struct strbuf *out, const char *fn, const struct val *v)
{
  const char *p = v->u.src.rel ? v->u.src.rel : v->u.src.path ? v->u.src.path : "";
  strbuf_addf(out, "%s(\"", fn);
  source_text(out, p, strlen(p));
  strbuf_addstr(out, "\")");
}

void val_to_source(const struct val *v, struct strbuf *out)
{
  size_t i;
  switch (v->kind) {
  case V_NULL:
    strbuf_addstr(out, "null");
    break;
  case V_BOOL:
    strbuf_addstr(out, v->u.b ? "true" : "false");
    break;
  case V_INT:
    strbuf_addf(out, "%lld", (long long)v->u.i);
    break;
  case V_FLOAT:
    source_float(out, v->u.f);
    break;
  case V_STR:
    strbuf_addch(out, '"');
    source_text(out, v->u.str.s, v->u.str.n);
    strbuf_addch(out, '"');
    break;
  case V_LIST:
    strbuf_addch(out, '[');
    for (i = 0; i < v->u.list.n; i++) {
      if (i)
        strbuf_addstr(out, ", ");
      val_to_source(&v->u.list.v[i], out);
    }
    strbuf_addch(out, ']');
    break;
  case V_MAP:
    if (v->u.map.n == 0) {
      strbuf_addstr(out, "{}");
      break;
    }
    strbuf_addstr(out, "{ ");
    for (i = 0; i < v->u.map.n; i++) {
      const char *k = v->u.map.k[i];
      if (i)
        strbuf_addstr(out, ", ");
      if (is_ident(k)) {
        strbuf_addstr(out, k);
      } else {
        strbuf_addch(out, '"');
        source_text(out, k, strlen(k));
        strbuf_addch(out, '"');
      }
      strbuf_addstr(out, " = ");
      val_to_source(&v->u.map.v[i], out);
    }
    strbuf_addstr(out, " }");
    break;
  case V_REF:
    strbuf_addf(out, "%s.%s", v->u.ref.task, v->u.ref.output);
    break;
  case V_FILE:
    source_src(out, "file", v);
    break;
  case V_DIR:
    source_src(out, "dir", v);
    break;
  case V_OUT:
    strbuf_addstr(out, "\"${out}\"");
    break;
  case V_CONCAT:
    strbuf_addch(out, '"');
    for (i = 0; i < v->u.list.n; i++) {
      const struct val *p = &v->u.list.v[i];
      switch (p->kind) {
      case V_STR: source_text(out, p->u.str.s, p->u.str.n); break;
      case V_REF: strbuf_addf(out, "${%s.%s}", p->u.ref.task, p->u.ref.output); break;
      case V_OUT: strbuf_addstr(out, "${out}"); break;
      case V_INT: strbuf_addf(out, "%lld", (long long)p->u.i); break;
      case V_BOOL: strbuf_addstr(out, p->u.b ? "true" : "false"); break;
      case V_FLOAT: source_float(out, p->u.f); break;
      default: {
        /* Not made by the front end (file() cannot be interpolated): shown
         * for humans, not readable back. */
        struct strbuf sb;
        strbuf_init(&sb, 32);
        val_to_source(p, &sb);
        strbuf_addf(out, "${%s}", sb.buf);
        strbuf_release(&sb);
      }
      }
    }
    strbuf_addch(out, '"');
    break;
  }
}

const char *val_kind_name(enum val_kind k)
{
  switch (k) {
  case V_NULL: return "null";
  case V_BOOL: return "bool";
  case V_INT: return "integer";
  case V_FLOAT: return "float";
  case V_STR: return "string";
  case V_LIST: return "list";
  case V_MAP: return "map";
  case V_REF: return "reference";
  case V_FILE: return "file";
  case V_DIR: return "dir";
  case V_OUT: return "${out}";
  case V_CONCAT: return "interpolated string";
  }
  return "?";
}
