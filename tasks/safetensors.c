/* safetensors.c - the safetensors format (see safetensors.h). */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "strbuf.h"

#define MAX_HEADER (100u << 20) /* the reference implementation's limit */

static const struct {
  const char *name;
  size_t size;
} dtypes[] = {
  { "BOOL", 1 }, { "U8", 1 }, { "I8", 1 }, { "F8_E5M2", 1 }, { "F8_E4M3", 1 },
  { "I16", 2 }, { "U16", 2 }, { "F16", 2 }, { "BF16", 2 },
  { "I32", 4 }, { "U32", 4 }, { "F32", 4 },
  { "I64", 8 }, { "U64", 8 }, { "F64", 8 },
};

size_t safetensors_dtype_size(const char *dtype)
{
  size_t i;
  for (i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (strcmp(dtypes[i].name, dtype) == 0)
      return dtypes[i].size;
  return 0;
}

static int bad(struct pd_err *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(struct pd_err *err, const char *path, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ERR_SET(err, PD_ECORRUPT, "bad safetensors file '%s': %s", path, msg);
}

/* A non-negative integer that a double holds exactly. */
static int json_uint(const cJSON *j, uint64_t *out)
{
  double d;
  if (!cJSON_IsNumber(j))
    return -1;
  d = j->valuedouble;
  if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d)
    return -1;
  *out = (uint64_t)d;
  return 0;
}

static int parse_tensor(struct safetensors *st, const cJSON *j, struct st_tensor *t,
                        struct pd_err *err)
{
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(j, "dtype");
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(j, "shape");
  const cJSON *offs = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
  const cJSON *d;
  uint64_t v, nelem = 1, size;
  t->name = xstrdup(j->string);
  if (!cJSON_IsObject(j))
    return bad(err, st->path, "tensor '%s' is not a JSON object", t->name);
  if (!cJSON_IsString(dtype) || !(size = safetensors_dtype_size(dtype->valuestring)))
    return bad(err, st->path, "tensor '%s' has %s dtype", t->name,
               cJSON_IsString(dtype) ? "an unknown" : "no");
  snprintf(t->dtype, sizeof t->dtype, "%s", dtype->valuestring);
  if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > ST_MAXDIM)
    return bad(err, st->path, "tensor '%s' has no shape of at most %d dimensions", t->name,
               ST_MAXDIM);
  cJSON_ArrayForEach(d, shape) {
    if (json_uint(d, &v) < 0)
      return bad(err, st->path, "tensor '%s' has a bad dimension in its shape", t->name);
    t->shape[t->ndim++] = (int64_t)v;
    if (v != 0 && nelem > UINT64_MAX / v)
      return bad(err, st->path, "tensor '%s' is too large", t->name);
    nelem *= v;
  }
  if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
      json_uint(cJSON_GetArrayItem(offs, 0), &t->begin) < 0 ||
      json_uint(cJSON_GetArrayItem(offs, 1), &t->end) < 0 || t->begin > t->end)
    return bad(err, st->path, "tensor '%s' has no valid data_offsets [begin, end]", t->name);
  if (nelem > UINT64_MAX / size || t->end - t->begin != nelem * size)
    return bad(err, st->path, "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, "
               "its shape and dtype need %llu", t->name, (unsigned long long)t->begin,
               (unsigned long long)t->end, (unsigned long long)(t->end - t->begin),
               (unsigned long long)(nelem * size));
  if (t->end > st->data_size)
    return bad(err, st->path, "tensor '%s' ends at byte %llu of a %llu-byte data section",
               t->name, (unsigned long long)t->end, (unsigned long long)st->data_size);
  return 0;
}

