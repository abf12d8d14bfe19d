/* world.h - what a built-in world is and what its data measured: the
 * `world` artifact (world.json) and the statistics POPE samples from.
 *
 * Statistics are counts over a generated split: per category the images
 * containing it, per pair the images containing both (the co-occurrence
 * matrix, diagonal = counts), the same for the categories the descriptions
 * name (label noise included), and the achieved label-noise rate. They are
 * measured, never copied from the generator's settings.
 */
#ifndef PD_WORLD_H
#define PD_WORLD_H

#include <stddef.h>

#include "shapes.h"

struct pd_err;
struct dataset;

struct world_stats {
  size_t images, objects;
  size_t count[SHAPES_NCAT];                  /* images containing the category */
  size_t co[SHAPES_NCAT][SHAPES_NCAT];        /* images containing both */
  size_t mentioned[SHAPES_NCAT];              /* images whose description names it */
  size_t mention_co[SHAPES_NCAT][SHAPES_NCAT];
  size_t nobj[SHAPES_MAXOBJ + 1];             /* images with k objects */
  size_t theme[SHAPES_NTHEME];
  size_t on_theme, typical;                   /* objects of the scene's theme, in their typical colour */
  size_t mentions;                            /* mentions in all descriptions */
  size_t eligible;                            /* descriptions whose first object's partner is absent */
  size_t noisy;                               /* ...that name it anyway */
};

struct world_pair {
  int a, b;        /* ordered: P(b | a) */
  size_t n;        /* images with both */
  double p;        /* co[a][b] / count[a] */
};

void world_stats_add(struct world_stats *w, const struct shapes_scene *s);
/* Resets w and adds every scene of d. */
void world_stats_of(struct world_stats *w, const struct dataset *d);
/* The max most likely ordered pairs by P(b | a) (ties: more images, then
 * category order) into out; returns how many. mentions = 1 ranks the
 * description statistics instead of the objects. */
size_t world_top_pairs(const struct world_stats *w, int mentions, struct world_pair *out,
                       size_t max);

/* Writes world.json at path: image geometry, positions, categories (name,
 * synonyms, theme, partner, typical colour), colours, themes, partner
 * pairs, the generator's settings, and the statistics of train (and eval,
 * when not NULL). */
int world_write(const char *path, const struct shapes_params *p, const char *source,
                const struct world_stats *train, const struct world_stats *eval,
                struct pd_err *err);

#endif
