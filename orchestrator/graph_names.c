/* graph_names.c - the loader's name tables, the registry of loaded sources
 * behind graph_error_at, and "did you mean" (see graph.h, graph_int.h).
 *
 * graph_error_at has no graph argument, yet must print the source line: the
 * source texts of every loaded graph sit in a process-wide registry, found
 * by the srcloc's interned file pointer (under a mutex, since the scheduler
 * may report from other threads). Names live in open-addressing hash
 * tables, so a 10,000-task graph loads in time linear in its size; only
 * error paths (did-you-mean) scan all names. The sources' digest (for run
 * records) is computed here too, on a thread of its own for big graphs.
 */
#include "graph_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "err.h"

/* --- name tables -------------------------------------------------------- */

static uint32_t hash_str(const char *s)
{
  uint64_t h = 14695981039346656037ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return (uint32_t)(h ^ (h >> 32));
}

/* The slot of k, or the empty slot where it would go. */
static struct strmap_slot *map_find(const struct strmap *m, const char *k, uint32_t h)
{
  size_t i;
  for (i = h & (m->cap - 1); m->slots[i].key; i = (i + 1) & (m->cap - 1))
    if (m->slots[i].hash == h && strcmp(m->slots[i].key, k) == 0)
      break;
  return &m->slots[i];
}

int graph__map_get(const struct strmap *m, const char *k)
{
  const struct strmap_slot *sl;
  if (!m->cap)
    return -1;
  sl = map_find(m, k, hash_str(k));
  return sl->key ? sl->val : -1;
}

static void map_rehash(struct strmap *m, size_t cap)
{
  struct strmap old = *m;
  size_t i;
  m->cap = cap;
  m->slots = xcalloc(m->cap, sizeof *m->slots);
  for (i = 0; i < old.cap; i++)
    if (old.slots[i].key)
      *map_find(m, old.slots[i].key, old.slots[i].hash) = old.slots[i];
  free(old.slots);
}

void graph__map_reserve(struct strmap *m, size_t n)
{
  size_t cap = m->cap ? m->cap : 64;
  while (n * 4 > cap * 3)
    cap *= 2;
  if (cap != m->cap)
    map_rehash(m, cap);
}

int graph__map_add(struct strmap *m, const char *k, int v)
{
  struct strmap_slot *sl;
  uint32_t h = hash_str(k);
  if ((m->n + 1) * 4 > m->cap * 3)
    map_rehash(m, m->cap ? m->cap * 2 : 64);
  sl = map_find(m, k, h);
  if (sl->key)
    return sl->val;
  sl->key = k;
  sl->hash = h;
  sl->val = v;
  m->n++;
  return -1;
}

void graph__map_put(struct strmap *m, const char *k, int v)
{
  graph__map_add(m, k, v);
}

void graph__map_free(struct strmap *m)
{
  free(m->slots);
  memset(m, 0, sizeof *m);
}

/* --- the source registry ------------------------------------------------ */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct priv *reg_head;

void graph__reg_add(struct priv *pv)
{
  pthread_mutex_lock(&reg_lock);
  pv->reg_next = reg_head;
  reg_head = pv;
  pthread_mutex_unlock(&reg_lock);
}

void graph__reg_remove(struct priv *pv)
{
  struct priv **pp;
  pthread_mutex_lock(&reg_lock);
  for (pp = &reg_head; *pp; pp = &(*pp)->reg_next)
    if (*pp == pv) {
      *pp = pv->reg_next;
      break;
    }
  pthread_mutex_unlock(&reg_lock);
}

void graph__reg_add_source(struct priv *pv, struct source *s)
{
  pthread_mutex_lock(&reg_lock); /* graph_error_at may be reading the list */
  pv->src = xrealloc(pv->src, (pv->nsrc + 1) * sizeof *pv->src);
  pv->src[pv->nsrc++] = s;
  pthread_mutex_unlock(&reg_lock);
}

int graph_error_at(struct pd_err *err, int code, const struct srcloc *loc,
                   const char *fmt, ...)
{
  const struct source *found = NULL;
  struct priv *pv;
  va_list ap;
  size_t i;

  if (!code)
    code = PD_EGRAPH;
  if (!err || err->code)
    return code; /* nothing would be written: the first error wins */
  pthread_mutex_lock(&reg_lock);
  if (loc && loc->file)
    for (pv = reg_head; pv && !found; pv = pv->reg_next)
      for (i = 0; i < pv->nsrc; i++)
        if (pv->src[i]->display == loc->file) {
          found = pv->src[i];
          break;
        }
  va_start(ap, fmt);
  diag_vset(err, code, found ? found->text : NULL, found ? found->len : 0, loc, fmt, ap);
  va_end(ap);
  pthread_mutex_unlock(&reg_lock);
  return code;
}

