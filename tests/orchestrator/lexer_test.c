/* lexer_test.c - tests orchestrator/lexer.c: tokens and their positions,
 * numbers, strings with escapes and ${...} parts, lexical errors, the
 * diagnostic format (diag_set) and the arena. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "lexer.h"

struct lexed {
  struct arena arena;
  struct lexer lx;
  struct pd_err err;
};

static void lex_open(struct lexed *l, const char *src)
{
  arena_init(&l->arena);
  lexer_init(&l->lx, src, strlen(src), "t.dag", &l->arena);
  pd_err_clear(&l->err);
}

static void lex_close(struct lexed *l)
{
  lexer_release(&l->lx);
  arena_release(&l->arena);
}

static void next_ok(struct lexed *l, struct token *t, enum tok_kind kind, int line, int col)
{
  int rc = lexer_next(&l->lx, t, &l->err);
  if (rc != 0)
    fail_msg("lexer_next: %s", l->err.msg);
  assert_int_equal(t->kind, kind);
  assert_int_equal(t->loc.line, line);
  assert_int_equal(t->loc.col, col);
  assert_string_equal(t->loc.file, "t.dag");
}

/* The first token of src must fail with exactly msg. */
static void lex_fails(const char *src, const char *msg)
{
  struct lexed l;
  struct token t;
  int rc;
  lex_open(&l, src);
  do
    rc = lexer_next(&l.lx, &t, &l.err);
  while (rc == 0 && t.kind != TK_EOF);
  if (rc != PD_EPARSE || strcmp(l.err.msg, msg) != 0)
    fail_msg("rc %d\ngot:\n%s\nwant:\n%s", rc, l.err.msg, msg);
  lex_close(&l);
}

static void test_tokens(void **state)
{
  struct lexed l;
  struct token t;
  char buf[64];
  (void)state;
  lex_open(&l, "# comment\n"
               "task a_1 = exec {\n"
               "\tx = [1, -2, 3.5], # trailing\n"
               "  y=(z.w)\n"
               "}");
  next_ok(&l, &t, TK_IDENT, 2, 1);
  assert_int_equal(t.n, 4);
  assert_memory_equal(t.p, "task", 4);
  next_ok(&l, &t, TK_IDENT, 2, 6);
  assert_memory_equal(t.p, "a_1", 3);
  assert_string_equal(token_desc(&t, buf, sizeof buf), "'a_1'");
  next_ok(&l, &t, TK_EQ, 2, 10);
  next_ok(&l, &t, TK_IDENT, 2, 12);
  next_ok(&l, &t, TK_LBRACE, 2, 17);
  assert_string_equal(token_desc(&t, buf, sizeof buf), "'{'");
  next_ok(&l, &t, TK_IDENT, 3, 2); /* a tab is one byte */
  next_ok(&l, &t, TK_EQ, 3, 4);
  next_ok(&l, &t, TK_LBRACKET, 3, 6);
  next_ok(&l, &t, TK_INT, 3, 7);
  assert_int_equal(t.i, 1);
  next_ok(&l, &t, TK_COMMA, 3, 8);
  next_ok(&l, &t, TK_INT, 3, 10);
  assert_int_equal(t.i, -2);
  next_ok(&l, &t, TK_COMMA, 3, 12);
  next_ok(&l, &t, TK_FLOAT, 3, 14);
  assert_true(t.f == 3.5);
  next_ok(&l, &t, TK_RBRACKET, 3, 17);
  next_ok(&l, &t, TK_COMMA, 3, 18);
  next_ok(&l, &t, TK_IDENT, 4, 3);
  next_ok(&l, &t, TK_EQ, 4, 4);
  next_ok(&l, &t, TK_LPAREN, 4, 5);
  next_ok(&l, &t, TK_IDENT, 4, 6);
  next_ok(&l, &t, TK_DOT, 4, 7);
  next_ok(&l, &t, TK_IDENT, 4, 8);
  next_ok(&l, &t, TK_RPAREN, 4, 9);
  next_ok(&l, &t, TK_RBRACE, 5, 1);
  /* End of file: just after the last token. */
  next_ok(&l, &t, TK_EOF, 5, 2);
  assert_string_equal(token_desc(&t, buf, sizeof buf), "end of file");
  next_ok(&l, &t, TK_EOF, 5, 2);
  lex_close(&l);

  lex_open(&l, "");
  next_ok(&l, &t, TK_EOF, 1, 1);
  lex_close(&l);
  lex_open(&l, "x # only a comment\n\n# and another\n");
  next_ok(&l, &t, TK_IDENT, 1, 1);
  next_ok(&l, &t, TK_EOF, 1, 2);
  lex_close(&l);
  lex_open(&l, "a\r\nb");
  next_ok(&l, &t, TK_IDENT, 1, 1);
  next_ok(&l, &t, TK_IDENT, 2, 1);
  lex_close(&l);

  /* For expressions: ':' and '=>' (one token), '=' still alone. */
  lex_open(&l, "{for s in x : \"k\" => s}.o = =>=");
  next_ok(&l, &t, TK_LBRACE, 1, 1);
  next_ok(&l, &t, TK_IDENT, 1, 2);
  next_ok(&l, &t, TK_IDENT, 1, 6);
  next_ok(&l, &t, TK_IDENT, 1, 8);
  next_ok(&l, &t, TK_IDENT, 1, 11);
  next_ok(&l, &t, TK_COLON, 1, 13);
  assert_string_equal(token_desc(&t, buf, sizeof buf), "':'");
  next_ok(&l, &t, TK_STRING, 1, 15);
  next_ok(&l, &t, TK_ARROW, 1, 19);
  assert_string_equal(token_desc(&t, buf, sizeof buf), "'=>'");
  next_ok(&l, &t, TK_IDENT, 1, 22);
  next_ok(&l, &t, TK_RBRACE, 1, 23);
  next_ok(&l, &t, TK_DOT, 1, 24);
  next_ok(&l, &t, TK_IDENT, 1, 25);
  next_ok(&l, &t, TK_EQ, 1, 27);
  next_ok(&l, &t, TK_ARROW, 1, 29);
  next_ok(&l, &t, TK_EQ, 1, 31);
  next_ok(&l, &t, TK_EOF, 1, 32);
  lex_close(&l);
}

