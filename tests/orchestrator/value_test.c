/* value_test.c - tests orchestrator/value.c: canonical JSON (val_to_json),
 * graph-language source (val_to_source) and its round trip through the
 * parser, deep copy, equality, map lookup and kind names. References and
 * interpolated strings round-trip through graph_load in graph_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "parse.h"
#include "strbuf.h"
#include "value.h"

static const struct srcloc here = { "v.dag", 1, 1 };

static struct val lit(const char *text)
{
  struct pd_err err;
  struct val v;
  pd_err_clear(&err);
  if (parse_literal(text, &here, &v, &err) != 0)
    fail_msg("%s: %s", text, err.msg);
  return v;
}

static void json_is(const struct val *v, const char *want)
{
  struct strbuf sb;
  strbuf_init(&sb, 64);
  val_to_json(v, &sb);
  assert_string_equal(sb.buf, want);
  strbuf_release(&sb);
}

static void source_is(const struct val *v, const char *want)
{
  struct strbuf sb;
  strbuf_init(&sb, 64);
  val_to_source(v, &sb);
  assert_string_equal(sb.buf, want);
  strbuf_release(&sb);
}

static struct val mk(enum val_kind k)
{
  struct val v;
  memset(&v, 0, sizeof v);
  v.kind = k;
  v.loc = here;
  return v;
}

static struct val str(const char *s)
{
  struct val v = mk(V_STR);
  v.u.str.s = strdup(s);
  v.u.str.n = strlen(s);
  return v;
}

static struct val ref(const char *task, const char *output)
{
  struct val v = mk(V_REF);
  v.u.ref.task = strdup(task);
  v.u.ref.output = strdup(output);
  v.u.ref.node = -1;
  return v;
}

static struct val src(enum val_kind k, const char *path, const char *rel)
{
  struct val v = mk(k);
  v.u.src.path = strdup(path);
  v.u.src.rel = strdup(rel);
  return v;
}

static struct val list_of(size_t n, ...)
{
  struct val v = mk(V_LIST);
  va_list ap;
  size_t i;
  v.u.list.v = calloc(n ? n : 1, sizeof *v.u.list.v);
  v.u.list.n = n;
  va_start(ap, n);
  for (i = 0; i < n; i++)
    v.u.list.v[i] = va_arg(ap, struct val);
  va_end(ap);
  return v;
}

static void test_json_scalars(void **state)
{
  struct val v;
  (void)state;
  v = mk(V_NULL);
  json_is(&v, "null");
  v = mk(V_BOOL);
  json_is(&v, "false");
  v.u.b = 1;
  json_is(&v, "true");
  v = mk(V_INT);
  v.u.i = -9223372036854775807 - 1;
  json_is(&v, "-9223372036854775808");
  v = mk(V_FLOAT);
  v.u.f = 1.0;
  json_is(&v, "1.0");
  v.u.f = 0.5;
  json_is(&v, "0.5");
  v.u.f = 0.1;
  json_is(&v, "0.10000000000000001");
  v.u.f = 1e300;
  json_is(&v, "1.0000000000000001e+300");
  v.u.f = -0.0;
  json_is(&v, "-0.0");
  v.u.f = 123456789.0;
  json_is(&v, "123456789.0");
  v.u.f = NAN;
  json_is(&v, "null");
  v = str("a\"b\\c\nd\te\001f/é");
  json_is(&v, "\"a\\\"b\\\\c\\nd\\te\\u0001f/é\"");
  val_release(&v);
  assert_int_equal(v.kind, V_NULL);
}

static void test_json_composites(void **state)
{
  struct val v, cat;
  (void)state;
  v = lit("[1, \"x\", [], {}, { b = [true], a = 2.5, \"z z\" = {} }]");
  json_is(&v, "[1,\"x\",[],{},{\"a\":2.5,\"b\":[true],\"z z\":{}}]");
  val_release(&v);

  cat = mk(V_CONCAT);
  cat.u.list.v = calloc(3, sizeof *cat.u.list.v);
  cat.u.list.n = 3;
  cat.u.list.v[0] = mk(V_OUT);
  cat.u.list.v[1] = str("/x\"");
  cat.u.list.v[2] = ref("up", "model");
  v = list_of(5, ref("subset", "train"), src(V_FILE, "/p/scripts/a.py", "scripts/a.py"),
              src(V_DIR, "/p/data", "data"), mk(V_OUT), cat);
  json_is(&v, "[{\"$ref\":\"subset.train\"},{\"$file\":\"scripts/a.py\"},{\"$dir\":\"data\"},"
              "{\"$out\":true},{\"$cat\":[{\"$out\":true},\"/x\\\"\",{\"$ref\":\"up.model\"}]}]");
  source_is(&v, "[subset.train, file(\"scripts/a.py\"), dir(\"data\"), \"${out}\", "
                "\"${out}/x\\\"${up.model}\"]");
  val_release(&v);
}

static void test_source(void **state)
{
  struct val v;
  (void)state;
  v = lit("[\"text\", 3, -4, 0.5, 1.0, 1e20, 0.1, true, false, [1, 2], {}, "
          "{ b = \"x\", a = 1, \"not ident\" = [] }, \"q\\\"\\\\\\n\\t\\${x} $5\"]");
  source_is(&v, "[\"text\", 3, -4, 0.5, 1.0, 1e+20, 0.1, true, false, [1, 2], {}, "
                "{ a = 1, b = \"x\", \"not ident\" = [] }, \"q\\\"\\\\\\n\\t\\${x} $5\"]");
  val_release(&v);
}

/* val_to_source output reads back as an equal value. */
static void test_round_trip(void **state)
{
  static const char *const cases[] = {
    "0", "-17", "9223372036854775807", "0.1", "-2.5e-07", "1e+300", "123456.5", "3.0",
    "0.30000000000000004", "true", "\"\"", "\"with \\\"quotes\\\" and \\\\ and \\n\"",
    "\"dollar $ and \\${not} interpolated\"", "\"tab\\there\"", "[]", "{}",
    "[[[]], {}, [{ a = [1.5] }]]", "{ _x = 1, A = 2, a = 3, \"1\" = 4, \"a.b\" = 5 }",
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct val a = lit(cases[i]), b;
    struct strbuf sb;
    strbuf_init(&sb, 64);
    val_to_source(&a, &sb);
    b = lit(sb.buf);
    if (!val_equal(&a, &b))
      fail_msg("%s -> %s", cases[i], sb.buf);
    strbuf_release(&sb);
    val_release(&a);
    val_release(&b);
  }
}

