/* parse_test.c - tests orchestrator/parse.c: the syntax tree parse_file
 * builds, syntax errors, parse_literal, and the path helpers. Evaluation in
 * a graph (names, references, file()) is tested through graph_load in
 * graph_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "parse.h"
#include "strbuf.h"

static void parse_ok(const char *src, struct ast *ast)
{
  struct pd_err err;
  pd_err_clear(&err);
  if (parse_file(src, strlen(src), "p.dag", ast, &err) != 0)
    fail_msg("%s", err.msg);
}

static void parse_fails(const char *src, const char *msg)
{
  struct ast ast;
  struct pd_err err;
  int rc;
  pd_err_clear(&err);
  rc = parse_file(src, strlen(src), "p.dag", &ast, &err);
  if (rc != PD_EPARSE || strcmp(err.msg, msg) != 0)
    fail_msg("rc %d\ngot:\n%s\nwant:\n%s", rc, err.msg, msg);
  assert_int_equal(ast.n, 0);
  assert_null(ast.stmts);
}

static void test_statements(void **state)
{
  struct ast ast;
  const struct stmt *s;
  const struct expr *e;
  (void)state;
  parse_ok("include \"lib/common.dag\"\n"
           "param seed = 1\n"
           "pool api = 16\n"
           "task subset = exec {\n"
           "  command = [\"gen\", subset.data, file(\"x\"), dir(name), true, 2.5,]\n"
           "  env = { A = \"1\", \"B\" = x, }\n"
           "  pool = \"api\", retries = 1\n"
           "}\n"
           "for v in [\"a\", \"b\"] {\n"
           "  task \"t_${v}\" = exec { command = [v] }\n"
           "  for w in [1] { task inner = exec {} }\n"
           "}\n",
           &ast);
  assert_int_equal(ast.n, 5);

  s = ast.stmts[0];
  assert_int_equal(s->kind, S_INCLUDE);
  assert_string_equal(s->path, "lib/common.dag");
  assert_int_equal(s->name_loc.col, 9);
  assert_null(s->included);

  s = ast.stmts[1];
  assert_int_equal(s->kind, S_PARAM);
  assert_string_equal(s->name, "seed");
  assert_int_equal(s->name_loc.line, 2);
  assert_int_equal(s->name_loc.col, 7);
  assert_int_equal(s->value.kind, E_INT);
  assert_int_equal(s->value.u.i, 1);

  s = ast.stmts[2];
  assert_int_equal(s->kind, S_POOL);
  assert_string_equal(s->name, "api");
  assert_int_equal(s->value.u.i, 16);

  s = ast.stmts[3];
  assert_int_equal(s->kind, S_TASK);
  assert_string_equal(s->name, "subset");
  assert_int_equal(s->name_loc.col, 6);
  assert_string_equal(s->kind_name, "exec");
  assert_int_equal(s->kind_loc.col, 15);
  assert_int_equal(s->nattrs, 4);
  assert_string_equal(s->attrs[0].name, "command");
  assert_int_equal(s->attrs[0].loc.line, 5);
  assert_int_equal(s->attrs[0].loc.col, 3);
  e = &s->attrs[0].value;
  assert_int_equal(e->kind, E_LIST);
  assert_int_equal(e->u.list.n, 6); /* trailing comma */
  assert_int_equal(e->u.list.v[0].kind, E_STR);
  assert_int_equal(e->u.list.v[1].kind, E_REF);
  assert_string_equal(e->u.list.v[1].u.ref.task, "subset");
  assert_string_equal(e->u.list.v[1].u.ref.output, "data");
  assert_int_equal(e->u.list.v[1].loc.col, 21);
  assert_int_equal(e->u.list.v[2].kind, E_CALL);
  assert_int_equal(e->u.list.v[2].u.call.is_dir, 0);
  assert_int_equal(e->u.list.v[2].u.call.arg->kind, E_STR);
  assert_int_equal(e->u.list.v[3].kind, E_CALL);
  assert_int_equal(e->u.list.v[3].u.call.is_dir, 1);
  assert_int_equal(e->u.list.v[3].u.call.arg->kind, E_NAME);
  assert_string_equal(e->u.list.v[3].u.call.arg->u.name, "name");
  assert_int_equal(e->u.list.v[4].kind, E_BOOL);
  assert_int_equal(e->u.list.v[4].u.b, 1);
  assert_int_equal(e->u.list.v[5].kind, E_FLOAT);
  e = &s->attrs[1].value;
  assert_int_equal(e->kind, E_MAP);
  assert_int_equal(e->u.map.n, 2);
  assert_int_equal(e->u.map.e[0].key.kind, E_STR);
  assert_string_equal(e->u.map.e[0].key.u.str.parts[0].text, "A");
  assert_string_equal(e->u.map.e[1].key.u.str.parts[0].text, "B");
  assert_int_equal(e->u.map.e[1].value.kind, E_NAME);
  assert_string_equal(s->attrs[2].name, "pool"); /* a keyword is fine as an attribute */
  assert_string_equal(s->attrs[3].name, "retries");

  s = ast.stmts[4];
  assert_int_equal(s->kind, S_FOR);
  assert_string_equal(s->name, "v");
  assert_int_equal(s->value.kind, E_LIST);
  assert_int_equal(s->nbody, 2);
  assert_int_equal(s->body[0].kind, S_TASK);
  assert_null(s->body[0].name);
  assert_int_equal(s->body[0].name_str.kind, E_STR);
  assert_int_equal(s->body[0].name_str.u.str.n, 2);
  assert_int_equal(s->body[0].name_loc.col, 8);
  assert_int_equal(s->body[1].kind, S_FOR);
  assert_int_equal(s->body[1].nbody, 1);
  assert_string_equal(s->body[1].body[0].name, "inner");
  assert_int_equal(s->body[1].body[0].nattrs, 0);
  ast_release(&ast);
  ast_release(&ast);

  /* Commas are optional; newlines are whitespace. */
  parse_ok("task t = exec { command = [1 2\n3] env = { a = 1 b = 2 } shell = false }", &ast);
  assert_int_equal(ast.n, 1);
  assert_int_equal(ast.stmts[0]->nattrs, 3);
  assert_int_equal(ast.stmts[0]->attrs[0].value.u.list.n, 3);
  assert_int_equal(ast.stmts[0]->attrs[1].value.u.map.n, 2);
  ast_release(&ast);

  parse_ok("", &ast);
  assert_int_equal(ast.n, 0);
  ast_release(&ast);
}

