/* arena.h - a bump allocator for the front end: syntax trees, and the
 * values, names and arrays of a loaded graph.
 *
 * Everything in an arena is freed together (or chunk by chunk, oldest
 * first), so a node or a value costs no malloc of its own and no free.
 */
#ifndef PD_ARENA_H
#define PD_ARENA_H

#include <stddef.h>

/* Chunks are kept in allocation order. */
struct arena {
  char **chunks;
  size_t *mapped; /* per chunk: its size if mapped (see arena_init_big), else 0 */
  size_t nchunks, cap;
  size_t freed;  /* chunks before this index are freed */
  char *p, *end; /* free space in the last chunk */
  size_t used;   /* bytes in chunks so far */
  int big;       /* see arena_init_big */
};

/* A point to go back to: see arena_rewind. */
struct arena_mark {
  size_t nchunks;
  char *p;
};

void arena_init(struct arena *a);
/* For an arena that may grow to many megabytes (a loaded graph's values):
 * once it holds 1 MiB, further chunks are large mappings that the kernel
 * may back with huge pages, so that filling them costs a page fault per
 * 2 MiB rather than per 4 KiB (faults were a third of loading a big
 * graph). */
void arena_init_big(struct arena *a);
/* 8-byte aligned, zeroed; never NULL (aborts when out of memory). */
void *arena_alloc(struct arena *a, size_t n);
/* The slow path of arena_alloc_raw: a new chunk. */
void *arena__grow(struct arena *a, size_t n);

/* Like arena_alloc, but the memory is not zeroed. Inline: loading a big
 * graph makes hundreds of thousands of these. */
static inline void *arena_alloc_raw(struct arena *a, size_t n)
{
  char *p;
  n = (n + 7) & ~(size_t)7;
  if (n > (size_t)(a->end - a->p))
    return arena__grow(a, n);
  p = a->p;
  a->p += n;
  return p;
}

/* s[0..n) and a NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* Frees the chunks before index upto, which must hold nothing still used. */
void arena_free_before(struct arena *a, size_t upto);
void arena_release(struct arena *a);

static inline struct arena_mark arena_mark(const struct arena *a)
{
  struct arena_mark m;
  m.nchunks = a->nchunks;
  m.p = a->p;
  return m;
}

/* Gives back what was allocated since m, which must hold nothing still
 * used, so that the next allocations reuse memory that is already in the
 * cache. Only when no chunk was added since m (else nothing happens);
 * returns whether it went back. */
static inline int arena_rewind(struct arena *a, struct arena_mark m)
{
  if (a->nchunks != m.nchunks || !m.p)
    return 0;
  a->p = m.p;
  return 1;
}

#endif
