/* graph_test.c - tests orchestrator/graph.c: graph_load end to end (includes,
 * params and --set, pools, for loops, kinds, references, cycles, topo) and
 * every diagnostic, compared byte for byte with its caret line.
 *
 * Each test runs in a fresh scratch directory (under $PD_TEST_TMP) and
 * loads "g.dag" by that relative name, so messages start with "g.dag:".
 */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "graph.h"
#include "parse.h"
#include "registry.h"
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
  snprintf(scratch, sizeof scratch, "%s/graph_test.XXXXXX", base);
  if (!mkdtemp(scratch) || !getcwd(cwd0, sizeof cwd0) || chdir(scratch) != 0)
    return -1;
  /* Real path, so that expected absolute paths compare equal. */
  if (!getcwd(scratch, sizeof scratch))
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
  char dir[PATH_MAX];
  char *p;
  FILE *f;
  snprintf(dir, sizeof dir, "%s", path);
  for (p = dir + 1; (p = strchr(p, '/')); p++) {
    *p = '\0';
    mkdir(dir, 0777);
    *p = '/';
  }
  f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int load_ov(struct graph *g, struct pd_err *err, const char *text,
                   const struct override *ov, size_t nov)
{
  write_file("g.dag", text);
  pd_err_clear(err);
  return graph_load(g, "g.dag", ov, nov, err);
}

static void load_ok(struct graph *g, const char *text)
{
  struct pd_err err;
  int rc = load_ov(g, &err, text, NULL, 0);
  if (rc != 0)
    fail_msg("graph_load failed (%d):\n%s", rc, err.msg);
}

static void expect_error_ov(const char *text, const struct override *ov, size_t nov, int code,
                            const char *msg)
{
  struct graph g;
  struct pd_err err;
  int rc = load_ov(&g, &err, text, ov, nov);
  if (rc != code || strcmp(err.msg, msg) != 0)
    fail_msg("rc %d (want %d)\ngot:\n%s\nwant:\n%s", rc, code, err.msg, msg);
  assert_int_equal(err.code, code);
  /* graph_load released the graph. */
  assert_null(g.priv);
  assert_null(g.tasks);
  assert_int_equal(g.ntasks, 0);
}

static void expect_error(const char *text, int code, const char *msg)
{
  expect_error_ov(text, NULL, 0, code, msg);
}

/* scratch/rel, in a static buffer. */
static const char *in_scratch(const char *rel)
{
  static char buf[2 * PATH_MAX];
  snprintf(buf, sizeof buf, "%s/%s", scratch, rel);
  return buf;
}

static char *json(const struct val *v)
{
  static char buf[4096];
  struct strbuf sb;
  strbuf_init(&sb, 64);
  val_to_json(v, &sb);
  snprintf(buf, sizeof buf, "%s", sb.buf);
  strbuf_release(&sb);
  return buf;
}

static const struct task *task(const struct graph *g, const char *name)
{
  int i = graph_find_task(g, name);
  if (i < 0)
    fail_msg("no task '%s'", name);
  return &g->tasks[i];
}

static const struct val *param(const struct graph *g, const char *name)
{
  size_t i;
  for (i = 0; i < g->nparams; i++)
    if (strcmp(g->params[i].name, name) == 0)
      return &g->params[i].value;
  fail_msg("no param '%s'", name);
  return NULL;
}

/* --- the language ------------------------------------------------------- */

static const char example[] =
  "include \"common.dag\"                  # path relative to this file\n"
  "param seed    = 1                     # povid-dag run FILE --set seed=2\n"
  "param backend = \"rules\"\n"
  "pool api = 16                         # named pools; cpu and gpu are built in\n"
  "task subset = exec {\n"
  "    command = [\"gen\", \"--seed\", \"${seed}\", \"${out}/data.txt\"]\n"
  "    outputs = [\"data.txt\"]            # referenced as subset.data (the stem)\n"
  "}\n"
  "for variant in [\"text\", \"image\", \"both\"] {\n"
  "    task \"dpo_${variant}\" = exec {\n"
  "        command = [\"train\", subset.data, variant, \"${out}/m.bin\"]\n"
  "        outputs = { model = \"m.bin\" }\n"
  "        env     = { PYTHONHASHSEED = \"0\" }\n"
  "        pool    = \"api\"\n"
  "    }\n"
  "}\n"
  "task idx = exec { command = [\"python3\", file(\"scripts/index.py\"), \"${dpo_text.model}\", "
  "\"${out}/i.json\"], outputs = [\"i.json\"] }\n";

static void test_example(void **state)
{
  struct graph g;
  const struct task *t;
  uint8_t zero[32] = { 0 };
  (void)state;
  write_file("common.dag", "param common = \"c\"\ntask base = exec { command = [\"true\"] }\n");
  write_file("scripts/index.py", "print(1)\n");
  load_ok(&g, example);

  assert_string_equal(g.path, in_scratch("g.dag"));
  assert_string_equal(g.dir, scratch);
  assert_int_equal(g.nsources, 2);
  assert_string_equal(g.sources[0], in_scratch("g.dag"));
  assert_string_equal(g.sources[1], in_scratch("common.dag"));
  assert_memory_not_equal(g.digest, zero, 32);

  assert_int_equal(g.nparams, 3);
  assert_string_equal(g.params[0].name, "common");
  assert_string_equal(g.params[1].name, "seed");
  assert_int_equal(g.params[1].loc.line, 2);
  assert_int_equal(g.params[1].loc.col, 7);
  assert_int_equal(g.params[1].overridden, 0);
  assert_int_equal(g.npools, 1);
  assert_string_equal(g.pools[0].name, "api");
  assert_int_equal(g.pools[0].size, 16);

  /* The include's statements stand where the include does. */
  assert_int_equal(g.ntasks, 6);
  assert_string_equal(g.tasks[0].name, "base");
  assert_string_equal(g.tasks[0].loc.file, "common.dag");
  assert_string_equal(g.tasks[1].name, "subset");
  assert_string_equal(g.tasks[2].name, "dpo_text");
  assert_string_equal(g.tasks[3].name, "dpo_image");
  assert_string_equal(g.tasks[4].name, "dpo_both");
  assert_string_equal(g.tasks[5].name, "idx");

  t = task(&g, "subset");
  assert_string_equal(t->loc.file, "g.dag");
  assert_int_equal(t->loc.line, 5);
  assert_int_equal(t->loc.col, 6);
  assert_string_equal(json(task_param(t, "command")),
                      "[\"gen\",\"--seed\",\"1\",{\"$cat\":[{\"$out\":true},\"/data.txt\"]}]");
  assert_int_equal(t->noutputs, 1);
  assert_string_equal(t->outputs[0].name, "data");
  assert_string_equal(t->outputs[0].path, "data.txt");
  assert_string_equal(t->pool, "cpu");
  assert_int_equal(t->ndeps, 0);
  assert_int_equal(t->nrdeps, 3);
  assert_int_equal(t->rdeps[0], 2);
  assert_int_equal(t->rdeps[1], 3);
  assert_int_equal(t->rdeps[2], 4);

  t = task(&g, "dpo_image");
  assert_string_equal(json(task_param(t, "command")),
                      "[\"train\",{\"$ref\":\"subset.data\"},\"image\","
                      "{\"$cat\":[{\"$out\":true},\"/m.bin\"]}]");
  assert_int_equal(task_param(t, "command")->u.list.v[1].u.ref.node, 1);
  assert_string_equal(json(task_param(t, "env")), "{\"PYTHONHASHSEED\":\"0\"}");
  assert_string_equal(t->pool, "api");
  assert_int_equal(t->noutputs, 1);
  assert_string_equal(t->outputs[0].name, "model");
  assert_string_equal(t->outputs[0].path, "m.bin");
  assert_int_equal(t->ndeps, 1);
  assert_int_equal(t->deps[0], 1);
  assert_int_equal(t->loc.line, 10);
  assert_int_equal(t->loc.col, 10);

  t = task(&g, "idx");
  /* "${dpo_text.model}" alone is the bare reference. */
  assert_string_equal(json(task_param(t, "command")),
                      "[\"python3\",{\"$file\":\"scripts/index.py\"},{\"$ref\":\"dpo_text.model\"},"
                      "{\"$cat\":[{\"$out\":true},\"/i.json\"]}]");
  assert_string_equal(task_param(t, "command")->u.list.v[1].u.src.path, in_scratch("scripts/index.py"));
  assert_int_equal(t->ndeps, 1);
  assert_int_equal(t->deps[0], 2);
  assert_int_equal(task(&g, "dpo_text")->nrdeps, 1);

  /* Dependencies first, deterministic. */
  assert_int_equal(g.topo[0], 0);
  assert_int_equal(g.topo[1], 1);
  assert_int_equal(g.topo[2], 2);
  assert_int_equal(g.topo[3], 3);
  assert_int_equal(g.topo[4], 4);
  assert_int_equal(g.topo[5], 5);

  assert_int_equal(graph_find_task(&g, "nope"), -1);
  assert_int_equal(task_find_output(task(&g, "dpo_text"), "model"), 0);
  assert_int_equal(task_find_output(task(&g, "dpo_text"), "m"), -1);
  assert_null(task_param(t, "nope"));
  graph_release(&g);
  graph_release(&g); /* twice is harmless */
}

