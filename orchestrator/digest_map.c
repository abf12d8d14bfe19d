/* digest_map.c - see digest_map.h. Digests are uniform already, so their
 * first bytes are the hash; the table doubles at half full. */
#include "digest_map.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

void digest_map_init(struct digest_map *m)
{
  memset(m, 0, sizeof *m);
}

void digest_map_release(struct digest_map *m)
{
  free(m->keys);
  free(m->vals);
  free(m->used);
  memset(m, 0, sizeof *m);
}

static size_t slot_of(const struct digest_map *m, const uint8_t d[PD_DIGEST_LEN])
{
  uint64_t x;
  size_t i;
  memcpy(&x, d, sizeof x);
  for (i = (size_t)x & (m->cap - 1); m->used[i]; i = (i + 1) & (m->cap - 1))
    if (!memcmp(m->keys[i], d, PD_DIGEST_LEN))
      break;
  return i;
}

int *digest_map_get(const struct digest_map *m, const uint8_t d[PD_DIGEST_LEN])
{
  size_t i;
  if (!m->cap)
    return NULL;
  i = slot_of(m, d);
  return m->used[i] ? &m->vals[i] : NULL;
}

int *digest_map_put(struct digest_map *m, const uint8_t d[PD_DIGEST_LEN], int *added)
{
  size_t i;
  if ((m->n + 1) * 2 > m->cap) {
    struct digest_map big;
    big.cap = m->cap ? m->cap * 2 : 64;
    big.n = 0;
    big.keys = xmalloc(big.cap * PD_DIGEST_LEN);
    big.vals = xcalloc(big.cap, sizeof *big.vals);
    big.used = xcalloc(big.cap, 1);
    for (i = 0; i < m->cap; i++)
      if (m->used[i]) {
        size_t j = slot_of(&big, m->keys[i]);
        memcpy(big.keys[j], m->keys[i], PD_DIGEST_LEN);
        big.vals[j] = m->vals[i];
        big.used[j] = 1;
        big.n++;
      }
    digest_map_release(m);
    *m = big;
  }
  i = slot_of(m, d);
  *added = !m->used[i];
  if (*added) {
    memcpy(m->keys[i], d, PD_DIGEST_LEN);
    m->vals[i] = 0;
    m->used[i] = 1;
    m->n++;
  }
  return &m->vals[i];
}