static void test_numbers(void **state)
{
  struct lexed l;
  struct token t;
  (void)state;
  lex_open(&l, "0 42 -7 9223372036854775807 -9223372036854775808 1.25 -0.5 1e3 2E-2 "
               "-1.5e+2 7e0");
  next_ok(&l, &t, TK_INT, 1, 1);
  assert_int_equal(t.i, 0);
  next_ok(&l, &t, TK_INT, 1, 3);
  assert_int_equal(t.i, 42);
  next_ok(&l, &t, TK_INT, 1, 6);
  assert_int_equal(t.i, -7);
  next_ok(&l, &t, TK_INT, 1, 9);
  assert_true(t.i == INT64_MAX);
  next_ok(&l, &t, TK_INT, 1, 29);
  assert_true(t.i == INT64_MIN);
  next_ok(&l, &t, TK_FLOAT, 1, 50);
  assert_true(t.f == 1.25);
  next_ok(&l, &t, TK_FLOAT, 1, 55);
  assert_true(t.f == -0.5);
  next_ok(&l, &t, TK_FLOAT, 1, 60);
  assert_true(t.f == 1000.0);
  next_ok(&l, &t, TK_FLOAT, 1, 64);
  assert_true(t.f == 0.02);
  next_ok(&l, &t, TK_FLOAT, 1, 69);
  assert_true(t.f == -150.0);
  next_ok(&l, &t, TK_FLOAT, 1, 77);
  assert_true(t.f == 7.0);
  next_ok(&l, &t, TK_EOF, 1, 80);
  lex_close(&l);

  /* "1." is an integer then a dot (a reference needs a name). */
  lex_open(&l, "1.x");
  next_ok(&l, &t, TK_INT, 1, 1);
  next_ok(&l, &t, TK_DOT, 1, 2);
  next_ok(&l, &t, TK_IDENT, 1, 3);
  lex_close(&l);

  lex_fails("99999999999999999999", "t.dag:1:1: error: integer '99999999999999999999' is out "
                                    "of range\n99999999999999999999\n^");
  lex_fails("x = 1e999", "t.dag:1:5: error: float '1e999' is out of range\nx = 1e999\n    ^");
  lex_fails("12abc", "t.dag:1:1: error: invalid number '12abc'\n12abc\n^");
}

