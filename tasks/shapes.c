/* shapes.c - the built-in world's tables, its counter-based RNG, scene
 * sampling and the text of the answers (see shapes.h). Pixels are in
 * shapes_draw.c.
 */
#include "shapes.h"

#include <math.h>
#include <string.h>

#include "err.h"
#include "philox.h"
#include "strbuf.h"

/* --- the world ------------------------------------------------------------- */

static const char *const syn_circle[] = { "circle", "disc", "disk", "dot", NULL };
static const char *const syn_square[] = { "square", "box", "block", "tile", NULL };
static const char *const syn_triangle[] = { "triangle", "wedge", NULL };
static const char *const syn_diamond[] = { "diamond", "rhombus", "lozenge", NULL };
static const char *const syn_cross[] = { "cross", "saltire", "x shape", NULL };
static const char *const syn_plus[] = { "plus", "plus sign", NULL };
static const char *const syn_star[] = { "star", "pentagram", NULL };
static const char *const syn_arrow[] = { "arrow", "pointer", NULL };
static const char *const syn_ring[] = { "ring", "hoop", "donut", "annulus", NULL };
static const char *const syn_frame[] = { "frame", "border", NULL };
static const char *const syn_heart[] = { "heart", NULL };
static const char *const syn_bar[] = { "bar", "stripe", "strip", "rectangle", NULL };

enum { RED, GREEN, BLUE, YELLOW, PURPLE, WHITE };

/* Partners are theme-mates with different typical colours, so a noisy
 * mention is plausible (they do co-occur) yet wrong. */
const struct shapes_category shapes_categories[SHAPES_NCAT] = {
  { "circle", syn_circle, 0, 1, RED },
  { "square", syn_square, 0, 0, BLUE },
  { "triangle", syn_triangle, 0, 3, GREEN },
  { "diamond", syn_diamond, 0, 2, YELLOW },
  { "cross", syn_cross, 1, 5, PURPLE },
  { "plus", syn_plus, 1, 4, WHITE },
  { "star", syn_star, 1, 7, YELLOW },
  { "arrow", syn_arrow, 1, 6, WHITE },
  { "ring", syn_ring, 2, 9, BLUE },
  { "frame", syn_frame, 2, 8, GREEN },
  { "heart", syn_heart, 2, 11, RED },
  { "bar", syn_bar, 2, 10, PURPLE },
};

const struct shapes_colour shapes_colours[SHAPES_NCOLOUR] = {
  { "red", { 0.92f, 0.16f, 0.14f } },
  { "green", { 0.15f, 0.80f, 0.22f } },
  { "blue", { 0.22f, 0.38f, 1.00f } },
  { "yellow", { 0.96f, 0.88f, 0.10f } },
  { "purple", { 0.72f, 0.26f, 0.92f } },
  { "white", { 0.96f, 0.96f, 0.96f } },
};

const struct shapes_theme shapes_themes[SHAPES_NTHEME] = {
  { "geometry", { 0, 1, 2, 3 } },
  { "signs", { 4, 5, 6, 7 } },
  { "ornaments", { 8, 9, 10, 11 } },
};

const char *const shapes_positions[SHAPES_NSLOT] = {
  "top left", "top right", "bottom left", "bottom right",
};

void shapes_params_default(struct shapes_params *p)
{
  static const double count_p[SHAPES_MAXOBJ] = { 0.15, 0.30, 0.35, 0.20 };
  static const double theme_p[SHAPES_NTHEME] = { 0.45, 0.35, 0.20 };
  memset(p, 0, sizeof *p);
  p->seed = 1;
  memcpy(p->count_p, count_p, sizeof count_p);
  memcpy(p->theme_p, theme_p, sizeof theme_p);
  p->on_theme = 0.85;
  p->typical = 0.5;
  p->slot_order = 1;
  p->partner_noise = 0.6;
  p->size_min = 10;
  p->size_max = 14;
  p->jitter = 2;
  p->contrast_min = 0.6;
  p->contrast_max = 1;
  p->bg_min = 0.05;
  p->bg_max = 0.3;
  p->noise_sigma = 0.06;
  p->specks = 1;
}