static void test_defaults(void **state)
{
  struct graph g;
  const struct task *t;
  const struct val *p;
  (void)state;
  load_ok(&g, "task a = exec { command = [\"true\"] }\n");
  t = &g.tasks[0];
  /* Every parameter of exec and the common ones, sorted by name. */
  assert_string_equal(json(&t->params),
                      "{\"command\":[\"true\"],\"env\":{},\"inherit_env\":[],\"outputs\":[],"
                      "\"pool\":\"cpu\",\"retries\":0,\"shell\":false,\"threads\":1,"
                      "\"timeout\":0.0}");
  p = task_param(t, "timeout");
  assert_int_equal(p->kind, V_FLOAT); /* "0" widened for a float parameter */
  assert_string_equal(p->loc.file, "g.dag");
  assert_int_equal(p->loc.line, 1);
  assert_int_equal(p->loc.col, 6);
  assert_string_equal(t->pool, "cpu");
  assert_int_equal(t->threads, 1);
  assert_int_equal(t->retries, 0);
  assert_int_equal(t->noutputs, 0);
  graph_release(&g);

  load_ok(&g, "pool net = 2\n"
              "task a = exec { command = [\"true\"], pool = \"net\", threads = 0, retries = 3,"
              " timeout = 2.5, shell = true }\n");
  t = &g.tasks[0];
  assert_string_equal(t->pool, "net");
  assert_int_equal(t->threads, 0);
  assert_int_equal(t->retries, 3);
  assert_true(task_param(t, "timeout")->u.f == 2.5);
  assert_true(task_param(t, "shell")->u.b);
  graph_release(&g);
}

/* Statements stand in any order: tasks may use params and pools declared
 * after them (params see only earlier params). */
static void test_any_order(void **state)
{
  struct graph g;
  uint8_t d1[32];
  (void)state;
  load_ok(&g, "task t = exec { command = [\"${late}\", up.o], pool = \"p\" }\n"
              "param late = \"x\"\n"
              "pool p = 2\n"
              "task up = exec { command = [late], outputs = [\"o\"] }\n");
  assert_string_equal(json(task_param(&g.tasks[0], "command")), "[\"x\",{\"$ref\":\"up.o\"}]");
  assert_string_equal(g.tasks[0].pool, "p");
  assert_int_equal(g.topo[0], 1);
  assert_int_equal(g.topo[1], 0);
  memcpy(d1, g.digest, 32);
  graph_release(&g);
  /* Any change to a source changes the digest. */
  load_ok(&g, "task t = exec { command = [\"${late}\", up.o], pool = \"p\" }\n"
              "param late = \"y\"\n"
              "pool p = 2\n"
              "task up = exec { command = [late], outputs = [\"o\"] }\n");
  assert_memory_not_equal(g.digest, d1, 32);
  graph_release(&g);
}

static void test_values(void **state)
{
  struct graph g;
  (void)state;
  load_ok(&g,
          "param i = 42\n"
          "param n = -7\n"
          "param f = 0.5\n"
          "param e = 1e3\n"
          "param e2 = -2.5E-2\n"
          "param t = true\n"
          "param no = false\n"
          "param s = \"a \\\"q\\\" \\\\ \\n \\t \\${x} $5\"\n"
          "param l = [1, \"two\", [3], {}]\n"
          "param l2 = [\n  1\n  2,\n  3,\n]\n"
          "param m = { b = 1, \"a key\" = [true], c = { z = 1.0 } }\n"
          "param copy = l\n"
          "param interp = \"i=${i} n=${ n } f=${f} e=${e} t=${t} s=${s}\"\n"
          "param third = 0.1\n"
          "param th = \"${third}\"\n");
  assert_string_equal(json(param(&g, "i")), "42");
  assert_string_equal(json(param(&g, "n")), "-7");
  assert_string_equal(json(param(&g, "f")), "0.5");
  assert_string_equal(json(param(&g, "e")), "1000.0");
  assert_string_equal(json(param(&g, "e2")), "-0.025000000000000001");
  assert_string_equal(json(param(&g, "t")), "true");
  assert_string_equal(json(param(&g, "no")), "false");
  assert_string_equal(json(param(&g, "s")), "\"a \\\"q\\\" \\\\ \\n \\t ${x} $5\"");
  assert_string_equal(json(param(&g, "l")), "[1,\"two\",[3],{}]");
  assert_string_equal(json(param(&g, "l2")), "[1,2,3]");
  assert_string_equal(json(param(&g, "m")), "{\"a key\":[true],\"b\":1,\"c\":{\"z\":1.0}}");
  assert_string_equal(json(param(&g, "copy")), "[1,\"two\",[3],{}]");
  assert_string_equal(json(param(&g, "interp")),
                      "\"i=42 n=-7 f=0.5 e=1000 t=true s=a \\\"q\\\" \\\\ \\n \\t ${x} $5\"");
  assert_string_equal(json(param(&g, "th")), "\"0.1\"");
  graph_release(&g);
}

static void test_interpolation(void **state)
{
  struct graph g;
  const struct task *t;
  const struct val *c;
  (void)state;
  load_ok(&g,
          "param name = \"x\"\n"
          "task up = exec { command = [\"true\"], outputs = [\"a.txt\", \"b/\"] }\n"
          "task t = exec {\n"
          "  command = [\"${out}\", \"${up.a}\", \"pre-${up.a}-${out}/${name}.txt\", out,\n"
          "             \"\\${out}\", \"${name}${name}\"]\n"
          "}\n");
  t = task(&g, "t");
  c = task_param(t, "command");
  assert_int_equal(c->u.list.v[0].kind, V_OUT);
  assert_int_equal(c->u.list.v[1].kind, V_REF);
  assert_string_equal(c->u.list.v[1].u.ref.task, "up");
  assert_string_equal(c->u.list.v[1].u.ref.output, "a");
  assert_int_equal(c->u.list.v[1].u.ref.node, 0);
  assert_int_equal(c->u.list.v[1].loc.line, 4);
  assert_int_equal(c->u.list.v[1].loc.col, 27);
  assert_string_equal(json(&c->u.list.v[2]),
                      "{\"$cat\":[\"pre-\",{\"$ref\":\"up.a\"},\"-\",{\"$out\":true},\"/x.txt\"]}");
  assert_int_equal(c->u.list.v[3].kind, V_OUT); /* bare out in a task body */
  assert_string_equal(json(&c->u.list.v[4]), "\"${out}\"");
  assert_string_equal(json(&c->u.list.v[5]), "\"xx\"");
  assert_int_equal(t->ndeps, 1);
  assert_int_equal(task(&g, "up")->noutputs, 2);
  assert_string_equal(task(&g, "up")->outputs[1].name, "b");
  assert_string_equal(task(&g, "up")->outputs[1].path, "b/");
  graph_release(&g);
}

static void test_for(void **state)
{
  struct graph g;
  const struct task *t;
  (void)state;
  load_ok(&g,
          "param variant = \"shadowed\"\n"
          "param sizes = [1, 2]\n"
          "task src = exec { command = [\"true\"], outputs = [\"a\", \"b\"] }\n"
          "for variant in [\"text\", \"image\"] {\n"
          "  for n in sizes {\n"
          "    task \"m_${variant}_${n}\" = exec {\n"
          "      command = [\"train\", variant, n, \"--size=${n}\"]\n"
          "    }\n"
          "  }\n"
          "  task \"after_${variant}\" = exec { command = [\"x\", variant] }\n"
          "}\n"
          "task last = exec { command = [variant] }\n");
  assert_int_equal(g.ntasks, 8);
  assert_string_equal(g.tasks[1].name, "m_text_1");
  assert_string_equal(g.tasks[2].name, "m_text_2");
  assert_string_equal(g.tasks[3].name, "after_text");
  assert_string_equal(g.tasks[4].name, "m_image_1");
  assert_string_equal(g.tasks[5].name, "m_image_2");
  assert_string_equal(g.tasks[6].name, "after_image");
  assert_string_equal(json(task_param(task(&g, "m_image_2"), "command")),
                      "[\"train\",\"image\",2,\"--size=2\"]");
  assert_string_equal(json(task_param(task(&g, "last"), "command")), "[\"shadowed\"]");
  graph_release(&g);

  /* A loop variable holding a reference cannot name a task, but works in a
   * body. */
  expect_error("task src = exec { command = [\"true\"], outputs = [\"a\"] }\n"
               "for input in [src.a] {\n"
               "  task \"use_${input}\" = exec { command = [\"cat\", input] }\n"
               "}\n",
               PD_EGRAPH,
               "g.dag:3:15: error: 'input' holds a reference and cannot be used in a task name\n"
               "  task \"use_${input}\" = exec { command = [\"cat\", input] }\n"
               "              ^");
  load_ok(&g, "task src = exec { command = [\"true\"], outputs = [\"a\"] }\n"
              "for input in [src.a] {\n"
              "  task user = exec { command = [\"cat\", input, \"<${input}>\"] }\n"
              "}\n");
  t = task(&g, "user");
  assert_string_equal(json(task_param(t, "command")),
                      "[\"cat\",{\"$ref\":\"src.a\"},{\"$cat\":[\"<\",{\"$ref\":\"src.a\"},\">\"]}]");
  assert_int_equal(t->ndeps, 1);
  graph_release(&g);
}

