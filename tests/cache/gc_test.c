/* gc_test.c - tests of cache/gc.c: what the newest runs and pinned runs
 * need stays, everything else goes; the size cap never touches pinned runs. */
#include "cache_test_util.h"

struct run {
  const char *id;
  uint8_t key[PD_DIGEST_LEN];
  uint8_t big[PD_DIGEST_LEN], small[PD_DIGEST_LEN], log[PD_DIGEST_LEN];
};

static void hexs(const uint8_t d[PD_DIGEST_LEN], char out[PD_DIGEST_HEX])
{
  digest_hex(d, out);
}

/* One run of one action with a unique large output, a unique small one, a
 * log, and (when shared is set) a second large output shared with others. */
static void make_run(struct fix *f, struct run *r, const char *id, unsigned seed,
                     const struct artifact *shared)
{
  struct artifact outs[3] = { { .name = "big" }, { .name = "small" } };
  struct action_result res = { .outs = outs, .nouts = 2, .task = "t", .has_log = 1 };
  char *big = rand_bytes(60000, seed), small[32], log[32];
  char k[PD_DIGEST_HEX], b[PD_DIGEST_HEX], s[PD_DIGEST_HEX], l[PD_DIGEST_HEX];
  char sh[PD_DIGEST_HEX] = "", *json;

  r->id = id;
  snprintf(small, sizeof small, "small %u", seed);
  snprintf(log, sizeof log, "log %u", seed);
  CHECK(cache_put_buf(f->c, big, 60000, outs[0].digest, E));
  outs[0].size = 60000;
  CHECK(cache_put_buf(f->c, small, strlen(small), outs[1].digest, E));
  outs[1].size = strlen(small);
  CHECK(cache_put_buf(f->c, log, strlen(log), res.log, E));
  if (shared) {
    outs[2] = *shared;
    res.nouts = 3;
    hexs(shared->digest, sh);
  }
  digest_buf(id, strlen(id), r->key);
  CHECK(cache_action_put(f->c, r->key, "{}", &res, E));
  CHECK(cache_last_put(f->c, "/g.dag", id, r->key, E));
  memcpy(r->big, outs[0].digest, PD_DIGEST_LEN);
  memcpy(r->small, outs[1].digest, PD_DIGEST_LEN);
  memcpy(r->log, res.log, PD_DIGEST_LEN);
  hexs(r->key, k);
  hexs(r->big, b);
  hexs(r->small, s);
  hexs(r->log, l);
  json = xasprintf("{\"id\":\"%s\",\"graph\":\"g\",\"status\":\"ok\",\"tasks\":["
                   "{\"name\":\"t\",\"kind\":\"exec\",\"state\":\"executed\",\"key\":\"%s\","
                   "\"outputs\":{\"big\":{\"digest\":\"%s\",\"size\":60000,\"tree\":false},"
                   "\"small\":{\"digest\":\"%s\",\"size\":9,\"tree\":false}},\"log\":\"%s\"},"
                   "{\"name\":\"never\",\"kind\":\"exec\",\"state\":\"skipped\"}]}",
                   id, k, b, s, l);
  CHECK(cache_run_put(f->c, id, json, E));
  free(json);
  free(big);
}

static int hit(struct fix *f, const uint8_t key[PD_DIGEST_LEN])
{
  struct action_result r;
  int rc = CHECK(cache_action_get(f->c, key, &r, E));
  action_result_release(&r);
  return rc;
}

static int has_blob(struct fix *f, const uint8_t d[PD_DIGEST_LEN])
{
  char *p;
  size_t n;
  int rc = CHECK(cache_get_buf(f->c, d, &p, &n, E));
  free(p);
  return rc;
}

static char *gc(struct fix *f, size_t keep, uint64_t max)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  CHECK(cache_gc(f->c, keep, max, out, E));
  fclose(out);
  return buf;
}