static void test_copy_equal(void **state)
{
  struct val a, b, c;
  (void)state;
  a = list_of(4, lit("{ k = [1, \"x\"] }"), ref("t", "o"),
              src(V_FILE, "/abs/f", "f"), mk(V_OUT));
  val_copy(&b, &a);
  assert_true(val_equal(&a, &b));
  assert_ptr_not_equal(a.u.list.v, b.u.list.v);
  assert_ptr_not_equal(a.u.list.v[1].u.ref.task, b.u.list.v[1].u.ref.task);
  assert_int_equal(b.loc.line, 1);
  /* node is not part of equality: references are equal by name. */
  b.u.list.v[1].u.ref.node = 5;
  assert_true(val_equal(&a, &b));
  free(b.u.list.v[2].u.src.rel);
  b.u.list.v[2].u.src.rel = strdup("g");
  assert_false(val_equal(&a, &b));
  val_release(&b);

  c = lit("[1, 1.0]");
  assert_false(val_equal(&c.u.list.v[0], &c.u.list.v[1])); /* int and float differ */
  val_release(&c);
  c = lit("{ a = 1 }");
  b = lit("{ b = 1 }");
  assert_false(val_equal(&c, &b));
  val_release(&b);
  b = lit("{ a = 2 }");
  assert_false(val_equal(&c, &b));
  val_release(&b);
  b = lit("{ a = 1, b = 2 }");
  assert_false(val_equal(&c, &b));
  val_release(&b);
  val_release(&c);
  b = str("ab");
  c = str("ab");
  assert_true(val_equal(&b, &c));
  val_release(&c);
  c = str("abc");
  assert_false(val_equal(&b, &c));
  val_release(&b);
  val_release(&c);
  val_release(&a);
  val_release(NULL);
}

static void test_map_get(void **state)
{
  struct val m, l;
  (void)state;
  m = lit("{ e = 5, a = 1, c = 3, b = 2, d = 4 }");
  assert_int_equal(val_map_get(&m, "a")->u.i, 1);
  assert_int_equal(val_map_get(&m, "c")->u.i, 3);
  assert_int_equal(val_map_get(&m, "e")->u.i, 5);
  assert_null(val_map_get(&m, "f"));
  assert_null(val_map_get(&m, ""));
  assert_null(val_map_get(NULL, "a"));
  l = lit("[1]");
  assert_null(val_map_get(&l, "a"));
  val_release(&l);
  val_release(&m);
  m = lit("{}");
  assert_null(val_map_get(&m, "a"));
  val_release(&m);
}

/* Whole floats and integers are formatted without printf, references
 * without a scratch buffer: the same text as the general path. */