static void test_includes(void **state)
{
  struct graph g;
  (void)state;
  /* g.dag includes sub/a.dag and sub/b.dag; both include ../shared.dag
   * (read once); a.dag's file() is relative to sub/. */
  write_file("shared.dag", "param shared = 1\n");
  write_file("sub/a.dag", "include \"../shared.dag\"\n"
                          "param a = shared\n"
                          "task ta = exec { command = [file(\"tool.sh\"), dir(\"data\")] }\n");
  write_file("sub/b.dag", "include \"../shared.dag\"\ntask tb = exec { command = [ta.x] }\n");
  write_file("sub/tool.sh", "#!/bin/sh\n");
  write_file("sub/data/x", "x\n");
  expect_error("include \"sub/a.dag\"\ninclude \"sub/b.dag\"\n", PD_EGRAPH,
               "sub/b.dag:2:29: error: task 'ta' (exec) has no outputs\n"
               "task tb = exec { command = [ta.x] }\n"
               "                            ^");
  write_file("sub/b.dag", "include \"../shared.dag\"\ntask tb = exec { command = [\"${shared}\"] }\n");
  load_ok(&g, "include \"sub/a.dag\"\ninclude \"sub/b.dag\"\nparam after = shared\n");
  assert_int_equal(g.nsources, 4);
  assert_string_equal(g.sources[1], in_scratch("sub/a.dag"));
  assert_string_equal(g.sources[2], in_scratch("shared.dag"));
  assert_string_equal(g.sources[3], in_scratch("sub/b.dag"));
  assert_int_equal(g.nparams, 3);
  assert_string_equal(g.params[0].name, "shared");
  assert_string_equal(g.params[0].loc.file, "sub/../shared.dag");
  assert_string_equal(json(task_param(task(&g, "ta"), "command")),
                      "[{\"$file\":\"sub/tool.sh\"},{\"$dir\":\"sub/data\"}]");
  assert_string_equal(task_param(task(&g, "ta"), "command")->u.list.v[0].u.src.path, in_scratch("sub/tool.sh"));
  assert_string_equal(task(&g, "ta")->loc.file, "sub/a.dag");
  graph_release(&g);

  /* Loading through another path gives the same digest. */
  {
    struct graph g2;
    struct pd_err err;
    char *p2 = strdup(in_scratch("g.dag"));
    assert_int_equal(graph_load(&g2, p2, NULL, 0, &err), 0);
    load_ok(&g, "include \"sub/a.dag\"\ninclude \"sub/b.dag\"\nparam after = shared\n");
    assert_memory_equal(g.digest, g2.digest, 32);
    graph_release(&g2);
    graph_release(&g);
    load_ok(&g, "include \"sub/a.dag\"\ninclude \"sub/b.dag\"\nparam after = 2\n");
    assert_int_equal(graph_load(&g2, p2, NULL, 0, &err), 0);
    assert_memory_equal(g.digest, g2.digest, 32);
    graph_release(&g2);
    graph_release(&g);
    free(p2);
  }
}

static void test_file_dir(void **state)
{
  struct graph g;
  const struct val *c;
  char *path, text[PATH_MAX * 3];
  (void)state;
  write_file("scripts/run.py", "");
  write_file("data/in.txt", "");
  mkdir("empty", 0777);
  write_file("proj/g2.dag", "task t = exec { command = [file(\"../scripts/run.py\"), "
                            "dir(\"../data\"), dir(\".\"), file(\"./../data//in.txt\")] }\n");
  path = strdup(in_scratch("scripts/run.py"));
  snprintf(text, sizeof text,
           "param d = \"data\"\n"
           "task t = exec { command = [file(\"scripts/run.py\"), dir(d), dir(\"${d}/\"),"
           " dir(\"empty\"), file(\"%s\")] }\n", path);
  load_ok(&g, text);
  c = task_param(&g.tasks[0], "command");
  assert_string_equal(json(c), "[{\"$file\":\"scripts/run.py\"},{\"$dir\":\"data\"},"
                               "{\"$dir\":\"data\"},{\"$dir\":\"empty\"},"
                               "{\"$file\":\"scripts/run.py\"}]");
  assert_string_equal(c->u.list.v[0].u.src.path, path);
  assert_int_equal(c->u.list.v[1].kind, V_DIR);
  graph_release(&g);

  /* rel is relative to the top file's folder, even upward. */
  {
    struct pd_err err;
    assert_int_equal(graph_load(&g, "proj/g2.dag", NULL, 0, &err), 0);
    c = task_param(&g.tasks[0], "command");
    assert_string_equal(json(c), "[{\"$file\":\"../scripts/run.py\"},{\"$dir\":\"../data\"},"
                                 "{\"$dir\":\".\"},{\"$file\":\"../data/in.txt\"}]");
    assert_string_equal(c->u.list.v[2].u.src.path, in_scratch("proj"));
    graph_release(&g);
  }
  free(path);
}

static void test_set(void **state)
{
  struct graph g;
  struct pd_err err;
  const char *src = "param i = 1\n"
                    "param f = 0.5\n"
                    "param b = false\n"
                    "param s = \"x\"\n"
                    "param l = [1]\n"
                    "param m = {}\n"
                    "param derived = \"run-${i}-${s}\"\n";
  struct override ov[] = {
    { "i", "-12" }, { "f", "3" }, { "b", "true" }, { "s", "hello world" },
    { "l", "[\"a\", 2]" }, { "m", "{ k = [1] }" }, { "s", "last wins" },
  };
  (void)state;
  assert_int_equal(load_ov(&g, &err, src, ov, 7), 0);
  assert_string_equal(json(param(&g, "i")), "-12");
  assert_string_equal(json(param(&g, "f")), "3.0");
  assert_int_equal(param(&g, "f")->kind, V_FLOAT);
  assert_string_equal(json(param(&g, "b")), "true");
  assert_string_equal(json(param(&g, "s")), "\"last wins\"");
  assert_string_equal(json(param(&g, "l")), "[\"a\",2]");
  assert_string_equal(json(param(&g, "m")), "{\"k\":[1]}");
  /* Later params see the overridden value. */
  assert_string_equal(json(param(&g, "derived")), "\"run--12-last wins\"");
  assert_int_equal(g.params[0].overridden, 1);
  assert_int_equal(g.params[6].overridden, 0);
  assert_int_equal(param(&g, "i")->loc.line, 1);
  graph_release(&g);

  {
    struct override f2[] = { { "f", "2.5e1" } };
    assert_int_equal(load_ov(&g, &err, src, f2, 1), 0);
    assert_true(param(&g, "f")->u.f == 25.0);
    graph_release(&g);
  }
}

static void test_set_errors(void **state)
{
  const char *src = "param seed = 1\n"
                    "param f = 0.5\n"
                    "param b = false\n"
                    "param l = []\n"
                    "param m = { a = 1 }\n";
  struct override o1[] = { { "sede", "2" } };
  struct override o2[] = { { "seed", "abc" } };
  struct override o3[] = { { "seed", "1.5" } };
  struct override o4[] = { { "f", "x" } };
  struct override o5[] = { { "b", "yes" } };
  struct override o6[] = { { "l", "[1," } };
  struct override o7[] = { { "m", "[1]" } };
  struct override o8[] = { { "zzzzzz", "1" } };
  struct override o9[] = { { "seed", "12 junk" } };
  (void)state;
  expect_error_ov(src, o1, 1, PD_EUSAGE, "--set sede=2: unknown param 'sede'; did you mean 'seed'?");
  expect_error_ov(src, o8, 1, PD_EUSAGE, "--set zzzzzz=1: unknown param 'zzzzzz'");
  expect_error_ov("", o8, 1, PD_EUSAGE,
                  "--set zzzzzz=1: unknown param 'zzzzzz' (the graph declares no params)");
  expect_error_ov(src, o2, 1, PD_EUSAGE,
                  "--set seed=abc: 'seed' is an integer (declared at g.dag:1:7), got 'abc'");
  expect_error_ov(src, o3, 1, PD_EUSAGE,
                  "--set seed=1.5: 'seed' is an integer (declared at g.dag:1:7), got '1.5'");
  expect_error_ov(src, o9, 1, PD_EUSAGE,
                  "--set seed=12 junk: 'seed' is an integer (declared at g.dag:1:7), got '12 junk'");
  expect_error_ov(src, o4, 1, PD_EUSAGE,
                  "--set f=x: 'f' is a float (declared at g.dag:2:7), got 'x'");
  expect_error_ov(src, o5, 1, PD_EUSAGE,
                  "--set b=yes: 'b' is a bool (true or false) (declared at g.dag:3:7), got 'yes'");
  expect_error_ov(src, o6, 1, PD_EUSAGE,
                  "--set l=[1,: 'l' is a list (declared at g.dag:4:7), got '[1,'");
  expect_error_ov(src, o7, 1, PD_EUSAGE,
                  "--set m=[1]: 'm' is a map (declared at g.dag:5:7), got '[1]'");
}

