/* tokenizer.h - text <-> token ids for the model, and the chat template.
 *
 * A tokenizer is an opaque handle behind a table of operations, so that a
 * BPE tokenizer can come later beside the word-level one here. Every
 * tokenizer has the same special tokens, with these fixed ids:
 *   <pad> = 0, <image> = 1 (the model's cfg.image_token), <s> = 2, </s> = 3,
 *   <unk> = 4, "USER:" = 5, "ASSISTANT:" = 6.
 *
 * The word-level tokenizer: text is split into lowercase words (runs of
 * letters, digits and bytes >= 0x80) and single punctuation characters;
 * whitespace separates and is dropped. The special tokens' strings are
 * recognised in text as they are written (case-sensitive, "<image>" anywhere,
 * the others at word starts). The vocabulary is built from a corpus: the
 * specials, then words by decreasing count (ties by byte order), up to a cap.
 * Words outside it encode as <unk>.
 *
 * Saved as vocab.json: {"type": "word", "lowercase": true,
 * "tokens": ["<pad>", "<image>", ...]}, the id of a token being its index.
 *
 * Chat template (LLaVA's Vicuna v1, single turn):
 *   <s> USER: <image>\n{prompt} ASSISTANT: {answer}</s>
 * Left out: the system prompt, multi-turn examples (each turn of an item
 * is its own example), byte fallback for unknown words.
 */
#ifndef PD_TOKENIZER_H
#define PD_TOKENIZER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pd_err;
struct strbuf;

enum tok_special {
  TOK_PAD = 0,
  TOK_IMAGE = 1,
  TOK_BOS = 2,
  TOK_EOS = 3,
  TOK_UNK = 4,
  TOK_USER = 5,
  TOK_ASSISTANT = 6,
  TOK_NSPECIAL = 7
};

struct tokenizer;

struct tokenizer_ops {
  const char *type; /* "word" */
  /* Appends the ids of text to out (cap entries); returns how many ids the
   * text has, which may exceed cap (then out holds the first cap). */
  size_t (*encode)(const struct tokenizer *tk, const char *text, int *out, size_t cap);
  /* The string of id (borrowed while tk lives), or NULL if out of range. */
  const char *(*token)(const struct tokenizer *tk, int id);
  int (*save)(const struct tokenizer *tk, const char *path, struct pd_err *err);
  void (*release)(struct tokenizer *tk);
};

struct tokenizer {
  const struct tokenizer_ops *ops;
  int vocab;  /* number of ids */
  void *impl; /* owned by ops */
};

/* Builds a word-level vocabulary from n texts: at most cap ids (cap >= the
 * specials). Returns 0, or PD_EUSAGE for a cap below TOK_NSPECIAL. */
int tokenizer_build_word(struct tokenizer *tk, const char *const *texts, size_t n, int cap,
                         struct pd_err *err);
/* Loads vocab.json (any type this file knows). Returns 0 or an error naming
 * the path. */
int tokenizer_load(struct tokenizer *tk, const char *path, struct pd_err *err);
int tokenizer_save(const struct tokenizer *tk, const char *path, struct pd_err *err);
void tokenizer_release(struct tokenizer *tk);

size_t tokenizer_encode(const struct tokenizer *tk, const char *text, int *out, size_t cap);
/* Appends the text of ids to out: tokens separated by one space, none
 * before punctuation (.,!?;:)') or after ( and '; <pad> is skipped. */
void tokenizer_decode(const struct tokenizer *tk, const int *ids, size_t n, struct strbuf *out);

/* One training example in the template, for a model over T text positions:
 * seq = <s> USER: <image> prompt ASSISTANT: answer </s>; tokens[t] = seq[t],
 * targets[t] = seq[t + 1], weights[t] = 1 where seq[t + 1] is part of the
 * answer (</s> included), else 0. Sequences longer than T + 1 are cut at the
 * end (the answer loses its tail); shorter ones are padded with <pad>,
 * target 0 and weight 0. A "<image>" in prompt is dropped (the template
 * places the image). Returns the length of seq before cutting. T >= 3. */
int tokenizer_example(const struct tokenizer *tk, const char *prompt, const char *answer,
                      int T, int *tokens, int *targets, float *weights);

#ifdef __cplusplus
}
#endif

#endif