static int by_begin(const void *a, const void *b)
{
  const struct st_tensor *x = *(const struct st_tensor *const *)a;
  const struct st_tensor *y = *(const struct st_tensor *const *)b;
  return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* The tensors must tile the data section: no holes, no overlaps. */
static int check_tiling(struct safetensors *st, struct pd_err *err)
{
  const struct st_tensor **s = xcalloc(st->nt ? st->nt : 1, sizeof *s);
  uint64_t at = 0;
  size_t i;
  int rc = 0;
  for (i = 0; i < st->nt; i++)
    s[i] = &st->t[i];
  qsort(s, st->nt, sizeof *s, by_begin);
  for (i = 0; i < st->nt && rc == 0; i++) {
    if (s[i]->begin != at)
      rc = bad(err, st->path, "tensor '%s' starts at byte %llu, expected %llu (%s)", s[i]->name,
               (unsigned long long)s[i]->begin, (unsigned long long)at,
               s[i]->begin < at ? "overlap" : "hole");
    at = s[i]->end;
  }
  if (rc == 0 && at != st->data_size)
    rc = bad(err, st->path, "data section is %llu bytes, its tensors cover %llu",
             (unsigned long long)st->data_size, (unsigned long long)at);
  free(s);
  return rc;
}

int safetensors_open(struct safetensors *st, const char *path, struct pd_err *err)
{
  uint8_t len8[8];
  uint64_t hlen = 0;
  char *hdr = NULL;
  cJSON *root = NULL, *j;
  struct stat sb;
  int i, rc;

  memset(st, 0, sizeof *st);
  st->path = xstrdup(path);
  st->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (st->fd < 0) {
    rc = ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
    goto fail;
  }
  if (fstat(st->fd, &sb) < 0) {
    rc = ERR_SET(err, -errno, "cannot stat '%s': %s", path, strerror(errno));
    goto fail;
  }
  if ((uint64_t)sb.st_size < 8 || pread(st->fd, len8, 8, 0) != 8) {
    rc = bad(err, path, "%lld bytes is too short for the 8-byte header length",
             (long long)sb.st_size);
    goto fail;
  }
  for (i = 7; i >= 0; i--)
    hlen = hlen << 8 | len8[i];
  if (hlen > (uint64_t)sb.st_size - 8 || hlen > MAX_HEADER || hlen < 2) {
    rc = bad(err, path, "header length %llu does not fit a %lld-byte file",
             (unsigned long long)hlen, (long long)sb.st_size);
    goto fail;
  }
  hdr = xmalloc(hlen);
  if (pread(st->fd, hdr, hlen, 8) != (ssize_t)hlen) {
    rc = ERR_SET(err, PD_EIO, "cannot read '%s'", path);
    goto fail;
  }
  st->data_start = 8 + hlen;
  st->data_size = (uint64_t)sb.st_size - st->data_start;
  root = cJSON_ParseWithLength(hdr, hlen);
  if (!cJSON_IsObject(root)) {
    rc = bad(err, path, "header is not a JSON object");
    goto fail;
  }
  st->t = xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof *st->t);
  cJSON_ArrayForEach(j, root) {
    if (strcmp(j->string, "__metadata__") == 0) {
      const cJSON *m;
      if (!cJSON_IsObject(j)) {
        rc = bad(err, path, "__metadata__ is not a JSON object");
        goto fail;
      }
      st->meta_k = xcalloc((size_t)cJSON_GetArraySize(j) + 1, sizeof *st->meta_k);
      st->meta_v = xcalloc((size_t)cJSON_GetArraySize(j) + 1, sizeof *st->meta_v);
      cJSON_ArrayForEach(m, j) {
        if (!cJSON_IsString(m)) {
          rc = bad(err, path, "__metadata__ value '%s' is not a string", m->string);
          goto fail;
        }
        st->meta_k[st->nmeta] = xstrdup(m->string);
        st->meta_v[st->nmeta++] = xstrdup(m->valuestring);
      }
      continue;
    }
    if ((rc = parse_tensor(st, j, &st->t[st->nt++], err)) < 0)
      goto fail;
  }
  if ((rc = check_tiling(st, err)) < 0)
    goto fail;
  cJSON_Delete(root);
  free(hdr);
  return 0;
fail:
  cJSON_Delete(root);
  free(hdr);
  safetensors_close(st);
  return rc;
}

void safetensors_close(struct safetensors *st)
{
  size_t i;
  if (st->fd >= 0)
    close(st->fd);
  for (i = 0; i < st->nt; i++)
    free(st->t[i].name);
  for (i = 0; i < st->nmeta; i++) {
    free(st->meta_k[i]);
    free(st->meta_v[i]);
  }
  free(st->t);
  free(st->meta_k);
  free(st->meta_v);
  free(st->path);
  memset(st, 0, sizeof *st);
  st->fd = -1;
}