static void test_edges_topo(void **state)
{
  struct graph g;
  size_t i;
  int seen[5] = { 0 };
  (void)state;
  /* Declared out of order: d uses b and c, b and c use a, e is alone. */
  load_ok(&g,
          "task d = exec { command = [b.o, c.o, b.o, \"${c.o}\"], outputs = [\"o\"] }\n"
          "task b = exec { command = [a.o], outputs = [\"o\"] }\n"
          "task e = exec { command = [\"e\"] }\n"
          "task c = exec { command = [\"x\"], env = { IN = a.o }, outputs = [\"o\"] }\n"
          "task a = exec { command = [\"a\"], outputs = [\"o\"] }\n");
  assert_int_equal(g.tasks[0].ndeps, 2);
  assert_int_equal(g.tasks[0].deps[0], 1);
  assert_int_equal(g.tasks[0].deps[1], 3);
  assert_int_equal(g.tasks[4].nrdeps, 2);
  assert_int_equal(g.tasks[4].rdeps[0], 1);
  assert_int_equal(g.tasks[4].rdeps[1], 3);
  assert_int_equal(g.tasks[2].ndeps + g.tasks[2].nrdeps, 0);
  for (i = 0; i < g.ntasks; i++) {
    const struct task *t = &g.tasks[g.topo[i]];
    size_t j;
    for (j = 0; j < t->ndeps; j++)
      assert_true(seen[t->deps[j]]);
    seen[g.topo[i]] = 1;
  }
  /* DFS post-order from the first task: a b c d e. */
  assert_int_equal(g.topo[0], 4);
  assert_int_equal(g.topo[1], 1);
  assert_int_equal(g.topo[2], 3);
  assert_int_equal(g.topo[3], 0);
  assert_int_equal(g.topo[4], 2);
  graph_release(&g);
}

/* A value printed with val_to_source reads back to an equal value. */
static void test_source_round_trip(void **state)
{
  struct graph g, g2;
  struct strbuf sb, text;
  const char *names[] = { "command", "env", "outputs" };
  size_t i;
  (void)state;
  write_file("f.txt", "");
  load_ok(&g, "task up = exec { command = [\"x\"], outputs = { o = \"o.txt\" } }\n"
              "task t = exec {\n"
              "  command = [\"a\", 1, -2.5, 1e300, true, up.o, \"${up.o}\", \"x${up.o}y$${out}\","
              "             file(\"f.txt\"), dir(\".\"), \"${out}\", \"tab\\there \\\\ \\\"q\\\"\"]\n"
              "  env = { A = \"1\", \"B\" = \"${out}/b\" }\n"
              "  outputs = { o = \"o.txt\" }\n"
              "}\n");
  strbuf_init(&sb, 256);
  strbuf_init(&text, 256);
  strbuf_addstr(&text, "task up = exec { command = [\"x\"], outputs = { o = \"o.txt\" } }\n"
                       "task t = exec {\n");
  for (i = 0; i < 3; i++) {
    strbuf_reset(&sb);
    val_to_source(task_param(task(&g, "t"), names[i]), &sb);
    strbuf_addf(&text, "  %s = %s\n", names[i], sb.buf);
  }
  strbuf_addstr(&text, "}\n");
  write_file("g2.dag", text.buf);
  {
    struct pd_err err;
    if (graph_load(&g2, "g2.dag", NULL, 0, &err) != 0)
      fail_msg("%s\n%s", text.buf, err.msg);
  }
  for (i = 0; i < 3; i++)
    assert_true(val_equal(task_param(task(&g, "t"), names[i]),
                          task_param(task(&g2, "t"), names[i])));
  assert_true(val_equal(&task(&g, "t")->params, &task(&g2, "t")->params));
  strbuf_reset(&sb);
  val_to_source(task_param(task(&g, "t"), "command"), &sb);
  assert_string_equal(sb.buf, "[\"a\", 1, -2.5, 1e+300, true, up.o, up.o, \"x${up.o}y$${out}\", "
                              "file(\"f.txt\"), dir(\".\"), \"${out}\", "
                              "\"tab\\there \\\\ \\\"q\\\"\"]");
  strbuf_release(&sb);
  strbuf_release(&text);
  graph_release(&g);
  graph_release(&g2);
}

/* "NAME".OUTPUT: the name interpolated with loop variables and params, then
 * the same reference (edge, value, key) as the plain form. */
static void test_cref(void **state)
{
  struct graph g, g2;
  const struct task *t;
  const struct val *c;
  size_t i;
  int seen[16] = { 0 };
  (void)state;
  /* eval_N reads sft_N, declared after it in the loop body. */
  load_ok(&g,
          "param seeds = [1, 2, 3]\n"
          "param base = \"sft\"\n"
          "for s in seeds {\n"
          "  task \"eval_${s}\" = exec {\n"
          "    command = [\"e\", \"${base}_${s}\".model], outputs = [\"metrics.json\"]\n"
          "  }\n"
          "  task \"${base}_${s}\" = exec { command = [\"t\", s], outputs = { model = \"m\" } }\n"
          "}\n"
          "task report = exec {\n"
          "  command = [for s in seeds : \"eval_${s}\".metrics]\n"
          "  env = {for s in seeds : \"M_${s}\" => \"sft_${s}\".model}\n"
          "}\n"
          "task plain = exec { command = [\"e\", sft_2.model] }\n");
  assert_int_equal(g.ntasks, 8);
  t = task(&g, "eval_2");
  assert_string_equal(json(task_param(t, "command")), "[\"e\",{\"$ref\":\"sft_2.model\"}]");
  assert_int_equal(t->ndeps, 1);
  assert_int_equal(t->deps[0], graph_find_task(&g, "sft_2"));
  c = &task_param(t, "command")->u.list.v[1];
  assert_int_equal(c->u.ref.node, graph_find_task(&g, "sft_2"));
  assert_int_equal(c->loc.line, 5);
  assert_int_equal(c->loc.col, 21); /* the string */
  /* The same value as the plain reference (what goes into the key). */
  assert_true(val_equal(task_param(t, "command"), task_param(task(&g, "plain"), "command")));
  t = task(&g, "report");
  assert_string_equal(json(task_param(t, "command")),
                      "[{\"$ref\":\"eval_1.metrics\"},{\"$ref\":\"eval_2.metrics\"},"
                      "{\"$ref\":\"eval_3.metrics\"}]");
  assert_string_equal(json(task_param(t, "env")),
                      "{\"M_1\":{\"$ref\":\"sft_1.model\"},\"M_2\":{\"$ref\":\"sft_2.model\"},"
                      "\"M_3\":{\"$ref\":\"sft_3.model\"}}");
  assert_int_equal(t->ndeps, 6);
  assert_int_equal(task(&g, "sft_3")->nrdeps, 2);
  /* Dependencies first: sft_N, then eval_N, then report. */
  for (i = 0; i < g.ntasks; i++) {
    const struct task *u = &g.tasks[g.topo[i]];
    size_t j;
    for (j = 0; j < u->ndeps; j++)
      assert_true(seen[u->deps[j]]);
    seen[g.topo[i]] = 1;
  }
  assert_string_equal(g.tasks[g.topo[0]].name, "sft_1");
  assert_string_equal(g.tasks[g.topo[1]].name, "eval_1");
  assert_string_equal(g.tasks[g.topo[6]].name, "report");

  /* A graph written with plain references loads to equal params. */
  write_file("plain.dag", "task eval_1 = exec { command = [\"e\", sft_1.model], "
                          "outputs = [\"metrics.json\"] }\n"
                          "task sft_1 = exec { command = [\"t\", 1], outputs = { model = \"m\" } }\n");
  {
    struct pd_err err;
    if (graph_load(&g2, "plain.dag", NULL, 0, &err) != 0)
      fail_msg("%s", err.msg);
  }
  assert_true(val_equal(&task(&g, "eval_1")->params, &task(&g2, "eval_1")->params));
  assert_true(val_equal(&task(&g, "sft_1")->params, &task(&g2, "sft_1")->params));
  graph_release(&g2);
  graph_release(&g);

  /* A string without ${} names a task too; the constant path takes it. */
  load_ok(&g, "task a = exec { command = [\"x\"], outputs = [\"o\"] }\n"
              "task b = exec { command = [\"a\".o], env = { K = \"a\".o } }\n");
  assert_int_equal(task(&g, "b")->ndeps, 1);
  assert_string_equal(json(task_param(task(&g, "b"), "command")), "[{\"$ref\":\"a.o\"}]");
  assert_string_equal(json(task_param(task(&g, "b"), "env")), "{\"K\":{\"$ref\":\"a.o\"}}");
  graph_release(&g);

  /* Nested loops and a loop variable of the outer one. */
  load_ok(&g, "for m in [\"x\", \"y\"] {\n"
              "  for s in [1, 2] {\n"
              "    task \"t_${m}_${s}\" = exec { command = [\"t\"], outputs = [\"o\"] }\n"
              "  }\n"
              "  task \"u_${m}\" = exec { command = [for s in [1, 2] : \"t_${m}_${s}\".o] }\n"
              "}\n");
  t = task(&g, "u_y");
  assert_int_equal(t->ndeps, 2);
  assert_string_equal(g.tasks[t->deps[0]].name, "t_y_1");
  assert_string_equal(g.tasks[t->deps[1]].name, "t_y_2");
  graph_release(&g);
}

