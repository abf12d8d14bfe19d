/* gen_util.h - what the `generate` and `evaluate` kinds share: a
 * fetch_subset split read with its images, a trained model directory with
 * its tokenizer, the chat template's generation prompt, and batched
 * generation over many (image, prompt) requests (see gen_util.c).
 */
#ifndef PD_GEN_UTIL_H
#define PD_GEN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "digest.h"
#include "llava.h"
#include "tokenizer.h"

struct pd_err;

struct gen_key {
  char *image; /* owned */
  int row;
};

struct gen_item {
  char *id, *image; /* owned */
  int row;          /* in the split's images */
  size_t line;      /* in items.jsonl, from 1 */
};

struct gen_split {
  uint8_t *pixels;  /* nimg * S * S * 3, HWC */
  int nimg, S;
  struct gen_key *index; /* image -> row, sorted by image */
  size_t nindex;
  struct gen_item *items;
  size_t n;
};

/* Called for each item read, with its parsed line; returns 0 or an error
 * (naming path:line). */
typedef int gen_item_cb(void *arg, size_t i, const cJSON *item, const char *path, size_t line,
                        struct pd_err *err);

/* Reads the split directory dir (images.safetensors, index.tsv,
 * items.jsonl): the first limit items (0: all), each needing "image" (in
 * index.tsv) and taking "id" (default: the image). cb may be NULL. Returns
 * 0 or an error naming the file (and line); s is then released. */
int gen_split_read(struct gen_split *s, const char *dir, size_t limit, gen_item_cb *cb,
                   void *arg, struct pd_err *err);
void gen_split_release(struct gen_split *s);
/* Row of image key, or -1. */
int gen_split_row(const struct gen_split *s, const char *image);

struct gen_model {
  struct llava m;
  struct tokenizer tk;
  char digest[PD_DIGEST_HEX]; /* SHA-256 of model.safetensors, hex */
};

/* Loads DIR/model.safetensors and DIR/vocab.json. Returns 0 or an error
 * naming the file (gm is then released). */
int gen_model_load(struct gen_model *gm, const char *dir, struct pd_err *err);
void gen_model_release(struct gen_model *gm);

/* The template's prompt for text, exactly the training prefix up to and
 * including ASSISTANT: (tokenizer_example with an empty answer, less its
 * </s>). Returns the ids (malloc'd); *n their count. */
int *gen_prompt(const struct gen_model *gm, const char *text, int *n);

struct gen_req {
  int row;           /* image row in the split */
  const int *prompt; /* borrowed, Tp ids */
  int Tp;
  int *out;          /* max_new_tokens ids, filled (the caller's memory) */
  int len;           /* answer tokens (before </s>), filled */
};

struct gen_opts {
  int max_new_tokens, batch;
  float eos_bias, temperature, top_p;
  uint64_t seed;
  int threads;      /* batches computed at once, each whole by one thread: the answers do
                     * not depend on it (0 or 1: this thread only) */
};

/* Called after each batch; a nonzero return stops gen_run (PD_EINTR). */
typedef int gen_progress_cb(void *arg, size_t done, size_t total, size_t tokens);

/* Answers every request. Greedy (temperature 0): requests of equal prompt
 * length go together in batches of up to o->batch rows, in request order
 * (the answers do not depend on the batching: each row's logits are
 * computed independently; checked by the tests). Sampling (temperature >
 * 0): one request at a time, with the Philox key splitmix64(seed, request
 * index), so that the answers do not depend on o->batch either. Returns 0,
 * PD_EUSAGE when the images or a prompt do not fit the model, or PD_EINTR. */
int gen_run(struct gen_model *gm, const struct gen_split *s, struct gen_req *reqs, size_t n,
            const struct gen_opts *o, gen_progress_cb *cb, void *arg, struct pd_err *err);

#endif
