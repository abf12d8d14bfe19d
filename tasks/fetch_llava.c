/* fetch_llava.c - LLaVA-Instruct JSON + images as fetch_subset's artifacts
 * (see fetch_llava.h for the rules: types, pick, resize, formats).
 *
 * The whole JSON file is parsed at once (cJSON) and only the fields used
 * are kept; for LLaVA-Instruct-150K (about 230 MB) that peaks near 1 GB
 * while loading. Images are decoded one at a time on the task's thread.
 */
#include "fetch_llava.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image.h>

#include "cache.h"
#include "digest.h"
#include "err.h"
#include "fetch_url.h"
#include "graph.h"
#include "preview.h"
#include "run.h"
#include "safetensors.h"
#include "strbuf.h"

#define PREVIEW_N 16

const char *const llava_type_names[LLAVA_NTYPE] = { "description", "reasoning", "conversation" };

/* --- loading -------------------------------------------------------------- */

static int has_prefix_ci(const char *s, const char *prefix)
{
  for (; *prefix; s++, prefix++)
    if (tolower((unsigned char)*s) != *prefix)
      return 0;
  return 1;
}

static int contains_ci(const char *s, const char *needle)
{
  for (; *s; s++)
    if (has_prefix_ci(s, needle))
      return 1;
  return 0;
}

int fetch_llava_type_of(const char *id, const char *first_question, int human_turns)
{
  if (has_prefix_ci(id, "detail") || has_prefix_ci(id, "desc"))
    return LLAVA_DESCRIPTION;
  if (has_prefix_ci(id, "complex") || has_prefix_ci(id, "reason"))
    return LLAVA_REASONING;
  if (has_prefix_ci(id, "conv"))
    return LLAVA_CONVERSATION;
  if (human_turns > 1)
    return LLAVA_CONVERSATION;
  if (contains_ci(first_question, "describe") || contains_ci(first_question, "detailed description"))
    return LLAVA_DESCRIPTION;
  return LLAVA_REASONING;
}

static int read_whole(const char *path, char **buf, size_t *len, struct pd_err *err)
{
  struct stat st;
  size_t off = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    int e = errno ? errno : EISDIR;
    close(fd);
    return ERR_SET(err, -e, "cannot read '%s': %s", path, strerror(e));
  }
  *buf = xmalloc((size_t)st.st_size + 1);
  while (off < (size_t)st.st_size) {
    ssize_t n = read(fd, *buf + off, (size_t)st.st_size - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      close(fd);
      free(*buf);
      return ERR_SET(err, -e, "cannot read '%s': %s", path, strerror(e));
    }
    off += (size_t)n;
  }
  close(fd);
  (*buf)[off] = '\0';
  *len = off;
  return 0;
}

/* An image name is relative and stays inside the folder. */
static int safe_name(const char *s)
{
  const char *p = s;
  if (!*s || *s == '/')
    return 0;
  while (*p) {
    size_t n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return 0;
    p += n;
    if (*p == '/')
      p++;
  }
  return 1;
}

