/* strbuf.c - growable strings (see strbuf.h). */
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

void strbuf_init(struct strbuf *sb, size_t hint)
{
  sb->alloc = hint < 16 ? 16 : hint + 1;
  sb->buf = xmalloc(sb->alloc);
  sb->buf[0] = '\0';
  sb->len = 0;
}

void strbuf_release(struct strbuf *sb)
{
  free(sb->buf);
  sb->buf = NULL;
  sb->len = sb->alloc = 0;
}

char *strbuf_detach(struct strbuf *sb, size_t *len)
{
  char *p = sb->buf;
  if (len)
    *len = sb->len;
  /* Left empty and unallocated: strbuf_release is then optional, and any
   * add allocates again. */
  sb->buf = NULL;
  sb->len = sb->alloc = 0;
  return p;
}

void strbuf_reset(struct strbuf *sb)
{
  sb->len = 0;
  if (sb->buf)
    sb->buf[0] = '\0';
}

void strbuf_grow(struct strbuf *sb, size_t extra)
{
  size_t need = sb->len + extra + 1;
  if (need <= sb->alloc)
    return;
  if (sb->alloc < 16)
    sb->alloc = 16;
  while (sb->alloc < need)
    sb->alloc = sb->alloc * 2;
  sb->buf = xrealloc(sb->buf, sb->alloc);
}

void strbuf_add(struct strbuf *sb, const void *p, size_t n)
{
  strbuf_grow(sb, n);
  memcpy(sb->buf + sb->len, p, n);
  sb->len += n;
  sb->buf[sb->len] = '\0';
}

void strbuf_addstr(struct strbuf *sb, const char *s)
{
  strbuf_add(sb, s, strlen(s));
}

void strbuf_addch(struct strbuf *sb, int c)
{
  strbuf_grow(sb, 1);
  sb->buf[sb->len++] = (char)c;
  sb->buf[sb->len] = '\0';
}

void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
  va_list cp;
  int n;
  strbuf_grow(sb, 0);
  va_copy(cp, ap);
  n = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, cp);
  va_end(cp);
  if (n < 0)
    BUG("vsnprintf failed");
  if ((size_t)n >= sb->alloc - sb->len) {
    strbuf_grow(sb, (size_t)n);
    vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, ap);
  }
  sb->len += (size_t)n;
}

void strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  strbuf_vaddf(sb, fmt, ap);
  va_end(ap);
}

void strbuf_add_json_str(struct strbuf *sb, const char *s, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  size_t i = 0, run;
  strbuf_grow(sb, n + 2);
  strbuf_addch(sb, '"');
  while (i < n) {
    /* Copy the longest run that needs no escaping in one go: keys and
     * preimages are built from mostly plain text, on the no-op path. */
    for (run = i; run < n; run++) {
      unsigned char c = (unsigned char)s[run];
      if (c < 0x20 || c == '"' || c == '\\')
        break;
    }
    if (run > i)
      strbuf_add(sb, s + i, run - i);
    if (run == n)
      break;
    {
      unsigned char c = (unsigned char)s[run];
      switch (c) {
      case '"': strbuf_add(sb, "\\\"", 2); break;
      case '\\': strbuf_add(sb, "\\\\", 2); break;
      case '\n': strbuf_add(sb, "\\n", 2); break;
      case '\t': strbuf_add(sb, "\\t", 2); break;
      case '\r': strbuf_add(sb, "\\r", 2); break;
      default: {
        char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
        strbuf_add(sb, esc, 6);
      }
      }
    }
    i = run + 1;
  }
  strbuf_addch(sb, '"');
}
