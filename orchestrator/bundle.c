/* bundle.c - the parts of a bundle (format in bundle.h): MANIFEST text,
 * action records as JSON, and the file helpers that export
 * (bundle_export.c) and import (bundle_import.c) share.
 */
#include "bundle_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cache.h"
#include "digest_map.h"
#include "err.h"
#include "strbuf.h"

#define IO_BUF (1 << 20)

/* --- MANIFEST ------------------------------------------------------------- */

void bundle_manifest_release(struct bundle_manifest *m)
{
  free(m->run_id);
  free(m->actions);
  free(m->blobs);
  memset(m, 0, sizeof *m);
}

void bundle_manifest_write(const struct bundle_manifest *m, struct strbuf *out)
{
  char hex[PD_DIGEST_HEX];
  uint8_t sum[PD_DIGEST_LEN];
  size_t i, start = out->len;
  digest_hex(m->run_digest, hex);
  strbuf_addf(out, "%s\nrun %s %s\n", BUNDLE_MAGIC, m->run_id, hex);
  for (i = 0; i < m->nactions; i++) {
    char hex2[PD_DIGEST_HEX];
    digest_hex(m->actions[i].key, hex);
    digest_hex(m->actions[i].json_digest, hex2);
    strbuf_addf(out, "action %s %s\n", hex, hex2);
  }
  for (i = 0; i < m->nblobs; i++) {
    digest_hex(m->blobs[i].digest, hex);
    strbuf_addf(out, "blob %s %llu %s\n", hex, (unsigned long long)m->blobs[i].size,
                m->blobs[i].is_tree ? "tree" : "file");
  }
  digest_buf(out->buf + start, out->len - start, sum);
  digest_hex(sum, hex);
  strbuf_addf(out, "end %s\n", hex);
}

/* Splits line into at most max space-separated fields (in place). */
static size_t fields(char *line, char **f, size_t max)
{
  size_t n = 0;
  char *p = line;
  while (*p && n < max) {
    f[n++] = p;
    p = strchr(p, ' ');
    if (!p)
      break;
    *p++ = '\0';
  }
  return p && *p ? max + 1 : n; /* max + 1: too many fields */
}

/* keys and blobs: digests seen so far, to refuse duplicates. */
static int parse_line(struct bundle_manifest *m, struct digest_map *keys,
                      struct digest_map *blobs, char *line, int lineno, struct pd_err *err)
{
  char *f[5] = { NULL }, *end;
  size_t n = fields(line, f, 4);
  uint8_t d[PD_DIGEST_LEN], d2[PD_DIGEST_LEN];
  unsigned long long size;
  int added;
  if (n == 3 && strcmp(f[0], "run") == 0) {
    if (m->run_id)
      return ERR_SET(err, PD_ECORRUPT, "MANIFEST:%d: a second run line", lineno);
    if (!*f[1] || digest_from_hex(f[2], m->run_digest) < 0)
      return ERR_SET(err, PD_ECORRUPT, "MANIFEST:%d: malformed run line", lineno);
    m->run_id = xstrdup(f[1]);
    return 0;
  }
  if (n == 3 && strcmp(f[0], "action") == 0) {
    if (digest_from_hex(f[1], d) < 0 || digest_from_hex(f[2], d2) < 0)
      return ERR_SET(err, PD_ECORRUPT, "MANIFEST:%d: malformed action line", lineno);
    digest_map_put(keys, d, &added);
    if (!added)
      return ERR_SET(err, PD_ECORRUPT, "MANIFEST:%d: action %s listed twice", lineno, f[1]);
    m->actions = xrealloc(m->actions, (m->nactions + 1) * sizeof *m->actions);
    memcpy(m->actions[m->nactions].key, d, PD_DIGEST_LEN);
    memcpy(m->actions[m->nactions].json_digest, d2, PD_DIGEST_LEN);
    m->nactions++;
    return 0;
  }
  if (n == 4 && strcmp(f[0], "blob") == 0) {
    errno = 0;
    size = *f[2] >= '0' && *f[2] <= '9' ? strtoull(f[2], &end, 10) : 0;
    if (digest_from_hex(f[1], d) < 0 || *f[2] < '0' || *f[2] > '9' || errno || *end ||
        (strcmp(f[3], "file") && strcmp(f[3], "tree")))
      return ERR_SET(err, PD_ECORRUPT, "MANIFEST:%d: malformed blob line", lineno);
    digest_map_put(blobs, d, &added);
    if (!added)
      return ERR_SET(err, PD_ECORRUPT, "MANIFEST:%d: blob %s listed twice", lineno, f[1]);
    m->blobs = xrealloc(m->blobs, (m->nblobs + 1) * sizeof *m->blobs);
    memcpy(m->blobs[m->nblobs].digest, d, PD_DIGEST_LEN);
    m->blobs[m->nblobs].size = size;
    m->blobs[m->nblobs].is_tree = strcmp(f[3], "tree") == 0;
    m->nblobs++;
    return 0;
  }
  if (n == 0)
    return ERR_SET(err, PD_ECORRUPT, "MANIFEST:%d: empty line", lineno);
  return ERR_SET(err, PD_ECORRUPT, "MANIFEST:%d: unknown entry '%.40s'", lineno, f[0]);
}

