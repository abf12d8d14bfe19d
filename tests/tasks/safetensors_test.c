/* safetensors_test.c - tests of tasks/safetensors.c: a round trip (header
 * fields checked with cJSON and by the reader, bytes read back), several
 * tensors and dtypes, and a clear error naming the file for each way a file
 * can be malformed. */
#include "tasks_test_util.h"

#include <cjson/cJSON.h>

#include "safetensors.h"

static char *dir;

static int setup(void **state)
{
  (void)state;
  dir = scratch_dir("safetensors_test");
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  cache_rmtree(dir);
  free(dir);
  return 0;
}

static uint64_t le64(const uint8_t *p)
{
  uint64_t v = 0;
  int i;
  for (i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static void test_round_trip(void **state)
{
  struct pd_err err = { 0 };
  int64_t shape[4] = { 5, 32, 32, 3 };
  size_t n = 5 * 32 * 32 * 3, i, len;
  uint8_t *data = xmalloc(n), *back = xmalloc(n);
  struct st_write_tensor t = { "images", "U8", 4, shape, data };
  const char *meta[] = { "split", "train", "seed", "1", NULL };
  char *path = xasprintf("%s/a.safetensors", dir), *file;
  struct safetensors st;
  const struct st_tensor *tt;
  cJSON *h, *img, *arr;
  uint64_t hlen;
  (void)state;

  for (i = 0; i < n; i++)
    data[i] = (uint8_t)(i * 7 + 3);
  CHECK(safetensors_write(path, &t, 1, meta, &err));

  /* The bytes: 8-byte length, JSON header padded so data is 8-aligned. */
  file = read_all(path, &len);
  hlen = le64((uint8_t *)file);
  assert_int_equal((8 + hlen) % 8, 0);
  assert_int_equal(len, 8 + hlen + n);
  assert_memory_equal(file + 8 + hlen, data, n);
  h = cJSON_ParseWithLength(file + 8, hlen);
  assert_non_null(h);
  img = cJSON_GetObjectItem(h, "images");
  assert_string_equal(cJSON_GetObjectItem(img, "dtype")->valuestring, "U8");
  arr = cJSON_GetObjectItem(img, "shape");
  assert_int_equal(cJSON_GetArraySize(arr), 4);
  assert_int_equal(cJSON_GetArrayItem(arr, 0)->valueint, 5);
  assert_int_equal(cJSON_GetArrayItem(arr, 3)->valueint, 3);
  arr = cJSON_GetObjectItem(img, "data_offsets");
  assert_int_equal(cJSON_GetArrayItem(arr, 0)->valueint, 0);
  assert_int_equal(cJSON_GetArrayItem(arr, 1)->valueint, (int)n);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "__metadata__"), "split")->valuestring,
                      "train");
  cJSON_Delete(h);
  free(file);

  /* The reader. */
  CHECK(safetensors_open(&st, path, &err));
  assert_int_equal(st.nt, 1);
  tt = safetensors_find(&st, "images");
  assert_non_null(tt);
  assert_null(safetensors_find(&st, "labels"));
  assert_string_equal(tt->dtype, "U8");
  assert_int_equal(tt->ndim, 4);
  assert_int_equal(tt->shape[0], 5);
  assert_int_equal(tt->shape[1], 32);
  assert_int_equal(tt->end - tt->begin, n);
  assert_string_equal(safetensors_meta(&st, "seed"), "1");
  assert_null(safetensors_meta(&st, "nope"));
  CHECK(safetensors_read(&st, tt, 0, back, n, &err));
  assert_memory_equal(back, data, n);
  /* One row. */
  CHECK(safetensors_read(&st, tt, 3 * 3072, back, 3072, &err));
  assert_memory_equal(back, data + 3 * 3072, 3072);
  safetensors_close(&st);
  free(path);
  free(data);
  free(back);
}