/* Many statements and deep nesting: arrays grow, the arena spans chunks. */
static void test_big(void **state)
{
  struct strbuf sb;
  struct ast ast;
  const struct expr *e;
  int i;
  (void)state;
  strbuf_init(&sb, 1 << 16);
  for (i = 0; i < 3000; i++)
    strbuf_addf(&sb, "param p%d = [%d, \"s%d\", { k = [%d] }]\n", i, i, i, i);
  strbuf_addstr(&sb, "param deep = ");
  for (i = 0; i < 90; i++)
    strbuf_addch(&sb, '[');
  for (i = 0; i < 90; i++)
    strbuf_addch(&sb, ']');
  strbuf_addch(&sb, '\n');
  parse_ok(sb.buf, &ast);
  assert_int_equal(ast.n, 3001);
  assert_true(ast.arena.nchunks > 1);
  e = &ast.stmts[2999]->value;
  assert_int_equal(e->u.list.n, 3);
  assert_int_equal(e->u.list.v[0].u.i, 2999);
  assert_string_equal(e->u.list.v[1].u.str.parts[0].text, "s2999");
  assert_int_equal(e->u.list.v[2].u.map.e[0].value.u.list.v[0].u.i, 2999);
  ast_release(&ast);

  strbuf_reset(&sb);
  strbuf_addstr(&sb, "param deep = ");
  for (i = 0; i < 200; i++)
    strbuf_addch(&sb, '[');
  /* The 101st '[' (column 114) is too deep; the long line is windowed. */
  {
    char want[512];
    snprintf(want, sizeof want, "p.dag:1:114: error: values nested too deeply (more than 100 "
             "levels)\n...%.160s...\n   %79s^", sb.buf + 33, "");
    parse_fails(sb.buf, want);
  }
  strbuf_release(&sb);
}

