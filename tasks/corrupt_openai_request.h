/* corrupt_openai_request.h - the pure pieces of one request of the `openai`
 * backend of corrupt_captions (corrupt_openai.h): the prompt template and
 * the objects list it is filled with, the chat-completions body with the
 * image as a base64 PNG data URL, the memo key of a response, the memo's
 * value, and the parsing of a response.
 *
 * Why apart: none of it touches the loop, the cache or the run, so the
 * tests call it directly and the driver (corrupt_openai.c) stays about the
 * requests in flight.
 *
 * Left out: sending anything (http_retry.h), images other than U8 RGB,
 * streaming responses, tool calls, several choices per request.
 */
#ifndef PD_CORRUPT_OPENAI_REQUEST_H
#define PD_CORRUPT_OPENAI_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "strbuf.h"

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

/* The parameters of a request, the same for every answer of a run. */
struct corrupt_openai_params {
  const char *model;
  double temperature;
  long max_tokens;
  uint64_t seed;
};

/* Appends the chat-completions body to out: one user message holding text
 * (the rendered prompt) and pix (H x W x 3 U8, RGB) as a PNG data URL, then
 * p's temperature, max_tokens and seed. Returns 0, or -1 when the PNG
 * cannot be encoded. */
int corrupt_openai_body(const struct corrupt_openai_params *p, const char *text, size_t ntext,
                        const uint8_t *pix, int W, int H, struct strbuf *out);

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

/* A response as the memo keeps it: the rewrite and the tokens it cost. */
struct corrupt_openai_reply {
  char *text;       /* owned (malloc) */
  long ptok, ctok;  /* usage: prompt and completion tokens, >= 0 */
};

/* Appends the memo value of rp: {"text":...,"usage":{...}}. */
void corrupt_openai_memo_value(const struct corrupt_openai_reply *rp, struct strbuf *out);
/* Parses a memo value (s, n bytes) into rp. Returns 0, or -1 when it is not
 * one (rp is then untouched). */
int corrupt_openai_memo_parse(const char *s, size_t n, struct corrupt_openai_reply *rp);
/* Parses a chat-completions response: the first choice's content, trimmed
 * of blanks, and the usage (0 when absent). Returns 0, or -1 when it has no
 * content (rp is then untouched). */
int corrupt_openai_response_parse(const char *s, size_t n, struct corrupt_openai_reply *rp);

/* 1 when url's host is 127.0.0.0/8, ::1 or localhost. */
int corrupt_openai_loopback(const char *url);

#endif