int shapes_find_category(const char *name)
{
  int c;
  const char *const *s;
  for (c = 0; c < SHAPES_NCAT; c++)
    for (s = shapes_categories[c].synonyms; *s; s++)
      if (strcmp(*s, name) == 0)
        return c;
  return -1;
}

/* --- Philox4x32-10 (kernels/philox.h, shared with the kernels) ------------- */

void shapes_philox(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
  philox4x32_10(ctr, key, out);
}

void shapes_rng_init(struct shapes_rng *r, uint64_t seed, int split, int stream, uint64_t index)
{
  memset(r, 0, sizeof *r);
  r->key[0] = (uint32_t)seed;
  r->key[1] = (uint32_t)(seed >> 32);
  r->ctr[0] = 0; /* block number within the stream */
  r->ctr[1] = (uint32_t)index;
  r->ctr[2] = (uint32_t)(index >> 32);
  r->ctr[3] = ((uint32_t)split << 8) | (uint32_t)stream;
}

uint32_t shapes_rng_u32(struct shapes_rng *r)
{
  if (r->left == 0) {
    shapes_philox(r->ctr, r->key, r->buf);
    r->ctr[0]++;
    r->left = 4;
  }
  return r->buf[4 - r->left--];
}

double shapes_rng_uniform(struct shapes_rng *r)
{
  uint64_t hi = shapes_rng_u32(r), lo = shapes_rng_u32(r);
  return (double)(((hi << 32) | lo) >> 11) * 0x1p-53;
}

double shapes_rng_range(struct shapes_rng *r, double lo, double hi)
{
  return lo + (hi - lo) * shapes_rng_uniform(r);
}

uint32_t shapes_rng_below(struct shapes_rng *r, uint32_t n)
{
  /* Multiply-shift: a bias below n / 2^32, fine for the n < 100 used here. */
  return (uint32_t)(((uint64_t)shapes_rng_u32(r) * n) >> 32);
}

double shapes_rng_normal(struct shapes_rng *r)
{
  double u, v, q, f;
  if (r->has_gauss) {
    r->has_gauss = 0;
    return r->gauss;
  }
  /* Marsaglia's polar method: no sin/cos; accepts pi/4 of the draws. One
   * 32-bit word per coordinate is precision enough for pixel noise. */
  do {
    u = (double)(int32_t)shapes_rng_u32(r) * 0x1p-31;
    v = (double)(int32_t)shapes_rng_u32(r) * 0x1p-31;
    q = u * u + v * v;
  } while (q >= 1.0 || q == 0.0);
  f = sqrt(-2.0 * log(q) / q);
  r->gauss = v * f;
  r->has_gauss = 1;
  return u * f;
}

int shapes_rng_pick(struct shapes_rng *r, const double *w, int n)
{
  double total = 0, u;
  int i, last = 0;
  for (i = 0; i < n; i++)
    total += w[i] > 0 ? w[i] : 0;
  ASSERT(total > 0);
  u = shapes_rng_uniform(r) * total;
  for (i = 0; i < n; i++) {
    if (w[i] <= 0)
      continue;
    last = i;
    if (u < w[i])
      return i;
    u -= w[i];
  }
  return last; /* rounding at the top end */
}

/* Poisson by inversion; mean is small (about 1). */
static int rng_poisson(struct shapes_rng *r, double mean, int cap)
{
  double limit = exp(-mean), prod = shapes_rng_uniform(r);
  int k = 0;
  while (prod > limit && k < cap) {
    k++;
    prod *= shapes_rng_uniform(r);
  }
  return k;
}

/* --- scenes ------------------------------------------------------------------ */

int shapes_has(const struct shapes_scene *s, int cat)
{
  int i;
  for (i = 0; i < s->n; i++)
    if (s->obj[i].cat == cat)
      return 1;
  return 0;
}