const struct st_tensor *safetensors_find(const struct safetensors *st, const char *name)
{
  size_t i;
  for (i = 0; i < st->nt; i++)
    if (strcmp(st->t[i].name, name) == 0)
      return &st->t[i];
  return NULL;
}

const char *safetensors_meta(const struct safetensors *st, const char *key)
{
  size_t i;
  for (i = 0; i < st->nmeta; i++)
    if (strcmp(st->meta_k[i], key) == 0)
      return st->meta_v[i];
  return NULL;
}

int safetensors_read(const struct safetensors *st, const struct st_tensor *t, uint64_t off,
                     void *buf, size_t n, struct pd_err *err)
{
  char *p = buf;
  uint64_t at;
  ASSERT(off <= t->end - t->begin && n <= t->end - t->begin - off);
  at = st->data_start + t->begin + off;
  while (n > 0) {
    ssize_t got = pread(st->fd, p, n, (off_t)at);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return ERR_SET(err, got < 0 ? -errno : PD_EIO, "cannot read '%s': %s", st->path,
                     got < 0 ? strerror(errno) : "unexpected end of file");
    p += got;
    at += (uint64_t)got;
    n -= (size_t)got;
  }
  return 0;
}

int safetensors_write(const char *path, const struct st_write_tensor *t, size_t n,
                      const char *const *meta, struct pd_err *err)
{
  struct strbuf h;
  uint64_t at = 0, hlen;
  uint8_t len8[8];
  size_t i, *bytes = xcalloc(n ? n : 1, sizeof *bytes);
  FILE *f = NULL;
  int k, rc = 0;

  strbuf_init(&h, 256);
  strbuf_addch(&h, '{');
  if (meta && meta[0]) {
    strbuf_addstr(&h, "\"__metadata__\":{");
    for (i = 0; meta[i]; i += 2) {
      ASSERT(meta[i + 1]);
      if (i)
        strbuf_addch(&h, ',');
      strbuf_add_json_str(&h, meta[i], strlen(meta[i]));
      strbuf_addch(&h, ':');
      strbuf_add_json_str(&h, meta[i + 1], strlen(meta[i + 1]));
    }
    strbuf_addch(&h, '}');
  }
  for (i = 0; i < n; i++) {
    size_t size = safetensors_dtype_size(t[i].dtype);
    ASSERT(size > 0 && t[i].ndim >= 0 && t[i].ndim <= ST_MAXDIM);
    bytes[i] = size;
    for (k = 0; k < t[i].ndim; k++)
      bytes[i] *= (size_t)t[i].shape[k];
    if (h.len > 1)
      strbuf_addch(&h, ',');
    strbuf_add_json_str(&h, t[i].name, strlen(t[i].name));
    strbuf_addf(&h, ":{\"dtype\":\"%s\",\"shape\":[", t[i].dtype);
    for (k = 0; k < t[i].ndim; k++)
      strbuf_addf(&h, "%s%lld", k ? "," : "", (long long)t[i].shape[k]);
    strbuf_addf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)at,
                (unsigned long long)(at + bytes[i]));
    at += bytes[i];
  }
  strbuf_addch(&h, '}');
  while ((8 + h.len) % 8)
    strbuf_addch(&h, ' ');
  hlen = h.len;
  for (k = 0; k < 8; k++)
    len8[k] = (uint8_t)(hlen >> (8 * k));

  if (!(f = fopen(path, "wb"))) {
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", path, strerror(errno));
    goto out;
  }
  if (fwrite(len8, 1, 8, f) != 8 || fwrite(h.buf, 1, h.len, f) != h.len)
    rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  for (i = 0; i < n && rc == 0; i++)
    if (bytes[i] && fwrite(t[i].data, 1, bytes[i], f) != bytes[i])
      rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  if (fclose(f) != 0 && rc == 0)
    rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
out:
  strbuf_release(&h);
  free(bytes);
  return rc;
}