/* [for x in LIST : EXPR] and {for x in LIST : KEY => VALUE}. */
static void test_for_exprs(void **state)
{
  struct graph g;
  struct pd_err err;
  const char *src = "param seeds = [1, 2, 3]\n"
                    "param names = [for s in seeds : \"run_${s}\"]\n"
                    "param bykey = {for s in seeds : \"k${s}\" => [s, \"v${s}\"]}\n"
                    "param nested = [for a in [1, 2] : [for b in [\"x\", \"y\"] : \"${a}${b}\"]]\n"
                    "param shadow = [for seeds in [[7]] : seeds]\n"
                    "param empty = [for s in [] : s]\n"
                    "param emptym = {for s in [] : s => s}\n"
                    "for v in [for s in seeds : \"n${s}\"] {\n"
                    "  task \"t_${v}\" = exec { command = [for s in seeds : \"${v}.${s}\"] }\n"
                    "}\n";
  struct override ov[] = { { "seeds", "[4, 5]" } };
  (void)state;
  load_ok(&g, src);
  assert_string_equal(json(param(&g, "names")), "[\"run_1\",\"run_2\",\"run_3\"]");
  assert_string_equal(json(param(&g, "bykey")),
                      "{\"k1\":[1,\"v1\"],\"k2\":[2,\"v2\"],\"k3\":[3,\"v3\"]}");
  assert_string_equal(json(param(&g, "nested")), "[[\"1x\",\"1y\"],[\"2x\",\"2y\"]]");
  assert_string_equal(json(param(&g, "shadow")), "[[7]]");
  assert_string_equal(json(param(&g, "empty")), "[]");
  assert_string_equal(json(param(&g, "emptym")), "{}");
  assert_int_equal(g.ntasks, 3);
  assert_string_equal(g.tasks[0].name, "t_n1");
  assert_string_equal(json(task_param(task(&g, "t_n2"), "command")),
                      "[\"n2.1\",\"n2.2\",\"n2.3\"]");
  /* The map comes out sorted by key, whatever the list's order. */
  graph_release(&g);
  load_ok(&g, "param m = {for s in [\"b\", \"c\", \"a\"] : s => s}\n");
  assert_string_equal(json(param(&g, "m")), "{\"a\":\"a\",\"b\":\"b\",\"c\":\"c\"}");
  assert_string_equal(param(&g, "m")->u.map.k[0], "a");
  graph_release(&g);

  /* --set of the list the expressions read. */
  assert_int_equal(load_ov(&g, &err, src, ov, 1), 0);
  assert_string_equal(json(param(&g, "names")), "[\"run_4\",\"run_5\"]");
  assert_int_equal(g.ntasks, 2);
  assert_string_equal(g.tasks[1].name, "t_n5");
  graph_release(&g);
}

static void test_errors_cref_for(void **state)
{
  struct override bad[] = { { "seeds", "3" } };
  struct override junk[] = { { "seeds", "[1, " } };
  (void)state;
  /* Unknown task after interpolation: at the string, with the name. */
  expect_error("param seeds = [1, 2]\n"
               "for s in seeds {\n"
               "  task \"sft_${s}\" = exec { command = [\"t\"], outputs = [\"model\"] }\n"
               "  task \"eval_${s}\" = exec { command = [\"e\", \"stf_${s}\".model] }\n"
               "}\n",
               PD_EGRAPH,
               "g.dag:4:45: error: unknown task 'stf_1'; did you mean 'sft_1'?\n"
               "  task \"eval_${s}\" = exec { command = [\"e\", \"stf_${s}\".model] }\n"
               "                                            ^");
  expect_error("param seeds = [1, 2]\n"
               "for s in seeds {\n"
               "  task \"sft_${s}\" = exec { command = [\"t\"], outputs = [\"model\"] }\n"
               "}\n"
               "task r = exec { command = [for s in [1, 2, 3] : \"sft_${s}\".model] }\n",
               PD_EGRAPH,
               "g.dag:5:49: error: unknown task 'sft_3'; did you mean 'sft_1'?\n"
               "task r = exec { command = [for s in [1, 2, 3] : \"sft_${s}\".model] }\n"
               "                                                ^");
  expect_error("param seeds = [1, 2]\n"
               "for s in seeds {\n"
               "  task \"sft_${s}\" = exec { command = [\"t\"], outputs = [\"model\"] }\n"
               "}\n"
               "task r = exec { command = [for s in seeds : \"sft_${s}\".modle] }\n",
               PD_EGRAPH,
               "g.dag:5:45: error: task 'sft_1' (exec) has no output 'modle'; did you mean "
               "'model'?\n"
               "task r = exec { command = [for s in seeds : \"sft_${s}\".modle] }\n"
               "                                            ^");
  /* Cycles through computed names print as any other. */
  expect_error("for s in [1] {\n"
               "  task \"a_${s}\" = exec { command = [\"b_${s}\".o], outputs = [\"o\"] }\n"
               "  task \"b_${s}\" = exec { command = [\"a_${s}\".o], outputs = [\"o\"] }\n"
               "}\n",
               PD_ECYCLE,
               "g.dag:2:8: error: dependency cycle: a_1 -> b_1 -> a_1\n"
               "  task \"a_${s}\" = exec { command = [\"b_${s}\".o], outputs = [\"o\"] }\n"
               "       ^");
  expect_error("param seed = 1\nparam p = \"sft_${seed}\".model\n", PD_EGRAPH,
               "g.dag:2:11: error: a reference (\"sft_${seed}\".model) cannot be used in a param\n"
               "param p = \"sft_${seed}\".model\n"
               "          ^");
  expect_error("task t = exec { command = [\"x_${sed}\".o] }\nparam seed = 1\n", PD_EGRAPH,
               "g.dag:1:33: error: unknown name 'sed'; did you mean 'seed'?\n"
               "task t = exec { command = [\"x_${sed}\".o] }\n"
               "                                ^");
  expect_error("task src = exec { command = [\"x\"], outputs = [\"a\"] }\n"
               "for in in [src.a] {}\n",
               PD_EPARSE,
               "g.dag:2:5: error: 'in' is a keyword and cannot name a loop variable\n"
               "for in in [src.a] {}\n"
               "    ^");
  expect_error("task src = exec { command = [\"x\"], outputs = [\"a\"] }\n"
               "for i in [src.a] {\n"
               "  task t = exec { command = [\"${i}\".a] }\n"
               "}\n",
               PD_EGRAPH,
               "g.dag:3:33: error: 'i' holds a reference and cannot be used in the task name "
               "of a reference\n"
               "  task t = exec { command = [\"${i}\".a] }\n"
               "                                ^");
  /* For expressions. */
  expect_error("param seeds = [1, 2, 1]\n"
               "task t = exec { command = [\"x\"], env = {for s in seeds : \"K${s}\" => s} }\n",
               PD_EGRAPH,
               "g.dag:2:58: error: duplicate key 'K1' in a for expression (from s = 1 and s = 1)\n"
               "task t = exec { command = [\"x\"], env = {for s in seeds : \"K${s}\" => s} }\n"
               "                                                         ^");
  expect_error("param m = {for s in [\"a\", \"b\", \"a\"] : s => 1}\n", PD_EGRAPH,
               "g.dag:1:39: error: duplicate key 'a' in a for expression (from s = \"a\" and "
               "s = \"a\")\n"
               "param m = {for s in [\"a\", \"b\", \"a\"] : s => 1}\n"
               "                                      ^");
  expect_error("param m = {for s in [1] : s => 1}\n", PD_EGRAPH,
               "g.dag:1:27: error: a map key must be a string, not an integer (interpolate it: "
               "\"${...}\")\n"
               "param m = {for s in [1] : s => 1}\n"
               "                          ^");
  expect_error("param seeds = 3\nparam l = [for s in seeds : s]\n", PD_EGRAPH,
               "g.dag:2:21: error: a for expression needs a list, not an integer\n"
               "param l = [for s in seeds : s]\n"
               "                    ^");
  expect_error("param l = [for s in [1] : t]\n", PD_EGRAPH,
               "g.dag:1:27: error: unknown name 't'; did you mean 's'?\n"
               "param l = [for s in [1] : t]\n"
               "                          ^");
  expect_error("param l = [for s in [1] : [s, sx]]\n", PD_EGRAPH,
               "g.dag:1:31: error: unknown name 'sx'; did you mean 's'?\n"
               "param l = [for s in [1] : [s, sx]]\n"
               "                              ^");
  /* The variable is gone after the expression. */
  expect_error("param names = [for seed in [1] : seed]\nparam m = seed\n", PD_EGRAPH,
               "g.dag:2:11: error: unknown name 'seed'\n"
               "param m = seed\n"
               "          ^");
  /* --set of a list param: typed like the default. */
  expect_error_ov("param seeds = [1, 2]\n", bad, 1, PD_EUSAGE,
                  "--set seeds=3: 'seeds' is a list (declared at g.dag:1:7), got '3'");
  expect_error_ov("param seeds = [1, 2]\n", junk, 1, PD_EUSAGE,
                  "--set seeds=[1, : 'seeds' is a list (declared at g.dag:1:7), got '[1, '");
}

/* --- diagnostics -------------------------------------------------------- */

static void test_missing_top(void **state)
{
  struct graph g;
  struct pd_err err;
  (void)state;
  pd_err_clear(&err);
  assert_int_equal(graph_load(&g, "x.dag", NULL, 0, &err), -ENOENT);
  assert_string_equal(err.msg, "cannot open 'x.dag': No such file or directory");
  mkdir("d.dag", 0777);
  pd_err_clear(&err);
  assert_int_equal(graph_load(&g, "d.dag", NULL, 0, &err), -EISDIR);
  assert_string_equal(err.msg, "cannot open 'd.dag': Is a directory");
}