/* Checks entry k and fills it. */
static int load_item(struct llava_set *s, size_t k, const cJSON *o, struct pd_err *err)
{
  struct llava_item *it = &s->items[k];
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
  const cJSON *img = cJSON_GetObjectItemCaseSensitive(o, "image");
  const cJSON *conv = cJSON_GetObjectItemCaseSensitive(o, "conversations"), *turn;
  const char *first = NULL;
  int humans = 0, t = 0;
  char num[32];

  if (!cJSON_IsObject(o))
    return ERR_SET(err, PD_EUSAGE, "'%s': item %zu is not an object", s->path, k);
  if (cJSON_IsString(id) && id->valuestring[0])
    it->id = xstrdup(id->valuestring);
  else if (cJSON_IsNumber(id)) {
    snprintf(num, sizeof num, "%.0f", id->valuedouble);
    it->id = xstrdup(num);
  } else
    return ERR_SET(err, PD_EUSAGE, "'%s': item %zu has no \"id\"", s->path, k);
  if (!cJSON_IsString(img) || !img->valuestring[0])
    return ERR_SET(err, PD_EUSAGE, "'%s': item '%s' (index %zu) has no \"image\"", s->path,
                   it->id, k);
  if (!safe_name(img->valuestring))
    return ERR_SET(err, PD_EUSAGE,
                   "'%s': item '%s' (index %zu): image name '%s' must be relative, without '..'",
                   s->path, it->id, k, img->valuestring);
  it->image = xstrdup(img->valuestring);
  if (!cJSON_IsArray(conv) || cJSON_GetArraySize(conv) == 0)
    return ERR_SET(err, PD_EUSAGE, "'%s': item '%s' (index %zu) has no conversations", s->path,
                   it->id, k);
  cJSON_ArrayForEach(turn, conv) {
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(turn, "from");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(turn, "value");
    t++;
    if (!cJSON_IsString(from) || !cJSON_IsString(value))
      return ERR_SET(err, PD_EUSAGE,
                     "'%s': item '%s' (index %zu): turn %d needs string \"from\" and \"value\"",
                     s->path, it->id, k, t);
    if (strcmp(from->valuestring, "human") == 0) {
      if (!first)
        first = value->valuestring;
      humans++;
    } else if (strcmp(from->valuestring, "gpt") != 0)
      return ERR_SET(err, PD_EUSAGE,
                     "'%s': item '%s' (index %zu): turn %d is from '%s' (expected human or gpt)",
                     s->path, it->id, k, t, from->valuestring);
  }
  if (!first || !strstr(first, "<image>"))
    return ERR_SET(err, PD_EUSAGE,
                   "'%s': item '%s' (index %zu): the first human turn lacks the <image> token",
                   s->path, it->id, k);
  it->conversations = cJSON_PrintUnformatted(conv);
  if (!it->conversations)
    BUG("cJSON_PrintUnformatted failed");
  it->type = fetch_llava_type_of(it->id, first, humans);
  s->count[it->type]++;
  return 0;
}

int llava_set_load(struct llava_set *s, const char *path, struct pd_err *err)
{
  const char *end = NULL;
  cJSON *root, *o;
  char *buf = NULL;
  size_t len = 0, k = 0;
  int rc;

  memset(s, 0, sizeof *s);
  s->path = xstrdup(path);
  if ((rc = read_whole(path, &buf, &len, err)) < 0)
    goto fail;
  root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
  if (!root) {
    size_t off = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0, i;
    int line = 1, col = 1;
    for (i = 0; i < off; i++, col++)
      if (buf[i] == '\n') {
        line++;
        col = 0;
      }
    free(buf);
    rc = ERR_SET(err, PD_EUSAGE, "'%s':%d:%d: malformed JSON (byte %zu)", path, line, col, off);
    goto fail;
  }
  free(buf);
  if (!cJSON_IsArray(root)) {
    cJSON_Delete(root);
    rc = ERR_SET(err, PD_EUSAGE, "'%s': expected a JSON array of LLaVA items", path);
    goto fail;
  }
  s->n = (size_t)cJSON_GetArraySize(root);
  s->items = xcalloc(s->n ? s->n : 1, sizeof *s->items);
  cJSON_ArrayForEach(o, root) {
    if ((rc = load_item(s, k++, o, err)) < 0) {
      cJSON_Delete(root);
      goto fail;
    }
  }
  cJSON_Delete(root);
  return 0;
fail:
  llava_set_release(s);
  return rc;
}

void llava_set_release(struct llava_set *s)
{
  size_t i;
  for (i = 0; s->items && i < s->n; i++) {
    free(s->items[i].id);
    free(s->items[i].image);
    cJSON_free(s->items[i].conversations);
  }
  free(s->items);
  free(s->path);
  memset(s, 0, sizeof *s);
}

/* --- picking -------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias. */
static size_t below(uint64_t *x, size_t n)
{
  uint64_t lim = UINT64_MAX - UINT64_MAX % n, v;
  do
    v = splitmix64(x);
  while (v >= lim);
  return (size_t)(v % n);
}

