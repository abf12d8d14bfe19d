/* arena_test.c - tests orchestrator/arena.c: alignment and zeroing, going
 * back to a mark, and big arenas, whose chunks become large mappings once
 * they hold 1 MiB (lexer_test.c has the chunk-by-chunk freeing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "arena.h"

static void test_raw_and_zeroed(void **state)
{
  struct arena a;
  char *p, *q;
  size_t i;
  (void)state;
  arena_init(&a);
  for (i = 1; i < 100; i++) {
    p = arena_alloc_raw(&a, i);
    assert_int_equal((uintptr_t)p % 8, 0);
    memset(p, 0xab, i);
    q = arena_alloc(&a, i);
    assert_int_equal((uintptr_t)q % 8, 0);
    assert_true(q >= p + i); /* no overlap */
    assert_int_equal(q[0], 0);
    assert_int_equal(q[i - 1], 0);
  }
  p = arena_strndup(&a, "abcdef", 3);
  assert_string_equal(p, "abc");
  arena_release(&a);
}

static void test_mark_rewind(void **state)
{
  struct arena a;
  struct arena_mark m;
  char *p, *q;
  size_t i;
  (void)state;
  arena_init(&a);
  /* An empty arena has no chunk to go back into. */
  m = arena_mark(&a);
  p = arena_alloc(&a, 16);
  assert_false(arena_rewind(&a, m));

  m = arena_mark(&a);
  p = arena_alloc(&a, 100);
  assert_true(arena_rewind(&a, m));
  q = arena_alloc(&a, 100);
  assert_ptr_equal(p, q); /* the same memory again */

  /* Once a chunk was added since the mark, nothing is given back. */
  m = arena_mark(&a);
  for (i = 0; i < 100; i++)
    arena_alloc(&a, 1000);
  assert_false(arena_rewind(&a, m));
  p = arena_alloc(&a, 8);
  assert_true(p != m.p);
  arena_release(&a);
}

static void test_big(void **state)
{
  struct arena a, small;
  char *p, *first = NULL;
  size_t i, n, mapped = 0;
  (void)state;
  arena_init_big(&a);
  /* Below 1 MiB: ordinary chunks. */
  for (i = 0; i < 1000; i++) {
    p = arena_alloc(&a, 512);
    if (!first)
      first = p;
    memset(p, 1, 512);
  }
  for (i = 0; i < a.nchunks; i++)
    assert_int_equal(a.mapped[i], 0);
  /* Then mappings of whole huge pages, aligned to them. */
  n = a.nchunks;
  for (i = 0; i < 20000; i++)
    memset(arena_alloc(&a, 512), 2, 512);
  assert_true(a.nchunks > n);
  for (i = n; i < a.nchunks; i++) {
    if (!a.mapped[i])
      continue; /* until the arena holds 1 MiB */
    assert_int_equal(a.mapped[i] % (2u << 20), 0);
    assert_int_equal((uintptr_t)a.chunks[i] % (2u << 20), 0);
    mapped += a.mapped[i];
  }
  assert_true(mapped >= 8u << 20);
  assert_int_equal(first[511], 1); /* old chunks stay */
  /* One allocation bigger than a chunk gets a mapping its size. */
  p = arena_alloc(&a, 9u << 20);
  memset(p, 3, 9u << 20);
  assert_int_equal(a.mapped[a.nchunks - 1], 10u << 20);
  arena_free_before(&a, n + 1);
  assert_null(a.chunks[n]);
  arena_release(&a);
  assert_int_equal(a.nchunks, 0);

  /* A big allocation in a fresh big arena (a big source file) is mapped at
   * once, and what follows shares its mapping. */
  arena_init_big(&a);
  p = arena_alloc_raw(&a, 1300000);
  memset(p, 4, 1300000);
  assert_int_equal(a.nchunks, 1);
  assert_true(a.mapped[0] >= 2u << 20);
  assert_ptr_equal(arena_alloc_raw(&a, 8), p + 1300000);
  arena_release(&a);

  /* An ordinary arena never maps. */
  arena_init(&small);
  p = arena_alloc(&small, 2u << 20);
  assert_int_equal(small.mapped[0], 0);
  arena_release(&small);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_raw_and_zeroed),
    cmocka_unit_test(test_mark_rewind),
    cmocka_unit_test(test_big),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