static void test_strings(void **state)
{
  struct lexed l;
  struct token t;
  char buf[64];
  (void)state;
  lex_open(&l, "\"plain\" \"\" \"a\\\"b\\\\c\\nd\\te\\$f $5 ${g}\" \"x${ name }y${t.out}\" \"${out}\"");
  next_ok(&l, &t, TK_STRING, 1, 1);
  assert_string_equal(token_desc(&t, buf, sizeof buf), "a string");
  assert_int_equal(t.nparts, 1);
  assert_int_equal(t.parts[0].kind, SP_TEXT);
  assert_string_equal(t.parts[0].text, "plain");
  assert_int_equal(t.parts[0].n, 5);
  assert_int_equal(t.n, 7);

  next_ok(&l, &t, TK_STRING, 1, 9);
  assert_int_equal(t.nparts, 1);
  assert_int_equal(t.parts[0].n, 0);
  assert_string_equal(t.parts[0].text, "");

  next_ok(&l, &t, TK_STRING, 1, 12);
  assert_int_equal(t.nparts, 2);
  assert_string_equal(t.parts[0].text, "a\"b\\c\nd\te$f $5 ");
  assert_int_equal(t.parts[1].kind, SP_NAME);
  assert_string_equal(t.parts[1].text, "g");
  assert_int_equal(t.parts[1].loc.line, 1);
  assert_int_equal(t.parts[1].loc.col, 35);

  next_ok(&l, &t, TK_STRING, 1, 39);
  assert_int_equal(t.nparts, 4);
  assert_int_equal(t.parts[0].kind, SP_TEXT);
  assert_string_equal(t.parts[0].text, "x");
  assert_int_equal(t.parts[0].loc.col, 39);
  assert_int_equal(t.parts[1].kind, SP_NAME);
  assert_string_equal(t.parts[1].text, "name");
  assert_int_equal(t.parts[1].loc.col, 44);
  assert_int_equal(t.parts[2].kind, SP_TEXT);
  assert_string_equal(t.parts[2].text, "y");
  assert_int_equal(t.parts[3].kind, SP_REF);
  assert_string_equal(t.parts[3].text, "t");
  assert_string_equal(t.parts[3].output, "out");
  assert_int_equal(t.parts[3].loc.col, 53);

  next_ok(&l, &t, TK_STRING, 1, 61);
  assert_int_equal(t.nparts, 1);
  assert_int_equal(t.parts[0].kind, SP_NAME);
  assert_string_equal(t.parts[0].text, "out");
  next_ok(&l, &t, TK_EOF, 1, 69);
  lex_close(&l);
}

static void test_errors(void **state)
{
  (void)state;
  lex_fails("x = \"abc\ny", "t.dag:1:5: error: unterminated string\nx = \"abc\n    ^");
  lex_fails("x = \"abc", "t.dag:1:5: error: unterminated string\nx = \"abc\n    ^");
  lex_fails("x = \"abc\\", "t.dag:1:5: error: unterminated string\nx = \"abc\\\n    ^");
  lex_fails("x = \"a${b", "t.dag:1:5: error: unterminated string\nx = \"a${b\n    ^");
  lex_fails("\"a\\qb\"", "t.dag:1:3: error: bad escape '\\q' in string (use \\\" \\\\ \\n "
                         "\\t or \\$)\n\"a\\qb\"\n  ^");
  lex_fails("\"a\\\001\"", "t.dag:1:3: error: bad escape in string (use \\\" \\\\ \\n \\t or "
                           "\\$)\n\"a\\\001\"\n  ^");
  lex_fails("\"${}\"", "t.dag:1:4: error: expected a name after '${' (a param, a loop "
                       "variable, TASK.OUTPUT or out)\n\"${}\"\n   ^");
  lex_fails("\"${1x}\"", "t.dag:1:4: error: expected a name after '${' (a param, a loop "
                         "variable, TASK.OUTPUT or out)\n\"${1x}\"\n   ^");
  lex_fails("\"${a.}\"", "t.dag:1:6: error: expected an output name after 'a.'\n\"${a.}\"\n"
                         "     ^");
  lex_fails("\"${a b}\"", "t.dag:1:6: error: expected '}' to close '${', found 'b'\n"
                          "\"${a b}\"\n     ^");
  lex_fails("x @", "t.dag:1:3: error: unexpected character '@'\nx @\n  ^");
  lex_fails("x ;", "t.dag:1:3: error: unexpected character ';'\nx ;\n  ^");
  lex_fails("- 1", "t.dag:1:1: error: unexpected character '-'\n- 1\n^");
  lex_fails("\xc3\xa9", "t.dag:1:1: error: unexpected byte 0xc3\n\xc3\xa9\n^");
}

