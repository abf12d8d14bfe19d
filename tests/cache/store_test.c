/* store_test.c - tests of cache/store.c: blobs inline and in cas/, ingest of
 * files and trees, dedup, and the errors for what outputs may not hold. */
#include "cache_test_util.h"

static void test_inline_round_trip(void **state)
{
  struct fix *f = *state;
  uint8_t d[PD_DIGEST_LEN], want[PD_DIGEST_LEN];
  struct cache_stats st;
  char *p;
  size_t n;

  CHECK(cache_put_buf(f->c, "hello", 5, d, E));
  digest_buf("hello", 5, want);
  assert_memory_equal(d, want, PD_DIGEST_LEN);
  assert_int_equal(CHECK(cache_get_buf(f->c, d, &p, &n, E)), 1);
  assert_int_equal(n, 5);
  assert_memory_equal(p, "hello", 5);
  free(p);
  CHECK(cache_stats(f->c, &st, E));
  assert_int_equal(st.blobs, 1);
  assert_int_equal(st.inline_blobs, 1);
  assert_int_equal(st.blob_bytes, 5);

  /* An empty blob, and one that is not there. */
  CHECK(cache_put_buf(f->c, "", 0, d, E));
  assert_int_equal(CHECK(cache_get_buf(f->c, d, &p, &n, E)), 1);
  assert_int_equal(n, 0);
  free(p);
  memset(want, 7, sizeof want);
  assert_int_equal(CHECK(cache_get_buf(f->c, want, &p, &n, E)), 0);
  assert_null(p);
}

