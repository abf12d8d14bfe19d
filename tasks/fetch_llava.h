/* fetch_llava.h - fetch_subset's real-data sources: a LLaVA-Instruct JSON
 * file plus an image folder (LLaVA-Instruct-150K, POVID's 17K subset),
 * turned into the same artifacts as builtin:shapes.
 *
 * Input: a JSON array of {"id": "...", "image": "NAME.jpg", "conversations":
 * [{"from": "human", "value": "<image>\n..."}, {"from": "gpt", "value":
 * "..."}, ...]}; the first human turn must hold the <image> token. Images
 * (JPEG or PNG, via stb_image) are NAME under the image folder; NAME may
 * have subfolders but no ".." and must not be absolute.
 *
 * Conversation type of an item (fetch_llava_type_of), first rule that applies:
 *   1. the id starts with "detail" or "desc" -> description, "complex" or
 *      "reason" -> reasoning, "conv" -> conversation (case-insensitive;
 *      derived sets that tag their ids);
 *   2. more than one human turn -> conversation;
 *   3. the first human question contains "describe" or "detailed
 *      description" (case-insensitive) -> description;
 *   4. else reasoning.
 *
 * Pick (fetch_llava_pick): each type's items, in file order, are shuffled with a
 * generator seeded by (seed, type). Eval takes items round-robin across the
 * types from the back of the shuffled lists, train round-robin from the
 * front; a type that runs out is skipped. So each split is balanced (type
 * counts differ by at most 1 while no type is exhausted), deterministic by
 * seed, and prefix-stable: the first n items of a larger pick are the
 * smaller pick. Train does not depend on the eval count (nor eval on the
 * train count) unless a type has fewer items than both ask of it.
 *
 * Images are center-cropped to a square and box-filtered to size x size
 * (area average when shrinking, nearest when enlarging), RGB.
 *
 * Outputs (fetch_llava_run): train/eval split directories in dataset.h's layout
 * (items.jsonl, images.safetensors U8 [N, S, S, 3], index.tsv); items are
 *   {"id": "train-000000", "image": "train-000000", "type": "description",
 *    "source_id": "<id in the file>", "source_image": "<NAME>",
 *    "conversations": [the file's turns, verbatim], "objects": [],
 *    "mentions": []}
 * "objects" and "mentions" are empty: real data has no object ground
 * truth. POPE files are written empty and world.json has "categories": []
 * and a "note" saying why, with the pick's type counts. The preview shows
 * the first 16 training images with their ids and types.
 * Left out: reading many images in parallel, archives, COCO annotations.
 */
#ifndef PD_FETCH_LLAVA_H
#define PD_FETCH_LLAVA_H

#include <stddef.h>
#include <stdint.h>

struct pd_err;
struct task_run;

enum llava_type {
  LLAVA_DESCRIPTION,
  LLAVA_REASONING,
  LLAVA_CONVERSATION,
  LLAVA_NTYPE
};

extern const char *const llava_type_names[LLAVA_NTYPE]; /* "description", ... */

struct llava_item {
  char *id;            /* as in the file */
  char *image;         /* file name under the image folder */
  char *conversations; /* the turns as compact JSON */
  int type;            /* enum llava_type */
};

struct llava_set {
  char *path;
  struct llava_item *items; /* file order */
  size_t n;
  size_t count[LLAVA_NTYPE];
};

/* Reads and checks the JSON file at path. Returns 0, or a negative code
 * with err naming the file and the item at fault (malformed JSON:
 * "'PATH':LINE:COL: malformed JSON (byte OFFSET)"); s is then released. */
int llava_set_load(struct llava_set *s, const char *path, struct pd_err *err);
void llava_set_release(struct llava_set *s);

/* The rule above; human_turns counts the turns from "human". */
int fetch_llava_type_of(const char *id, const char *first_question, int human_turns);

/* Fills train[0..ntrain) and eval[0..neval) with item indexes (disjoint).
 * Returns 0, or PD_EUSAGE when the file has fewer than ntrain + neval
 * items. */
int fetch_llava_pick(const struct llava_set *s, uint64_t seed, size_t ntrain, size_t neval,
               size_t *train, size_t *eval, struct pd_err *err);

/* Center-crops and resizes a w x h RGB image into out (size x size x 3). */
void fetch_llava_resize(const uint8_t *rgb, int w, int h, int size, uint8_t *out);

/* Loads the image of item i of s from images_dir into out (size x size x
 * 3). Returns 0, or an error naming the item id and the path: -ENOENT
 * "item 'ID': image 'PATH' not found", PD_EUSAGE for an undecodable one. */
int fetch_llava_load_image(const struct llava_set *s, size_t i, const char *images_dir, int size,
                     uint8_t *out, struct pd_err *err);

/* fetch_subset's run for source "llava" (params json and images_dir) and
 * for a pinned URL (params sha256 and images_dir): the URL's file is
 * downloaded (fetch_url.h) to <cache>/tmp/fetch-<sha256>.json, where an
 * interrupted download is resumed by the next attempt and a finished one
 * reused (cache gc drops it after a day), or under the task's output
 * folder when the run has no cache; it is read as the LLaVA JSON and not
 * stored as an output (the pin already names it). Writes every output of
 * fetch_subset. */
int fetch_llava_run(struct task_run *r);

#endif
