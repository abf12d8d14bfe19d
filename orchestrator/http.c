/* http.c - libcurl's multi_socket interface driven by a libuv loop (see
 * http.h), after curl's docs/examples/multi-uv.c.
 *
 * curl tells us, through on_socket, which sockets to watch for what: each
 * gets one struct http_sock (a uv_poll_t) stored with curl_multi_assign and
 * freed in its close callback. Through start_timeout it tells us when to
 * call it back even without socket activity: one uv_timer_t. Both paths end
 * in dispatch(), which calls curl_multi_socket_action and then drains
 * curl_multi_info_read to finish completed transfers.
 *
 * Re-entrancy: done callbacks run from dispatch() and may submit, cancel or
 * even close; h->depth marks that, so that http_close waits for the
 * dispatch to unwind before it tears the multi down.
 */
#define _GNU_SOURCE /* memmem */
#include "http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define container_of(ptr, type, member) \
  ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct http_sock {
  uv_poll_t poll;
  curl_socket_t fd;
  struct http *h;
  struct http_sock *prev, *next; /* h->socks, while not closing */
};

static void http_sweep(struct http *h);

const char *http_method_name(enum http_method m)
{
  return m == HTTP_GET ? "GET" : "POST";
}

/* --- sockets and the timer ------------------------------------------------ */

static void on_handle_closed(uv_handle_t *handle)
{
  struct http *h = handle->data;
  if (handle->type == UV_POLL)
    free(container_of((uv_poll_t *)handle, struct http_sock, poll));
  if (--h->open_handles == 0 && h->closing && h->close_cb)
    h->close_cb(h);
}

static void sock_close(struct http_sock *hs)
{
  struct http *h = hs->h;
  if (hs->prev)
    hs->prev->next = hs->next;
  else
    h->socks = hs->next;
  if (hs->next)
    hs->next->prev = hs->prev;
  hs->prev = hs->next = NULL;
  /* uv_close stops the poll at once (the fd leaves epoll before curl closes
   * it), so a new socket that reuses the fd number gets a fresh poll and
   * never meets this one; the memory is freed in the close callback. */
  uv_close((uv_handle_t *)&hs->poll, on_handle_closed);
}

static void dispatch(struct http *h, curl_socket_t fd, int flags);

static void on_poll(uv_poll_t *p, int status, int events)
{
  struct http_sock *hs = container_of(p, struct http_sock, poll);
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  dispatch(hs->h, hs->fd, flags);
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching fd. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
  struct http *h = userp;
  struct http_sock *hs = socketp;
  int events = 0, rc;
  (void)easy;
  if (h->cleaning)
    return 0; /* the polls are already closed (http_sweep) */
  if (what == CURL_POLL_REMOVE) {
    if (hs) {
      if (!h->cleaning)
        curl_multi_assign(h->multi, fd, NULL);
      sock_close(hs);
    }
    return 0;
  }
  if (!hs) {
    hs = xcalloc(1, sizeof *hs);
    hs->fd = fd;
    hs->h = h;
    rc = uv_poll_init_socket(h->loop, &hs->poll, fd);
    if (rc < 0) {
      free(hs);
      return -1; /* curl fails the transfer that owns fd */
    }
    hs->poll.data = h;
    h->open_handles++;
    hs->next = h->socks;
    if (h->socks)
      h->socks->prev = hs;
    h->socks = hs;
    curl_multi_assign(h->multi, fd, hs);
  }
  if (what & CURL_POLL_IN)
    events |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    events |= UV_WRITABLE;
  return uv_poll_start(&hs->poll, events, on_poll) < 0 ? -1 : 0;
}