static void test_errors_syntax(void **state)
{
  (void)state;
  expect_error("param seed {\n", PD_EPARSE,
               "g.dag:1:12: error: expected '=' after parameter name, found '{'\n"
               "param seed {\n"
               "           ^");
  expect_error("param s = \"abc\nparam t = 1\n", PD_EPARSE,
               "g.dag:1:11: error: unterminated string\n"
               "param s = \"abc\n"
               "          ^");
  expect_error("param s = \"a\\qb\"\n", PD_EPARSE,
               "g.dag:1:13: error: bad escape '\\q' in string (use \\\" \\\\ \\n \\t or \\$)\n"
               "param s = \"a\\qb\"\n"
               "            ^");
  expect_error("task t = exec {\n  command = [\"a\"]\n", PD_EPARSE,
               "g.dag:2:18: error: expected a parameter name or '}' in task body, found end of file\n"
               "  command = [\"a\"]\n"
               "                 ^");
  expect_error("param x = 1 @\n", PD_EPARSE,
               "g.dag:1:13: error: unexpected character '@'\n"
               "param x = 1 @\n"
               "            ^");
  expect_error("tsk a = exec {}\n", PD_EPARSE,
               "g.dag:1:1: error: expected 'include', 'param', 'pool', 'task' or 'for', found "
               "'tsk'; did you mean 'task'?\n"
               "tsk a = exec {}\n"
               "^");
  expect_error("param task = 1\n", PD_EPARSE,
               "g.dag:1:7: error: 'task' is a keyword and cannot name a param\n"
               "param task = 1\n"
               "      ^");
  expect_error("for out in [1] {}\n", PD_EPARSE,
               "g.dag:1:5: error: 'out' is reserved (\"${out}\" is a task's output directory) "
               "and cannot name a loop variable\n"
               "for out in [1] {}\n"
               "    ^");
  expect_error("param l = [1, 2\n", PD_EPARSE,
               "g.dag:1:16: error: expected ']' to close the list opened at 1:11, found end of file\n"
               "param l = [1, 2\n"
               "               ^");
  expect_error("param m = { a 1 }\n", PD_EPARSE,
               "g.dag:1:15: error: expected '=' after map key, found '1'\n"
               "param m = { a 1 }\n"
               "              ^");
  expect_error("param x = }\n", PD_EPARSE,
               "g.dag:1:11: error: expected a value, found '}'\n"
               "param x = }\n"
               "          ^");
  expect_error("task t = exec { command = [fiel(\"x\")] }\n", PD_EPARSE,
               "g.dag:1:28: error: unknown function 'fiel'; did you mean 'file'? "
               "(there are file() and dir())\n"
               "task t = exec { command = [fiel(\"x\")] }\n"
               "                           ^");
  expect_error("for v in [1] {\n  param p = 1\n}\n", PD_EPARSE,
               "g.dag:2:3: error: 'param' is not allowed inside a for loop (only task and for)\n"
               "  param p = 1\n"
               "  ^");
  expect_error("for v [1] {}\n", PD_EPARSE,
               "g.dag:1:7: error: expected 'in' after the loop variable, found '['\n"
               "for v [1] {}\n"
               "      ^");
  expect_error("param x = 12abc\n", PD_EPARSE,
               "g.dag:1:11: error: invalid number '12abc'\n"
               "param x = 12abc\n"
               "          ^");
  expect_error("param x = \"${a.}\"\n", PD_EPARSE,
               "g.dag:1:16: error: expected an output name after 'a.'\n"
               "param x = \"${a.}\"\n"
               "               ^");
  expect_error("task t = exec { command = [a.] }\n", PD_EPARSE,
               "g.dag:1:30: error: expected an output name after 'a.', found ']'\n"
               "task t = exec { command = [a.] }\n"
               "                             ^");
  expect_error("include \"${x}.dag\"\n", PD_EPARSE,
               "g.dag:1:12: error: an include path cannot use ${...}\n"
               "include \"${x}.dag\"\n"
               "           ^");
}

/* The brief's example, caret under a tab-indented line too. */
static void test_errors_kind(void **state)
{
  (void)state;
  expect_error("# 1\n# 2\n# 3\n# 4\n# 5\n# 6\n# 7\n# 8\n# 9\n# 10\n# 11\n"
               "    task subset = exce {\n"
               "    }\n",
               PD_EGRAPH,
               "g.dag:12:19: error: unknown task kind 'exce'; did you mean 'exec'?\n"
               "    task subset = exce {\n"
               "                  ^");
  expect_error("\ttask subset = zzzzzz {\n\t}\n", PD_EGRAPH,
               "g.dag:1:16: error: unknown task kind 'zzzzzz'\n"
               "\ttask subset = zzzzzz {\n"
               "\t              ^");
  expect_error("task a = exec { comand = [\"x\"] }\n", PD_EGRAPH,
               "g.dag:1:17: error: unknown parameter 'comand' for task kind 'exec'; "
               "did you mean 'command'?\n"
               "task a = exec { comand = [\"x\"] }\n"
               "                ^");
  expect_error("task a = exec { command = [\"x\"], treads = 2 }\n", PD_EGRAPH,
               "g.dag:1:34: error: unknown parameter 'treads' for task kind 'exec'; "
               "did you mean 'threads'?\n"
               "task a = exec { command = [\"x\"], treads = 2 }\n"
               "                                 ^");
  expect_error("task a = exec { outputs = [] }\n", PD_EGRAPH,
               "g.dag:1:6: error: task 'a' (exec) is missing required parameter 'command'\n"
               "task a = exec { outputs = [] }\n"
               "     ^");
  expect_error("task a = exec {\n  command = [\"x\"]\n  command = [\"y\"]\n}\n", PD_EGRAPH,
               "g.dag:3:3: error: parameter 'command' is already set at g.dag:2:3\n"
               "  command = [\"y\"]\n"
               "  ^");
  expect_error("task a = exec { command = [\"x\"], threads = \"4\" }\n", PD_EGRAPH,
               "g.dag:1:44: error: parameter 'threads' must be an integer, not a string\n"
               "task a = exec { command = [\"x\"], threads = \"4\" }\n"
               "                                           ^");
  expect_error("task a = exec { command = [\"x\"], shell = 1 }\n", PD_EGRAPH,
               "g.dag:1:42: error: parameter 'shell' must be a bool, not an integer\n"
               "task a = exec { command = [\"x\"], shell = 1 }\n"
               "                                         ^");
  expect_error("task a = exec { command = [\"x\"], pool = \"${out}\" }\n", PD_EGRAPH,
               "g.dag:1:44: error: parameter 'pool' must be a plain string, not ${out}\n"
               "task a = exec { command = [\"x\"], pool = \"${out}\" }\n"
               "                                           ^");
  expect_error("task a = exec { command = [\"x\"], env = [] }\n", PD_EGRAPH,
               "g.dag:1:40: error: parameter 'env' must be a map, not a list\n"
               "task a = exec { command = [\"x\"], env = [] }\n"
               "                                       ^");
  expect_error("task a = exec { command = [\"x\"], threads = 99999 }\n", PD_EGRAPH,
               "g.dag:1:44: error: parameter 'threads' must be in [0, 4096], got 99999\n"
               "task a = exec { command = [\"x\"], threads = 99999 }\n"
               "                                           ^");
  expect_error("task a = exec { command = [\"x\"], retries = -1 }\n", PD_EGRAPH,
               "g.dag:1:44: error: parameter 'retries' must be in [0, 100], got -1\n"
               "task a = exec { command = [\"x\"], retries = -1 }\n"
               "                                           ^");
  expect_error("task a = exec { command = [\"x\"], timeout = -0.5 }\n", PD_EGRAPH,
               "g.dag:1:44: error: parameter 'timeout' must be in [0, 1e+09], got -0.5\n"
               "task a = exec { command = [\"x\"], timeout = -0.5 }\n"
               "                                           ^");
  /* The kind's own check reports through graph_error_at. */
  expect_error("task a = exec { command = \"x\" }\n", PD_EGRAPH,
               "g.dag:1:27: error: command must be a list of arguments (or set shell = true to "
               "run a string), not a string\n"
               "task a = exec { command = \"x\" }\n"
               "                          ^");
  expect_error("task a = exec { command = [\"x\"], outputs = [\"/abs\"] }\n", PD_EGRAPH,
               "g.dag:1:45: error: output path '/abs' must be relative to ${out}\n"
               "task a = exec { command = [\"x\"], outputs = [\"/abs\"] }\n"
               "                                            ^");
}

static void test_errors_refs(void **state)
{
  (void)state;
  expect_error("task subset = exec { command = [\"x\"], outputs = [\"train.txt\"] }\n"
               "task b = exec { command = [\"x\", subst.train] }\n",
               PD_EGRAPH,
               "g.dag:2:33: error: unknown task 'subst'; did you mean 'subset'?\n"
               "task b = exec { command = [\"x\", subst.train] }\n"
               "                                ^");
  expect_error("task subset = exec { command = [\"x\"], outputs = [\"train.txt\"] }\n"
               "task b = exec { command = [\"x\", \"--in=${subset.tran}\"] }\n",
               PD_EGRAPH,
               "g.dag:2:41: error: task 'subset' (exec) has no output 'tran'; did you mean "
               "'train'?\n"
               "task b = exec { command = [\"x\", \"--in=${subset.tran}\"] }\n"
               "                                        ^");
  /* Nested in a map, to a task declared later. */
  expect_error("task b = exec { command = [\"x\"], env = { K = later.zzzzzzzzz } }\n"
               "task later = exec { command = [\"x\"], outputs = [\"o\"] }\n",
               PD_EGRAPH,
               "g.dag:1:46: error: task 'later' (exec) has no output 'zzzzzzzzz'\n"
               "task b = exec { command = [\"x\"], env = { K = later.zzzzzzzzz } }\n"
               "                                             ^");
  expect_error("task a = exec { command = [\"x\"] }\ntask b = exec { command = [a.out] }\n",
               PD_EGRAPH,
               "g.dag:2:28: error: task 'a' (exec) has no outputs\n"
               "task b = exec { command = [a.out] }\n"
               "                           ^");
  expect_error("param p = subset.train\n", PD_EGRAPH,
               "g.dag:1:11: error: a reference (subset.train) cannot be used in a param\n"
               "param p = subset.train\n"
               "          ^");
  expect_error("param p = file(\"x\")\n", PD_EGRAPH,
               "g.dag:1:11: error: file() cannot be used in a param\n"
               "param p = file(\"x\")\n"
               "          ^");
}