int fetch_llava_pick(const struct llava_set *s, uint64_t seed, size_t ntrain, size_t neval,
               size_t *train, size_t *eval, struct pd_err *err)
{
  size_t *list[LLAVA_NTYPE], len[LLAVA_NTYPE] = { 0 }, lo[LLAVA_NTYPE] = { 0 },
         hi[LLAVA_NTYPE], i, n;
  int t;

  if (ntrain + neval > s->n)
    return ERR_SET(err, PD_EUSAGE, "'%s' has %zu items, fewer than train + eval = %zu", s->path,
                   s->n, ntrain + neval);
  for (t = 0; t < LLAVA_NTYPE; t++)
    list[t] = xmalloc((s->count[t] ? s->count[t] : 1) * sizeof *list[t]);
  for (i = 0; i < s->n; i++) {
    t = s->items[i].type;
    list[t][len[t]++] = i;
  }
  for (t = 0; t < LLAVA_NTYPE; t++) {
    uint64_t x = seed ^ (0x6c6c617661000000ull + (uint64_t)t); /* "llava" + type */
    splitmix64(&x);
    for (i = len[t]; i > 1; i--) {
      size_t j = below(&x, i), tmp = list[t][i - 1];
      list[t][i - 1] = list[t][j];
      list[t][j] = tmp;
    }
    hi[t] = len[t];
  }
  /* Eval from the backs, then train from the fronts, round-robin; a type
   * whose front met its back is skipped. The totals fit, so both finish. */
  for (n = 0, t = 0; n < neval; t = (t + 1) % LLAVA_NTYPE)
    if (lo[t] < hi[t])
      eval[n++] = list[t][--hi[t]];
  for (n = 0, t = 0; n < ntrain; t = (t + 1) % LLAVA_NTYPE)
    if (lo[t] < hi[t])
      train[n++] = list[t][lo[t]++];
  for (t = 0; t < LLAVA_NTYPE; t++)
    free(list[t]);
  return 0;
}

/* --- images --------------------------------------------------------------- */

void fetch_llava_resize(const uint8_t *rgb, int w, int h, int size, uint8_t *out)
{
  int64_t side = w < h ? w : h, x0 = (w - side) / 2, y0 = (h - side) / 2;
  int ox, oy, c;
  for (oy = 0; oy < size; oy++) {
    int64_t sy0 = oy * side / size, sy1 = (oy + 1) * side / size;
    if (sy1 <= sy0)
      sy1 = sy0 + 1;
    for (ox = 0; ox < size; ox++) {
      int64_t sx0 = ox * side / size, sx1 = (ox + 1) * side / size, x, y;
      uint64_t sum[3] = { 0, 0, 0 }, cnt;
      if (sx1 <= sx0)
        sx1 = sx0 + 1;
      for (y = sy0; y < sy1; y++)
        for (x = sx0; x < sx1; x++) {
          const uint8_t *p = &rgb[((y0 + y) * w + x0 + x) * 3];
          sum[0] += p[0];
          sum[1] += p[1];
          sum[2] += p[2];
        }
      cnt = (uint64_t)((sy1 - sy0) * (sx1 - sx0));
      for (c = 0; c < 3; c++)
        out[((size_t)oy * (size_t)size + (size_t)ox) * 3 + (size_t)c] =
            (uint8_t)((sum[c] + cnt / 2) / cnt);
    }
  }
}

int fetch_llava_load_image(const struct llava_set *s, size_t i, const char *images_dir, int size,
                     uint8_t *out, struct pd_err *err)
{
  const struct llava_item *it = &s->items[i];
  char *path = xasprintf("%s/%s", images_dir, it->image);
  struct stat st;
  uint8_t *rgb;
  int w, h, c, rc = 0;

  if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
    int e = errno ? errno : EISDIR;
    rc = e == ENOENT ? ERR_SET(err, -ENOENT, "item '%s': image '%s' not found", it->id, path)
                     : ERR_SET(err, -e, "item '%s': cannot read image '%s': %s", it->id, path,
                               strerror(e));
    goto out;
  }
  rgb = stbi_load(path, &w, &h, &c, 3);
  if (!rgb) {
    rc = ERR_SET(err, PD_EUSAGE, "item '%s': cannot decode image '%s': %s", it->id, path,
                 stbi_failure_reason() ? stbi_failure_reason() : "unknown error");
    goto out;
  }
  fetch_llava_resize(rgb, w, h, size, out);
  stbi_image_free(rgb);
out:
  free(path);
  return rc;
}

/* --- writing -------------------------------------------------------------- */

struct split {
  const char *name;       /* "train", "eval" */
  const struct llava_set *set;
  const size_t *idx;
  size_t n;
  int size;
  uint8_t *pixels;        /* n * size * size * 3 */
};

static void split_id(const struct split *sp, size_t i, char *buf, size_t n)
{
  snprintf(buf, n, "%s-%06zu", sp->name, i);
}

static int close_file(FILE *f, const char *path, int rc, struct pd_err *err)
{
  if (ferror(f) && rc == 0)
    rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  if (fclose(f) != 0 && rc == 0)
    rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  return rc;
}

