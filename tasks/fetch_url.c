/* fetch_url.c - a pinned, resumable download (see fetch_url.h).
 *
 * DEST.part is both the partial download and the lock: an fd on it holds
 * flock(LOCK_EX) for the whole transfer, and is re-checked against the
 * path after locking (another holder may have renamed or deleted it).
 */
#include "fetch_url.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "err.h"

struct xfer {
  int fd;
  uint64_t have;            /* bytes on disk before this transfer */
  uint64_t wrote;           /* bytes written by this transfer */
  int werrno;               /* a failed write's errno */
  fetch_url_progress_cb *cb;
  void *arg;
  int cancelled;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

int fetch_url_check_pin(const char *hex)
{
  uint8_t d[PD_DIGEST_LEN];
  return hex && strlen(hex) == 64 && digest_from_hex(hex, d) == 0 ? 0 : -1;
}

int fetch_url_is_url(const char *url)
{
  return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0 ||
         strncmp(url, "file://", 7) == 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
  struct xfer *x = arg;
  size_t n = size * nmemb, off = 0;
  while (off < n) {
    ssize_t w = write(x->fd, p + off, n - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      x->werrno = w < 0 ? errno : EIO;
      return 0; /* CURLE_WRITE_ERROR */
    }
    off += (size_t)w;
  }
  x->wrote += n;
  return n;
}

static int on_xferinfo(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
  struct xfer *x = arg;
  (void)ultotal;
  (void)ulnow;
  if (x->cb && x->cb(x->arg, x->have + (uint64_t)dlnow,
                     dltotal > 0 ? x->have + (uint64_t)dltotal : 0)) {
    x->cancelled = 1;
    return 1; /* CURLE_ABORTED_BY_CALLBACK */
  }
  return 0;
}

/* One transfer appending to x->fd from byte x->have. Returns the CURLcode;
 * *http the response code (0 for file://). */
static CURLcode transfer(const char *url, struct xfer *x, long *http, char *errbuf)
{
  CURL *h = curl_easy_init();
  CURLcode cc;
  if (!h)
    return CURLE_FAILED_INIT;
  errbuf[0] = '\0';
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https,file");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE));
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
  /* A stalled server fails the attempt instead of holding the slot forever. */
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "povid-dag");
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
  if (x->have > 0)
    curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)x->have);
  cc = curl_easy_perform(h);
  *http = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, http);
  curl_easy_cleanup(h);
  return cc;
}

/* Opens and locks part, retrying while another holder replaced it. */
static int lock_part(const char *part, int *out, struct pd_err *err)
{
  for (;;) {
    struct stat a, b;
    int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return ERR_SET(err, -errno, "cannot open '%s': %s", part, strerror(errno));
    while (flock(fd, LOCK_EX) < 0)
      if (errno != EINTR) {
        int e = errno;
        close(fd);
        return ERR_SET(err, -e, "cannot lock '%s': %s", part, strerror(e));
      }
    if (fstat(fd, &a) == 0 && stat(part, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
      *out = fd;
      return 0;
    }
    close(fd);
  }
}

/* 1 if path holds bytes with digest want, 0 if not (or absent). */
static int matches(const char *path, const uint8_t want[PD_DIGEST_LEN])
{
  uint8_t got[PD_DIGEST_LEN];
  struct pd_err e = { 0 };
  return digest_file(path, got, NULL, &e) == 0 && memcmp(got, want, PD_DIGEST_LEN) == 0;
}

int fetch_url(const char *url, const char *sha256_hex, const char *dest,
              fetch_url_progress_cb *cb, void *arg, struct pd_err *err)
{
  uint8_t want[PD_DIGEST_LEN], got[PD_DIGEST_LEN];
  char errbuf[CURL_ERROR_SIZE], got_hex[PD_DIGEST_HEX], want_hex[PD_DIGEST_HEX];
  struct xfer x;
  char *part;
  int fd = -1, restarted = 0, rc = 0;
  CURLcode cc;
  long http;

  if (fetch_url_check_pin(sha256_hex) < 0)
    return ERR_SET(err, PD_EUSAGE, "'%s': the sha256 pin must be 64 hex digits, got '%s'", url,
                   sha256_hex ? sha256_hex : "");
  digest_from_hex(sha256_hex, want);
  digest_hex(want, want_hex); /* lowercase, for messages */
  if (matches(dest, want))
    return 0;
  pthread_once(&curl_once, curl_init_once);
  part = xasprintf("%s.part", dest);
  if ((rc = lock_part(part, &fd, err)) < 0)
    goto out;
  if (matches(dest, want)) { /* finished by the holder we waited for */
    unlink(part);               /* the empty one we created; still locked */
    goto out;
  }
  unlink(dest); /* stale bytes under the final name: never trusted */

  memset(&x, 0, sizeof x);
  x.fd = fd;
  x.cb = cb;
  x.arg = arg;
  for (;;) {
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) {
      rc = ERR_SET(err, -errno, "cannot seek '%s': %s", part, strerror(errno));
      goto out;
    }
    x.have = (uint64_t)end;
    x.wrote = 0;
    cc = transfer(url, &x, &http, errbuf);
    if (cc == CURLE_OK)
      break;
    if (x.cancelled) {
      rc = ERR_SET(err, PD_EINTR, "download of '%s' cancelled (%llu bytes kept in '%s')", url,
                   (unsigned long long)(x.have + x.wrote), part);
      goto out;
    }
    if (cc == CURLE_WRITE_ERROR && x.werrno) {
      rc = ERR_SET(err, -x.werrno, "cannot write '%s': %s", part, strerror(x.werrno));
      goto out;
    }
    /* The partial cannot be resumed (no range support, a range past the end,
     * a changed file): start over, once. */
    if (x.have > 0 && !restarted &&
        (cc == CURLE_RANGE_ERROR || cc == CURLE_BAD_DOWNLOAD_RESUME ||
         (cc == CURLE_HTTP_RETURNED_ERROR && http == 416))) {
      restarted = 1;
      if (ftruncate(fd, 0) < 0) {
        rc = ERR_SET(err, -errno, "cannot truncate '%s': %s", part, strerror(errno));
        goto out;
      }
      continue;
    }
    rc = ERR_SET(err, PD_ECURL, "cannot download '%s': %s", url,
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
    goto out;
  }
  if (fsync(fd) < 0) {
    rc = ERR_SET(err, -errno, "cannot write '%s': %s", part, strerror(errno));
    goto out;
  }
  if ((rc = digest_file(part, got, NULL, err)) < 0)
    goto out;
  if (memcmp(got, want, PD_DIGEST_LEN) != 0) {
    digest_hex(got, got_hex);
    unlink(part); /* wrong bytes are never resumed */
    rc = ERR_SET(err, PD_ECORRUPT, "'%s': sha256 mismatch: expected %s, got %s", url, want_hex,
                 got_hex);
    goto out;
  }
  if (rename(part, dest) < 0)
    rc = ERR_SET(err, -errno, "cannot rename '%s' to '%s': %s", part, dest, strerror(errno));
out:
  if (fd >= 0)
    close(fd); /* drops the lock */
  free(part);
  return rc;
}