int bundle_manifest_parse(const char *text, size_t n, struct bundle_manifest *m,
                          struct pd_err *err)
{
  struct digest_map seen[2];
  const char *p = text, *end = text + n, *nl;
  int lineno = 0, rc = 0, ended = 0;
  memset(m, 0, sizeof *m);
  digest_map_init(&seen[0]);
  digest_map_init(&seen[1]);
  if (memchr(text, '\0', n))
    rc = ERR_SET(err, PD_ECORRUPT, "MANIFEST is not text");
  while (rc == 0 && p < end) {
    char *line;
    lineno++;
    nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) {
      rc = ERR_SET(err, PD_ECORRUPT, "MANIFEST:%d: the last line is cut off", lineno);
      break;
    }
    if (ended) {
      rc = ERR_SET(err, PD_ECORRUPT, "MANIFEST:%d: text after the end line", lineno);
      break;
    }
    line = xstrndup(p, (size_t)(nl - p));
    if (lineno == 1) {
      if (strcmp(line, BUNDLE_MAGIC) != 0)
        rc = ERR_SET(err, PD_ECORRUPT, "MANIFEST:1: not a povid-dag bundle (expected '%s')",
                     BUNDLE_MAGIC);
    } else if (strncmp(line, "end ", 4) == 0) {
      uint8_t want[PD_DIGEST_LEN], got[PD_DIGEST_LEN];
      if (digest_from_hex(line + 4, want) < 0 || line[4 + 64])
        rc = ERR_SET(err, PD_ECORRUPT, "MANIFEST:%d: malformed end line", lineno);
      digest_buf(text, (size_t)(p - text), got);
      if (rc == 0 && memcmp(want, got, PD_DIGEST_LEN))
        rc = ERR_SET(err, PD_ECORRUPT, "MANIFEST:%d: checksum mismatch: the manifest is "
                     "damaged", lineno);
      ended = 1;
    } else {
      rc = parse_line(m, &seen[0], &seen[1], line, lineno, err);
    }
    free(line);
    p = nl + 1;
  }
  if (rc == 0 && lineno == 0)
    rc = ERR_SET(err, PD_ECORRUPT, "MANIFEST is empty");
  if (rc == 0 && !ended)
    rc = ERR_SET(err, PD_ECORRUPT, "MANIFEST has no end line: it is cut off");
  if (rc == 0 && !m->run_id)
    rc = ERR_SET(err, PD_ECORRUPT, "MANIFEST names no run");
  digest_map_release(&seen[0]);
  digest_map_release(&seen[1]);
  if (rc < 0)
    bundle_manifest_release(m);
  return rc;
}

/* --- action records as JSON --------------------------------------------------- */

char *bundle_action_json(const struct action_result *r)
{
  cJSON *j = cJSON_CreateObject(), *outs;
  char hex[PD_DIGEST_HEX], *text, *out;
  size_t i;
  if (r->task)
    cJSON_AddStringToObject(j, "task", r->task);
  cJSON_AddNumberToObject(j, "exit_status", r->exit_status);
  cJSON_AddNumberToObject(j, "start", r->start);
  cJSON_AddNumberToObject(j, "duration", r->duration);
  if (r->has_log) {
    digest_hex(r->log, hex);
    cJSON_AddStringToObject(j, "log", hex);
  }
  outs = cJSON_AddArrayToObject(j, "outputs");
  for (i = 0; i < r->nouts; i++) {
    cJSON *o = cJSON_CreateObject();
    if (r->outs[i].name)
      cJSON_AddStringToObject(o, "name", r->outs[i].name);
    digest_hex(r->outs[i].digest, hex);
    cJSON_AddStringToObject(o, "digest", hex);
    cJSON_AddNumberToObject(o, "size", (double)r->outs[i].size);
    cJSON_AddBoolToObject(o, "tree", r->outs[i].is_tree);
    cJSON_AddItemToArray(outs, o);
  }
  text = cJSON_Print(j);
  out = xasprintf("%s\n", text);
  cJSON_free(text);
  cJSON_Delete(j);
  return out;
}

