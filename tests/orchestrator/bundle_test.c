/* bundle_test.c - tests orchestrator/bundle.c: MANIFEST parsing (every
 * refusal names its line), action records as JSON, and export/import
 * round trips through real caches: a file blob, an inline log, a tree
 * with a large file below it; corrupted, incomplete and missing bundles.
 * The audit of an imported run (audit.c) closes the loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "bundle.h"
#include "cache.h"
#include "err.h"
#include "strbuf.h"

#define RUN_ID "20260101-000000000-abcdef"

struct fix {
  char *dir;
  struct cache *c;              /* dir/a: the exporting cache */
  struct cache *c2;             /* dir/b: the importing cache */
  uint8_t key[PD_DIGEST_LEN];
  char key_hex[PD_DIGEST_HEX];
  uint8_t big[PD_DIGEST_LEN], log[PD_DIGEST_LEN];
  struct artifact tree;
};

static void put_file(const char *path, size_t n, char fill)
{
  char *buf = malloc(n);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  memset(buf, fill, n);
  assert_int_equal(write(fd, buf, n), (ssize_t)n);
  close(fd);
  free(buf);
}

static char *slurp(const char *path, size_t *n)
{
  struct stat st;
  char *buf;
  int fd = open(path, O_RDONLY);
  assert_true(fd >= 0 && fstat(fd, &st) == 0);
  buf = calloc(1, (size_t)st.st_size + 1);
  assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
  close(fd);
  *n = (size_t)st.st_size;
  return buf;
}

/* One executed task "make" with a large file output, a tree output (a small
 * file and a large one below a subfolder) and an inline log. */
static void make_run(struct fix *f)
{
  static const char pre[] = "{\"v\":1,\"salt\":\"povid-dag\",\"kind\":\"write\",\"version\":1,"
                            "\"params\":{\"content\":\"x\",\"repeat\":1,\"seed\":5},"
                            "\"inputs\":{},\"sources\":{}}";
  struct pd_err err = { 0 };
  struct action_result r;
  struct artifact outs[2];
  char *buf = malloc(20000), *tdir, *p, hb[PD_DIGEST_HEX], ht[PD_DIGEST_HEX], hl[PD_DIGEST_HEX];
  char *json;

  memset(buf, 'b', 20000);
  assert_int_equal(cache_put_buf(f->c, buf, 20000, f->big, &err), 0);
  free(buf);
  assert_int_equal(cache_put_buf(f->c, "hello log\n", 10, f->log, &err), 0);
  tdir = xasprintf("%s/out", f->dir);
  p = xasprintf("%s/sub", tdir);
  assert_int_equal(mkdir(tdir, 0777), 0);
  assert_int_equal(mkdir(p, 0777), 0);
  free(p);
  p = xasprintf("%s/x", tdir);
  put_file(p, 5, 'x');
  free(p);
  p = xasprintf("%s/sub/y", tdir);
  put_file(p, 30000, 'y');
  free(p);
  assert_int_equal(cache_ingest(f->c, tdir, &f->tree, &err), 0);
  cache_rmtree(tdir);
  free(tdir);

  digest_buf(pre, strlen(pre), f->key);
  digest_hex(f->key, f->key_hex);
  memset(&r, 0, sizeof r);
  memset(outs, 0, sizeof outs);
  outs[0].name = "big";
  memcpy(outs[0].digest, f->big, PD_DIGEST_LEN);
  outs[0].size = 20000;
  outs[1] = f->tree;
  outs[1].name = "t";
  r.outs = outs;
  r.nouts = 2;
  r.has_log = 1;
  memcpy(r.log, f->log, PD_DIGEST_LEN);
  r.start = 1700000000.5;
  r.duration = 1.25;
  r.task = "make";
  assert_int_equal(cache_action_put(f->c, f->key, pre, &r, &err), 0);

  digest_hex(f->big, hb);
  digest_hex(f->tree.digest, ht);
  digest_hex(f->log, hl);
  json = xasprintf("{\"id\":\"" RUN_ID "\",\"graph\":\"/nonexistent/g.dag\",\"graph_digest\":"
                   "\"%064d\",\"started\":1700000000,\"status\":\"ok\",\"params\":{\"seed\":5},"
                   "\"overrides\":{},\"env\":{\"tool\":\"povid-dag test\"},\"tasks\":["
                   "{\"name\":\"make\",\"kind\":\"write\",\"version\":1,\"state\":\"executed\","
                   "\"key\":\"%s\",\"outputs\":{\"big\":{\"digest\":\"%s\",\"size\":20000,"
                   "\"tree\":false},\"t\":{\"digest\":\"%s\",\"size\":%llu,\"tree\":true}},"
                   "\"log\":\"%s\"}]}", 0, f->key_hex, hb, ht,
                   (unsigned long long)f->tree.size, hl);
  assert_int_equal(cache_run_put(f->c, RUN_ID, json, &err), 0);
  free(json);
}