static void test_errors_duplicates(void **state)
{
  (void)state;
  expect_error("task a = exec { command = [\"x\"] }\ntask a = exec { command = [\"y\"] }\n",
               PD_EGRAPH,
               "g.dag:2:6: error: task 'a' is already defined at g.dag:1:6\n"
               "task a = exec { command = [\"y\"] }\n"
               "     ^");
  expect_error("for v in [1, 1] {\n  task \"t${v}\" = exec { command = [\"x\"] }\n}\n",
               PD_EGRAPH,
               "g.dag:2:8: error: task 't1' is already defined at g.dag:2:8\n"
               "  task \"t${v}\" = exec { command = [\"x\"] }\n"
               "       ^");
  expect_error("param p = 1\npool q = 2\nparam p = 2\n", PD_EGRAPH,
               "g.dag:3:7: error: param 'p' is already defined at g.dag:1:7\n"
               "param p = 2\n"
               "      ^");
  expect_error("pool api = 1\npool api = 2\n", PD_EGRAPH,
               "g.dag:2:6: error: pool 'api' is already defined at g.dag:1:6\n"
               "pool api = 2\n"
               "     ^");
  expect_error("pool cpu = 4\n", PD_EGRAPH,
               "g.dag:1:6: error: pool 'cpu' is built in; size it with -j/--gpus\n"
               "pool cpu = 4\n"
               "     ^");
  expect_error("pool api = 0\n", PD_EGRAPH,
               "g.dag:1:12: error: pool size must be an integer from 1 to 2147483647, got 0\n"
               "pool api = 0\n"
               "           ^");
  expect_error("pool api = \"8\"\n", PD_EGRAPH,
               "g.dag:1:12: error: pool size must be an integer >= 1, not a string\n"
               "pool api = \"8\"\n"
               "           ^");
  expect_error("task a = exec { command = [\"x\"], env = { A = \"1\", B = \"2\", \"A\" = \"3\" } }\n",
               PD_EGRAPH,
               "g.dag:1:60: error: key 'A' is already defined at g.dag:1:42\n"
               "task a = exec { command = [\"x\"], env = { A = \"1\", B = \"2\", \"A\" = \"3\" } }\n"
               "                                                           ^");
  expect_error("task a = exec { command = [\"x\"], pool = \"apii\" }\npool api = 2\n", PD_EGRAPH,
               "g.dag:1:41: error: unknown pool 'apii' (there are cpu, gpu and the pools the "
               "graph declares); did you mean 'api'?\n"
               "task a = exec { command = [\"x\"], pool = \"apii\" }\n"
               "                                        ^");
}

static void test_errors_cycles(void **state)
{
  (void)state;
  expect_error("task x = exec { command = [\"x\"] }\n"
               "task c = exec { command = [a.o], outputs = [\"o\"] }\n"
               "task a = exec { command = [b.o], outputs = [\"o\"] }\n"
               "task b = exec { command = [c.o], outputs = [\"o\"] }\n",
               PD_ECYCLE,
               "g.dag:2:6: error: dependency cycle: c -> a -> b -> c\n"
               "task c = exec { command = [a.o], outputs = [\"o\"] }\n"
               "     ^");
  expect_error("task a = exec { command = [\"x\"] }\n"
               "task self = exec { command = [\"${self.o}\"], outputs = [\"o\"] }\n",
               PD_ECYCLE,
               "g.dag:2:6: error: dependency cycle: self -> self\n"
               "task self = exec { command = [\"${self.o}\"], outputs = [\"o\"] }\n"
               "     ^");
}

static void test_errors_includes(void **state)
{
  (void)state;
  expect_error("param p = 1\ninclude \"nope.dag\"\n", PD_EGRAPH,
               "g.dag:2:9: error: cannot open include 'nope.dag': No such file or directory\n"
               "include \"nope.dag\"\n"
               "        ^");
  write_file("a.dag", "include \"b.dag\"\n");
  write_file("b.dag", "# b\ninclude \"a.dag\"\n");
  expect_error("include \"a.dag\"\n", PD_EGRAPH,
               "b.dag:2:1: error: include cycle: a.dag -> b.dag -> a.dag\n"
               "include \"a.dag\"\n"
               "^");
  expect_error("include \"g.dag\"\n", PD_EGRAPH,
               "g.dag:1:1: error: include cycle: g.dag -> g.dag\n"
               "include \"g.dag\"\n"
               "^");
  /* Errors inside an included file name it by the includer's folder. */
  write_file("lib/x.dag", "\n  param bad = [\n");
  expect_error("include \"lib/x.dag\"\n", PD_EPARSE,
               "lib/x.dag:2:16: error: expected ']' to close the list opened at 2:15, found end of file\n"
               "  param bad = [\n"
               "               ^");
}

static void test_errors_names(void **state)
{
  char msg[PATH_MAX * 2];
  (void)state;
  expect_error("param seed = 1\nparam b = sed\n", PD_EGRAPH,
               "g.dag:2:11: error: unknown name 'sed'; did you mean 'seed'?\n"
               "param b = sed\n"
               "          ^");
  /* Only earlier params are visible to a param. */
  expect_error("param a = \"${later}\"\nparam later = 1\n", PD_EGRAPH,
               "g.dag:1:14: error: unknown name 'later'\n"
               "param a = \"${later}\"\n"
               "             ^");
  expect_error("for variant in [1] {\n  task t = exec { command = [varaint] }\n}\n", PD_EGRAPH,
               "g.dag:2:30: error: unknown name 'varaint'; did you mean 'variant'?\n"
               "  task t = exec { command = [varaint] }\n"
               "                             ^");
  expect_error("param p = \"${out}/x\"\n", PD_EGRAPH,
               "g.dag:1:14: error: '${out}' (the task's output directory) is only valid inside "
               "a task body\n"
               "param p = \"${out}/x\"\n"
               "             ^");
  expect_error("for v in [\"${out}\"] {}\n", PD_EGRAPH,
               "g.dag:1:14: error: '${out}' (the task's output directory) is only valid inside "
               "a task body\n"
               "for v in [\"${out}\"] {}\n"
               "             ^");
  expect_error("param l = [1]\nparam s = \"x${l}\"\n", PD_EGRAPH,
               "g.dag:2:15: error: cannot put a list ('l') into a string\n"
               "param s = \"x${l}\"\n"
               "              ^");
  expect_error("for v in 3 {}\n", PD_EGRAPH,
               "g.dag:1:10: error: a for loop needs a list, not an integer\n"
               "for v in 3 {}\n"
               "         ^");
  expect_error("for v in [\"a-b\"] {\n  task \"t_${v}\" = exec { command = [\"x\"] }\n}\n",
               PD_EGRAPH,
               "g.dag:2:8: error: task name \"t_a-b\" is not an identifier\n"
               "  task \"t_${v}\" = exec { command = [\"x\"] }\n"
               "       ^");
  snprintf(msg, sizeof msg,
           "g.dag:1:28: error: file 'nope.py' does not exist (looked for '%s/nope.py')\n"
           "task t = exec { command = [file(\"nope.py\")] }\n"
           "                           ^", scratch);
  expect_error("task t = exec { command = [file(\"nope.py\")] }\n", PD_EGRAPH, msg);
  mkdir("adir", 0777);
  expect_error("task t = exec { command = [file(\"adir\")] }\n", PD_EGRAPH,
               "g.dag:1:28: error: 'adir' is not a regular file; use dir() for a directory\n"
               "task t = exec { command = [file(\"adir\")] }\n"
               "                           ^");
  write_file("afile", "");
  expect_error("task t = exec { command = [dir(\"afile\")] }\n", PD_EGRAPH,
               "g.dag:1:28: error: 'afile' is not a directory; use file() for a file\n"
               "task t = exec { command = [dir(\"afile\")] }\n"
               "                           ^");
  expect_error("task t = exec { command = [file([\"x\"])] }\n", PD_EGRAPH,
               "g.dag:1:33: error: file() takes a path (a non-empty string), not a list\n"
               "task t = exec { command = [file([\"x\"])] }\n"
               "                                ^");
}

