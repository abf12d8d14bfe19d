/* digest.c - SHA-256 through OpenSSL's EVP interface (see digest.h).
 * The EVP_MD is fetched once: an implicit fetch on every call costs more than
 * hashing a small key. */
#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_md(void)
{
  sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (!sha256_md)
    BUG("OpenSSL has no SHA256");
}

static const EVP_MD *md(void)
{
  pthread_once(&sha256_once, fetch_md);
  return sha256_md;
}

void digest_buf(const void *p, size_t n, uint8_t out[PD_DIGEST_LEN])
{
  unsigned int len = 0;
  if (!EVP_Digest(p, n, out, &len, md(), NULL) || len != PD_DIGEST_LEN)
    BUG("EVP_Digest failed");
}

void digest_init(struct digest_ctx *ctx)
{
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (!c || !EVP_DigestInit_ex(c, md(), NULL))
    BUG("EVP_DigestInit failed");
  ctx->md_ctx = c;
}

void digest_update(struct digest_ctx *ctx, const void *p, size_t n)
{
  if (!EVP_DigestUpdate(ctx->md_ctx, p, n))
    BUG("EVP_DigestUpdate failed");
}

void digest_final(struct digest_ctx *ctx, uint8_t out[PD_DIGEST_LEN])
{
  unsigned int len = 0;
  if (!EVP_DigestFinal_ex(ctx->md_ctx, out, &len) || len != PD_DIGEST_LEN)
    BUG("EVP_DigestFinal failed");
  EVP_MD_CTX_free(ctx->md_ctx);
  ctx->md_ctx = NULL;
}

int digest_file(const char *path, uint8_t out[PD_DIGEST_LEN], uint64_t *size,
                struct pd_err *err)
{
  static const size_t bufsz = 1 << 20;
  struct digest_ctx ctx;
  uint64_t total = 0;
  char *buf;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
  buf = xmalloc(bufsz);
  digest_init(&ctx);
  for (;;) {
    ssize_t n = read(fd, buf, bufsz);
    if (n < 0) {
      int e = errno;
      if (e == EINTR)
        continue;
      digest_final(&ctx, out);
      free(buf);
      close(fd);
      return ERR_SET(err, -e, "cannot read '%s': %s", path, strerror(e));
    }
    if (n == 0)
      break;
    digest_update(&ctx, buf, (size_t)n);
    total += (uint64_t)n;
  }
  digest_final(&ctx, out);
  free(buf);
  close(fd);
  if (size)
    *size = total;
  return 0;
}

void digest_hex(const uint8_t d[PD_DIGEST_LEN], char out[PD_DIGEST_HEX])
{
  static const char hex[] = "0123456789abcdef";
  int i;
  for (i = 0; i < PD_DIGEST_LEN; i++) {
    out[2 * i] = hex[d[i] >> 4];
    out[2 * i + 1] = hex[d[i] & 15];
  }
  out[64] = '\0';
}

static int hexval(int c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int digest_from_hex(const char *hex, uint8_t d[PD_DIGEST_LEN])
{
  int i;
  for (i = 0; i < PD_DIGEST_LEN; i++) {
    int hi = hexval(hex[2 * i]), lo;
    if (hi < 0)
      return -1;
    lo = hexval(hex[2 * i + 1]);
    if (lo < 0)
      return -1;
    d[i] = (uint8_t)(hi << 4 | lo);
  }
  return hex[64] == '\0' ? 0 : -1;
}
