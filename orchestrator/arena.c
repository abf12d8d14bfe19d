/* arena.c - the front end's bump allocator (see arena.h).
 *
 * Chunks are 64 KiB from malloc, below glibc's mmap threshold, so that a
 * syntax tree freed as it is evaluated gives its memory back to the heap
 * for what comes next. A big arena (a loaded graph's) switches to 4 MiB
 * mappings once it holds 1 MiB, aligned to huge pages and marked for them:
 * filling 10 MB of values in 4 KiB pages was a third of loading a
 * 10,000-task graph, page faults and zeroing.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "err.h"

/* Below glibc's mmap threshold, so that freed chunks go back to the heap
 * and the graph built next reuses them. */
#define ARENA_CHUNK (64 * 1024 - 64)
/* A big arena's chunks once it holds ARENA_BIG_FROM bytes: whole huge
 * pages, aligned to them. */
#define ARENA_BIG_FROM (1024 * 1024)
#define ARENA_BIG_CHUNK (4 * 1024 * 1024)
#define HUGE_PAGE (2 * 1024 * 1024)

void arena_init(struct arena *a)
{
  memset(a, 0, sizeof *a);
}

void arena_init_big(struct arena *a)
{
  memset(a, 0, sizeof *a);
  a->big = 1;
}

static void arena_add_chunk(struct arena *a, char *c, size_t mapped)
{
  if (a->nchunks == a->cap) {
    a->cap = a->cap ? 2 * a->cap : 16;
    a->chunks = xrealloc(a->chunks, a->cap * sizeof *a->chunks);
    a->mapped = xrealloc(a->mapped, a->cap * sizeof *a->mapped);
  }
  a->mapped[a->nchunks] = mapped;
  a->chunks[a->nchunks++] = c;
}

/* size bytes aligned to a huge page, with the kernel asked to use huge
 * pages for them; NULL if mmap fails. madvise failing (no transparent huge
 * pages) leaves ordinary pages: slower, not wrong. */
static char *map_huge(size_t size)
{
  char *p = mmap(NULL, size + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  char *q;
  if (p == MAP_FAILED)
    return NULL;
  q = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
  if (q > p)
    munmap(p, (size_t)(q - p));
  if (p + HUGE_PAGE > q)
    munmap(q + size, (size_t)(p + HUGE_PAGE - q));
  madvise(q, size, MADV_HUGEPAGE);
  return q;
}

void *arena__grow(struct arena *a, size_t n)
{
  size_t size = ARENA_CHUNK, mapped = 0;
  char *p = NULL;
  if (a->big && (a->used >= ARENA_BIG_FROM || n >= ARENA_BIG_FROM)) {
    size = n > ARENA_BIG_CHUNK ? (n + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1)
                               : ARENA_BIG_CHUNK;
    if ((p = map_huge(size)))
      mapped = size;
  } else if (n > ARENA_CHUNK / 4) {
    /* A chunk of its own; later allocations start a fresh chunk, which
     * keeps chunks in allocation order. */
    p = xmalloc(n);
    arena_add_chunk(a, p, 0);
    a->used += n;
    a->p = a->end = NULL;
    return p;
  }
  if (!p) {
    size = size > n ? size : n;
    p = xmalloc(size);
  }
  arena_add_chunk(a, p, mapped);
  a->used += size;
  a->p = p + n;
  a->end = p + size;
  return p;
}

void *arena_alloc(struct arena *a, size_t n)
{
  void *p = arena_alloc_raw(a, n);
  memset(p, 0, n);
  return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
  char *p = arena_alloc_raw(a, n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void arena_free_before(struct arena *a, size_t upto)
{
  size_t i;
  for (i = a->freed; i < upto && i < a->nchunks; i++) {
    if (a->mapped[i])
      munmap(a->chunks[i], a->mapped[i]);
    else
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
  free(a->mapped);
  memset(a, 0, sizeof *a);
}
