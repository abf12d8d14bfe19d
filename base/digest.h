/* digest.h - SHA-256 digests (OpenSSL libcrypto), one-shot and streamed. */
#ifndef PD_DIGEST_H
#define PD_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define PD_DIGEST_LEN 32
#define PD_DIGEST_HEX 65 /* 64 hex digits and the NUL */

struct digest_ctx {
  void *md_ctx; /* EVP_MD_CTX* */
};

void digest_buf(const void *p, size_t n, uint8_t out[PD_DIGEST_LEN]);
void digest_init(struct digest_ctx *ctx);
void digest_update(struct digest_ctx *ctx, const void *p, size_t n);
/* Writes the digest and frees the context. */
void digest_final(struct digest_ctx *ctx, uint8_t out[PD_DIGEST_LEN]);

/* Streams the file at path through SHA-256 (never loads it whole).
 * Returns 0, or -errno with err set naming the path. */
struct pd_err;
int digest_file(const char *path, uint8_t out[PD_DIGEST_LEN], uint64_t *size,
                struct pd_err *err);

void digest_hex(const uint8_t d[PD_DIGEST_LEN], char out[PD_DIGEST_HEX]);
/* Returns 0, or -1 if hex is not 64 hex digits. */
int digest_from_hex(const char *hex, uint8_t d[PD_DIGEST_LEN]);

#endif