static int setup(void **state)
{
  struct fix *f = calloc(1, sizeof *f);
  struct pd_err err = { 0 };
  const char *base = getenv("PD_TEST_TMP");
  char *p;
  if (!base || !*base)
    base = "/tmp";
  mkdir(base, 0777);
  f->dir = xasprintf("%s/bundle_test.XXXXXX", base);
  if (!mkdtemp(f->dir))
    return -1;
  p = xasprintf("%s/a", f->dir);
  if (cache_open(&f->c, p, &err) < 0)
    return -1;
  free(p);
  p = xasprintf("%s/b", f->dir);
  if (cache_open(&f->c2, p, &err) < 0)
    return -1;
  free(p);
  make_run(f);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fix *f = *state;
  cache_close(f->c);
  cache_close(f->c2);
  cache_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

/* --- MANIFEST ------------------------------------------------------------------- */

static char *manifest_text(void)
{
  struct bundle_manifest m;
  struct strbuf sb;
  memset(&m, 0, sizeof m);
  m.run_id = "r1";
  memset(m.run_digest, 1, PD_DIGEST_LEN);
  m.nactions = 1;
  m.actions = calloc(1, sizeof *m.actions);
  memset(m.actions[0].key, 2, PD_DIGEST_LEN);
  memset(m.actions[0].json_digest, 3, PD_DIGEST_LEN);
  m.nblobs = 2;
  m.blobs = calloc(2, sizeof *m.blobs);
  memset(m.blobs[0].digest, 4, PD_DIGEST_LEN);
  m.blobs[0].size = 12;
  memset(m.blobs[1].digest, 5, PD_DIGEST_LEN);
  m.blobs[1].size = 0;
  m.blobs[1].is_tree = 1;
  strbuf_init(&sb, 256);
  bundle_manifest_write(&m, &sb);
  free(m.actions);
  free(m.blobs);
  return strbuf_detach(&sb, NULL);
}

static void test_manifest_roundtrip(void **state)
{
  struct bundle_manifest m;
  struct pd_err err = { 0 };
  char *text = manifest_text();
  (void)state;
  assert_int_equal(bundle_manifest_parse(text, strlen(text), &m, &err), 0);
  assert_string_equal(m.run_id, "r1");
  assert_int_equal(m.nactions, 1);
  assert_int_equal(m.actions[0].key[0], 2);
  assert_int_equal(m.actions[0].json_digest[31], 3);
  assert_int_equal(m.nblobs, 2);
  assert_int_equal(m.blobs[0].size, 12);
  assert_false(m.blobs[0].is_tree);
  assert_true(m.blobs[1].is_tree);
  assert_non_null(strstr(text, "blob 0505"));
  bundle_manifest_release(&m);
  free(text);
}

/* Parses text with one change: expects an error containing want. */
static void expect_refused(const char *text, const char *want)
{
  struct bundle_manifest m;
  struct pd_err err = { 0 };
  assert_int_equal(bundle_manifest_parse(text, strlen(text), &m, &err), PD_ECORRUPT);
  if (!strstr(err.msg, want))
    fail_msg("expected '%s' in '%s'", want, err.msg);
  assert_null(m.run_id);
}

/* Replaces line `line` (1-based) of text by repl and fixes the end line. */
static char *with_line(const char *text, int line, const char *repl, int fix_sum)
{
  struct strbuf sb;
  const char *p = text;
  int n = 1;
  strbuf_init(&sb, 512);
  while (*p) {
    const char *nl = strchr(p, '\n');
    if (strncmp(p, "end ", 4) == 0 && fix_sum) {
      uint8_t d[PD_DIGEST_LEN];
      char hex[PD_DIGEST_HEX];
      digest_buf(sb.buf, sb.len, d);
      digest_hex(d, hex);
      strbuf_addf(&sb, "end %s\n", hex);
    } else if (n == line) {
      strbuf_addf(&sb, "%s\n", repl);
    } else {
      strbuf_add(&sb, p, (size_t)(nl - p) + 1);
    }
    p = nl + 1;
    n++;
  }
  return strbuf_detach(&sb, NULL);
}

static void test_manifest_refusals(void **state)
{
  char *text = manifest_text(), *t;
  size_t n = strlen(text);
  (void)state;
  t = with_line(text, 1, "povid-bundle 2", 1);
  expect_refused(t, "MANIFEST:1: not a povid-dag bundle");
  free(t);
  t = with_line(text, 3, "acton 0202 0303", 1);
  expect_refused(t, "MANIFEST:3: unknown entry 'acton'");
  free(t);
  t = with_line(text, 4, "blob 0404 12 file", 1);
  expect_refused(t, "MANIFEST:4: malformed blob line");
  free(t);
  t = with_line(text, 4, "blob 0404040404040404040404040404040404040404040404040404040404040404 "
                "-1 file", 1);
  expect_refused(t, "MANIFEST:4: malformed blob line");
  free(t);
  t = with_line(text, 5, "blob 0404040404040404040404040404040404040404040404040404040404040404 "
                "3 file", 1);
  expect_refused(t, "MANIFEST:5: blob 0404040404040404040404040404040404040404040404040404040404040404 listed twice");
  free(t);
  t = with_line(text, 2, "run r2 0101010101010101010101010101010101010101010101010101010101010101", 0);
  expect_refused(t, "MANIFEST:6: checksum mismatch");
  free(t);
  t = with_line(text, 2, "", 1);
  expect_refused(t, "MANIFEST:2: empty line");
  free(t);
  t = xstrndup(text, n - 10);
  expect_refused(t, "the last line is cut off");
  free(t);
  t = xstrndup(text, (size_t)(strstr(text, "end ") - text));
  expect_refused(t, "no end line");
  free(t);
  t = xasprintf("%sextra\n", text);
  expect_refused(t, "MANIFEST:7: text after the end line");
  free(t);
  expect_refused("", "MANIFEST is empty");
  free(text);
}

/* --- action JSON ------------------------------------------------------------------ */

static void test_action_json_roundtrip(void **state)
{
  struct action_result r, back;
  struct artifact outs[1];
  struct pd_err err = { 0 };
  char *json;
  (void)state;
  memset(&r, 0, sizeof r);
  memset(outs, 0, sizeof outs);
  outs[0].name = "model";
  memset(outs[0].digest, 0xab, PD_DIGEST_LEN);
  outs[0].size = 123456789012ULL;
  outs[0].is_tree = 1;
  r.outs = outs;
  r.nouts = 1;
  r.exit_status = 3;
  r.start = 1700000000.123;
  r.duration = 0.5;
  r.task = "train";
  json = bundle_action_json(&r);
  assert_int_equal(bundle_action_parse(json, &back, &err), 0);
  assert_string_equal(back.task, "train");
  assert_int_equal(back.exit_status, 3);
  assert_true(back.start == r.start && back.duration == r.duration);
  assert_false(back.has_log);
  assert_int_equal(back.nouts, 1);
  assert_string_equal(back.outs[0].name, "model");
  assert_true(back.outs[0].size == 123456789012ULL && back.outs[0].is_tree);
  assert_memory_equal(back.outs[0].digest, outs[0].digest, PD_DIGEST_LEN);
  action_result_release(&back);
  free(json);
  assert_int_equal(bundle_action_parse("{\"outputs\":[{\"digest\":\"zz\",\"size\":1}]}", &back,
                                       &err), PD_ECORRUPT);
  assert_non_null(strstr(err.msg, "output 1 is malformed"));
  pd_err_clear(&err);
  assert_int_equal(bundle_action_parse("[1]", &back, &err), PD_ECORRUPT);
}

/* --- export and import ------------------------------------------------------------ */

static char *bundle_dir(struct fix *f, const char *name)
{
  return xasprintf("%s/%s", f->dir, name);
}

static void test_roundtrip(void **state)
{
  struct fix *f = *state;
  struct bundle_stats st;
  struct pd_err err = { 0 };
  struct audit_opts ao;
  struct action_result r;
  char *dir = bundle_dir(f, "bundle"), *id = NULL, *a = NULL, *b = NULL, *pre = NULL, *path;
  cJSON *report = NULL;
  size_t n;

  assert_int_equal(bundle_export(f->c, RUN_ID, dir, &st, &err), 0);
  assert_int_equal(st.actions, 1);
  assert_int_equal(st.blobs, 6); /* big, log, the tree, x, sub/, sub/y */
  path = xasprintf("%s/actions/%s.preimage", dir, f->key_hex);
  free(slurp(path, &n));
  free(path);

  assert_int_equal(bundle_import(f->c2, dir, &id, &st, &err), 0);
  assert_string_equal(id, RUN_ID);
  assert_int_equal(st.actions_present, 0);
  assert_int_equal(cache_run_get(f->c, RUN_ID, &a, &err), 1);
  assert_int_equal(cache_run_get(f->c2, RUN_ID, &b, &err), 1);
  assert_string_equal(a, b);
  assert_int_equal(cache_preimage_get(f->c2, f->key, &pre, &err), 1);
  assert_int_equal(cache_action_get(f->c2, f->key, &r, &err), 1); /* every blob present */
  assert_int_equal(r.nouts, 2);
  assert_memory_equal(r.outs[1].digest, f->tree.digest, PD_DIGEST_LEN);
  action_result_release(&r);

  /* The imported run audits clean. */
  memset(&ao, 0, sizeof ao);
  ao.run_id = RUN_ID;
  assert_int_equal(audit_run(f->c2, &ao, &report, &err), 0);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(report, "ok")));
  cJSON_Delete(report);

  /* A second import finds everything there. */
  free(id);
  assert_int_equal(bundle_import(f->c2, dir, &id, &st, &err), 0);
  assert_int_equal(st.actions_present, 1);
  assert_true(st.run_present);

  /* Exporting into a non-empty directory is refused. */
  assert_int_equal(bundle_export(f->c, RUN_ID, dir, &st, &err), PD_EUSAGE);
  assert_non_null(strstr(err.msg, "is not empty"));
  pd_err_clear(&err);
  assert_int_equal(bundle_export(f->c, "nope", dir, &st, &err), PD_ENOTFOUND);
  assert_non_null(strstr(err.msg, "no run 'nope'"));
  free(id);
  free(a);
  free(b);
  free(pre);
  free(dir);
}

