/* fetch_url.h - a pinned download: one URL whose bytes must have a given
 * SHA-256, like a Nix fixed-output derivation.
 *
 * The file is fetched with libcurl's blocking easy interface (the caller is
 * a builtin kind on its own worker thread) into DEST.part, verified, and
 * only then renamed to DEST. A DEST.part left by an interrupted or failed
 * attempt is resumed (CURLOPT_RESUME_FROM_LARGE, a Range request over
 * HTTP); a server that ignores or refuses the range makes the download
 * start over once. A DEST already there is verified and reused. Bytes that
 * do not match the pin are deleted, never kept as a partial.
 *
 * Schemes: http, https and file (redirects are followed within them).
 * Left out: archives (the caller reads the file as it is), mirrors, and
 * retries beyond the one restart (the scheduler's `retries` covers them).
 */
#ifndef PD_FETCH_URL_H
#define PD_FETCH_URL_H

#include <stdint.h>

struct pd_err;

/* Called from the transfer with the bytes on disk so far (resumed ones
 * included) and the expected total (0 while unknown); returning nonzero
 * cancels (fetch_url then returns PD_EINTR, keeping DEST.part). */
typedef int fetch_url_progress_cb(void *arg, uint64_t done, uint64_t total);

/* Returns 0 if hex is a SHA-256 pin (64 hex digits, either case), else -1. */
int fetch_url_check_pin(const char *hex);

/* Returns 1 if url starts with http://, https:// or file://, else 0. */
int fetch_url_is_url(const char *url);

/* Downloads url to dest (its folder must exist) and checks its SHA-256
 * against sha256_hex. cb may be NULL. Returns 0, or a negative code with
 * err set: PD_ECURL naming the URL and libcurl's message, PD_ECORRUPT for a
 * pin mismatch ("'URL': sha256 mismatch: expected X, got Y"), PD_EINTR,
 * PD_EUSAGE for a bad pin, -errno for local files. Concurrent calls for
 * the same dest (threads or processes) take turns on a lock on DEST.part. */
int fetch_url(const char *url, const char *sha256_hex, const char *dest,
              fetch_url_progress_cb *cb, void *arg, struct pd_err *err);

#endif
