/* preview_test.c - tests of tasks/preview.c: the contact sheet is a valid
 * PNG of the documented geometry (signature, IHDR, decoded pixels), images
 * are upscaled by nearest neighbour, text is drawn in its colour and
 * clipped at the edges. */
#include "tasks_test_util.h"

#include <stb_image.h>

#include "preview.h"

static uint32_t be32(const unsigned char *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_sheet(void **state)
{
  static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  static const uint8_t text_rgb[3] = { 10, 250, 20 };
  struct pd_err err = { 0 };
  struct preview_cell cells[5];
  uint8_t img[5][2 * 2 * 3];
  char *dir = scratch_dir("preview_test"), *path = xasprintf("%s/p.png", dir), *png;
  unsigned char *px;
  size_t n, i;
  int w, h, ch, k, green = 0;
  (void)state;
  memset(cells, 0, sizeof cells);
  for (i = 0; i < 5; i++) {
    for (k = 0; k < 12; k++)
      img[i][k] = (uint8_t)(i * 40 + (size_t)k);
    cells[i].rgb = img[i];
    cells[i].w = cells[i].h = 2;
    cells[i].nlines = i == 4 ? 2 : 1;
    snprintf(cells[i].line[0], sizeof cells[i].line[0], "item %zu", i);
    memcpy(cells[i].colour[0], text_rgb, 3);
    snprintf(cells[i].line[1], sizeof cells[i].line[1], "second");
    memcpy(cells[i].colour[1], text_rgb, 3);
  }
  CHECK(preview_write(path, "title", cells, 5, 2, 3, &err));

  /* Geometry: margin 8, cells 6 wide, 6 + 4 + 2 lines of 10 high, a title
   * line of 10 + 4: 2 columns x 3 rows. */
  png = read_all(path, &n);
  assert_true(n > 33);
  assert_memory_equal(png, sig, 8);
  assert_memory_equal(png + 12, "IHDR", 4);
  assert_int_equal(be32((unsigned char *)png + 16), 8 + 2 * (6 + 8));
  assert_int_equal(be32((unsigned char *)png + 20), 8 + 14 + 3 * (30 + 8));
  assert_int_equal((unsigned char)png[24], 8); /* bit depth */
  assert_int_equal((unsigned char)png[25], 2); /* colour type RGB */
  free(png);

  px = stbi_load(path, &w, &h, &ch, 3);
  assert_non_null(px);
  assert_int_equal(w, 36);
  assert_int_equal(h, 136);
  /* Cell 3 (row 1, column 1): its top-left source pixel, 3x3 times. */
  for (k = 0; k < 9; k++) {
    int x = 8 + 14 + k % 3, y = 22 + 38 + k / 3;
    assert_memory_equal(&px[(y * w + x) * 3], img[3], 3);
  }
  /* Text of cell 0 under its image. */
  for (i = 0; i < 6 * 10; i++) {
    int x = 8 + (int)(i % 6), y = 22 + 6 + 4 + (int)(i / 6);
    green += memcmp(&px[(y * w + x) * 3], text_rgb, 3) == 0;
  }
  assert_true(green > 5);
  stbi_image_free(px);
  cache_rmtree(dir);
  free(path);
  free(dir);
}

static void test_text(void **state)
{
  static const uint8_t white[3] = { 255, 255, 255 };
  uint8_t img[20 * 10 * 3];
  size_t i, lit = 0;
  (void)state;
  memset(img, 0, sizeof img);
  assert_int_equal(preview_text(img, 20, 10, 1, 1, "a1", white), 1 + 2 * PREVIEW_CHAR_W);
  for (i = 0; i < sizeof img; i += 3)
    lit += img[i] == 255;
  assert_true(lit > 10);
  /* Uppercase prints as lowercase; unknown characters as blanks. */
  memset(img, 0, sizeof img);
  preview_text(img, 20, 10, 0, 0, "A", white);
  {
    uint8_t lower[sizeof img];
    memset(lower, 0, sizeof lower);
    preview_text(lower, 20, 10, 0, 0, "a", white);
    assert_memory_equal(img, lower, sizeof img);
  }
  memset(img, 0, sizeof img);
  preview_text(img, 20, 10, 0, 0, "\x01\x7f", white);
  for (i = 0; i < sizeof img; i++)
    assert_int_equal(img[i], 0);
  /* Clipped on every side without writing outside. */
  preview_text(img, 20, 10, -3, -4, "xyz", white);
  preview_text(img, 20, 10, 17, 8, "xyz", white);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sheet),
    cmocka_unit_test(test_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