static void flip_byte(const char *path, off_t at)
{
  int fd;
  char c;
  chmod(path, 0644);
  fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  assert_int_equal(pread(fd, &c, 1, at), 1);
  c ^= 1;
  assert_int_equal(pwrite(fd, &c, 1, at), 1);
  close(fd);
}

static void test_refused_imports(void **state)
{
  struct fix *f = *state;
  struct bundle_stats st;
  struct pd_err err = { 0 };
  char *dir = bundle_dir(f, "bundle"), *id = NULL, *path, hex[PD_DIGEST_HEX], *json = NULL;

  assert_int_equal(bundle_export(f->c, RUN_ID, dir, &st, &err), 0);
  /* A corrupted large blob: refused, naming it; no run recorded. */
  digest_hex(f->big, hex);
  path = xasprintf("%s/blobs/%s", dir, hex);
  flip_byte(path, 100);
  assert_int_equal(bundle_import(f->c2, dir, &id, &st, &err), PD_ECORRUPT);
  assert_non_null(strstr(err.msg, hex));
  assert_non_null(strstr(err.msg, "is corrupted"));
  assert_null(id);
  assert_int_equal(cache_run_get(f->c2, RUN_ID, &json, &err), 0);
  flip_byte(path, 100);
  /* A missing blob file. */
  pd_err_clear(&err);
  assert_int_equal(unlink(path), 0);
  assert_true(bundle_import(f->c2, dir, &id, &st, &err) < 0);
  assert_non_null(strstr(err.msg, hex));
  free(path);
  /* A damaged preimage. */
  pd_err_clear(&err);
  path = xasprintf("%s/actions/%s.preimage", dir, f->key_hex);
  flip_byte(path, 3);
  assert_int_equal(bundle_import(f->c2, dir, &id, &st, &err), PD_ECORRUPT);
  assert_non_null(strstr(err.msg, "does not hash to its key"));
  free(path);
  /* No bundle at all. */
  pd_err_clear(&err);
  path = bundle_dir(f, "missing");
  assert_true(bundle_import(f->c2, path, &id, &st, &err) < 0);
  assert_non_null(strstr(err.msg, "cannot read bundle"));
  assert_non_null(strstr(err.msg, "missing"));
  free(path);
  free(dir);
}