static FILE *create(const char *path, struct pd_err *err)
{
  FILE *f = fopen(path, "wb");
  if (!f)
    ERR_SET(err, -errno, "cannot create '%s': %s", path, strerror(errno));
  return f;
}

static int write_items(const struct split *sp, const char *path, struct pd_err *err)
{
  struct strbuf line;
  FILE *f = create(path, err);
  char id[32];
  size_t i;
  if (!f)
    return err->code;
  strbuf_init(&line, 1024);
  for (i = 0; i < sp->n; i++) {
    const struct llava_item *it = &sp->set->items[sp->idx[i]];
    strbuf_reset(&line);
    split_id(sp, i, id, sizeof id);
    strbuf_addf(&line, "{\"id\":\"%s\",\"image\":\"%s\",\"type\":\"%s\",\"source_id\":", id, id,
                llava_type_names[it->type]);
    strbuf_add_json_str(&line, it->id, strlen(it->id));
    strbuf_addstr(&line, ",\"source_image\":");
    strbuf_add_json_str(&line, it->image, strlen(it->image));
    strbuf_addf(&line, ",\"conversations\":%s,\"objects\":[],\"mentions\":[]}\n",
                it->conversations);
    fwrite(line.buf, 1, line.len, f);
  }
  strbuf_release(&line);
  return close_file(f, path, 0, err);
}

static int write_index(const struct split *sp, const char *path, struct pd_err *err)
{
  FILE *f = create(path, err);
  char id[32];
  size_t i;
  if (!f)
    return err->code;
  fputs("image\trow\n", f);
  for (i = 0; i < sp->n; i++) {
    split_id(sp, i, id, sizeof id);
    fprintf(f, "%s\t%zu\n", id, i);
  }
  return close_file(f, path, 0, err);
}

static int write_split(const struct split *sp, const char *source, uint64_t seed,
                       const char *dir, struct pd_err *err)
{
  int64_t shape[4] = { (int64_t)sp->n, sp->size, sp->size, 3 };
  struct st_write_tensor t = { "images", "U8", 4, shape, sp->pixels };
  char seeds[32], count[32];
  const char *meta[] = {
    "source", source, "split", sp->name, "seed", seeds, "count", count,
    "layout", "NHWC RGB uint8; row i is line i of items.jsonl", NULL,
  };
  char *path;
  int rc;
  if (mkdir(dir, 0755) < 0 && errno != EEXIST)
    return ERR_SET(err, -errno, "cannot create '%s': %s", dir, strerror(errno));
  snprintf(seeds, sizeof seeds, "%llu", (unsigned long long)seed);
  snprintf(count, sizeof count, "%zu", sp->n);
  path = xasprintf("%s/items.jsonl", dir);
  rc = write_items(sp, path, err);
  free(path);
  if (rc == 0) {
    path = xasprintf("%s/images.safetensors", dir);
    rc = safetensors_write(path, &t, 1, meta, err);
    free(path);
  }
  if (rc == 0) {
    path = xasprintf("%s/index.tsv", dir);
    rc = write_index(sp, path, err);
    free(path);
  }
  return rc;
}

