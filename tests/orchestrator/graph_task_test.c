/* graph_task_test.c - tests orchestrator/graph_task.c (and graph_order.c,
 * graph_names.c) beyond graph_test.c: a task whose attributes are constants
 * is evaluated while it is parsed, and must come out exactly as one that
 * pass 2 evaluates (values, every loc, outputs, edges); errors that the
 * early evaluation sees are still reported in pass 2's order; references
 * resolved early or late give the same edges; the digest of a big graph
 * (hashed on a thread) is the digest of its bytes. */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "err.h"
#include "graph.h"
#include "strbuf.h"

static char scratch[PATH_MAX];
static char cwd0[PATH_MAX];

static int setup(void **state)
{
  const char *base = getenv("PD_TEST_TMP");
  (void)state;
  if (!base || !*base)
    base = "/tmp";
  mkdir(base, 0777);
  snprintf(scratch, sizeof scratch, "%s/graph_task_test.XXXXXX", base);
  if (!mkdtemp(scratch) || !getcwd(cwd0, sizeof cwd0) || chdir(scratch) != 0)
    return -1;
  return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  if (chdir(cwd0) != 0)
    return -1;
  nftw(scratch, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void load(struct graph *g, const char *path, const char *text)
{
  struct pd_err err;
  write_file(path, text);
  pd_err_clear(&err);
  if (graph_load(g, path, NULL, 0, &err) != 0)
    fail_msg("graph_load %s: %s", path, err.msg);
}

static void load_fails(const char *text, const char *msg)
{
  struct graph g;
  struct pd_err err;
  write_file("e.dag", text);
  pd_err_clear(&err);
  assert_int_equal(graph_load(&g, "e.dag", NULL, 0, &err), PD_EGRAPH);
  assert_string_equal(err.msg, msg);
}

/* Values equal, and every loc too (the file names differ: only lines and
 * columns are compared). */
static void same_val(const struct val *a, const struct val *b)
{
  size_t i;
  assert_int_equal(a->kind, b->kind);
  assert_int_equal(a->loc.line, b->loc.line);
  assert_int_equal(a->loc.col, b->loc.col);
  assert_true(val_equal(a, b));
  if (a->kind == V_LIST || a->kind == V_CONCAT)
    for (i = 0; i < a->u.list.n; i++)
      same_val(&a->u.list.v[i], &b->u.list.v[i]);
  else if (a->kind == V_MAP)
    for (i = 0; i < a->u.map.n; i++)
      same_val(&a->u.map.v[i], &b->u.map.v[i]);
  else if (a->kind == V_REF)
    assert_int_equal(a->u.ref.node, b->u.ref.node);
}

static void same_task(const struct task *a, const struct task *b)
{
  size_t i;
  assert_string_equal(a->name, b->name);
  assert_ptr_equal(a->kind, b->kind);
  assert_int_equal(a->loc.line, b->loc.line);
  assert_int_equal(a->loc.col, b->loc.col);
  same_val(&a->params, &b->params);
  assert_int_equal(a->noutputs, b->noutputs);
  for (i = 0; i < a->noutputs; i++) {
    assert_string_equal(a->outputs[i].name, b->outputs[i].name);
    assert_string_equal(a->outputs[i].path, b->outputs[i].path);
  }
  assert_int_equal(a->ndeps, b->ndeps);
  for (i = 0; i < a->ndeps; i++)
    assert_int_equal(a->deps[i], b->deps[i]);
  assert_int_equal(a->nrdeps, b->nrdeps);
  for (i = 0; i < a->nrdeps; i++)
    assert_int_equal(a->rdeps[i], b->rdeps[i]);
  assert_string_equal(a->pool, b->pool);
  assert_int_equal(a->threads, b->threads);
  assert_int_equal(a->retries, b->retries);
}

/* The same task statement at the top (evaluated as it is parsed) and in a
 * loop of one item (evaluated in pass 2), on the same lines and columns. */
static void test_early_same_as_pass2(void **state)
{
  static const char *const bodies[] = {
    "task t = exec {\n"
    "  command = [\"sh\", \"-c\", \"a $1 \\\"q\\\" ${out}/x $\", a.o, \"-i=${a.o}\", \"${out}\",\n"
    "             1, -2.5, true, \"\", \"t\\tab\\n\"]\n"
    "  env = { Z = \"z\", \"A\" = \"${out}/${a.o}\", M = a.o, \"e\" = 1e3 }\n"
    "  outputs = { o = \"o\", d = \"dir/\" }\n"
    "  timeout = 5, inherit_env = [\"HOME\"], pool = \"api\", threads = 2, retries = 1\n"
    "}\n",
    "task t = exec { command = [b.o, a.o, b.o] outputs = [\"x/o.txt\", \"p/\"] shell = false }\n",
    "task t = write { content = \"hi $ there\" }\n",
    "task t = write { content = \"plain\", repeat = 3 }\n",
  };
  static const char *const head =
    "pool api = 2\n"
    "task a = exec { command = [\"x\"] outputs = [\"o\"] }\n"
    "task b = exec { command = [\"y\", a.o] outputs = [\"o\"] }\n";
  size_t i;
  (void)state;
  for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    struct graph g1, g2;
    struct strbuf sb;
    int t1, t2;
    strbuf_init(&sb, 1024);
    strbuf_addf(&sb, "%s\n%s", head, bodies[i]);
    load(&g1, "top.dag", sb.buf);
    strbuf_reset(&sb);
    strbuf_addf(&sb, "%sfor x in [1] {\n%s}\n", head, bodies[i]);
    load(&g2, "loop.dag", sb.buf);
    t1 = graph_find_task(&g1, "t");
    t2 = graph_find_task(&g2, "t");
    assert_true(t1 >= 0 && t1 == t2);
    same_task(&g1.tasks[t1], &g2.tasks[t2]);
    same_task(&g1.tasks[0], &g2.tasks[0]);
    same_task(&g1.tasks[1], &g2.tasks[1]);
    assert_memory_equal(g1.topo, g2.topo, g1.ntasks * sizeof *g1.topo);
    graph_release(&g1);
    graph_release(&g2);
    strbuf_release(&sb);
  }
}

/* What the parser's early evaluation sees wrong is reported by pass 2, in
 * order: an error of an earlier task comes first. */
static void test_error_order(void **state)
{
  (void)state;
  load_fails("task a = exec { command = [\"x\"] pool = \"nope\" }\n"
             "task b = exec { command = [\"x\"] env = { A = \"1\", A = \"2\" } }\n",
             "e.dag:1:40: error: unknown pool 'nope' (there are cpu, gpu and the pools the "
             "graph declares)\n"
             "task a = exec { command = [\"x\"] pool = \"nope\" }\n"
             "                                       ^");
  load_fails("task b = exec { command = [\"x\"] env = { A = \"1\", A = \"2\" } }\n"
             "task a = exec { command = [zz.o] }\n",
             "e.dag:1:50: error: key 'A' is already defined at e.dag:1:41\n"
             "task b = exec { command = [\"x\"] env = { A = \"1\", A = \"2\" } }\n"
             "                                                 ^");
  /* A reference to a later task is resolved in pass 3, which finds the
   * missing output. */
  load_fails("task a = exec { command = [b.o] outputs = [\"o\"] }\n"
             "task b = exec { command = [\"${out}\", a.q] outputs = [\"o\"] }\n",
             "e.dag:2:38: error: task 'a' (exec) has no output 'q'; did you mean 'o'?\n"
             "task b = exec { command = [\"${out}\", a.q] outputs = [\"o\"] }\n"
             "                                     ^");
}

/* References to earlier and to later tasks, and a task named twice in one
 * command: the edges are the same whichever pass resolved them. */
static void test_edges(void **state)
{
  struct graph g;
  int a, b, c;
  (void)state;
  load(&g, "g.dag",
       "task c = exec { command = [a.o, b.o, a.o, \"${b.o}\"] outputs = [\"o\"] }\n"
       "task a = exec { command = [\"x\"] outputs = [\"o\"] }\n"
       "task b = exec { command = [a.o] outputs = [\"o\"] }\n");
  a = graph_find_task(&g, "a");
  b = graph_find_task(&g, "b");
  c = graph_find_task(&g, "c");
  assert_int_equal(g.tasks[c].ndeps, 2);
  assert_int_equal(g.tasks[c].deps[0], a);
  assert_int_equal(g.tasks[c].deps[1], b);
  assert_int_equal(g.tasks[b].ndeps, 1);
  assert_int_equal(g.tasks[b].deps[0], a);
  assert_int_equal(g.tasks[a].nrdeps, 2);
  assert_int_equal(g.tasks[a].rdeps[0], c);
  assert_int_equal(g.tasks[a].rdeps[1], b);
  assert_int_equal(g.tasks[c].params.u.map.v[0].u.list.v[0].u.ref.node, a);
  assert_int_equal(g.topo[0], a);
  assert_int_equal(g.topo[2], c);
  graph_release(&g);
}

/* A graph big enough to be hashed on a thread: the digest is still SHA-256
 * over each source's length (8 bytes, little-endian) and bytes. */
static void test_digest(void **state)
{
  struct graph g;
  struct strbuf sb, all;
  uint8_t d[PD_DIGEST_LEN];
  int i, b;
  (void)state;
  strbuf_init(&sb, 1 << 20);
  for (i = 0; i < 5000; i++)
    strbuf_addf(&sb, "task t%d = exec {\n  command = [\"echo\", \"%d\"]\n  outputs = [\"o\"]\n}\n",
                i, i);
  assert_true(sb.len > 256 * 1024);
  load(&g, "big.dag", sb.buf);
  strbuf_init(&all, sb.len + 8);
  for (b = 0; b < 8; b++)
    strbuf_addch(&all, (int)(((uint64_t)sb.len >> (8 * b)) & 0xff));
  strbuf_add(&all, sb.buf, sb.len);
  digest_buf(all.buf, all.len, d);
  assert_memory_equal(g.digest, d, sizeof d);
  graph_release(&g);
  strbuf_release(&all);
  strbuf_release(&sb);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_early_same_as_pass2, setup, teardown),
    cmocka_unit_test_setup_teardown(test_error_order, setup, teardown),
    cmocka_unit_test_setup_teardown(test_edges, setup, teardown),
    cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