static void test_export_refuses_damage(void **state)
{
  struct fix *f = *state;
  struct bundle_stats st;
  struct pd_err err = { 0 };
  struct audit_opts ao;
  char *dir = bundle_dir(f, "bundle"), *cas = NULL, hex[PD_DIGEST_HEX];
  cJSON *report = NULL, *tasks, *probs;
  struct artifact a;

  /* A file below the tree is damaged in the cache. */
  memset(&a, 0, sizeof a);
  digest_buf("", 0, a.digest); /* find sub/y's cas file by its content */
  {
    char *buf = malloc(30000);
    memset(buf, 'y', 30000);
    digest_buf(buf, 30000, a.digest);
    free(buf);
  }
  digest_hex(a.digest, hex);
  cas = xasprintf("%s/a/cas/%.2s/%s", f->dir, hex, hex);
  flip_byte(cas, 7);
  assert_int_equal(bundle_export(f->c, RUN_ID, dir, &st, &err), PD_ECORRUPT);
  assert_non_null(strstr(err.msg, "output 't' ('sub/y') of task 'make'"));

  memset(&ao, 0, sizeof ao);
  ao.run_id = RUN_ID;
  assert_int_equal(audit_run(f->c, &ao, &report, &err), 0);
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(report, "ok")));
  tasks = cJSON_GetObjectItem(report, "tasks");
  probs = cJSON_GetObjectItem(cJSON_GetArrayItem(tasks, 0), "problems");
  assert_int_equal(cJSON_GetArraySize(probs), 1);
  assert_non_null(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(probs, 0), "message")->valuestring,
                         "output 't', file 'sub/y'"));
  cJSON_Delete(report);
  flip_byte(cas, 7);
  free(cas);
  free(dir);
}

