/* chair.h - the metrics of the `evaluate` kind, as pure functions over
 * texts and counts (no model, no files), so that they can be tested alone.
 *
 * CHAIR (Rohrbach et al. 2018, "Object Hallucination in Image Captioning"):
 * an answer mentions a category when one of the category's synonyms occurs
 * in it as whole words. Matching: the text is lowercased and split into
 * words (runs of ASCII letters and digits, and bytes >= 0x80; everything
 * else separates, so "x-shape" reads as "x shape"); at each word the
 * longest synonym (most words first, then most bytes) that matches there
 * wins and its words are consumed, so "plus sign" is one mention of plus,
 * and "a plus" another. Plurals: the world's descriptions use singular
 * nouns; the LAST word of a synonym also matches with a trailing "s"
 * ("dots", "plus signs"), or "es" after s, x, z, ch and sh ("crosses",
 * "boxes"). Nothing else is stemmed ("discus" is not "disc"). A category counts
 * once per answer however often it is named (CHAIR_I counts distinct
 * objects per answer, as the original does). Ground truth is the SET of
 * an image's categories (two circles are one ground-truth object).
 *   CHAIR_I = hallucinated mentions / mentions
 *   CHAIR_S = answers with a hallucinated mention / answers
 *   recall  = ground-truth objects mentioned / ground-truth objects
 * (0 when the denominator is 0).
 *
 * POPE (Li et al. 2023): an answer is parsed as LLaVA's eval_pope.py does:
 * lowercased, cut at its first '.', and "no" when the words "no" or "not"
 * occur in it, else "yes". Words here are split at any non-alphanumeric
 * byte (eval_pope.py splits at spaces after dropping commas, so "no!" is
 * "no" here, "yes" there). Positive = yes:
 *   accuracy = (tp + tn) / n, precision = tp / (tp + fp),
 *   recall = tp / (tp + fn), f1 = 2 p r / (p + r), yes_ratio = (tp + fp) / n
 * (0 when a denominator is 0).
 */
#ifndef PD_CHAIR_H
#define PD_CHAIR_H

#include <stddef.h>

struct pd_err;

struct chair_syn {
  char **words; /* lowercase words, nwords of them */
  int nwords;
  size_t len;   /* total bytes of the words, for the longest-first order */
  int cat;
};

struct chair_vocab {
  char **cats;  /* category names, in the world's order */
  int ncat;
  struct chair_syn *syn; /* sorted longest first once chair_vocab_finish ran */
  size_t nsyn;
};

void chair_vocab_init(struct chair_vocab *v);
void chair_vocab_release(struct chair_vocab *v);
/* Adds a category (its own name is NOT a synonym until added as one).
 * Returns its index. */
int chair_vocab_add_category(struct chair_vocab *v, const char *name);
/* Adds a synonym of category cat (split into words as texts are); a synonym
 * with no words is ignored. */
void chair_vocab_add_synonym(struct chair_vocab *v, int cat, const char *text);
/* Sorts the synonyms for matching; call after the last add. */
void chair_vocab_finish(struct chair_vocab *v);
/* Index of the category named name (exact, case-sensitive), or -1. */
int chair_vocab_find(const struct chair_vocab *v, const char *name);
/* Fills v from world.json's text: every "categories" entry's name and its
 * "synonyms" (the name itself is always one). path names the file in
 * errors. Returns 0 or PD_EUSAGE. */
int chair_vocab_from_world(struct chair_vocab *v, const char *json, const char *path,
                           struct pd_err *err);

/* Sets mentioned[c] = 1 for every category the text names (mentioned has
 * v->ncat entries, zeroed first). Returns the number of distinct ones. */
int chair_mentions(const struct chair_vocab *v, const char *text, unsigned char *mentioned);
/* Words in text (as chair_mentions splits them). */
size_t chair_count_words(const char *text);

struct chair_counts {
  size_t answers;
  size_t mentions;             /* distinct categories named, summed over answers */
  size_t hallucinated;         /* ... of which not in the image */
  size_t gt_objects;           /* distinct ground-truth categories, summed */
  size_t covered;              /* ... of which named */
  size_t hallucinated_answers; /* answers with >= 1 hallucinated mention */
  size_t words, tokens;        /* answer lengths, summed */
};

struct chair_scores {
  double chair_s, chair_i, recall, objects_per_answer, avg_words, avg_tokens;
};

/* Adds one answer: mentioned and gt are ncat flags. */
void chair_counts_add(struct chair_counts *c, const unsigned char *mentioned,
                      const unsigned char *gt, int ncat, size_t words, size_t tokens);
void chair_counts_scores(const struct chair_counts *c, struct chair_scores *s);

/* 1 when the answer reads as "yes", 0 as "no" (see the header). */
int chair_pope_parse(const char *answer);

struct chair_pope {
  size_t tp, fp, tn, fn;
};

struct chair_pope_scores {
  size_t questions;
  double accuracy, precision, recall, f1, yes_ratio;
};

/* label_yes, pred_yes: 0 or 1. */
void chair_pope_add(struct chair_pope *p, int label_yes, int pred_yes);
void chair_pope_scores(const struct chair_pope *p, struct chair_pope_scores *s);

#endif
