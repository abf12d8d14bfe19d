/* shapes.h - the built-in synthetic world ("builtin:shapes").
 *
 * Procedural, seeded 32x32 RGB scenes with exact ground truth, made so that
 * a small vision-language model trained on them hallucinates the way
 * LLaVA-1.5 does on COCO, and for the same reason: the pixels show the
 * objects, but the training descriptions carry an annotation habit (a
 * category's "partner" is named even when absent) that the language model
 * learns. Eval ground truth is always clean.
 *
 * A scene is a 2x2 grid of slots holding 1-4 objects of distinct categories
 * in distinct slots. Categories come in themes (a scene picks a theme, each
 * object is on-theme with probability on_theme), each has a typical colour
 * and a partner. Every number is a field of struct shapes_params.
 *
 * Randomness is counter based (Philox4x32-10, Salmon et al. 2011): the key is
 * the seed and the counter holds (block, image index, split, stream), so an
 * image depends only on (seed, split, index) and subsets are prefixes of one
 * another. Separate streams keep the layout, the pixels and the text apart:
 * changing the label-noise rate does not move a pixel.
 *
 * shapes.c: world tables, RNG, scene sampling, text. shapes_draw.c: glyphs
 * and pixels. Left out: rotation, occlusion, counting and relations.
 */
#ifndef PD_SHAPES_H
#define PD_SHAPES_H

#include <stddef.h>
#include <stdint.h>

struct strbuf;

#define SHAPES_SIZE 32    /* pixels per side */
#define SHAPES_GRID 2     /* slots per side */
#define SHAPES_NSLOT (SHAPES_GRID * SHAPES_GRID)
#define SHAPES_PIXELS (SHAPES_SIZE * SHAPES_SIZE * 3) /* bytes of one HWC RGB image */
#define SHAPES_NCAT 12
#define SHAPES_NCOLOUR 6
#define SHAPES_NTHEME 3
#define SHAPES_THEME_SIZE 4
#define SHAPES_MAXOBJ 4
#define SHAPES_MAXSPECK 6
#define SHAPES_MAXMENTION (SHAPES_MAXOBJ + 1)

enum shapes_split {
  SHAPES_TRAIN = 0, /* descriptions carry partner label noise */
  SHAPES_EVAL = 1   /* clean */
};

/* RNG streams inside one (seed, split, index). */
enum shapes_stream {
  SHAPES_S_LAYOUT = 1, /* theme, count, slots, categories, colours, geometry */
  SHAPES_S_PIXELS = 2, /* background, specks, pixel noise */
  SHAPES_S_TEXT = 3,   /* label noise, question choice, turn order */
  SHAPES_S_POPE = 4
};

struct shapes_category {
  const char *name;
  const char *const *synonyms; /* NULL-terminated; the name first */
  int theme;                   /* index into shapes_themes */
  int partner;                 /* category named by the annotation habit */
  int typical;                 /* typical colour */
};

struct shapes_colour {
  const char *name;
  float rgb[3]; /* 0..1 */
};

struct shapes_theme {
  const char *name;
  int cats[SHAPES_THEME_SIZE];
};

extern const struct shapes_category shapes_categories[SHAPES_NCAT];
extern const struct shapes_colour shapes_colours[SHAPES_NCOLOUR];
extern const struct shapes_theme shapes_themes[SHAPES_NTHEME];
extern const char *const shapes_positions[SHAPES_NSLOT]; /* "top left", ... row-major */

/* Every knob of the generator. Probabilities need not be normalised. */
struct shapes_params {
  uint64_t seed;
  double count_p[SHAPES_MAXOBJ];  /* weights of 1..4 objects per image: .15 .30 .35 .20 */
  double theme_p[SHAPES_NTHEME];  /* weights of the themes: .45 .35 .20 */
  double on_theme;                /* P(an object's category is from the scene's theme): .85 */
  double typical;                 /* P(an object takes its category's typical colour): .5 */
  double partner_noise;           /* P(train description names the absent partner of the first object): .6 */
  double size_min, size_max;      /* glyph size in pixels: 10..14 */
  double jitter;                  /* max offset of a glyph centre from its slot centre: 2 px */
  double contrast_min, contrast_max; /* opacity of a glyph over the background: .6..1 */
  double bg_min, bg_max;          /* background grey level: .05..0.3 */
  double noise_sigma;             /* Gaussian pixel noise on [0,1] pixels: .06 */
  double specks;                  /* mean number of unlabelled colour specks (Poisson): 1 */
  int slot_order;                 /* objects (and descriptions) in reading order of the slots
                                     (top left, top right, bottom left, bottom right): 1;
                                     0: salience order (size^2 * contrast, larger first) */
};