static void test_json_fast_paths(void **state)
{
  static const struct { double f; const char *json; } floats[] = {
    { 0.0, "0.0" }, { -3.0, "-3.0" }, { 999999999999999.0, "999999999999999.0" },
    { -999999999999999.0, "-999999999999999.0" }, { 1e15, "1000000000000000.0" },
    { 1e16, "10000000000000000.0" }, { 1e17, "1e+17" },
    { 9007199254740993.0, "9007199254740992.0" }, { 2.5e-5, "2.5000000000000001e-05" },
    { 4503599627370495.5, "4503599627370495.5" }, { 1e-7, "9.9999999999999995e-08" },
    { INFINITY, "null" },
  };
  static const struct { int64_t i; const char *json; } ints[] = {
    { 0, "0" }, { -1, "-1" }, { 10, "10" }, { 9223372036854775807, "9223372036854775807" },
  };
  struct val v, r, items[2], cat;
  size_t i;
  (void)state;
  v = mk(V_FLOAT);
  for (i = 0; i < sizeof floats / sizeof floats[0]; i++) {
    v.u.f = floats[i].f;
    json_is(&v, floats[i].json);
  }
  v = mk(V_INT);
  for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    v.u.i = ints[i].i;
    json_is(&v, ints[i].json);
  }
  r = ref("t98_95", "o");
  json_is(&r, "{\"$ref\":\"t98_95.o\"}");
  val_release(&r);
  r = ref("a\"b", "x\\y\n"); /* not made by the parser, but still valid JSON */
  json_is(&r, "{\"$ref\":\"a\\\"b.x\\\\y\\n\"}");
  val_release(&r);
  r = ref("caf\xc3\xa9", "o-k");
  json_is(&r, "{\"$ref\":\"caf\xc3\xa9.o-k\"}");
  val_release(&r);
  /* The parts of an interpolated string, in order. */
  items[0] = str("-s");
  items[1] = mk(V_OUT);
  cat = mk(V_CONCAT);
  cat.u.list.v = items;
  cat.u.list.n = 2;
  json_is(&cat, "{\"$cat\":[\"-s\",{\"$out\":true}]}");
  val_release(&items[0]);
  v = mk(V_BOOL);
  v.u.b = 2; /* any nonzero is true */
  json_is(&v, "true");
}

/* val_copy_at: a default placed at a task. Every value gets the loc;
 * strings and keys are shared, arrays are the arena's. */
static void test_copy_at(void **state)
{
  struct srcloc at = { "t.dag", 7, 3 };
  struct arena arena;
  struct val v = lit("[1, { k = [\"s\"] }, \"x\"]"), c;
  (void)state;
  arena_init(&arena);
  val_copy_at(&arena, &c, &v, &at);
  assert_true(val_equal(&c, &v));
  assert_int_equal(c.loc.line, 7);
  assert_int_equal(c.u.list.v[0].loc.col, 3);
  assert_int_equal(c.u.list.v[1].u.map.v[0].u.list.v[0].loc.line, 7);
  assert_ptr_not_equal(c.u.list.v, v.u.list.v);
  assert_ptr_equal(c.u.list.v[2].u.str.s, v.u.list.v[2].u.str.s);
  assert_ptr_equal(c.u.list.v[1].u.map.k, v.u.list.v[1].u.map.k);
  assert_int_equal(v.u.list.v[0].loc.line, 1); /* the source is untouched */
  arena_release(&arena);
  val_release(&v);
}

static void test_kind_names(void **state)
{
  (void)state;
  assert_string_equal(val_kind_name(V_STR), "string");
  assert_string_equal(val_kind_name(V_INT), "integer");
  assert_string_equal(val_kind_name(V_FLOAT), "float");
  assert_string_equal(val_kind_name(V_BOOL), "bool");
  assert_string_equal(val_kind_name(V_LIST), "list");
  assert_string_equal(val_kind_name(V_MAP), "map");
  assert_string_equal(val_kind_name(V_REF), "reference");
  assert_string_equal(val_kind_name(V_FILE), "file");
  assert_string_equal(val_kind_name(V_DIR), "dir");
  assert_string_equal(val_kind_name(V_OUT), "${out}");
  assert_string_equal(val_kind_name(V_CONCAT), "interpolated string");
  assert_string_equal(val_kind_name(V_NULL), "null");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_json_scalars),
    cmocka_unit_test(test_json_composites),
    cmocka_unit_test(test_source),
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_copy_equal),
    cmocka_unit_test(test_map_get),
    cmocka_unit_test(test_json_fast_paths),
    cmocka_unit_test(test_copy_at),
    cmocka_unit_test(test_kind_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
