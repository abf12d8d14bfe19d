/* path.c - lexical path helpers of the front end (see parse.h): joining,
 * normalizing, relative paths. No file system access; results are
 * malloc'd.
 */
#include "parse.h"

#include <string.h>

#include "err.h"
#include "strbuf.h"

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