static void on_timer(uv_timer_t *t)
{
  struct http *h = t->data;
  dispatch(h, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms or stops the timer. Calling libcurl
 * from here would re-enter it; even a 0 ms timeout waits for on_timer. */
static int start_timeout(CURLM *multi, long ms, void *userp)
{
  struct http *h = userp;
  (void)multi;
  if (ms < 0)
    uv_timer_stop(&h->timer);
  else
    uv_timer_start(&h->timer, on_timer, (uint64_t)ms, 0);
  return 0;
}

/* --- transfers ------------------------------------------------------------ */

static size_t on_write(char *p, size_t size, size_t n, void *userp)
{
  struct http_req *r = userp;
  size_t len = size * n, max = r->max_response ? r->max_response : HTTP_MAX_RESPONSE_DEFAULT;
  if (r->resp.len + len > max) {
    r->too_big = 1;
    return 0; /* CURLE_WRITE_ERROR */
  }
  strbuf_add(&r->resp, p, len);
  return len;
}

/* Copies the value of header `name` out of the line p[0..len) into out. */
static int header_value(const char *p, size_t len, const char *name, char *out, size_t n)
{
  size_t k = strlen(name), m;
  if (len <= k || p[k] != ':' || strncasecmp(p, name, k) != 0)
    return 0;
  p += k + 1;
  len -= k + 1;
  while (len && (*p == ' ' || *p == '\t'))
    p++, len--;
  while (len && isspace((unsigned char)p[len - 1]))
    len--;
  m = len < n - 1 ? len : n - 1;
  memcpy(out, p, m);
  out[m] = '\0';
  return 1;
}

static size_t on_header(char *p, size_t size, size_t n, void *userp)
{
  struct http_req *r = userp;
  size_t len = size * n;
  /* A new status line (after a 100 Continue, say) starts a new response. */
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
    r->retry_after[0] = '\0';
  else
    header_value(p, len, "Retry-After", r->retry_after, sizeof r->retry_after);
  return len;
}

void http_url_for_msg(const char *url, char *out, size_t n)
{
  const char *s = strstr(url, "://"), *host = s ? s + 3 : url, *end, *at;
  size_t k;
  /* userinfo ends at the last '@' before the path */
  end = host + strcspn(host, "/?#");
  at = NULL;
  for (const char *q = host; q < end; q++)
    if (*q == '@')
      at = q;
  k = strcspn(url, "?#");
  if (at)
    snprintf(out, n, "%.*s%.*s", (int)(host - url), url, (int)(url + k - (at + 1)), at + 1);
  else
    snprintf(out, n, "%.*s", (int)k, url);
}

static int is_secret_header(const char *line)
{
  static const char *const names[] = { "authorization", "proxy-authorization", "x-api-key",
                                       "api-key", "cookie", NULL };
  for (int i = 0; names[i]; i++) {
    size_t k = strlen(names[i]);
    if (strncasecmp(line, names[i], k) == 0 && line[k] == ':')
      return (int)k;
  }
  return 0;
}

/* Replaces every occurrence of s[0..n) in msg with "***". */
static void redact_one(char *msg, const char *s, size_t n)
{
  char *p;
  if (n < 4) /* too short to be a secret, and would wreck the message */
    return;
  while ((p = memmem(msg, strlen(msg), s, n))) {
    memmove(p + 3, p + n, strlen(p + n) + 1);
    memcpy(p, "***", 3);
  }
}

/* Secrets from the request's headers must not leak into messages, whatever
 * put them there (a server that echoes them in its error body, say). */
void http__redact(const struct http_req *r, char *msg)
{
  if (!r->headers)
    return;
  for (const char *const *hp = r->headers; *hp; hp++) {
    int k = is_secret_header(*hp);
    const char *v, *sp;
    if (!k)
      continue;
    v = *hp + k + 1;
    while (*v == ' ' || *v == '\t')
      v++;
    redact_one(msg, v, strlen(v));
    sp = strchr(v, ' '); /* "Bearer TOKEN": the token alone, too */
    if (sp)
      redact_one(msg, sp + 1, strlen(sp + 1));
  }
}

/* A printable excerpt of the response body, for error messages. Secrets
 * are redacted before the cut, so that none is shown in part. */
static void body_excerpt(const struct http_req *r, char *out, size_t n)
{
  char tmp[4096];
  size_t i, k, max = 200;
  for (i = 0; i < r->resp.len && i + 1 < sizeof tmp; i++) {
    unsigned char c = (unsigned char)r->resp.buf[i];
    tmp[i] = (char)(c >= 0x20 && c < 0x7f ? c : ' ');
  }
  tmp[i] = '\0';
  http__redact(r, tmp);
  k = strlen(tmp);
  if (k > max)
    snprintf(out, n, "%.*s...", (int)max, tmp);
  else
    snprintf(out, n, "%s", tmp);
}

static int finish_status(struct http_req *r, CURLcode rc)
{
  char url[512], ex[256];
  http_url_for_msg(r->url, url, sizeof url);
  r->result = rc;
  if (rc == CURLE_OK && r->status >= 200 && r->status < 300)
    return 0;
  if (rc == CURLE_OK) {
    body_excerpt(r, ex, sizeof ex);
    ERR_SET(&r->err, PD_ECURL, "cannot %s '%s': http status %ld%s%s",
            http_method_name(r->method), url, r->status, ex[0] ? ": " : "", ex);
  } else if (r->too_big)
    ERR_SET(&r->err, PD_ECURL, "cannot %s '%s': response larger than %zu bytes",
            http_method_name(r->method), url,
            r->max_response ? r->max_response : HTTP_MAX_RESPONSE_DEFAULT);
  else
    ERR_SET(&r->err, PD_ECURL, "cannot %s '%s': %s (curl error %d)",
            http_method_name(r->method), url, r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc),
            (int)rc);
  http__redact(r, r->err.msg);
  return r->err.code;
}

static void unlink_req(struct http *h, struct http_req *r)
{
  if (r->prev)
    r->prev->next = r->next;
  else
    h->active = r->next;
  if (r->next)
    r->next->prev = r->prev;
  r->prev = r->next = NULL;
  h->nactive--;
}

/* Detaches the easy handle from r and keeps it for the next transfer. */
static void release_easy(struct http *h, struct http_req *r)
{
  curl_multi_remove_handle(h->multi, r->easy);
  if (h->nidle < h->idle_max && !h->closing) {
    curl_easy_reset(r->easy);
    h->idle[h->nidle++] = r->easy;
  } else
    curl_easy_cleanup(r->easy);
  r->easy = NULL;
  curl_slist_free_all(r->slist);
  r->slist = NULL;
  unlink_req(h, r);
}

static void finish(struct http *h, struct http_req *r, CURLcode rc)
{
  char *ct = NULL;
  int status;
  curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
  curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &r->new_conns);
  curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION, &r->http_version);
  if (curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
    snprintf(r->content_type, sizeof r->content_type, "%s", ct);
  release_easy(h, r);
  r->elapsed = (double)(uv_hrtime() - r->t0) * 1e-9;
  status = finish_status(r, rc);
  r->done(r, status);
}