int bundle_action_parse(const char *json, struct action_result *r, struct pd_err *err)
{
  cJSON *j = cJSON_Parse(json);
  const cJSON *v, *outs, *o;
  const char *s;
  int rc = 0;
  memset(r, 0, sizeof *r);
  if (!j || !cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return ERR_SET(err, PD_ECORRUPT, "action record is not a JSON object");
  }
  if ((s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "task"))))
    r->task = xstrdup(s);
  v = cJSON_GetObjectItemCaseSensitive(j, "exit_status");
  r->exit_status = cJSON_IsNumber(v) ? v->valueint : 0;
  v = cJSON_GetObjectItemCaseSensitive(j, "start");
  r->start = cJSON_IsNumber(v) ? v->valuedouble : 0;
  v = cJSON_GetObjectItemCaseSensitive(j, "duration");
  r->duration = cJSON_IsNumber(v) ? v->valuedouble : 0;
  if ((v = cJSON_GetObjectItemCaseSensitive(j, "log"))) {
    r->has_log = 1;
    if (!cJSON_IsString(v) || digest_from_hex(v->valuestring, r->log) < 0)
      rc = ERR_SET(err, PD_ECORRUPT, "action record: malformed 'log'");
  }
  outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
  if (rc == 0 && !cJSON_IsArray(outs))
    rc = ERR_SET(err, PD_ECORRUPT, "action record: 'outputs' is not a list");
  if (rc == 0)
    r->outs = xcalloc((size_t)cJSON_GetArraySize(outs) + 1, sizeof *r->outs);
  if (rc == 0)
    cJSON_ArrayForEach(o, outs) {
      struct artifact *a = &r->outs[r->nouts];
      const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "name"));
      const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "digest"));
      v = cJSON_GetObjectItemCaseSensitive(o, "size");
      if (!d || digest_from_hex(d, a->digest) < 0 || !cJSON_IsNumber(v) || v->valuedouble < 0) {
        rc = ERR_SET(err, PD_ECORRUPT, "action record: output %zu is malformed", r->nouts + 1);
        break;
      }
      a->name = name ? xstrdup(name) : NULL;
      a->size = (uint64_t)v->valuedouble;
      a->is_tree = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "tree"));
      r->nouts++;
    }
  cJSON_Delete(j);
  if (rc < 0)
    action_result_release(r);
  return rc;
}

/* --- files ----------------------------------------------------------------------- */

int bundle__read_all(const char *path, char **p, size_t *n, struct pd_err *err)
{
  struct strbuf sb;
  char buf[65536];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
  strbuf_init(&sb, 4096);
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      strbuf_release(&sb);
      return ERR_SET(err, -e, "cannot read '%s': %s", path, strerror(e));
    }
    if (r == 0)
      break;
    strbuf_add(&sb, buf, (size_t)r);
  }
  close(fd);
  *p = strbuf_detach(&sb, n);
  return 0;
}

static int write_all_fd(int fd, const void *p, size_t n)
{
  const char *q = p;
  while (n) {
    ssize_t w = write(fd, q, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -errno;
    q += w;
    n -= (size_t)w;
  }
  return 0;
}

int bundle__write_file(const char *path, const void *p, size_t n, struct pd_err *err)
{
  int rc, fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return ERR_SET(err, -errno, "cannot create '%s': %s", path, strerror(errno));
  rc = write_all_fd(fd, p, n);
  if (rc == 0 && fsync(fd) < 0)
    rc = -errno;
  close(fd);
  if (rc < 0)
    return ERR_SET(err, rc, "cannot write '%s': %s", path, strerror(-rc));
  return 0;
}

/* Copies src to dst (created), hashing the bytes on the way. */
int bundle__copy_hashed(const char *src, const char *dst, uint8_t d[PD_DIGEST_LEN],
                       uint64_t *size, struct pd_err *err)
{
  struct digest_ctx ctx;
  char *buf;
  int rc = 0, in, out;
  if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
    return ERR_SET(err, -errno, "cannot open '%s': %s", src, strerror(errno));
  if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", dst, strerror(errno));
    close(in);
    return rc;
  }
  buf = xmalloc(IO_BUF);
  digest_init(&ctx);
  *size = 0;
  for (;;) {
    ssize_t r = read(in, buf, IO_BUF);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = ERR_SET(err, -errno, "cannot read '%s': %s", src, strerror(errno));
      break;
    }
    if (r == 0)
      break;
    digest_update(&ctx, buf, (size_t)r);
    *size += (uint64_t)r;
    if ((rc = write_all_fd(out, buf, (size_t)r)) < 0) {
      ERR_SET(err, rc, "cannot write '%s': %s", dst, strerror(-rc));
      break;
    }
  }
  digest_final(&ctx, d);
  if (rc == 0 && fsync(out) < 0)
    rc = ERR_SET(err, -errno, "cannot write '%s': %s", dst, strerror(errno));
  free(buf);
  close(in);
  close(out);
  return rc;
}

