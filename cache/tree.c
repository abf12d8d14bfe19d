/* tree.c - the canonical tree manifest shared by ingested outputs (store.c)
 * and source directories (src.c), and sorted directory listings.
 *
 * A manifest is TREE_MAGIC, then one line per entry, sorted by the bytes of
 * the name: "<f|d> <64 hex digest> <size in decimal> <name>\n", where f is a
 * file (a blob) and d a directory (another tree, size the sum of its files).
 * The tree's digest is the SHA-256 of that text, so equal contents give
 * equal digests whatever the order files were created in. Names may hold
 * any byte but '/', '\n' and NUL, and are never "." or "..".
 */
#include "cache_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cache__tree_add(struct strbuf *sb, int is_tree, const uint8_t d[PD_DIGEST_LEN],
                     uint64_t size, const char *name)
{
  char hex[PD_DIGEST_HEX];
  digest_hex(d, hex);
  strbuf_addf(sb, "%c %s %llu %s\n", is_tree ? 'd' : 'f', hex,
              (unsigned long long)size, name);
}

int cache__tree_name_ok(const char *name)
{
  if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
    return -1;
  return strpbrk(name, "/\n") ? -1 : 0;
}

int cache__tree_next(const char *m, size_t len, size_t *pos, struct tree_ent *e)
{
  size_t p = *pos, magic = sizeof TREE_MAGIC - 1;
  const char *nl;
  uint64_t size = 0;
  if (p == 0) {
    if (len < magic || memcmp(m, TREE_MAGIC, magic))
      return -1;
    p = magic;
  }
  if (p == len)
    return 0;
  /* "f " + 64 hex + " " + at least one digit + " " + name + "\n" */
  if (len - p < 2 + 64 + 1 + 1 + 1 + 1 + 1 || (m[p] != 'f' && m[p] != 'd') ||
      m[p + 1] != ' ' || m[p + 66] != ' ')
    return -1;
  e->is_tree = m[p] == 'd';
  if (cache__hex_parse(m + p + 2, e->digest) < 0)
    return -1;
  p += 67;
  if (m[p] < '0' || m[p] > '9')
    return -1;
  while (p < len && m[p] >= '0' && m[p] <= '9')
    size = size * 10 + (uint64_t)(m[p++] - '0');
  if (p >= len || m[p] != ' ')
    return -1;
  p++;
  nl = memchr(m + p, '\n', len - p);
  if (!nl || nl == m + p)
    return -1;
  e->size = size;
  e->name = m + p;
  e->namelen = (size_t)(nl - (m + p));
  *pos = (size_t)(nl - m) + 1;
  return 1;
}

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b); /* unsigned bytes */
}

int cache__list_dir(const char *path, char ***names, size_t *n, struct pd_err *err)
{
  DIR *dir = opendir(path);
  struct dirent *de;
  size_t cap = 16;
  *names = NULL;
  *n = 0;
  if (!dir)
    return ERR_SET(err, -errno, "cannot read directory '%s': %s", path, strerror(errno));
  *names = xmalloc(cap * sizeof **names);
  errno = 0;
  while ((de = readdir(dir))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    if (*n == cap)
      *names = xrealloc(*names, (cap *= 2) * sizeof **names);
    (*names)[(*n)++] = xstrdup(de->d_name);
  }
  if (errno) {
    int e = errno;
    closedir(dir);
    cache__free_names(*names, *n);
    *names = NULL;
    *n = 0;
    return ERR_SET(err, -e, "cannot read directory '%s': %s", path, strerror(e));
  }
  closedir(dir);
  qsort(*names, *n, sizeof **names, cmp_names);
  return 0;
}

void cache__free_names(char **names, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    free(names[i]);
  free(names);
}