static void dispatch(struct http *h, curl_socket_t fd, int flags)
{
  int running, left;
  CURLMsg *msg;
  if (h->closing)
    return;
  h->depth++;
  /* Errors here concern the multi as a whole (CURLM_BAD_SOCKET for a socket
   * curl already forgot is harmless); transfers report through info_read. */
  curl_multi_socket_action(h->multi, fd, flags, &running);
  /* Each message is read afresh: a done callback may add or remove handles. */
  while (!h->closing && (msg = curl_multi_info_read(h->multi, &left))) {
    struct http_req *r = NULL;
    if (msg->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
    finish(h, r, msg->data.result);
  }
  h->depth--;
  if (h->closing && h->depth == 0)
    http_sweep(h);
}

/* --- public --------------------------------------------------------------- */

int http_init(struct http *h, uv_loop_t *loop, long max_conns, struct pd_err *err)
{
  memset(h, 0, sizeof *h);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return ERR_SET(err, PD_ECURL, "cannot initialize libcurl");
  h->loop = loop;
  h->multi = curl_multi_init();
  if (!h->multi) {
    curl_global_cleanup();
    return ERR_SET(err, PD_ECURL, "cannot create a curl multi handle");
  }
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, start_timeout);
  curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
  curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, max_conns > 0 ? max_conns : 128L);
  h->idle_max = 256;
  h->idle = xcalloc(h->idle_max, sizeof *h->idle);
  uv_timer_init(loop, &h->timer);
  h->timer.data = h;
  h->open_handles = 1;
  return 0;
}

void http_req_init(struct http_req *r)
{
  memset(r, 0, sizeof *r);
  r->method = HTTP_POST;
  strbuf_init(&r->resp, 0);
}

void http_req_release(struct http_req *r)
{
  ASSERT(!r->easy);
  strbuf_release(&r->resp);
}

int http_active(const struct http_req *r)
{
  return r->easy != NULL;
}

static int has_header(const char *const *hp, const char *name)
{
  size_t k = strlen(name);
  for (; hp && *hp; hp++)
    if (strncasecmp(*hp, name, k) == 0 && (*hp)[k] == ':')
      return 1;
  return 0;
}