/* graph_error_at for any srcloc; long lines are windowed around the column. */
static void test_error_at(void **state)
{
  struct graph g;
  struct pd_err err;
  struct srcloc loc;
  char *line, *want;
  (void)state;
  load_ok(&g, "task a = exec { command = [\"x\"] }\n");
  pd_err_clear(&err);
  loc = g.tasks[0].loc;
  assert_int_equal(graph_error_at(&err, 0, &loc, "bad %s", "thing"), PD_EGRAPH);
  assert_string_equal(err.msg, "g.dag:1:6: error: bad thing\n"
                               "task a = exec { command = [\"x\"] }\n"
                               "     ^");
  /* First error wins. */
  assert_int_equal(graph_error_at(&err, PD_ECYCLE, &loc, "second"), PD_ECYCLE);
  assert_int_equal(err.code, PD_EGRAPH);
  graph_release(&g);
  /* Unknown file, or none: no source line. */
  pd_err_clear(&err);
  loc.file = "other.dag";
  graph_error_at(&err, PD_EGRAPH, &loc, "x");
  assert_string_equal(err.msg, "other.dag:1:6: error: x");
  pd_err_clear(&err);
  loc.file = NULL;
  graph_error_at(&err, PD_EGRAPH, &loc, "y");
  assert_string_equal(err.msg, "error: y");
  assert_int_equal(graph_error_at(NULL, PD_EGRAPH, &loc, "z"), PD_EGRAPH);

  /* '}' at column 311 of a long line: 80 bytes before it are shown. */
  line = malloc(1000);
  memset(line, ' ', 300);
  strcpy(line + 300, "param x = }\n");
  want = malloc(2000);
  snprintf(want, 2000, "g.dag:1:311: error: expected a value, found '}'\n...%.80s\n   %79s^",
           line + 231, "");
  expect_error(line, PD_EPARSE, want);
  /* ... and 160 in all, with "..." where the line goes on. */
  memset(line + 311, 'y', 200);
  strcpy(line + 511, "\n");
  snprintf(want, 2000, "g.dag:1:311: error: expected a value, found '}'\n...%.160s...\n   %79s^",
           line + 231, "");
  expect_error(line, PD_EPARSE, want);
  free(line);
  free(want);
}

/* --- internals ---------------------------------------------------------- */

static void test_closest_name(void **state)
{
  const char *c[] = { "command", "outputs", "env", "threads", "retries", "pool" };
  (void)state;
  assert_string_equal(closest_name("comand", c, 6), "command");
  assert_string_equal(closest_name("COMMAND", c, 6), "command");
  assert_string_equal(closest_name("treads", c, 6), "threads");
  assert_string_equal(closest_name("ouptuts", c, 6), "outputs"); /* transposition */
  assert_string_equal(closest_name("pol", c, 6), "pool");
  assert_null(closest_name("zzzzzzzz", c, 6));
  assert_null(closest_name("x", c, 0));
  {
    const char *t[] = { "ab", "ba" };
    assert_string_equal(closest_name("aa", t, 2), "ab"); /* ties: first */
  }
  {
    /* Longer names allow more edits: 12 / 3 = 4. */
    const char *t[] = { "abcdefghijkl" };
    assert_string_equal(closest_name("abcdefghWXYZ", t, 1), "abcdefghijkl");
    assert_null(closest_name("abcdefgVWXYZ", t, 1));
  }
}

static void test_check_value(void **state)
{
  const struct kind_param mode = { "mode", PT_STRING, "\"fast\"", 0, -1, "fast|slow|exact", 0, "" };
  const struct kind_param lr = { "lr", PT_FLOAT, "0.1", 0, 1, NULL, 0, "" };
  const struct kind_param art = { "data", PT_ARTIFACT, NULL, 0, -1, NULL, 0, "" };
  const struct kind_param any = { "x", PT_ANY, NULL, 0, -1, NULL, 0, "" };
  const struct kind_param lst = { "l", PT_LIST, NULL, 0, -1, NULL, 0, "" };
  struct srcloc loc = { NULL, 1, 1 };
  struct pd_err err;
  struct val v;
  (void)state;

  assert_int_equal(parse_literal("\"slow\"", &loc, &v, NULL), 0);
  assert_int_equal(graph__check_value(&mode, &v, NULL), 0);
  val_release(&v);
  assert_int_equal(parse_literal("\"slwo\"", &loc, &v, NULL), 0);
  pd_err_clear(&err);
  assert_int_equal(graph__check_value(&mode, &v, &err), PD_EGRAPH);
  assert_string_equal(err.msg, "error: parameter 'mode' must be one of 'fast', 'slow', 'exact', "
                               "got 'slwo'; did you mean 'slow'?");
  val_release(&v);

  assert_int_equal(parse_literal("1", &loc, &v, NULL), 0);
  assert_int_equal(graph__check_value(&lr, &v, NULL), 0);
  assert_int_equal(v.kind, V_FLOAT);
  assert_true(v.u.f == 1.0);
  val_release(&v);
  assert_int_equal(parse_literal("1.5", &loc, &v, NULL), 0);
  pd_err_clear(&err);
  assert_int_equal(graph__check_value(&lr, &v, &err), PD_EGRAPH);
  assert_string_equal(err.msg, "error: parameter 'lr' must be in [0, 1], got 1.5");
  val_release(&v);

  assert_int_equal(parse_literal("\"x\"", &loc, &v, NULL), 0);
  pd_err_clear(&err);
  assert_int_equal(graph__check_value(&art, &v, &err), PD_EGRAPH);
  assert_string_equal(err.msg, "error: parameter 'data' must be a reference (task.output), "
                               "file() or dir(), not a string");
  assert_int_equal(graph__check_value(&any, &v, NULL), 0);
  pd_err_clear(&err);
  assert_int_equal(graph__check_value(&lst, &v, &err), PD_EGRAPH);
  assert_string_equal(err.msg, "error: parameter 'l' must be a list, not a string");
  val_release(&v);
  memset(&v, 0, sizeof v);
  v.kind = V_REF;
  assert_int_equal(graph__check_value(&art, &v, NULL), 0);
  v.kind = V_DIR;
  assert_int_equal(graph__check_value(&art, &v, NULL), 0);
}

/* --- scale -------------------------------------------------------------- */

/* 10,000 tasks (~1 MB), each reading two earlier ones. Load time is
 * measured in bench/, not asserted here. */
static void test_10k_tasks(void **state)
{
  struct graph g;
  struct pd_err err;
  struct strbuf sb;
  int i;
  (void)state;
  strbuf_init(&sb, 1 << 20);
  strbuf_addstr(&sb, "param seed = 1\npool api = 4\n");
  for (i = 0; i < 10000; i++) {
    strbuf_addf(&sb, "task t%05d = exec {\n command = [\"s\", \"-s${seed}\"", i);
    if (i > 0)
      strbuf_addf(&sb, ", t%05d.o", i - 1);
    if (i > 1)
      strbuf_addf(&sb, ", \"-a=${t%05d.o}\"", i / 2);
    strbuf_addstr(&sb, ", \"${out}/o\"]\n outputs = { o = \"o\" }\n pool = \"api\"\n}\n");
  }
  write_file("big.dag", sb.buf);
  if (graph_load(&g, "big.dag", NULL, 0, &err) != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(g.ntasks, 10000);
  assert_int_equal(g.topo[0], 0);
  assert_int_equal(g.topo[9999], 9999);
  assert_int_equal(g.tasks[9999].ndeps, 2);
  assert_int_equal(graph_find_task(&g, "t09999"), 9999);
  graph_release(&g);
  /* A 10,000-long cycle is reported, shortened. */
  strbuf_reset(&sb);
  for (i = 0; i < 10000; i++)
    strbuf_addf(&sb, "task t%05d = exec { command = [t%05d.o], outputs = [\"o\"] }\n", i,
                (i + 1) % 10000);
  write_file("big.dag", sb.buf);
  pd_err_clear(&err);
  assert_int_equal(graph_load(&g, "big.dag", NULL, 0, &err), PD_ECYCLE);
  assert_string_equal(err.msg,
                      "big.dag:1:6: error: dependency cycle: t00000 -> t00001 -> t00002 -> "
                      "t00003 -> t00004 -> t00005 -> t00006 -> t00007 -> t00008 -> t00009 -> "
                      "... (9989 more) -> t09999 -> t00000\n"
                      "task t00000 = exec { command = [t00001.o], outputs = [\"o\"] }\n"
                      "     ^");
  strbuf_release(&sb);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_example, setup, teardown),
    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
    cmocka_unit_test_setup_teardown(test_any_order, setup, teardown),
    cmocka_unit_test_setup_teardown(test_values, setup, teardown),
    cmocka_unit_test_setup_teardown(test_interpolation, setup, teardown),
    cmocka_unit_test_setup_teardown(test_for, setup, teardown),
    cmocka_unit_test_setup_teardown(test_includes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_file_dir, setup, teardown),
    cmocka_unit_test_setup_teardown(test_set, setup, teardown),
    cmocka_unit_test_setup_teardown(test_set_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_edges_topo, setup, teardown),
    cmocka_unit_test_setup_teardown(test_source_round_trip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_cref, setup, teardown),
    cmocka_unit_test_setup_teardown(test_for_exprs, setup, teardown),
    cmocka_unit_test_setup_teardown(test_missing_top, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors_syntax, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors_kind, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors_refs, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors_duplicates, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors_cycles, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors_includes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors_names, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors_cref_for, setup, teardown),
    cmocka_unit_test_setup_teardown(test_error_at, setup, teardown),
    cmocka_unit_test(test_closest_name),
    cmocka_unit_test(test_check_value),
    cmocka_unit_test_setup_teardown(test_10k_tasks, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
