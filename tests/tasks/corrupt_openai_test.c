/* corrupt_openai_test.c - the pure pieces of corrupt_captions' openai
 * backend (tasks/corrupt_openai.c): the prompt template, the objects list,
 * base64 (RFC 4648 test vectors), the memo key (each field matters, the
 * same fields give the same key) and the loopback test that decides
 * whether a missing key is allowed. The backend itself is tested against
 * the fake server in tests/e2e/corrupt_openai_test.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "corrupt_openai.h"
#include "corrupt_rules.h"
#include "strbuf.h"

static void test_render(void **state)
{
  struct strbuf sb;
  (void)state;
  strbuf_init(&sb, 64);
  corrupt_openai_render("A: {answer}; O: {objects}; Q: {question}; {other} {", "There is x.",
                        "red circle (top left)", "Describe this image.", &sb);
  assert_string_equal(sb.buf, "A: There is x.; O: red circle (top left); Q: Describe this "
                              "image.; {other} {");
  strbuf_reset(&sb);
  corrupt_openai_render(corrupt_openai_default_prompt, "ANSWER", "OBJECTS", "Q", &sb);
  assert_non_null(strstr(sb.buf, "Correct description: ANSWER"));
  assert_non_null(strstr(sb.buf, "Objects: OBJECTS"));
  assert_non_null(strstr(sb.buf, "co-occur"));
  assert_null(strchr(sb.buf, '{'));
  strbuf_release(&sb);
}

static void test_objects(void **state)
{
  struct corrupt_world w;
  struct corrupt_mention m[2] = { { 0, 1, 0 }, { 1, 0, 1 } };
  struct strbuf sb;
  char circle[] = "circle", square[] = "square", red[] = "red", blue[] = "blue",
       tl[] = "top left", br[] = "bottom right";
  (void)state;
  memset(&w, 0, sizeof w);
  w.cat[0] = circle;
  w.cat[1] = square;
  w.colour[0] = red;
  w.colour[1] = blue;
  w.pos[0] = tl;
  w.pos[1] = br;
  strbuf_init(&sb, 64);
  corrupt_openai_objects(&w, m, 2, &sb);
  assert_string_equal(sb.buf, "blue circle (top left); red square (bottom right)");
  strbuf_reset(&sb);
  corrupt_openai_objects(&w, m, 0, &sb);
  assert_string_equal(sb.buf, "none");
  strbuf_release(&sb);
}

static void test_base64(void **state)
{
  static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
  static const char *const out[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                     "Zm9vYmFy" };
  static const unsigned char bin[] = { 0x00, 0xff, 0xfe, 0x3e, 0x3f };
  struct strbuf sb;
  size_t k;
  (void)state;
  strbuf_init(&sb, 16);
  for (k = 0; k < sizeof in / sizeof *in; k++) {
    strbuf_reset(&sb);
    corrupt_openai_base64(in[k], strlen(in[k]), &sb);
    assert_string_equal(sb.buf, out[k]);
  }
  strbuf_reset(&sb);
  corrupt_openai_base64(bin, sizeof bin, &sb);
  assert_string_equal(sb.buf, "AP/+Pj8=");
  strbuf_release(&sb);
}

static void test_memo_key(void **state)
{
  uint8_t pix[PD_DIGEST_LEN] = { 1 }, a[PD_DIGEST_LEN], b[PD_DIGEST_LEN];
  struct corrupt_openai_key k, k2;
  (void)state;
  memset(&k, 0, sizeof k);
  corrupt_openai_item_digest("There is a red circle.", "Describe this image.", "train-0", pix,
                             k.item);
  k.model = "m";
  k.base_url = "http://127.0.0.1:1/v1";
  k.temperature = 0;
  k.max_tokens = 256;
  k.seed = 1;
  corrupt_openai_memo_key(&k, a);
  k2 = k;
  corrupt_openai_memo_key(&k2, b);
  assert_memory_equal(a, b, sizeof a);
#define CHANGED(stmt)                          \
  do {                                         \
    k2 = k;                                    \
    stmt;                                      \
    corrupt_openai_memo_key(&k2, b);           \
    assert_memory_not_equal(a, b, sizeof a);   \
  } while (0)
  CHANGED(k2.model = "m2");
  CHANGED(k2.base_url = "http://127.0.0.1:2/v1");
  CHANGED(k2.temperature = 0.5);
  CHANGED(k2.max_tokens = 255);
  CHANGED(k2.seed = 2);
  CHANGED(k2.prompt[0] ^= 1);
  CHANGED(k2.item[31] ^= 1);
  /* The item digest: answer, question, image id and pixels each count;
   * fields are length-prefixed, so moving a byte between them counts too. */
  corrupt_openai_item_digest("There is a red circle.", "Describe this image.", "train-1", pix,
                             b);
  assert_memory_not_equal(k.item, b, sizeof b);
  pix[0] = 2;
  corrupt_openai_item_digest("There is a red circle.", "Describe this image.", "train-0", pix,
                             b);
  assert_memory_not_equal(k.item, b, sizeof b);
  corrupt_openai_item_digest("ab", "c", "", pix, a);
  corrupt_openai_item_digest("a", "bc", "", pix, b);
  assert_memory_not_equal(a, b, sizeof a);
}

static void test_loopback(void **state)
{
  (void)state;
  assert_true(corrupt_openai_loopback("http://127.0.0.1:8000/v1"));
  assert_true(corrupt_openai_loopback("http://localhost/v1"));
  assert_true(corrupt_openai_loopback("http://[::1]:11434/v1"));
  assert_true(corrupt_openai_loopback("http://u:p@127.0.0.1/v1"));
  assert_false(corrupt_openai_loopback("https://api.openai.com/v1"));
  assert_false(corrupt_openai_loopback("http://127.0.0.1.evil.example/v1"));
  assert_false(corrupt_openai_loopback("http://localhost.evil.example/v1"));
  assert_false(corrupt_openai_loopback("http://evil.example/127.0.0.1"));
  assert_false(corrupt_openai_loopback("127.0.0.1"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_render),   cmocka_unit_test(test_objects),
    cmocka_unit_test(test_base64),   cmocka_unit_test(test_memo_key),
    cmocka_unit_test(test_loopback),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
