/* shapes_draw.c - the built-in world's pixels: twelve glyphs and a scene
 * renderer (see shapes.h).
 *
 * Each glyph is an inside test on normalised coordinates (u, v) in [-1, 1]^2,
 * v pointing down, so it is exact and needs no tables. Anti-aliasing is 4x4
 * supersampling: a pixel's coverage is the fraction of its 16 sample points
 * inside the glyph. A glyph is blended over the background with its contrast
 * as opacity; specks are small axis-aligned squares with exact box coverage;
 * Gaussian noise goes over everything last, then values are clamped and
 * rounded to 8 bits. Glyphs are not rotated.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "shapes.h"

#define SUB 4 /* samples per pixel per side */

/* Five-pointed star, point up, centred on its box (outer radius 1, inner .47). */
static const float star_pts[10][2] = {
  { 0.0000f, -0.9000f }, { 0.2763f, -0.2802f }, { 0.9511f, -0.2090f }, { 0.4470f, 0.2452f },
  { 0.5878f, 0.9090f }, { 0.0000f, 0.5700f }, { -0.5878f, 0.9090f }, { -0.4470f, 0.2452f },
  { -0.9511f, -0.2090f }, { -0.2763f, -0.2802f },
};

/* Even-odd crossing test. */
static int in_polygon(const float (*pt)[2], int n, float u, float v)
{
  int i, j, in = 0;
  for (i = 0, j = n - 1; i < n; j = i++)
    if ((pt[i][1] > v) != (pt[j][1] > v) &&
        u < (pt[j][0] - pt[i][0]) * (v - pt[i][1]) / (pt[j][1] - pt[i][1]) + pt[i][0])
      in = !in;
  return in;
}

static int inside(int cat, float u, float v)
{
  float au = fabsf(u), av = fabsf(v), m = au > av ? au : av, r2 = u * u + v * v;
  switch (cat) {
  case 0: /* circle */
    return r2 <= 1.0f;
  case 1: /* square: area close to the circle's */
    return m <= 0.84f;
  case 2: /* triangle, apex up */
    return v <= 0.8f && v >= -0.95f && au <= (v + 0.95f) * (0.95f / 1.75f);
  case 3: /* diamond */
    return au + av <= 1.0f;
  case 4: /* cross (x): two diagonal strokes */
    return m <= 0.86f && (fabsf(u - v) <= 0.36f || fabsf(u + v) <= 0.36f);
  case 5: /* plus: two straight strokes */
    return (au <= 0.25f && av <= 0.95f) || (av <= 0.25f && au <= 0.95f);
  case 6: /* star */
    return in_polygon(star_pts, 10, u, v);
  case 7: /* arrow pointing right: shaft and head */
    return (av <= 0.2f && u >= -0.95f && u <= 0.1f) ||
           (u >= 0.0f && u <= 0.95f && av <= (0.95f - u) * (0.85f / 0.95f));
  case 8: /* ring */
    return r2 <= 1.0f && r2 >= 0.55f * 0.55f;
  case 9: /* frame: a square outline */
    return m <= 0.88f && m >= 0.52f;
  case 10: { /* heart: (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, y up */
    float x = u * 1.18f, y = -v * 1.18f + 0.18f, q = x * x + y * y - 1.0f;
    return q * q * q - x * x * y * y * y <= 0.0f;
  }
  case 11: /* bar: a horizontal rectangle */
    return au <= 0.95f && av <= 0.3f;
  }
  return 0;
}

float shapes_glyph_coverage(int cat, float cx, float cy, float size, int px, int py)
{
  float inv = 2.0f / size;
  int i, j, hits = 0;
  for (j = 0; j < SUB; j++) {
    float v = ((float)py + ((float)j + 0.5f) / SUB - cy) * inv;
    for (i = 0; i < SUB; i++) {
      float u = ((float)px + ((float)i + 0.5f) / SUB - cx) * inv;
      hits += inside(cat, u, v);
    }
  }
  return (float)hits / (SUB * SUB);
}

static void blend(float *px, const float rgb[3], float a)
{
  int c;
  for (c = 0; c < 3; c++)
    px[c] += a * (rgb[c] - px[c]);
}

static int clampi(int x, int lo, int hi)
{
  return x < lo ? lo : x > hi ? hi : x;
}

static float overlap(float a0, float a1, float b0, float b1)
{
  float lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
  return hi > lo ? hi - lo : 0.0f;
}

static void draw_object(float *img, const struct shapes_object *o)
{
  const float *rgb = shapes_colours[o->colour].rgb;
  float h = o->size / 2;
  int x0 = clampi((int)floorf(o->cx - h), 0, SHAPES_SIZE - 1);
  int x1 = clampi((int)ceilf(o->cx + h), 0, SHAPES_SIZE - 1);
  int y0 = clampi((int)floorf(o->cy - h), 0, SHAPES_SIZE - 1);
  int y1 = clampi((int)ceilf(o->cy + h), 0, SHAPES_SIZE - 1);
  int x, y;
  for (y = y0; y <= y1; y++)
    for (x = x0; x <= x1; x++) {
      float a = shapes_glyph_coverage(o->cat, o->cx, o->cy, o->size, x, y);
      if (a > 0)
        blend(&img[(y * SHAPES_SIZE + x) * 3], rgb, a * o->contrast);
    }
}

static void draw_speck(float *img, const struct shapes_speck *sp)
{
  int x0 = clampi((int)floorf(sp->x), 0, SHAPES_SIZE - 1);
  int y0 = clampi((int)floorf(sp->y), 0, SHAPES_SIZE - 1);
  int x1 = clampi((int)ceilf(sp->x + sp->side), 0, SHAPES_SIZE - 1);
  int y1 = clampi((int)ceilf(sp->y + sp->side), 0, SHAPES_SIZE - 1);
  int x, y;
  for (y = y0; y <= y1; y++)
    for (x = x0; x <= x1; x++) {
      float a = overlap(sp->x, sp->x + sp->side, (float)x, (float)x + 1) *
                overlap(sp->y, sp->y + sp->side, (float)y, (float)y + 1);
      if (a > 0)
        blend(&img[(y * SHAPES_SIZE + x) * 3], shapes_colours[sp->colour].rgb, a * sp->alpha);
    }
}

void shapes_render(const struct shapes_params *p, int split, uint64_t index,
                   const struct shapes_scene *s, uint8_t *rgb)
{
  float img[SHAPES_PIXELS];
  struct shapes_rng r;
  int i;

  for (i = 0; i < SHAPES_SIZE * SHAPES_SIZE; i++)
    memcpy(&img[i * 3], s->bg, sizeof s->bg);
  for (i = 0; i < s->nspeck; i++)
    draw_speck(img, &s->speck[i]);
  /* Least salient first, so the most salient is on top where boxes touch. */
  for (i = s->n - 1; i >= 0; i--)
    draw_object(img, &s->obj[i]);
  shapes_rng_init(&r, p->seed, split, SHAPES_S_PIXELS, index);
  for (i = 0; i < SHAPES_PIXELS; i++) {
    float v = img[i];
    if (p->noise_sigma > 0)
      v += (float)(p->noise_sigma * shapes_rng_normal(&r));
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    rgb[i] = (uint8_t)(v * 255.0f + 0.5f);
  }
}