static int setup_easy(struct http *h, struct http_req *r, CURL *e)
{
  struct curl_slist *sl = NULL, *t;
  const char *const *hp;
  for (hp = r->headers; hp && *hp; hp++) {
    if (!(t = curl_slist_append(sl, *hp)))
      goto fail;
    sl = t;
  }
  if (r->method == HTTP_POST && !has_header(r->headers, "Content-Type")) {
    if (!(t = curl_slist_append(sl, "Content-Type: application/json")))
      goto fail;
    sl = t;
  }
  /* No "Expect: 100-continue" round trip before large bodies. */
  if (!(t = curl_slist_append(sl, "Expect:")))
    goto fail;
  sl = t;
  r->slist = sl;
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, sl);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  /* Over TLS, wait for a connection being set up rather than open a second
   * one: it may turn out to multiplex (HTTP/2). Over plain HTTP there is
   * nothing to wait for. */
  if (strncasecmp(r->url, "https:", 6) == 0)
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  if (r->cainfo)
    curl_easy_setopt(e, CURLOPT_CAINFO, r->cainfo);
  if (r->timeout_ms > 0)
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
  if (r->connect_timeout_ms > 0)
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
  if (r->method == HTTP_POST) {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body_len ? r->body : "");
  } else
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  (void)h;
  return 0;
fail:
  curl_slist_free_all(sl);
  return -1;
}

int http_submit(struct http *h, struct http_req *r)
{
  CURL *e;
  CURLMcode mc;
  char url[512];
  ASSERT(!r->easy);
  ASSERT(r->done && r->url);
  r->h = h;
  r->status = 0;
  r->result = CURLE_OK;
  r->content_type[0] = r->retry_after[0] = r->errbuf[0] = '\0';
  r->too_big = 0;
  r->elapsed = 0;
  r->new_conns = r->http_version = 0;
  strbuf_reset(&r->resp);
  pd_err_clear(&r->err);
  http_url_for_msg(r->url, url, sizeof url);
  if (h->closing)
    return ERR_SET(&r->err, UV_ECANCELED, "cannot %s '%s': client is shutting down",
                   http_method_name(r->method), url);
  e = h->nidle ? h->idle[--h->nidle] : curl_easy_init();
  if (!e)
    return ERR_SET(&r->err, PD_ECURL, "cannot %s '%s': no curl handle",
                   http_method_name(r->method), url);
  if (setup_easy(h, r, e) < 0) {
    curl_easy_cleanup(e);
    return ERR_SET(&r->err, PD_ENOMEM, "cannot %s '%s': out of memory",
                   http_method_name(r->method), url);
  }
  r->easy = e;
  r->t0 = uv_hrtime();
  r->prev = NULL;
  r->next = h->active;
  if (h->active)
    h->active->prev = r;
  h->active = r;
  h->nactive++;
  /* curl arms the timer (0 ms) through start_timeout; on_timer starts it. */
  mc = curl_multi_add_handle(h->multi, e);
  if (mc != CURLM_OK) {
    unlink_req(h, r);
    r->easy = NULL;
    curl_easy_cleanup(e);
    curl_slist_free_all(r->slist);
    r->slist = NULL;
    return ERR_SET(&r->err, PD_ECURL, "cannot %s '%s': %s", http_method_name(r->method), url,
                   curl_multi_strerror(mc));
  }
  return 0;
}

void http_cancel(struct http_req *r)
{
  struct http *h = r->h;
  char url[512];
  if (!r->easy)
    return;
  release_easy(h, r);
  r->elapsed = (double)(uv_hrtime() - r->t0) * 1e-9;
  r->result = CURLE_ABORTED_BY_CALLBACK;
  http_url_for_msg(r->url, url, sizeof url);
  ERR_SET(&r->err, UV_ECANCELED, "cannot %s '%s': cancelled", http_method_name(r->method), url);
  r->done(r, UV_ECANCELED);
}

/* Tears everything down once no dispatch is on the stack. */
static void http_sweep(struct http *h)
{
  size_t i;
  while (h->active)
    http_cancel(h->active);
  /* Polls first: curl closes the sockets in curl_multi_cleanup, and a poll
   * must never outlive its fd in epoll. */
  while (h->socks)
    sock_close(h->socks);
  for (i = 0; i < h->nidle; i++)
    curl_easy_cleanup(h->idle[i]);
  h->nidle = 0;
  free(h->idle);
  h->idle = NULL;
  h->cleaning = 1;
  curl_multi_cleanup(h->multi);
  h->multi = NULL;
  curl_global_cleanup();
  uv_timer_stop(&h->timer);
  uv_close((uv_handle_t *)&h->timer, on_handle_closed);
}

void http_close(struct http *h, http_close_cb *cb)
{
  if (h->closing)
    return;
  h->closing = 1;
  h->close_cb = cb;
  if (h->depth == 0)
    http_sweep(h);
}