static void test_gc(void **state)
{
  struct fix *f = *state;
  struct run r[4];
  struct artifact shared = { .name = "shared" }, tree = { .name = "tree" };
  char *t = path_join(f->dir, "tree"), *p, *text, *want, *mat2, *mat3, *oldtmp, *newtmp;
  char *orphan, *free_lock, **ids;
  uint8_t memo_key[PD_DIGEST_LEN], memo_blob[PD_DIGEST_LEN], inner[PD_DIGEST_LEN], got[32];
  char *memo_val = rand_bytes(30000, 99), *inner_data = rand_bytes(25000, 77), *v;
  size_t n, i;
  int lockfd;
  struct artifact m;

  /* r1 (pinned) has a tree output; r2 and r3 share a large blob. */
  {
    char *sh = rand_bytes(70000, 5);
    CHECK(cache_put_buf(f->c, sh, 70000, shared.digest, E));
    shared.size = 70000;
    free(sh);
  }
  mkdir_ok(t);
  p = path_join(t, "inner"); write_file(p, inner_data, 25000); free(p);
  CHECK(cache_ingest(f->c, t, &tree, E));
  digest_buf(inner_data, 25000, inner);
  make_run(f, &r[0], "20240101-000000-000001", 1, &tree);
  make_run(f, &r[1], "20240102-000000-000002", 2, &shared);
  make_run(f, &r[2], "20240103-000000-000003", 3, &shared);
  make_run(f, &r[3], "20240104-000000-000004", 4, NULL);
  CHECK(cache_pin(f->c, r[0].id, 1, E));
  digest_buf("memo", 4, memo_key);
  CHECK(cache_memo_put(f->c, memo_key, memo_val, 30000, E));
  digest_buf(memo_val, 30000, memo_blob);

  m.name = "big";
  m.is_tree = 0;
  m.size = 60000;
  memcpy(m.digest, r[1].big, PD_DIGEST_LEN);
  CHECK(cache_materialize(f->c, &m, &mat2, E));
  memcpy(m.digest, r[2].big, PD_DIGEST_LEN);
  CHECK(cache_materialize(f->c, &m, &mat3, E));

  /* Leftovers: an old and a fresh tmp dir, a cas file no record names, a
   * lock nobody holds and one that is held. */
  CHECK(cache_mkdtemp(f->c, "old", &oldtmp, E));
  CHECK(cache_mkdtemp(f->c, "new", &newtmp, E));
  {
    struct timespec ts[2] = { { time(NULL) - 2 * 86400, 0 }, { time(NULL) - 2 * 86400, 0 } };
    assert_int_equal(utimensat(AT_FDCWD, oldtmp, ts, 0), 0);
  }
  p = xasprintf("%s/cas/ee", cache_path(f->c));
  mkdir(p, 0777);
  free(p);
  orphan = xasprintf("%s/cas/ee/%064d", cache_path(f->c), 0);
  write_str(orphan, "orphan");
  CHECK(cache_lock(f->c, r[3].key, &lockfd, E));
  {
    int fd2;
    CHECK(cache_lock(f->c, r[1].key, &fd2, E));
    cache_unlock(f->c, r[1].key, fd2);
  }
  {
    char hx[PD_DIGEST_HEX];
    hexs(r[1].key, hx);
    free_lock = xasprintf("%s/locks/%s.lock", cache_path(f->c), hx);
  }
  assert_int_equal(access(free_lock, F_OK), 0);

  /* Keep the newest two, plus the pinned r1. */
  text = gc(f, 2, 0);
  want = xasprintf("gc: removed 1 actions, 3 blobs (%zu bytes); kept 3 runs\n",
                   (size_t)60000 + strlen("small 2") + strlen("log 2"));
  assert_string_equal(text, want);
  free(want);
  free(text);
  assert_int_equal(hit(f, r[0].key), 1);
  assert_int_equal(hit(f, r[1].key), 0);
  assert_int_equal(hit(f, r[2].key), 1);
  assert_int_equal(hit(f, r[3].key), 1);
  assert_int_equal(has_blob(f, r[1].big), 0);
  assert_int_equal(has_blob(f, r[1].small), 0);
  assert_int_equal(has_blob(f, r[1].log), 0);
  assert_int_equal(has_blob(f, r[2].log), 1);
  assert_int_equal(has_blob(f, shared.digest), 1);
  assert_int_equal(has_blob(f, inner), 1);        /* child of r1's tree */
  assert_int_equal(has_blob(f, memo_blob), 1);    /* memo entries stay */
  assert_int_equal(CHECK(cache_memo_get(f->c, memo_key, &v, &n, E)), 1);
  free(v);
  {
    char *cas = cas_path_of(f, r[1].big);
    assert_int_not_equal(access(cas, F_OK), 0);
    free(cas);
  }
  assert_int_not_equal(access(mat2, F_OK), 0);
  assert_int_equal(access(mat3, F_OK), 0);
  assert_int_not_equal(access(oldtmp, F_OK), 0);
  assert_int_equal(access(newtmp, F_OK), 0);
  assert_int_not_equal(access(orphan, F_OK), 0);
  assert_int_not_equal(access(free_lock, F_OK), 0);
  assert_int_equal(CHECK(cache_last_get(f->c, "/g.dag", r[1].id, got, E)), 0);
  assert_int_equal(CHECK(cache_last_get(f->c, "/g.dag", r[2].id, got, E)), 1);
  CHECK(cache_run_list(f->c, &ids, &n, E));
  assert_int_equal(n, 3);
  assert_string_equal(ids[0], r[0].id);
  assert_string_equal(ids[1], r[2].id);
  assert_string_equal(ids[2], r[3].id);
  for (i = 0; i < n; i++)
    free(ids[i]);
  free(ids);

  /* Nothing left to remove: a second gc removes nothing. */
  text = gc(f, 2, 0);
  assert_string_equal(text, "gc: removed 0 actions, 0 blobs (0 bytes); kept 3 runs\n");
  free(text);

  /* A cap nothing fits under: every unpinned run goes, the pinned one
   * stays whole. */
  text = gc(f, 10, 1);
  assert_string_equal(text + strlen(text) - strlen("kept 1 runs\n"), "kept 1 runs\n");
  free(text);
  assert_int_equal(hit(f, r[0].key), 1);
  assert_int_equal(hit(f, r[2].key), 0);
  assert_int_equal(hit(f, r[3].key), 0);
  assert_int_equal(has_blob(f, shared.digest), 0);
  assert_int_equal(has_blob(f, inner), 1);
  {
    uint64_t damaged;
    CHECK(cache_verify(f->c, NULL, &damaged, E));
    assert_int_equal(damaged, 0);
  }
  /* The held lock survived. */
  {
    char hx[PD_DIGEST_HEX], *held;
    hexs(r[3].key, hx);
    held = xasprintf("%s/locks/%s.lock", cache_path(f->c), hx);
    assert_int_equal(access(held, F_OK), 0);
    free(held);
  }
  cache_unlock(f->c, r[3].key, lockfd);
  free(free_lock);
  free(orphan);
  free(oldtmp);
  free(newtmp);
  free(mat2);
  free(mat3);
  free(memo_val);
  free(inner_data);
  free(t);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_gc, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