/* Whether p lies in one of a's chunks (of at most 64 KiB). */
static int in_arena(const struct arena *a, const void *p)
{
  size_t i;
  for (i = 0; i < a->nchunks; i++)
    if (a->chunks[i] && (const char *)p >= a->chunks[i] &&
        (const char *)p < a->chunks[i] + 64 * 1024)
      return 1;
  return 0;
}

struct hook_log {
  int calls;
  const char *seen[8];
  size_t nattrs[8];
};

/* Takes the attributes of tasks whose name starts with 'a'. */
static int take_a(void *arg, struct stmt *s)
{
  struct hook_log *log = arg;
  log->seen[log->calls] = s->name;
  log->nattrs[log->calls++] = s->nattrs;
  if (!s->name || s->name[0] != 'a')
    return 0;
  s->pre = log;
  return 1;
}

/* parse_file_opts: names and text in the text arena; task statements
 * outside loops go to on_task, which may take their attributes. */
static void test_opts(void **state)
{
  struct arena text;
  struct hook_log log;
  struct parse_opts opts;
  struct pd_err err;
  struct ast ast;
  const struct stmt *s;
  (void)state;
  arena_init(&text);
  memset(&log, 0, sizeof log);
  opts.text = &text;
  opts.on_task = take_a;
  opts.arg = &log;
  pd_err_clear(&err);
  if (parse_file_opts("param p = \"v\"\n"
                      "task a1 = exec { command = [\"x\", b.o] outputs = { o = \"o\" } }\n"
                      "for i in [1] { task a2 = exec { command = [\"y\"] } }\n"
                      "task b = exec { command = [\"${p}\"] }\n"
                      "task \"a_${p}\" = exec {}\n",
                      strlen("param p = \"v\"\n"
                             "task a1 = exec { command = [\"x\", b.o] outputs = { o = \"o\" } }\n"
                             "for i in [1] { task a2 = exec { command = [\"y\"] } }\n"
                             "task b = exec { command = [\"${p}\"] }\n"
                             "task \"a_${p}\" = exec {}\n"),
                      "o.dag", &opts, &ast, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(ast.n, 5);
  /* Called for a1, b and the string-named task, not for the one in the loop. */
  assert_int_equal(log.calls, 3);
  assert_string_equal(log.seen[0], "a1");
  assert_int_equal(log.nattrs[0], 2);
  assert_string_equal(log.seen[1], "b");
  assert_null(log.seen[2]);
  s = ast.stmts[1];
  assert_int_equal(s->nattrs, 0); /* taken */
  assert_null(s->attrs);
  assert_ptr_equal(s->pre, &log);
  assert_string_equal(s->name, "a1");
  assert_true(in_arena(&text, s->name));
  assert_string_equal(s->kind_name, "exec");
  s = ast.stmts[3];
  assert_int_equal(s->nattrs, 1); /* kept */
  assert_null(s->pre);
  assert_int_equal(s->attrs[0].value.u.list.v[0].u.str.parts[0].kind, SP_NAME);
  assert_true(in_arena(&text, s->attrs[0].value.u.list.v[0].u.str.parts[0].text));
  assert_ptr_equal(s->kind_name, ast.stmts[1]->kind_name); /* one pointer per kind name */
  s = &ast.stmts[2]->body[0];
  assert_int_equal(s->nattrs, 1);
  assert_string_equal(s->name, "a2");
  assert_true(in_arena(&text, ast.stmts[0]->name)); /* param names too */
  assert_true(in_arena(&text, ast.stmts[0]->value.u.str.parts[0].text));
  ast_release(&ast);
  arena_release(&text);
}

static void test_syntax_errors(void **state)
{
  (void)state;
  parse_fails("task = exec {}", "p.dag:1:6: error: expected a task name after 'task', found "
                                "'='\ntask = exec {}\n     ^");
  parse_fails("task a exec {}", "p.dag:1:8: error: expected '=' after task name, found "
                                "'exec'\ntask a exec {}\n       ^");
  parse_fails("task a = {}", "p.dag:1:10: error: expected a task kind after '=', found "
                             "'{'\ntask a = {}\n         ^");
  parse_fails("task a = exec [", "p.dag:1:15: error: expected '{' after the task kind, found "
                                 "'['\ntask a = exec [\n              ^");
  parse_fails("task a = exec { command [] }", "p.dag:1:25: error: expected '=' after 'command', "
                                              "found '['\ntask a = exec { command [] }\n"
                                              "                        ^");
  parse_fails("task a = exec { 1 }", "p.dag:1:17: error: expected a parameter name or '}' in "
                                     "task body, found '1'\ntask a = exec { 1 }\n"
                                     "                ^");
  parse_fails("task in = exec {}", "p.dag:1:6: error: 'in' is a keyword and cannot name a task\n"
                                   "task in = exec {}\n     ^");
  parse_fails("pool out = 1", "p.dag:1:6: error: 'out' is reserved (\"${out}\" is a task's output "
                              "directory) and cannot name a pool\npool out = 1\n     ^");
  parse_fails("pool = 1", "p.dag:1:6: error: expected a pool name after 'pool', found '='\n"
                          "pool = 1\n     ^");
  parse_fails("for v in [1] {\n  task a = exec {}\n", "p.dag:2:19: error: expected '}' to "
                                                       "close the for loop, found end of file\n"
                                                       "  task a = exec {}\n                  ^");
  parse_fails("for v in [1] {\n  include \"x\"\n}", "p.dag:2:3: error: 'include' is not allowed "
                                                    "inside a for loop (only task and for)\n"
                                                    "  include \"x\"\n  ^");
  parse_fails("for v in [1] {\n  tsak a = exec {}\n}", "p.dag:2:3: error: expected 'task', 'for' "
                                                       "or '}', found 'tsak'; did you mean "
                                                       "'task'?\n  tsak a = exec {}\n  ^");
  parse_fails("for v in [1] x", "p.dag:1:14: error: expected '{' after the list of a for loop, "
                                "found 'x'\nfor v in [1] x\n             ^");
  parse_fails("include x", "p.dag:1:9: error: expected a quoted path after 'include', found "
                           "'x'\ninclude x\n        ^");
  parse_fails("param m = { [1] = 2 }", "p.dag:1:13: error: expected a key or '}' in map, found "
                                       "'['\nparam m = { [1] = 2 }\n            ^");
  parse_fails("param f = file(\"x\"", "p.dag:1:19: error: expected ')' after the argument of "
                                      "file(), found end of file\nparam f = file(\"x\"\n"
                                      "                  ^");
  parse_fails("= 1", "p.dag:1:1: error: expected 'include', 'param', 'pool', 'task' or 'for', "
                     "found '='\n= 1\n^");
  parse_fails("banana = 1", "p.dag:1:1: error: expected 'include', 'param', 'pool', 'task' or "
                            "'for', found 'banana'\nbanana = 1\n^");
  parse_fails("param s = \"x\" \"y\"", "p.dag:1:15: error: expected 'include', 'param', 'pool', "
                                      "'task' or 'for', found a string\n"
                                      "param s = \"x\" \"y\"\n              ^");
}

/* "NAME".OUTPUT and for expressions: the tree, and `{ for = 1 }` still a
 * map whose key is for. */
static void test_cref_for(void **state)
{
  struct ast ast;
  const struct expr *e, *c;
  (void)state;
  parse_ok("task t = exec {\n"
           "  command = [\"sft_${seed}\".model, \"plain\".o,\n"
           "             [for s in seeds : \"eval_${s}\".metrics]]\n"
           "  env = {for s in [1, 2] : \"K_${s}\" => [for t in ts : t]}\n"
           "  inherit_env = { for = 1, b = 2 }\n"
           "}\n",
           &ast);
  e = &ast.stmts[0]->attrs[0].value;
  assert_int_equal(e->u.list.n, 3);
  c = &e->u.list.v[0];
  assert_int_equal(c->kind, E_CREF);
  assert_int_equal(c->loc.line, 2);
  assert_int_equal(c->loc.col, 14);
  assert_int_equal(c->u.cref.n, 2);
  assert_string_equal(c->u.cref.parts[0].text, "sft_");
  assert_int_equal(c->u.cref.parts[1].kind, SP_NAME);
  assert_string_equal(c->u.cref.parts[1].text, "seed");
  assert_string_equal(c->u.cref.output, "model");
  c = &e->u.list.v[1];
  assert_int_equal(c->kind, E_CREF);
  assert_int_equal(c->u.cref.n, 1);
  assert_string_equal(c->u.cref.output, "o");
  assert_true(expr_is_const(c));
  assert_false(expr_is_const(&e->u.list.v[0]));
  c = &e->u.list.v[2];
  assert_int_equal(c->kind, E_FOR_LIST);
  assert_int_equal(c->loc.line, 3);
  assert_int_equal(c->loc.col, 14);
  assert_string_equal(c->u.comp.var, "s");
  assert_int_equal(c->u.comp.var_loc.col, 19);
  assert_int_equal(c->u.comp.list->kind, E_NAME);
  assert_string_equal(c->u.comp.list->u.name, "seeds");
  assert_null(c->u.comp.key);
  assert_int_equal(c->u.comp.value->kind, E_CREF);
  assert_string_equal(c->u.comp.value->u.cref.output, "metrics");
  assert_false(expr_is_const(c));

  e = &ast.stmts[0]->attrs[1].value;
  assert_int_equal(e->kind, E_FOR_MAP);
  assert_int_equal(e->u.comp.list->kind, E_LIST);
  assert_int_equal(e->u.comp.key->kind, E_STR);
  assert_int_equal(e->u.comp.key->loc.col, 28);
  assert_int_equal(e->u.comp.value->kind, E_FOR_LIST); /* nested */
  assert_string_equal(e->u.comp.value->u.comp.var, "t");

  e = &ast.stmts[0]->attrs[2].value;
  assert_int_equal(e->kind, E_MAP);
  assert_int_equal(e->u.map.n, 2);
  assert_string_equal(e->u.map.e[0].key.u.str.parts[0].text, "for");
  assert_int_equal(e->u.map.e[0].key.loc.col, 19);
  assert_int_equal(e->u.map.e[0].value.u.i, 1);
  assert_string_equal(e->u.map.e[1].key.u.str.parts[0].text, "b");
  ast_release(&ast);

  parse_fails("param p = \"a\".", "p.dag:1:15: error: expected an output name after the task "
                                  "name string and '.', found end of file\n"
                                  "param p = \"a\".\n              ^");
  parse_fails("param p = [for s in x s]", "p.dag:1:23: error: expected ':' after the list of a "
                                          "for expression, found 's'\n"
                                          "param p = [for s in x s]\n                      ^");
  parse_fails("param p = [for s x : s]", "p.dag:1:18: error: expected 'in' after the variable "
                                         "of a for expression, found 'x'\n"
                                         "param p = [for s x : s]\n                 ^");
  parse_fails("param p = [for in x : 1]", "p.dag:1:16: error: 'in' is a keyword and cannot "
                                          "name a loop variable\n"
                                          "param p = [for in x : 1]\n               ^");
  parse_fails("param p = [for s in x : s, s]", "p.dag:1:26: error: expected ']' to close the for "
                                               "expression opened at 1:11, found ','\n"
                                               "param p = [for s in x : s, s]\n"
                                               "                         ^");
  parse_fails("param p = {for s in x : s = 1}", "p.dag:1:27: error: expected '=>' after the key "
                                                "of a for expression, found '='\n"
                                                "param p = {for s in x : s = 1}\n"
                                                "                          ^");
  parse_fails("param p = {for s in x : s => 1]", "p.dag:1:31: error: expected '}' to close the "
                                                 "for expression opened at 1:11, found ']'\n"
                                                 "param p = {for s in x : s => 1]\n"
                                                 "                              ^");
  parse_fails("param p = [for s in x : s if s]", "p.dag:1:27: error: 'if' in a for expression is "
                                                 "not supported\n"
                                                 "param p = [for s in x : s if s]\n"
                                                 "                          ^");
  parse_fails("param p = [for k, v in x : v]", "p.dag:1:17: error: a for expression takes one "
                                               "variable (for x in LIST), not two\n"
                                               "param p = [for k, v in x : v]\n"
                                               "                ^");
}

static void literal_is(const char *text, const char *json)
{
  struct srcloc loc = { "lit", 3, 4 };
  struct pd_err err;
  struct strbuf sb;
  struct val v;
  pd_err_clear(&err);
  if (parse_literal(text, &loc, &v, &err) != 0)
    fail_msg("%s: %s", text, err.msg);
  strbuf_init(&sb, 64);
  val_to_json(&v, &sb);
  assert_string_equal(sb.buf, json);
  assert_string_equal(v.loc.file, "lit");
  assert_int_equal(v.loc.line, 3);
  if (v.kind == V_LIST && v.u.list.n)
    assert_int_equal(v.u.list.v[0].loc.col, 4);
  strbuf_release(&sb);
  val_release(&v);
}

static void literal_fails(const char *text, int code, const char *msg)
{
  struct srcloc loc = { "lit", 1, 1 };
  struct pd_err err;
  struct val v;
  pd_err_clear(&err);
  assert_int_equal(parse_literal(text, &loc, &v, &err), code);
  assert_string_equal(err.msg, msg);
  assert_int_equal(v.kind, V_NULL);
}

static void test_literal(void **state)
{
  (void)state;
  literal_is("1", "1");
  literal_is(" -3 # comment", "-3");
  literal_is("0.5", "0.5");
  literal_is("true", "true");
  literal_is("\"cpu\"", "\"cpu\"");
  literal_is("[]", "[]");
  literal_is("{}", "{}");
  literal_is("[1, [2, {b = 1, a = \"x\"}]]", "[1,[2,{\"a\":\"x\",\"b\":1}]]");
  literal_is("{ \"k k\" = [true false] }", "{\"k k\":[true,false]}");
  literal_fails("[1,", PD_EPARSE, "error: expected ']' to close the list opened at 1:1, found end of file");
  literal_fails("1 2", PD_EPARSE, "error: expected end of the value, found '2'");
  literal_fails("abc", PD_EGRAPH, "error: names cannot be used in a literal ('abc')");
  literal_fails("\"${x}\"", PD_EGRAPH, "error: names cannot be used in a literal ('x')");
  literal_fails("a.b", PD_EGRAPH, "error: a reference (a.b) cannot be used in a literal");
  literal_fails("file(\"x\")", PD_EGRAPH, "error: file() cannot be used in a literal");
  literal_fails("\"${out}\"", PD_EGRAPH, "error: '${out}' (the task's output directory) is only valid "
                              "inside a task body");
  literal_fails("{ a = 1, a = 2 }", PD_EGRAPH, "error: key 'a' is already defined at ?:1:3");
  literal_fails("", PD_EPARSE, "error: expected a value, found end of file");
  /* For expressions need no names from outside; references are refused. */
  literal_is("[for x in [1, 2] : [x, \"v${x}\"]]", "[[1,\"v1\"],[2,\"v2\"]]");
  literal_is("{for x in [\"b\", \"a\"] : x => [for y in [1] : x]}", "{\"a\":[\"a\"],\"b\":[\"b\"]}");
  literal_fails("\"t_${x}\".o", PD_EGRAPH,
                "error: a reference (\"t_${x}\".o) cannot be used in a literal");
  literal_fails("[for x in [1] : y]", PD_EGRAPH, "error: names cannot be used in a literal ('y')");
}

static void test_paths(void **state)
{
  struct { const char *in, *out; } norm[] = {
    { "/", "/" }, { "/a/b", "/a/b" }, { "//a//b/", "/a/b" }, { "/a/./b/.", "/a/b" },
    { "/a/b/../c", "/a/c" }, { "/a/../../b", "/b" }, { "/..", "/" }, { "/a/b/c/../..", "/a" },
  };
  struct { const char *path, *base, *out; } rel[] = {
    { "/a/b/c", "/a/b", "c" }, { "/a/b", "/a/b", "." }, { "/a", "/a/b", ".." },
    { "/a/bc", "/a/b", "../bc" }, { "/x/y", "/a/b", "../../x/y" }, { "/x", "/", "x" },
    { "/", "/a", ".." }, { "/a/b/c/d", "/a", "b/c/d" },
  };
  struct { const char *in, *out; } dn[] = {
    { "a/b", "a" }, { "b", "." }, { "/b", "/" }, { "/a//b", "/a" }, { "./g.dag", "." },
  };
  size_t i;
  char *s;
  (void)state;
  for (i = 0; i < sizeof norm / sizeof norm[0]; i++) {
    s = path_normalize(norm[i].in);
    assert_string_equal(s, norm[i].out);
    free(s);
  }
  for (i = 0; i < sizeof rel / sizeof rel[0]; i++) {
    s = path_relative(rel[i].path, rel[i].base);
    assert_string_equal(s, rel[i].out);
    free(s);
  }
  for (i = 0; i < sizeof dn / sizeof dn[0]; i++) {
    s = path_dirname(dn[i].in);
    assert_string_equal(s, dn[i].out);
    free(s);
  }
  s = path_join("/a", "b/c");
  assert_string_equal(s, "/a/b/c");
  free(s);
  s = path_join("/a/", "b");
  assert_string_equal(s, "/a/b");
  free(s);
  s = path_join("/a", "/abs");
  assert_string_equal(s, "/abs");
  free(s);
}

static void test_names(void **state)
{
  char buf[40];
  (void)state;
  assert_true(parse_is_ident("a_1"));
  assert_true(parse_is_ident("_x"));
  assert_false(parse_is_ident("1a"));
  assert_false(parse_is_ident("a-b"));
  assert_false(parse_is_ident(""));
  assert_true(parse_is_keyword("include"));
  assert_true(parse_is_keyword("false"));
  assert_false(parse_is_keyword("out"));
  assert_false(parse_is_keyword("exec"));
  fmt_float(buf, sizeof buf, 0.1);
  assert_string_equal(buf, "0.1");
  fmt_float(buf, sizeof buf, 1000.0);
  assert_string_equal(buf, "1000");
  fmt_float(buf, sizeof buf, 1e20);
  assert_string_equal(buf, "1e+20");
  fmt_float(buf, sizeof buf, 1.0 / 3);
  assert_string_equal(buf, "0.3333333333333333");
  fmt_float(buf, sizeof buf, -2.5e-7);
  assert_string_equal(buf, "-2.5e-07");
  fmt_float(buf, sizeof buf, 123456.5);
  assert_string_equal(buf, "123456.5");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_statements),
    cmocka_unit_test(test_big),
    cmocka_unit_test(test_opts),
    cmocka_unit_test(test_syntax_errors),
    cmocka_unit_test(test_cref_for),
    cmocka_unit_test(test_literal),
    cmocka_unit_test(test_paths),
    cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
