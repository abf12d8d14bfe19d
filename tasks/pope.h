/* pope.h - POPE question sets (Li et al. 2023, "Evaluating Object
 * Hallucination in Large Vision-Language Models") for the eval split.
 *
 * Per image: up to 3 present objects (all of them when the image has 3 or
 * fewer, else 3 drawn at random), each asked about with answer "yes", and 3
 * absent categories with answer "no", sampled three ways:
 *   random       uniformly among the absent categories
 *   popular      the absent categories most frequent in the training split
 *   adversarial  the absent categories co-occurring most with the image's
 *                objects in the training split (sum of co-occurrence counts)
 * Ties go to the more frequent category, then to category order. The
 * present set is the same in all three files, as in POPE.
 *
 * Output: a directory with random.jsonl, popular.jsonl, adversarial.jsonl,
 * lines {"question_id": 1, "image": "eval-000000", "text": "Is there a star
 * in the image?", "label": "yes", "category": "star"}, yes and no
 * alternating per image, question_id counting from 1 in each file.
 */
#ifndef PD_POPE_H
#define PD_POPE_H

#include <stdint.h>

#include "shapes.h"

struct pd_err;
struct dataset;
struct world_stats;

#define POPE_K 3

enum pope_sampler {
  POPE_RANDOM,
  POPE_POPULAR,
  POPE_ADVERSARIAL,
  POPE_NSAMPLER
};

extern const char *const pope_sampler_names[POPE_NSAMPLER]; /* "random", ... */

/* The present categories asked about for eval image index (at most POPE_K,
 * salience order). Returns how many. */
int pope_present(const struct shapes_scene *s, uint64_t seed, uint64_t index, int *out);
/* The absent categories of sampler for that image; returns how many
 * (POPE_K unless fewer are absent). */
int pope_absent(enum pope_sampler sampler, const struct shapes_scene *s,
                const struct world_stats *train, uint64_t seed, uint64_t index, int *out);

/* Writes the three files into dir (created). */
int pope_write(const char *dir, const struct dataset *eval, const struct world_stats *train,
               uint64_t seed, struct pd_err *err);

#endif