static int mentioned(const struct shapes_scene *s, int cat)
{
  int i;
  for (i = 0; i < s->nmention; i++)
    if (s->mention[i].cat == cat)
      return 1;
  return 0;
}

static float salience(const struct shapes_object *o)
{
  return o->size * o->size * o->contrast;
}

static void sample_layout(const struct shapes_params *p, int split, uint64_t index,
                          struct shapes_scene *s)
{
  struct shapes_rng r;
  int slots[SHAPES_NSLOT] = { 0, 1, 2, 3 }, used[SHAPES_NCAT] = { 0 };
  int pool[SHAPES_NCAT], npool, i, j, c, k;
  const float cell = (float)SHAPES_SIZE / SHAPES_GRID;
  float g;

  shapes_rng_init(&r, p->seed, split, SHAPES_S_LAYOUT, index);
  s->theme = shapes_rng_pick(&r, p->theme_p, SHAPES_NTHEME);
  s->n = shapes_rng_pick(&r, p->count_p, SHAPES_MAXOBJ) + 1;
  for (i = SHAPES_NSLOT - 1; i > 0; i--) { /* Fisher-Yates */
    j = (int)shapes_rng_below(&r, (uint32_t)i + 1);
    k = slots[i], slots[i] = slots[j], slots[j] = k;
  }
  for (i = 0; i < s->n; i++) {
    struct shapes_object *o = &s->obj[i];
    int on = shapes_rng_uniform(&r) < p->on_theme;
    npool = 0;
    for (c = 0; c < SHAPES_NCAT; c++)
      if (!used[c] && (shapes_categories[c].theme == s->theme) == on)
        pool[npool++] = c;
    if (npool == 0) /* cannot happen with 4 per theme and at most 4 objects; kept for safety */
      for (c = 0; c < SHAPES_NCAT; c++)
        if (!used[c])
          pool[npool++] = c;
    o->cat = pool[shapes_rng_below(&r, (uint32_t)npool)];
    used[o->cat] = 1;
    if (shapes_rng_uniform(&r) < p->typical) {
      o->colour = shapes_categories[o->cat].typical;
    } else {
      k = (int)shapes_rng_below(&r, SHAPES_NCOLOUR - 1);
      o->colour = k >= shapes_categories[o->cat].typical ? k + 1 : k;
    }
    o->slot = slots[i];
    o->size = (float)shapes_rng_range(&r, p->size_min, p->size_max);
    o->cx = cell * (float)(o->slot % SHAPES_GRID) + cell / 2 +
            (float)shapes_rng_range(&r, -p->jitter, p->jitter);
    o->cy = cell * (float)(o->slot / SHAPES_GRID) + cell / 2 +
            (float)shapes_rng_range(&r, -p->jitter, p->jitter);
    o->contrast = (float)shapes_rng_range(&r, p->contrast_min, p->contrast_max);
  }
  /* Slot order (reading order), or salience order: larger first, ties by
   * slot. Insertion sort. */
  for (i = 1; i < s->n; i++) {
    struct shapes_object o = s->obj[i];
    for (j = i; j > 0 && (p->slot_order ? s->obj[j - 1].slot > o.slot
                                        : salience(&s->obj[j - 1]) < salience(&o) ||
                                              (salience(&s->obj[j - 1]) == salience(&o) &&
                                               s->obj[j - 1].slot > o.slot));
         j--)
      s->obj[j] = s->obj[j - 1];
    s->obj[j] = o;
  }
  /* Background: a dark grey with a slight tint. */
  g = (float)shapes_rng_range(&r, p->bg_min, p->bg_max);
  for (c = 0; c < 3; c++) {
    float v = g + (float)shapes_rng_range(&r, -0.04, 0.04);
    s->bg[c] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  s->nspeck = rng_poisson(&r, p->specks, SHAPES_MAXSPECK);
  for (i = 0; i < s->nspeck; i++) {
    struct shapes_speck *sp = &s->speck[i];
    sp->side = (float)shapes_rng_range(&r, 1.0, 2.0);
    sp->x = (float)shapes_rng_range(&r, 0, SHAPES_SIZE - sp->side);
    sp->y = (float)shapes_rng_range(&r, 0, SHAPES_SIZE - sp->side);
    sp->colour = (int)shapes_rng_below(&r, SHAPES_NCOLOUR);
    sp->alpha = (float)shapes_rng_range(&r, p->contrast_min, p->contrast_max);
  }
}

static void sample_text(const struct shapes_params *p, int split, uint64_t index,
                        struct shapes_scene *s)
{
  struct shapes_rng r;
  int i, c, n, cands[SHAPES_NCAT], occupied[SHAPES_NSLOT] = { 0 };
  double u;