static void test_several_tensors(void **state)
{
  struct pd_err err = { 0 };
  float w[6] = { 1, 2, 3, 4, 5, 6 }, wb[6];
  int64_t sw[2] = { 2, 3 }, sb[1] = { 3 }, se[2] = { 0, 4 };
  uint16_t b[3] = { 1, 0xffff, 7 }, bb[3];
  struct st_write_tensor t[3] = {
    { "w", "F32", 2, sw, w }, { "b", "BF16", 1, sb, b }, { "empty", "I64", 2, se, NULL },
  };
  char *path = xasprintf("%s/b.safetensors", dir);
  struct safetensors st;
  const struct st_tensor *x;
  (void)state;
  CHECK(safetensors_write(path, t, 3, NULL, &err));
  CHECK(safetensors_open(&st, path, &err));
  assert_int_equal(st.nt, 3);
  assert_int_equal(st.nmeta, 0);
  x = safetensors_find(&st, "w");
  assert_int_equal(x->begin, 0);
  assert_int_equal(x->end, 24);
  CHECK(safetensors_read(&st, x, 0, wb, sizeof wb, &err));
  assert_memory_equal(wb, w, sizeof w);
  x = safetensors_find(&st, "b");
  assert_string_equal(x->dtype, "BF16");
  CHECK(safetensors_read(&st, x, 0, bb, sizeof bb, &err));
  assert_memory_equal(bb, b, sizeof b);
  x = safetensors_find(&st, "empty");
  assert_int_equal(x->ndim, 2);
  assert_int_equal(x->begin, x->end);
  safetensors_close(&st);
  free(path);
}

/* Writes a file of an 8-byte length (len, or the header's own length when
 * len is -1), the header text and ndata zero bytes; expects open to fail
 * with a message holding the path and want. */
static void expect_bad(const char *name, long long len, const char *header, size_t ndata,
                       const char *want)
{
  struct pd_err err = { 0 };
  struct safetensors st;
  size_t hl = strlen(header), i;
  uint64_t l = len < 0 ? (uint64_t)hl : (uint64_t)len;
  char *path = xasprintf("%s/%s", dir, name);
  char *buf = xcalloc(8 + hl + ndata + 1, 1);
  for (i = 0; i < 8; i++)
    buf[i] = (char)(l >> (8 * i));
  memcpy(buf + 8, header, hl);
  write_file(path, buf, 8 + hl + ndata);
  assert_int_not_equal(safetensors_open(&st, path, &err), 0);
  if (!strstr(err.msg, path) || !strstr(err.msg, want))
    fail_msg("%s: message '%s' lacks the path or '%s'", name, err.msg, want);
  assert_int_equal(st.fd, -1);
  free(buf);
  free(path);
}

static void test_malformed(void **state)
{
  struct pd_err err = { 0 };
  struct safetensors st;
  char *path = xasprintf("%s/short.safetensors", dir), *missing;
  (void)state;
  write_str(path, "abc");
  assert_int_equal(safetensors_open(&st, path, &err), PD_ECORRUPT);
  assert_non_null(strstr(err.msg, "bad safetensors file"));
  assert_non_null(strstr(err.msg, path));
  assert_non_null(strstr(err.msg, "too short"));
  free(path);

  missing = xasprintf("%s/missing.safetensors", dir);
  pd_err_clear(&err);
  assert_int_equal(safetensors_open(&st, missing, &err), -ENOENT);
  assert_non_null(strstr(err.msg, "cannot open"));
  assert_non_null(strstr(err.msg, missing));
  free(missing);

  expect_bad("len.safetensors", 1000, "{}", 0, "header length 1000");
  expect_bad("json.safetensors", -1, "{\"a\": [", 0, "not a JSON object");
  expect_bad("array.safetensors", -1, "[1, 2]", 0, "not a JSON object");
  expect_bad("nodtype.safetensors", -1,
             "{\"x\":{\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "tensor 'x' has no dtype");
  expect_bad("dtype.safetensors", -1,
             "{\"x\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
             "unknown dtype");
  expect_bad("shape.safetensors", -1,
             "{\"x\":{\"dtype\":\"U8\",\"shape\":[2,-1],\"data_offsets\":[0,2]}}", 2,
             "bad dimension");
  expect_bad("offsets.safetensors", -1,
             "{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,0]}}", 2,
             "no valid data_offsets");
  expect_bad("size.safetensors", -1,
             "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
             "its shape and dtype need 8");
  expect_bad("trunc.safetensors", -1,
             "{\"x\":{\"dtype\":\"U8\",\"shape\":[100,3],\"data_offsets\":[0,300]}}", 200,
             "ends at byte 300 of a 200-byte data section");
  expect_bad("overlap.safetensors", -1,
             "{\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
             "\"y\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}", 6, "overlap");
  expect_bad("hole.safetensors", -1,
             "{\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8, "hole");
  expect_bad("extra.safetensors", -1,
             "{\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 9,
             "data section is 9 bytes, its tensors cover 4");
  expect_bad("meta.safetensors", -1, "{\"__metadata__\":{\"k\":1}}", 0,
             "__metadata__ value 'k' is not a string");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_several_tensors),
    cmocka_unit_test(test_malformed),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