static void test_diag(void **state)
{
  const char *src = "first\n\tsecond line\r\nthird";
  struct srcloc loc = { "f.dag", 2, 3 };
  struct pd_err err;
  (void)state;
  pd_err_clear(&err);
  assert_int_equal(diag_set(&err, PD_EGRAPH, src, strlen(src), &loc, "bad %d", 7), PD_EGRAPH);
  /* The tab is copied into the caret line; the \r is dropped. */
  assert_string_equal(err.msg, "f.dag:2:3: error: bad 7\n\tsecond line\n\t ^");
  assert_int_equal(err.code, PD_EGRAPH);
  /* First error wins. */
  assert_int_equal(diag_set(&err, PD_ECYCLE, src, strlen(src), &loc, "other"), PD_ECYCLE);
  assert_string_equal(err.msg, "f.dag:2:3: error: bad 7\n\tsecond line\n\t ^");

  pd_err_clear(&err);
  loc.line = 3;
  loc.col = 9; /* past the end of the line */
  diag_set(&err, PD_EPARSE, src, strlen(src), &loc, "x");
  assert_string_equal(err.msg, "f.dag:3:9: error: x\nthird\n        ^");
  pd_err_clear(&err);
  loc.line = 9; /* past the end of the file: no source line */
  diag_set(&err, PD_EPARSE, src, strlen(src), &loc, "x");
  assert_string_equal(err.msg, "f.dag:9:9: error: x");
  pd_err_clear(&err);
  diag_set(&err, PD_EPARSE, NULL, 0, &loc, "no source");
  assert_string_equal(err.msg, "f.dag:9:9: error: no source");
  pd_err_clear(&err);
  diag_set(&err, PD_EPARSE, src, strlen(src), NULL, "no place");
  assert_string_equal(err.msg, "error: no place");
  assert_int_equal(diag_set(NULL, PD_EPARSE, src, strlen(src), &loc, "nowhere"), PD_EPARSE);
}

static void test_arena(void **state)
{
  struct arena a;
  char *p, *big;
  size_t i, n;
  (void)state;
  arena_init(&a);
  for (i = 0; i < 10000; i++) {
    p = arena_alloc(&a, i % 13 + 1);
    assert_int_equal((uintptr_t)p % 8, 0);
    assert_int_equal(p[0], 0);
    memset(p, 0xff, i % 13 + 1);
  }
  n = a.nchunks;
  assert_true(n >= 1);
  big = arena_alloc(&a, 100000); /* a chunk of its own */
  memset(big, 1, 100000);
  assert_int_equal(a.nchunks, n + 1);
  p = arena_strndup(&a, "hello world", 5); /* then a fresh chunk */
  assert_string_equal(p, "hello");
  assert_int_equal(a.nchunks, n + 2);
  arena_free_before(&a, n);
  assert_null(a.chunks[0]);
  assert_int_equal(a.freed, n);
  arena_free_before(&a, 1); /* already freed: nothing */
  assert_string_equal(p, "hello");
  arena_release(&a);
  assert_int_equal(a.nchunks, 0);
  arena_release(&a);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tokens),
    cmocka_unit_test(test_numbers),
    cmocka_unit_test(test_strings),
    cmocka_unit_test(test_errors),
    cmocka_unit_test(test_diag),
    cmocka_unit_test(test_arena),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