/* Empty question sets: POPE needs object ground truth. */
static int write_pope(const char *dir, struct pd_err *err)
{
  static const char *const names[] = { "random", "popular", "adversarial" };
  size_t k;
  if (mkdir(dir, 0755) < 0 && errno != EEXIST)
    return ERR_SET(err, -errno, "cannot create '%s': %s", dir, strerror(errno));
  for (k = 0; k < 3; k++) {
    char *path = xasprintf("%s/%s.jsonl", dir, names[k]);
    FILE *f = create(path, err);
    int rc = f ? close_file(f, path, 0, err) : err->code;
    free(path);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static void add_types(struct strbuf *b, const size_t count[LLAVA_NTYPE])
{
  int t;
  strbuf_addch(b, '{');
  for (t = 0; t < LLAVA_NTYPE; t++)
    strbuf_addf(b, "%s\"%s\":%zu", t ? "," : "", llava_type_names[t], count[t]);
  strbuf_addch(b, '}');
}

static void split_types(const struct split *sp, size_t count[LLAVA_NTYPE])
{
  size_t i;
  memset(count, 0, LLAVA_NTYPE * sizeof *count);
  for (i = 0; i < sp->n; i++)
    count[sp->set->items[sp->idx[i]].type]++;
}

static int write_world(const char *path, const char *source, const char *pin, uint64_t seed,
                       const struct llava_set *s, const struct split *tr,
                       const struct split *ev, struct pd_err *err)
{
  struct strbuf b;
  size_t count[LLAVA_NTYPE];
  FILE *f;
  int rc;
  strbuf_init(&b, 1024);
  strbuf_addstr(&b, "{\"source\":");
  strbuf_add_json_str(&b, source, strlen(source));
  if (pin)
    strbuf_addf(&b, ",\"sha256\":\"%s\"", pin);
  strbuf_addf(&b, ",\n\"note\":\"LLaVA-Instruct data has no object ground truth: no categories, "
                  "no co-occurrence statistics, empty POPE question sets and empty \\\"objects\\\" "
                  "in items.jsonl\",\n\"categories\":[],\n\"image\":{\"width\":%d,\"height\":%d},"
                  "\n\"seed\":%llu,\n\"json\":{\"items\":%zu,\"types\":",
              tr->size, tr->size, (unsigned long long)seed, s->n);
  add_types(&b, s->count);
  strbuf_addf(&b, "},\n\"train\":{\"images\":%zu,\"types\":", tr->n);
  split_types(tr, count);
  add_types(&b, count);
  strbuf_addf(&b, "},\n\"eval\":{\"images\":%zu,\"types\":", ev->n);
  split_types(ev, count);
  add_types(&b, count);
  strbuf_addstr(&b, "}}\n");
  if (!(f = create(path, err))) {
    strbuf_release(&b);
    return err->code;
  }
  fwrite(b.buf, 1, b.len, f);
  rc = close_file(f, path, 0, err);
  strbuf_release(&b);
  return rc;
}

static int write_preview(const char *path, const char *source, const struct split *sp,
                         struct pd_err *err)
{
  static const uint8_t grey[3] = { 150, 150, 150 }, white[3] = { 230, 230, 230 };
  struct preview_cell cells[PREVIEW_N];
  size_t n = sp->n < PREVIEW_N ? sp->n : PREVIEW_N, i, px = (size_t)sp->size * (size_t)sp->size * 3;
  int scale = sp->size >= 128 ? 1 : 128 / sp->size;
  char title[128];

  memset(cells, 0, sizeof cells);
  for (i = 0; i < n; i++) {
    const struct llava_item *it = &sp->set->items[sp->idx[i]];
    struct preview_cell *c = &cells[i];
    c->rgb = &sp->pixels[i * px];
    c->w = c->h = sp->size;
    split_id(sp, i, c->line[0], sizeof c->line[0]);
    snprintf(c->line[1], sizeof c->line[1], "%s", llava_type_names[it->type]);
    snprintf(c->line[2], sizeof c->line[2], "%s", it->id);
    memcpy(c->colour[0], grey, 3);
    memcpy(c->colour[1], white, 3);
    memcpy(c->colour[2], grey, 3);
    c->nlines = 3;
  }
  snprintf(title, sizeof title, "%.64s - first %zu training images", source, n);
  return preview_write(path, title, cells, n, 4, scale, err);
}

/* --- the run -------------------------------------------------------------- */

static int load_pixels(struct task_run *r, struct split *sp, const char *images_dir,
                       size_t base, size_t all)
{
  size_t i, px = (size_t)sp->size * (size_t)sp->size * 3;
  int rc;
  sp->pixels = xmalloc(sp->n ? sp->n * px : 1);
  for (i = 0; i < sp->n; i++) {
    if (task_run_cancelled(r))
      return ERR_SET(&r->err, PD_EINTR, "cancelled");
    if ((rc = fetch_llava_load_image(sp->set, sp->idx[i], images_dir, sp->size, &sp->pixels[i * px],
                               &r->err)) < 0)
      return rc;
    if ((i + 1) % 64 == 0 || i + 1 == sp->n)
      task_run_progress(r, 0.1 + 0.8 * (double)(base + i + 1) / (double)(all ? all : 1),
                        "%s images %zu/%zu", sp->name, i + 1, sp->n);
  }
  return 0;
}

static int on_download(void *arg, uint64_t done, uint64_t total)
{
  struct task_run *r = arg;
  if (total)
    task_run_progress(r, 0.1 * (double)done / (double)total, "download %.1f/%.1f MB",
                      (double)done / 1e6, (double)total / 1e6);
  else
    task_run_progress(r, -1, "download %.1f MB", (double)done / 1e6);
  return task_run_cancelled(r);
}

/* The verified file at the pinned URL; *path malloc'd. */
static int download(struct task_run *r, const char *url, const char *pin, char **path)
{
  char *dir = r->cache ? xasprintf("%s/tmp", cache_path(r->cache)) : xstrdup(r->outdir);
  char hex[PD_DIGEST_HEX];
  uint8_t d[PD_DIGEST_LEN];
  int rc;
  digest_from_hex(pin, d);
  digest_hex(d, hex);
  *path = xasprintf("%s/fetch-%s.json", dir, hex);
  free(dir);
  fprintf(r->log, "fetching %s (sha256 %s) to %s\n", url, hex, *path);
  if ((rc = fetch_url(url, pin, *path, on_download, r, &r->err)) < 0) {
    free(*path);
    *path = NULL;
  }
  return rc;
}

int fetch_llava_run(struct task_run *r)
{
  const struct task *t = r->task;
  const char *source = task_param(t, "source")->u.str.s;
  const char *pin = task_param(t, "sha256")->u.str.s;
  size_t ntrain = (size_t)task_param(t, "train")->u.i, neval = (size_t)task_param(t, "eval")->u.i;
  uint64_t seed = (uint64_t)task_param(t, "seed")->u.i;
  int size = (int)task_param(t, "image_size")->u.i;
  static const char *const outs[] = { "train", "eval", "pope", "world", "preview" };
  struct llava_set s;
  struct split tr = { "train", &s, NULL, ntrain, size, NULL };
  struct split ev = { "eval", &s, NULL, neval, size, NULL };
  size_t *tri = NULL, *evi = NULL;
  char *path[5] = { NULL }, *fetched = NULL;
  const char *json, *images_dir = task_run_input(r, "images_dir");
  int k, rc;

  if (fetch_url_is_url(source)) {
    if ((rc = download(r, source, pin, &fetched)) < 0)
      return rc;
    json = fetched;
  } else {
    json = task_run_input(r, "json");
  }
  if (!json || !images_dir) /* fetch_check lets no such task through */
    BUG("fetch_subset: json or images_dir is not an artifact");
  task_run_progress(r, 0.1, "reading %s", json);
  if ((rc = llava_set_load(&s, json, &r->err)) < 0) {
    free(fetched);
    return rc;
  }
  fprintf(r->log, "%s: %zu items (%zu description, %zu reasoning, %zu conversation)\n", json,
          s.n, s.count[LLAVA_DESCRIPTION], s.count[LLAVA_REASONING],
          s.count[LLAVA_CONVERSATION]);
  tri = xmalloc((ntrain ? ntrain : 1) * sizeof *tri);
  evi = xmalloc((neval ? neval : 1) * sizeof *evi);
  tr.idx = tri;
  ev.idx = evi;
  if ((rc = fetch_llava_pick(&s, seed, ntrain, neval, tri, evi, &r->err)) < 0)
    goto out;
  task_run_progress(r, 0.1, "images");
  if ((rc = load_pixels(r, &tr, images_dir, 0, ntrain + neval)) < 0 ||
      (rc = load_pixels(r, &ev, images_dir, ntrain, ntrain + neval)) < 0)
    goto out;
  task_run_progress(r, 0.9, "writing");
  for (k = 0; k < 5; k++)
    path[k] = task_run_output(r, outs[k]);
  if ((rc = write_split(&tr, source, seed, path[0], &r->err)) < 0 ||
      (rc = write_split(&ev, source, seed, path[1], &r->err)) < 0 ||
      (rc = write_pope(path[2], &r->err)) < 0 ||
      (rc = write_world(path[3], source, pin[0] ? pin : NULL, seed, &s, &tr, &ev, &r->err)) < 0 ||
      (rc = write_preview(path[4], source, &tr, &r->err)) < 0)
    goto out;
  fprintf(r->log, "wrote %zu train and %zu eval items at %dx%d\n", ntrain, neval, size, size);
  task_run_progress(r, 1.0, "done");
out:
  for (k = 0; k < 5; k++)
    free(path[k]);
  free(tr.pixels);
  free(ev.pixels);
  free(tri);
  free(evi);
  free(fetched);
  llava_set_release(&s);
  return rc;
}