static void test_large_round_trip(void **state)
{
  struct fix *f = *state;
  size_t n = (1 << 20) + 17, got_n;
  char *data = rand_bytes(n, 1), *got, *cas;
  uint8_t d[PD_DIGEST_LEN], want[PD_DIGEST_LEN], filed[PD_DIGEST_LEN];
  struct cache_stats st;
  struct stat sb;
  uint64_t size;

  CHECK(cache_put_buf(f->c, data, n, d, E));
  digest_buf(data, n, want);
  assert_memory_equal(d, want, PD_DIGEST_LEN);
  cas = cas_path_of(f, d);
  assert_int_equal(stat(cas, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0444);
  /* a fixed mtime, so that any later write shows */
  assert_int_equal(sb.st_mtim.tv_sec, 946684800);
  assert_int_equal(sb.st_mtim.tv_nsec, 0);
  /* sha256sum of the stored file is its digest */
  CHECK(digest_file(cas, filed, &size, E));
  assert_memory_equal(filed, d, PD_DIGEST_LEN);
  assert_int_equal(size, n);
  assert_int_equal(CHECK(cache_get_buf(f->c, d, &got, &got_n, E)), 1);
  assert_int_equal(got_n, n);
  assert_memory_equal(got, data, n);
  free(got);
  CHECK(cache_stats(f->c, &st, E));
  assert_int_equal(st.file_blobs, 1);
  assert_true(st.disk_bytes >= n);
  free(cas);
  free(data);
}

static void test_ingest_file_moves_large(void **state)
{
  struct fix *f = *state;
  struct artifact a = { 0 };
  char *out, *big, *small, *cas;
  uint8_t want[PD_DIGEST_LEN];
  uint64_t size;
  struct stat sb;
  ino_t ino;

  CHECK(cache_mkdtemp(f->c, "task", &out, E));
  big = path_join(out, "big.bin");
  small = path_join(out, "small.txt");
  write_rand(big, 300000, 2);
  write_str(small, "small output\n");
  assert_int_equal(stat(big, &sb), 0);
  ino = sb.st_ino;

  CHECK(cache_ingest(f->c, big, &a, E));
  assert_int_equal(a.size, 300000);
  assert_false(a.is_tree);
  /* moved, not copied: the very inode is now in cas/ */
  assert_int_not_equal(access(big, F_OK), 0);
  cas = cas_path_of(f, a.digest);
  assert_int_equal(stat(cas, &sb), 0);
  assert_int_equal(sb.st_ino, ino);
  CHECK(digest_file(cas, want, &size, E));
  assert_memory_equal(want, a.digest, PD_DIGEST_LEN);

  CHECK(cache_ingest(f->c, small, &a, E));
  assert_int_equal(a.size, 13);
  digest_buf("small output\n", 13, want);
  assert_memory_equal(a.digest, want, PD_DIGEST_LEN);
  assert_int_equal(access(small, F_OK), 0); /* inline: the file stays */

  cache_rmtree(out);
  free(cas);
  free(big);
  free(small);
  free(out);
}

static size_t count_cas_files(const struct fix *f)
{
  char *cmd = xasprintf("find '%s/cas' -type f | wc -l", cache_path(f->c));
  FILE *p = popen(cmd, "r");
  unsigned long n = 0;
  assert_non_null(p);
  assert_int_equal(fscanf(p, "%lu", &n), 1);
  pclose(p);
  free(cmd);
  return n;
}

static void test_dedup(void **state)
{
  struct fix *f = *state;
  size_t n = 100000;
  char *data = rand_bytes(n, 3), *out, *path;
  uint8_t d1[PD_DIGEST_LEN], d2[PD_DIGEST_LEN];
  struct artifact a = { 0 };
  struct cache_stats st;

  CHECK(cache_put_buf(f->c, data, n, d1, E));
  CHECK(cache_put_buf(f->c, data, n, d2, E));
  assert_memory_equal(d1, d2, PD_DIGEST_LEN);
  CHECK(cache_mkdtemp(f->c, "task", &out, E));
  path = path_join(out, "same.bin");
  write_file(path, data, n);
  CHECK(cache_ingest(f->c, path, &a, E));
  assert_memory_equal(a.digest, d1, PD_DIGEST_LEN);
  assert_int_not_equal(access(path, F_OK), 0); /* the duplicate was dropped */
  assert_int_equal(count_cas_files(f), 1);
  CHECK(cache_stats(f->c, &st, E));
  assert_int_equal(st.blobs, 1);
  cache_rmtree(out);
  free(path);
  free(out);
  free(data);
}

/* Builds a/x, a/sub/y (large), a/sub/deeper/z, a/empty/ under root, in an
 * order chosen by reverse. */
static void make_tree(const char *root, int reverse)
{
  char *p;
  mkdir_ok(root);
#define MK(rel, body)                 \
  do {                                \
    p = path_join(root, rel);         \
    body;                             \
    free(p);                          \
  } while (0)
  if (!reverse) {
    MK("x", write_str(p, "x content"));
    MK("sub", mkdir_ok(p));
    MK("sub/y", write_rand(p, 50000, 4));
    MK("sub/deeper", mkdir_ok(p));
    MK("sub/deeper/z", write_str(p, "zzz"));
    MK("empty", mkdir_ok(p));
  } else {
    MK("empty", mkdir_ok(p));
    MK("sub", mkdir_ok(p));
    MK("sub/deeper", mkdir_ok(p));
    MK("sub/deeper/z", write_str(p, "zzz"));
    MK("sub/y", write_rand(p, 50000, 4));
    MK("x", write_str(p, "x content"));
  }
#undef MK
}

static void test_tree(void **state)
{
  struct fix *f = *state;
  struct artifact a = { 0 }, b = { 0 };
  char *t1 = path_join(f->dir, "t1"), *t2 = path_join(f->dir, "t2"), *m, hex[PD_DIGEST_HEX];
  uint8_t dx[PD_DIGEST_LEN], dd[PD_DIGEST_LEN];
  size_t n;

  make_tree(t1, 0);
  make_tree(t2, 1);
  CHECK(cache_ingest(f->c, t1, &a, E));
  CHECK(cache_ingest(f->c, t2, &b, E));
  assert_true(a.is_tree);
  assert_memory_equal(a.digest, b.digest, PD_DIGEST_LEN);
  assert_int_equal(a.size, 9 + 50000 + 3);

  /* The manifest is the documented canonical text. */
  assert_int_equal(CHECK(cache_get_buf(f->c, a.digest, &m, &n, E)), 1);
  assert_true(!strncmp(m, "povid-tree 1\nd ", 15));
  digest_buf("x content", 9, dx);
  digest_hex(dx, hex);
  assert_non_null(strstr(m, hex));
  /* the empty directory's tree is the bare header */
  digest_buf("povid-tree 1\n", 13, dd);
  digest_hex(dd, hex);
  {
    char *line = xasprintf("d %s 0 empty\nd ", hex);
    assert_true(!strncmp(m + 13, line, strlen(line)));
    free(line);
  }
  assert_true(strstr(m, " 9 x\n") != NULL);
  free(m);

  /* Stable across runs: the same content gives the same digest again. */
  cache_rmtree(t1);
  make_tree(t1, 1);
  CHECK(cache_ingest(f->c, t1, &b, E));
  assert_memory_equal(a.digest, b.digest, PD_DIGEST_LEN);
  free(t1);
  free(t2);
}

static void test_ingest_errors(void **state)
{
  struct fix *f = *state;
  struct pd_err err = { 0 };
  struct artifact a = { 0 };
  char *t = path_join(f->dir, "bad"), *p;

  mkdir_ok(t);
  p = path_join(t, "link");
  assert_int_equal(symlink("/etc/passwd", p), 0);
  assert_true(cache_ingest(f->c, t, &a, &err) < 0);
  assert_non_null(strstr(err.msg, p));
  assert_non_null(strstr(err.msg, "symbolic link"));
  unlink(p);
  free(p);

  pd_err_clear(&err);
  p = path_join(t, "new\nline");
  write_str(p, "x");
  assert_true(cache_ingest(f->c, t, &a, &err) < 0);
  assert_non_null(strstr(err.msg, "newline"));
  unlink(p);
  free(p);

  pd_err_clear(&err);
  p = path_join(t, "fifo");
  assert_int_equal(mkfifo(p, 0644), 0);
  assert_true(cache_ingest(f->c, p, &a, &err) < 0);
  assert_non_null(strstr(err.msg, "not a regular file"));
  free(p);

  pd_err_clear(&err);
  assert_int_equal(cache_ingest(f->c, "/nonexistent/x", &a, &err), -ENOENT);
  assert_string_equal(err.msg, "cannot store '/nonexistent/x': No such file or directory");
  free(t);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_inline_round_trip, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_large_round_trip, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_ingest_file_moves_large, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_dedup, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_tree, fix_setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_ingest_errors, fix_setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
