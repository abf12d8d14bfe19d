/* corrupt_pairs.h - one item of items.jsonl into corrupt_captions' pairs:
 * which turns become pairs, the chosen answer (the ground truth rendered
 * from the objects, without label noise), the rejected one (the rules), the
 * check that it is false of the image, and the pair's JSON line.
 *
 * Turns: an answer whose human turn starts with "Describe" (after
 * "<image>") is a description; an answer "Yes." or "No." is a yes/no turn
 * (a pair only with questions on, when its question names a category of
 * the world and the objects agree with the answer); others are ignored.
 *
 * The turn classification (corrupt_pairs_turn) and the pair-line writer
 * (corrupt_pairs_line, corrupt_pairs_edit) are shared with the `openai`
 * backend (corrupt_openai_io.c), so both backends pick the same turns and
 * write the same line format.
 *
 * Pure: the same line gives the same bytes on any thread. The RNG of a
 * description is Philox keyed by the seed, its counter holding (the first 8
 * bytes of the SHA-256 of the item id, the turn, CORRUPT_STREAM).
 */
#ifndef PD_CORRUPT_PAIRS_H
#define PD_CORRUPT_PAIRS_H

#include <stddef.h>
#include <stdint.h>

#include "corrupt_rules.h"
#include "strbuf.h"

#define CORRUPT_STREAM 16 /* Philox stream number of the rules */

/* Why an answer could not be corrupted. */
enum corrupt_skip {
  CORRUPT_SKIP_NO_OBJECTS,     /* nothing to describe or edit */
  CORRUPT_SKIP_NO_EDIT,        /* no kind with weight > 0 applies */
  CORRUPT_SKIP_STILL_TRUE,     /* the final check failed (a guard: not seen on any data) */
  CORRUPT_SKIP_NO_DESCRIPTION, /* the item has no description turn */
  CORRUPT_SKIP_QUESTION,       /* a yes/no question naming no category of the world */
  CORRUPT_SKIP_DISAGREES,      /* a yes/no answer the objects contradict */
  CORRUPT_NSKIP
};
extern const char *const corrupt_skip_keys[CORRUPT_NSKIP];  /* "no_objects", ... (the summary's) */
extern const char *const corrupt_skip_names[CORRUPT_NSKIP]; /* "no objects in the ground truth" */

/* Only size_t fields: corrupt_counts_add adds them as an array. */
struct corrupt_counts {
  size_t items, pairs, described, asked; /* items read; pairs; of them descriptions, yes/no */
  size_t edits[CORRUPT_NKIND];
  size_t top[CORRUPT_NKIND];         /* insert/replace: the most co-occurring candidate */
  size_t short_answers, missing;     /* answers with fewer edits than asked; edits missing */
  size_t skipped, skipped_items, skip[CORRUPT_NSKIP]; /* answers; items left with no pair */
  size_t noisy_items, noisy_mentions; /* label noise left out of the chosen answers */
  size_t ignored_turns;              /* answers neither descriptions nor yes/no */
};

struct corrupt_ctx {
  const struct corrupt_world *w;
  struct corrupt_opts o;
  uint64_t seed;
  int questions; /* yes/no turns make pairs too */
};

/* The outcome of one item. */
struct corrupt_line {
  struct strbuf out;        /* its pair lines, each ending in '\n' (initialised by the caller) */
  struct corrupt_counts c;
  char id[48];              /* the first answer skipped: item id (empty when none), turn, why */
  int skip_turn, skip;
};

void corrupt_counts_add(struct corrupt_counts *a, const struct corrupt_counts *b);

/* What answer t of it is (see the top of this file). */
enum corrupt_turn_kind {
  CORRUPT_TURN_NONE,     /* not an answer to a human turn */
  CORRUPT_TURN_DESCRIBE, /* a description: the human turn starts with "Describe" */
  CORRUPT_TURN_YESNO,    /* "Yes." or "No." to another question */
  CORRUPT_TURN_OTHER     /* any other answer (counted as ignored) */
};
enum corrupt_turn_kind corrupt_pairs_turn(const struct corrupt_item *it, int t);

/* s without a leading "<image>" token and the blanks after it; points into s. */
const char *corrupt_pairs_strip_image(const char *s);

/* Appends the start of a pair line to o, up to and including "edits":[ :
 *   {"id":ID or "ID-tTURN" past turn 1,"image":...,"turn":TURN,
 *    "prompt":PROMPT with "<image>\n" prefixed when it lacks one,
 *    "chosen":...,"rejected":...,"edits":[
 * then come corrupt_pairs_edit calls and "]}\n". */
void corrupt_pairs_line(struct strbuf *o, const struct corrupt_item *it, int turn,
                        const char *prompt, const char *chosen, const char *rejected);
/* Appends {"kind":KIND,"object":...,"detail":...}, after a ',' unless first.
 * kind is written as it is (a plain word, not escaped). */
void corrupt_pairs_edit(struct strbuf *o, int first, const char *kind, const char *object,
                        const char *detail);

/* Appends the pairs of item it (parsed by corrupt_item_parse) to res->out
 * and counts them in res->c. Touches nothing shared: items run in parallel. */
void corrupt_pairs_item(const struct corrupt_ctx *c, const struct corrupt_item *it,
                        struct corrupt_line *res);

#endif