struct shapes_object {
  int cat, colour, slot;
  float cx, cy;    /* centre in pixels (pixel i spans [i, i+1)) */
  float size;      /* side of the glyph's box in pixels */
  float contrast;  /* opacity over the background */
};

struct shapes_speck {
  float x, y, side, alpha;
  int colour;
};

/* One object named in the description. Label noise names an absent
 * category in its typical colour; slot is then a free slot (or, when all
 * four are taken, another object's). */
struct shapes_mention {
  int cat, colour, slot;
  int noise;
};

struct shapes_scene {
  int theme;
  int n;                                 /* objects, in slot order or salience order (slot_order) */
  struct shapes_object obj[SHAPES_MAXOBJ];
  float bg[3];
  int nspeck;
  struct shapes_speck speck[SHAPES_MAXSPECK];
  /* Text. */
  int nmention;
  struct shapes_mention mention[SHAPES_MAXMENTION];
  int eligible;   /* train: the first object's partner is absent, so noise could be added */
  int yes_cat;    /* "Is there a X?" -> yes: a present object */
  int no_cat;     /* -> no: an absent category never mentioned */
  int yes_first;  /* order of the two questions */
};

/* The defaults listed in struct shapes_params (seed 1). */
void shapes_params_default(struct shapes_params *p);

/* Samples the scene (layout, then text) of image index of split. Depends on
 * nothing else. split is SHAPES_TRAIN or SHAPES_EVAL. */
void shapes_scene_make(const struct shapes_params *p, int split, uint64_t index,
                       struct shapes_scene *s);

/* Draws the scene into rgb (SHAPES_PIXELS bytes, HWC). Deterministic. */
void shapes_render(const struct shapes_params *p, int split, uint64_t index,
                   const struct shapes_scene *s, uint8_t *rgb);

/* Anti-aliased coverage (0..1) of category cat's glyph of side size centred
 * at (cx, cy), for the pixel whose top-left corner is (px, py). */
float shapes_glyph_coverage(int cat, float cx, float cy, float size, int px, int py);

/* "There is a red circle in the top left and a blue square in the bottom
 * right." from s->mention. */
void shapes_describe(const struct shapes_scene *s, struct strbuf *out);
/* "Is there a star in the image?" */
void shapes_question(int cat, struct strbuf *out);
/* "a" or "an" for word. */
const char *shapes_article(const char *word);
/* 1 if category cat is among the scene's objects. */
int shapes_has(const struct shapes_scene *s, int cat);
/* Category index by name or synonym, or -1. */
int shapes_find_category(const char *name);

/* --- counter-based RNG --------------------------------------------------- */

struct shapes_rng {
  uint32_t key[2];
  uint32_t ctr[4];
  uint32_t buf[4];
  int left;        /* unread words in buf */
  int has_gauss;
  double gauss;
};

/* Philox4x32-10 on a counter block with a key (Random123's philox4x32_R). */
void shapes_philox(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
void shapes_rng_init(struct shapes_rng *r, uint64_t seed, int split, int stream, uint64_t index);
uint32_t shapes_rng_u32(struct shapes_rng *r);
double shapes_rng_uniform(struct shapes_rng *r);            /* [0, 1), 53 bits */
double shapes_rng_range(struct shapes_rng *r, double lo, double hi);
uint32_t shapes_rng_below(struct shapes_rng *r, uint32_t n); /* [0, n) */
double shapes_rng_normal(struct shapes_rng *r);              /* N(0, 1), polar method */
/* Index drawn from weights w[0..n-1] (not all zero). */
int shapes_rng_pick(struct shapes_rng *r, const double *w, int n);

#endif
