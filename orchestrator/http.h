/* http.h - asynchronous HTTP client on the libuv loop (libcurl multi_socket).
 *
 * One struct http per loop owns a CURLM and one timer; each struct http_req
 * is one transfer. Nothing blocks the loop: curl tells us which sockets to
 * watch (one uv_poll_t each) and when to call it back (the timer). HTTP/2 is
 * negotiated over TLS when the server offers it, with multiplexing; HTTP/1.1
 * connections are kept alive and reused through the multi's connection
 * cache. Retries, validation and rate limits are layered on top in
 * http_retry.h and rate_limit.h.
 *
 * Left out: redirects (not followed), cookies, uploads from files, proxies
 * beyond what libcurl reads from the environment.
 */
#ifndef PD_HTTP_H
#define PD_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <curl/curl.h>
#include <uv.h>

#include "err.h"
#include "strbuf.h"

struct http;
struct http_req;

/* status is 0 when the transfer completed with a 2xx response, else a
 * negative code with req->err filled: PD_ECURL (transport error, HTTP status
 * >= 300, response too large) or UV_ECANCELED (http_cancel, http_close). */
typedef void http_done_cb(struct http_req *req, int status);
typedef void http_close_cb(struct http *h);

enum http_method {
  HTTP_POST, /* body (may be empty) sent as is */
  HTTP_GET
};

/* Response bodies are capped at this when max_response is 0. */
#define HTTP_MAX_RESPONSE_DEFAULT ((size_t)16 << 20)

struct http_req {
  /* Set by the caller before http_submit. The strings are borrowed and must
   * stay valid until done has been called. */
  enum http_method method;
  const char *url;
  const char *const *headers; /* "Name: value" lines, NULL-terminated, or NULL. A
                               * POST without Content-Type gets application/json.
                               * Values of Authorization, Proxy-Authorization,
                               * X-Api-Key, Api-Key and Cookie are secrets: they
                               * never appear in err (replaced by "***"). */
  const char *body;           /* POST body, body_len bytes (need not end in NUL) */
  size_t body_len;
  long timeout_ms;            /* whole transfer; 0 = none */
  long connect_timeout_ms;    /* 0 = libcurl's default (300 s) */
  size_t max_response;        /* bytes; 0 = HTTP_MAX_RESPONSE_DEFAULT */
  const char *cainfo;         /* CA bundle (PEM file) to verify the server with;
                               * NULL = the system's */
  http_done_cb *done;
  void *data;                 /* the caller's */

  /* Filled when done is called; valid until the next http_submit of this
   * req or http_req_release. */
  long status;                /* HTTP status, 0 when no response arrived */
  struct strbuf resp;         /* response body, NUL-terminated */
  char content_type[128];     /* Content-Type of the final response, or "" */
  char retry_after[64];       /* raw Retry-After value, or "" */
  CURLcode result;            /* libcurl's verdict on the transfer */
  char errbuf[CURL_ERROR_SIZE];
  struct pd_err err;          /* why status != 0 (URL named, secrets redacted) */
  double elapsed;             /* seconds from submit to done */
  long new_conns;             /* connections this transfer opened (0: reused one) */
  long http_version;          /* CURL_HTTP_VERSION_1_1, _2_0... of the response */

  /* Private. */
  struct http *h;
  CURL *easy;                 /* non-NULL while the transfer is active */
  struct curl_slist *slist;
  struct http_req *prev, *next;
  uint64_t t0;
  int too_big;
};

struct http {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timer;          /* curl's single timeout (CURLMOPT_TIMERFUNCTION) */
  struct http_req *active;   /* transfers in flight, for cancel on close */
  struct http_sock *socks;   /* open polls, to close them on shutdown */
  CURL **idle;               /* easy handles kept for reuse */
  size_t nidle, idle_max;
  size_t nactive;
  int open_handles;          /* timer + polls not yet closed */
  int depth;                 /* > 0 while done callbacks run from a dispatch */
  int closing;               /* http_close called: no more submits */
  int cleaning;              /* inside curl_multi_cleanup */
  http_close_cb *close_cb;
  void *data;                /* the caller's */
};

/* Sets up h on loop. max_conns bounds the connections kept in the cache
 * (0 = 128). Returns 0 or PD_ECURL with err set. */
int http_init(struct http *h, uv_loop_t *loop, long max_conns, struct pd_err *err);
/* Cancels every active transfer (their done gets UV_ECANCELED), cleans up
 * the multi and closes the timer and polls; cb (may be NULL) runs once all
 * handles are closed, after which h may be freed. Safe to call from a done
 * callback. */
void http_close(struct http *h, http_close_cb *cb);

/* Zeroes r and sets its defaults (POST, no timeout). */
void http_req_init(struct http_req *r);
/* Frees the response buffer. r must not be active. */
void http_req_release(struct http_req *r);

/* Starts the transfer. Returns 0 (done will be called exactly once) or a
 * negative code with r->err set (done is not called). */
int http_submit(struct http *h, struct http_req *r);
/* Stops an active transfer; its done is called with UV_ECANCELED before
 * http_cancel returns. No effect when r is not active. */
void http_cancel(struct http_req *r);
/* 1 while r has been submitted and done has not been called yet. */
int http_active(const struct http_req *r);

/* "POST" or "GET". */
const char *http_method_name(enum http_method m);

/* Writes into out the url fit for messages: without user:password@ and
 * without the query string (either may hold a key). */
void http_url_for_msg(const char *url, char *out, size_t n);

/* Inside the http module: replaces the values of r's secret headers found
 * in msg (NUL-terminated, edited in place) with "***". */
void http__redact(const struct http_req *r, char *msg);

#endif
