/* strbuf.h - a growable byte string (git strbuf). Always NUL-terminated. */
#ifndef PD_STRBUF_H
#define PD_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
  char *buf;    /* NUL-terminated, owned; NULL only after strbuf_detach */
  size_t len;
  size_t alloc;
};

void strbuf_init(struct strbuf *sb, size_t hint);
void strbuf_release(struct strbuf *sb);
/* Gives the buffer to the caller (free() it); sb is left empty with no
 * buffer (buf == NULL) until something is added again. */
char *strbuf_detach(struct strbuf *sb, size_t *len);
void strbuf_reset(struct strbuf *sb);
void strbuf_grow(struct strbuf *sb, size_t extra);
void strbuf_add(struct strbuf *sb, const void *p, size_t n);
void strbuf_addstr(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, int c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included. */
void strbuf_add_json_str(struct strbuf *sb, const char *s, size_t n);

#endif