static void test_audit_untraceable(void **state)
{
  struct fix *f = *state;
  struct pd_err err = { 0 };
  struct audit_opts ao;
  const char *tasks[] = { "nope" };
  char hex[PD_DIGEST_HEX], *json;
  cJSON *report = NULL, *probs;
  int i;

  /* A run naming an action whose records are not in the cache. */
  digest_hex(f->big, hex);
  json = xasprintf("{\"id\":\"r2\",\"graph\":\"/x.dag\",\"status\":\"ok\",\"tasks\":[{\"name\":"
                   "\"t\",\"kind\":\"exec\",\"version\":1,\"state\":\"cached\",\"key\":\"%064d\","
                   "\"outputs\":{\"o\":{\"digest\":\"%s\",\"size\":20000,\"tree\":false}}}]}", 7,
                   hex);
  assert_int_equal(cache_run_put(f->c, "r2", json, &err), 0);
  free(json);
  memset(&ao, 0, sizeof ao);
  ao.run_id = "r2";
  assert_int_equal(audit_run(f->c, &ao, &report, &err), 0);
  assert_false(cJSON_IsTrue(cJSON_GetObjectItem(report, "ok")));
  probs = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(report, "tasks"), 0),
                              "problems");
  assert_int_equal(cJSON_GetArraySize(probs), 2);
  for (i = 0; i < 2; i++)
    assert_non_null(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(probs, i), "message")
                               ->valuestring, i == 0 ? "key preimage missing" :
                                              "action record missing"));
  cJSON_Delete(report);

  ao.tasks = tasks;
  ao.ntasks = 1;
  assert_int_equal(audit_run(f->c, &ao, &report, &err), PD_EUSAGE);
  assert_non_null(strstr(err.msg, "no task 'nope' in run 'r2'"));
  assert_null(report);
  pd_err_clear(&err);
  ao.run_id = "r3";
  assert_int_equal(audit_run(f->c, &ao, &report, &err), PD_ENOTFOUND);
}

static void test_changed_params(void **state)
{
  cJSON *p = cJSON_Parse("{\"content\":\"x\",\"repeat\":1,\"seed\":3,\"threads\":1}");
  cJSON *c = audit_changed_params("write", p), *s = audit_seeds(p);
  (void)state;
  assert_non_null(cJSON_GetObjectItem(c, "content")); /* required: no default */
  assert_null(cJSON_GetObjectItem(c, "repeat"));      /* the default */
  assert_non_null(cJSON_GetObjectItem(c, "seed"));    /* unknown to the kind */
  assert_null(cJSON_GetObjectItem(c, "threads"));     /* common, default 1 */
  assert_int_equal(cJSON_GetArraySize(s), 1);
  cJSON_Delete(c);
  c = audit_changed_params("no-such-kind", p);
  assert_int_equal(cJSON_GetArraySize(c), 4);
  cJSON_Delete(c);
  cJSON_Delete(s);
  cJSON_Delete(p);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_manifest_roundtrip),
    cmocka_unit_test(test_manifest_refusals),
    cmocka_unit_test(test_action_json_roundtrip),
    cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_refused_imports, setup, teardown),
    cmocka_unit_test_setup_teardown(test_export_refuses_damage, setup, teardown),
    cmocka_unit_test_setup_teardown(test_audit_untraceable, setup, teardown),
    cmocka_unit_test(test_changed_params),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