/* --- the digest of the sources ------------------------------------------ */

/* SHA-256 over the sources' bytes in order, each after its length (8 bytes,
 * little-endian). */
static void digest_sources(const struct priv *pv, uint8_t out[32])
{
  struct digest_ctx dc;
  size_t i;
  digest_init(&dc);
  for (i = 0; i < pv->nsrc; i++) {
    uint8_t n8[8];
    uint64_t n = pv->src[i]->len;
    int b;
    for (b = 0; b < 8; b++)
      n8[b] = (uint8_t)(n >> (8 * b));
    digest_update(&dc, n8, sizeof n8);
    digest_update(&dc, pv->src[i]->text, pv->src[i]->len);
  }
  digest_final(&dc, out);
}

/* Sources this big are hashed on a thread of their own while passes 1 to 3
 * run (once read, nothing writes them). */
#define DIGEST_THREAD_MIN (256 * 1024)

static void *digester_main(void *arg)
{
  struct digester *d = arg;
  digest_sources(d->pv, d->out);
  return NULL;
}

void graph__digest_start(struct digester *d, const struct priv *pv)
{
  size_t i, total = 0;
  d->pv = pv;
  for (i = 0; i < pv->nsrc; i++)
    total += pv->src[i]->len;
  d->started = total >= DIGEST_THREAD_MIN && pthread_create(&d->th, NULL, digester_main, d) == 0;
}

void graph__digest_finish(struct digester *d, uint8_t out[32])
{
  if (d->started) {
    pthread_join(d->th, NULL);
    d->started = 0;
  } else if (out) {
    digest_sources(d->pv, d->out);
  }
  if (out)
    memcpy(out, d->out, sizeof d->out);
}

/* --- did you mean ------------------------------------------------------- */

static int lower(int c)
{
  return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Optimal string alignment distance (Levenshtein plus transpositions),
 * ignoring case; gives up (returns limit + 1) once it exceeds limit. */
static size_t edit_distance(const char *a, const char *b, size_t limit)
{
  size_t na = strlen(a), nb = strlen(b), i, j, d;
  size_t *prev2, *prev, *cur, *buf;
  if ((na > nb ? na - nb : nb - na) > limit)
    return limit + 1;
  buf = xmalloc(3 * (nb + 1) * sizeof *buf);
  prev2 = buf;
  prev = buf + nb + 1;
  cur = buf + 2 * (nb + 1);
  for (j = 0; j <= nb; j++)
    prev[j] = j;
  for (i = 1; i <= na; i++) {
    size_t row_min;
    cur[0] = row_min = i;
    for (j = 1; j <= nb; j++) {
      size_t cost = lower((unsigned char)a[i - 1]) != lower((unsigned char)b[j - 1]);
      size_t v = prev[j] + 1;
      if (cur[j - 1] + 1 < v)
        v = cur[j - 1] + 1;
      if (prev[j - 1] + cost < v)
        v = prev[j - 1] + cost;
      if (i > 1 && j > 1 && lower((unsigned char)a[i - 1]) == lower((unsigned char)b[j - 2]) &&
          lower((unsigned char)a[i - 2]) == lower((unsigned char)b[j - 1]) &&
          prev2[j - 2] + 1 < v)
        v = prev2[j - 2] + 1;
      cur[j] = v;
      if (v < row_min)
        row_min = v;
    }
    if (row_min > limit) {
      free(buf);
      return limit + 1;
    }
    {
      size_t *t = prev2;
      prev2 = prev;
      prev = cur;
      cur = t;
    }
  }
  d = prev[nb];
  free(buf);
  return d;
}

const char *closest_name(const char *name, const char *const *cands, size_t n)
{
  size_t limit = strlen(name) / 3, best_d, i;
  const char *best = NULL;
  if (limit < 2)
    limit = 2;
  best_d = limit + 1;
  for (i = 0; i < n; i++) {
    size_t d;
    if (!cands[i])
      continue;
    d = edit_distance(name, cands[i], best_d - 1 < limit ? best_d - 1 : limit);
    if (d < best_d) {
      best_d = d;
      best = cands[i];
      if (d == 0)
        break;
    }
  }
  return best;
}

/* "; did you mean 'x'?" or "". */
const char *graph__suggest(char *buf, size_t size, const char *near)
{
  if (!near)
    return "";
  snprintf(buf, size, "; did you mean '%s'?", near);
  return buf;
}

