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
 * The pure pieces (the prompt template, the objects list, base64, the
 * request body, the memo key) are in corrupt_openai_request.h, included
 * here for the tests.
 */
#ifndef PD_CORRUPT_OPENAI_H
#define PD_CORRUPT_OPENAI_H

#include "corrupt_openai_request.h"

struct task_run;

/* The backend, called by corrupt_captions' run for backend = "openai". */
int corrupt_openai_run(struct task_run *r);

/* corrupt_captions' dry-run note for backend = "openai" (registry.h,
 * dry_run): reads the items, images and prompt template as the run does,
 * computes every answer's memo key with the run's own function and counts
 * the memo's hits. Appends to out "openai: N of M answers would be
 * requested, K served from the memo" (M: answers needing a response; N + K
 * = M), then, when prices are set and the memo has usage to go by, an
 * estimated cost; with replay = true, "openai replay: K of M answers served
 * from the memo[, N missing: the run would fail (first: item 'ID', turn
 * T)]". Never sends anything and needs no API key. Returns 0, or an error
 * with r->err set. */
int corrupt_openai_dry_run(struct task_run *r, struct strbuf *out);

#endif
