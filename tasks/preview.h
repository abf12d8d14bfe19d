/* preview.h - contact sheets: small images upscaled in a grid, with lines
 * of text under each in a tiny built-in bitmap font, written as a PNG.
 *
 * For people to look at what a task made (fetch_subset's `preview`). The
 * font is 5x7 (plus a descender row) on a 6x10 cell: lowercase letters,
 * digits and common punctuation; uppercase prints as lowercase, anything
 * else as a blank.
 */
#ifndef PD_PREVIEW_H
#define PD_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

struct pd_err;

#define PREVIEW_MAXLINES 8
#define PREVIEW_CHAR_W 6   /* advance of one character in pixels */
#define PREVIEW_LINE_H 10  /* advance of one line */

struct preview_cell {
  const uint8_t *rgb;  /* h x w x 3, borrowed */
  int w, h;
  int nlines;
  char line[PREVIEW_MAXLINES][48];
  uint8_t colour[PREVIEW_MAXLINES][3];
};

/* Writes a PNG at path: an optional title line, then the cells in rows of
 * `cols`, each image scaled by `scale` (nearest neighbour) with its lines
 * under it. All cells must have the same w and h. Returns 0, or PD_EIO with
 * err naming the path. */
int preview_write(const char *path, const char *title, const struct preview_cell *cells,
                  size_t n, int cols, int scale, struct pd_err *err);

/* Draws text into an RGB image of width w and height h at (x, y) (the top
 * left of the first character), clipped. Returns the x after the text. */
int preview_text(uint8_t *img, int w, int h, int x, int y, const char *text,
                 const uint8_t rgb[3]);

#endif
