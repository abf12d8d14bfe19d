/* dataset.h - a split of the built-in world: generated in parallel, written
 * as the dataset artifact every later task reads.
 *
 * The artifact is a directory:
 *   items.jsonl         one item per line, LLaVA conversation format plus
 *                       ground truth (see dataset_item_json)
 *   images.safetensors  one U8 tensor "images" of shape [N, 32, 32, 3] (HWC,
 *                       RGB), row i = line i of items.jsonl; __metadata__
 *                       holds source, split, seed, count and layout
 *   index.tsv           "image<TAB>row" lines after a header line: the row of
 *                       each image key (an item's "image" field)
 *
 * Generation splits the images into fixed chunks taken by worker threads;
 * each image depends only on (params, split, index), so the bytes are the
 * same for any number of threads.
 */
#ifndef PD_DATASET_H
#define PD_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "shapes.h"

struct pd_err;
struct strbuf;

struct dataset {
  int split;                    /* SHAPES_TRAIN or SHAPES_EVAL */
  size_t n;
  struct shapes_scene *scenes;  /* n */
  uint8_t *pixels;              /* n * SHAPES_PIXELS, HWC RGB */
};

/* Called on the calling thread after each chunk; returning nonzero stops
 * the generation (dataset_generate then returns PD_EINTR). */
typedef int dataset_progress_cb(void *arg, size_t done, size_t total);

/* Generates images 0..n-1 of split with up to `threads` threads (the
 * caller's included). cb may be NULL. Returns 0 or PD_EINTR; d is then
 * released. */
int dataset_generate(struct dataset *d, const struct shapes_params *p, int split, size_t n,
                     int threads, dataset_progress_cb *cb, void *arg, struct pd_err *err);
void dataset_release(struct dataset *d);

const char *dataset_split_name(int split); /* "train", "eval" */
/* "train-000042": stable whatever the subset's size. */
void dataset_item_id(int split, size_t i, char *buf, size_t n);

/* Item i as one JSON line (no newline):
 *   {"id": "train-000042", "image": "train-000042", "theme": "geometry",
 *    "conversations": [{"from": "human", "value": "<image>\nDescribe this image."},
 *                      {"from": "gpt", "value": "There is a red circle in the top left."},
 *                      {"from": "human", "value": "Is there a star in the image?"},
 *                      {"from": "gpt", "value": "No."}, ...the yes question],
 *    "objects": [{"category": "circle", "colour": "red", "position": "top left",
 *                 "box": [x, y, w, h], "contrast": 0.83}],   salience order
 *    "mentions": [{"category": "circle", "colour": "red", "position": "top left",
 *                  "noise": false}]}                         the description's objects
 * A mention with "noise": true is label noise (train only). box is the
 * glyph's square box in pixels. */
void dataset_item_json(const struct dataset *d, size_t i, struct strbuf *out);

/* Writes the artifact directory dir (created; its parent must exist).
 * source is recorded in the tensor metadata. */
int dataset_write(const struct dataset *d, const struct shapes_params *p, const char *source,
                  const char *dir, struct pd_err *err);

#endif