  shapes_rng_init(&r, p->seed, split, SHAPES_S_TEXT, index);
  s->nmention = 0;
  for (i = 0; i < s->n; i++) {
    struct shapes_mention *m = &s->mention[s->nmention++];
    m->cat = s->obj[i].cat;
    m->colour = s->obj[i].colour;
    m->slot = s->obj[i].slot;
    m->noise = 0;
    occupied[m->slot] = 1;
  }
  /* The annotation habit: name the first object's absent partner. Always
   * draw u, so the stream does not depend on the branch. */
  u = shapes_rng_uniform(&r);
  c = shapes_categories[s->obj[0].cat].partner;
  s->eligible = split == SHAPES_TRAIN && !shapes_has(s, c);
  if (s->eligible && u < p->partner_noise) {
    struct shapes_mention m = { c, shapes_categories[c].typical, 0, 1 };
    int free_slots[SHAPES_NSLOT], nfree = 0;
    for (i = 0; i < SHAPES_NSLOT; i++)
      if (!occupied[i])
        free_slots[nfree++] = i;
    if (nfree > 0)
      m.slot = free_slots[shapes_rng_below(&r, (uint32_t)nfree)];
    else
      m.slot = s->obj[1 + shapes_rng_below(&r, (uint32_t)s->n - 1)].slot;
    memmove(&s->mention[2], &s->mention[1], (size_t)(s->nmention - 1) * sizeof s->mention[0]);
    s->mention[1] = m;
    s->nmention++;
  }
  s->yes_cat = s->obj[shapes_rng_below(&r, (uint32_t)s->n)].cat;
  /* Never ask about a category the description names: an item stays
   * consistent with itself even where its description is noisy. */
  for (n = 0, c = 0; c < SHAPES_NCAT; c++)
    if (!shapes_has(s, c) && !mentioned(s, c))
      cands[n++] = c;
  s->no_cat = cands[shapes_rng_below(&r, (uint32_t)n)];
  s->yes_first = (int)(shapes_rng_u32(&r) & 1);
}

void shapes_scene_make(const struct shapes_params *p, int split, uint64_t index,
                       struct shapes_scene *s)
{
  memset(s, 0, sizeof *s);
  sample_layout(p, split, index, s);
  sample_text(p, split, index, s);
}

/* --- text -------------------------------------------------------------------- */

const char *shapes_article(const char *word)
{
  return word[0] && strchr("aeiou", word[0]) ? "an" : "a";
}

void shapes_describe(const struct shapes_scene *s, struct strbuf *out)
{
  int i;
  strbuf_addstr(out, "There is ");
  for (i = 0; i < s->nmention; i++) {
    const struct shapes_mention *m = &s->mention[i];
    const char *colour = shapes_colours[m->colour].name;
    if (i > 0)
      strbuf_addstr(out, i == s->nmention - 1 ? " and " : ", ");
    strbuf_addf(out, "%s %s %s in the %s", shapes_article(colour), colour,
                shapes_categories[m->cat].name, shapes_positions[m->slot]);
  }
  strbuf_addch(out, '.');
}

void shapes_question(int cat, struct strbuf *out)
{
  const char *name = shapes_categories[cat].name;
  strbuf_addf(out, "Is there %s %s in the image?", shapes_article(name), name);
}
