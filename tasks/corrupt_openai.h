/* corrupt_openai.h - the `openai` backend of corrupt_captions: each
 * description of a split rewritten into a hallucination by an
 * OpenAI-compatible chat-completions API, the image attached, every
 * response memoized per item.
 *
 * The run (corrupt_openai_run) owns a private uv loop and struct http on the
 * kind's worker thread: up to `concurrency` requests in flight, limited by
 * rpm / tpm (rate_limit.h), retried by http_retry.h with the chat validator
 * (a response that is not JSON or has no text is retried and never
 * memoized). Each usable response is committed to the memo as it arrives,
 * so a killed run resumes without paying twice; `replay` serves only from
 * the memo.
 *
 * The pure pieces below are exposed for tests: the prompt template, the
 * objects list, base64 and the memo key.
 */
#ifndef PD_CORRUPT_OPENAI_H
#define PD_CORRUPT_OPENAI_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "strbuf.h"

struct task_run;
struct corrupt_world;
struct corrupt_mention;

/* The template used when the `prompt` parameter is left empty. */
extern const char corrupt_openai_default_prompt[];

/* Appends tmpl to out with {answer}, {objects} and {question} replaced by
 * the given strings; other braces are copied as they are. */
void corrupt_openai_render(const char *tmpl, const char *answer, const char *objects,
                           const char *question, struct strbuf *out);

/* "red circle (top left); blue square (bottom right)", or "none". */
void corrupt_openai_objects(const struct corrupt_world *w, const struct corrupt_mention *m,
                            int n, struct strbuf *out);

/* Standard base64 (RFC 4648, with padding) of p[0..n-1], appended to out. */
void corrupt_openai_base64(const void *p, size_t n, struct strbuf *out);

/* What a response depends on. Strings must not be NULL. */
struct corrupt_openai_key {
  uint8_t item[PD_DIGEST_LEN];   /* corrupt_openai_item_digest */
  uint8_t prompt[PD_DIGEST_LEN]; /* SHA-256 of the template text */
  const char *model, *base_url;
  double temperature;
  long max_tokens;
  uint64_t seed;
};

/* SHA-256 of (chosen answer, question, image id, SHA-256 of the image's
 * pixels), each length-prefixed. */
void corrupt_openai_item_digest(const char *chosen, const char *question, const char *image,
                                const uint8_t pixels[PD_DIGEST_LEN],
                                uint8_t out[PD_DIGEST_LEN]);
/* The memo key: SHA-256 of a versioned tag and every field of k, each
 * length-prefixed (temperature as %.17g). */
void corrupt_openai_memo_key(const struct corrupt_openai_key *k, uint8_t out[PD_DIGEST_LEN]);

/* 1 when url's host is 127.0.0.0/8, ::1 or localhost. */
int corrupt_openai_loopback(const char *url);

/* The backend, called by corrupt_captions' run for backend = "openai". */
int corrupt_openai_run(struct task_run *r);

#endif
