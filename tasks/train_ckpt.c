/* train_ckpt.c - training checkpoints in the per-item memo (see
 * train_ckpt.h).
 *
 * Record layout (host byte order: a checkpoint is read back by the same
 * build on the same machine, never exported):
 *   "PDCKPT02" u64 step, rng, pos, n; n x u64 perm; TRAIN_CKPT_SUMS x f64;
 *   u64 np; np x f32 params, m, v; u64 log length; log bytes.
 */
#include "train_ckpt.h"

#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "digest.h"
#include "err.h"
#include "graph.h"
#include "llava.h"
#include "registry.h"
#include "strbuf.h"
#include "value.h"

#define CKPT_MAGIC "PDCKPT02"

int train_ckpt_ident(struct strbuf *id, const char *tag, const struct task *t,
                     const struct kind_param *params, const char *const *skip,
                     const char *const *files, size_t nfiles, struct pd_err *err)
{
  const struct kind_param *p;
  size_t i;
  int first = 1;
  strbuf_addstr(id, tag);
  strbuf_addstr(id, "\n{");
  for (p = params; p->name; p++) {
    const char *const *s;
    int skipped = 0;
    for (s = skip; s && *s; s++)
      skipped |= strcmp(*s, p->name) == 0;
    if (skipped || (p->flags & KP_NOKEY))
      continue;
    if (!first)
      strbuf_addch(id, ',');
    first = 0;
    strbuf_add_json_str(id, p->name, strlen(p->name));
    strbuf_addch(id, ':');
    val_to_json(task_param(t, p->name), id);
  }
  strbuf_addstr(id, "}\n");
  for (i = 0; i < nfiles; i++) {
    char hex[PD_DIGEST_HEX];
    uint8_t d[PD_DIGEST_LEN];
    uint64_t size;
    int rc = digest_file(files[i], d, &size, err);
    if (rc < 0)
      return rc;
    digest_hex(d, hex);
    strbuf_addf(id, "%zu %s %llu\n", i, hex, (unsigned long long)size);
  }
  return 0;
}

/* Key of step s (s < 0: the "latest" entry). */
static void ckpt_key(const struct strbuf *id, int s, uint8_t key[PD_DIGEST_LEN])
{
  struct digest_ctx ctx;
  char tail[32];
  int n = s < 0 ? snprintf(tail, sizeof tail, "latest") : snprintf(tail, sizeof tail, "step %d", s);
  digest_init(&ctx);
  digest_update(&ctx, id->buf, id->len);
  digest_update(&ctx, tail, (size_t)n);
  digest_final(&ctx, key);
}

static void put_u64(struct strbuf *sb, uint64_t x)
{
  strbuf_add(sb, &x, sizeof x);
}

int train_ckpt_save(struct cache *c, const struct strbuf *id, const struct llava *m,
                    const struct train_ckpt *st, struct pd_err *err)
{
  struct strbuf sb;
  uint8_t key[PD_DIGEST_LEN];
  char latest[32];
  size_t i, np = m->num_parameters;
  int rc;
  strbuf_init(&sb, 128 + 3 * np * sizeof(float) + st->n * 8 + st->tsv->len);
  strbuf_add(&sb, CKPT_MAGIC, 8);
  put_u64(&sb, (uint64_t)st->step);
  put_u64(&sb, st->rng);
  put_u64(&sb, st->pos);
  put_u64(&sb, st->n);
  for (i = 0; i < st->n; i++)
    put_u64(&sb, st->perm[i]);
  strbuf_add(&sb, st->sums, sizeof st->sums);
  put_u64(&sb, np);
  strbuf_add(&sb, m->params_memory, np * sizeof(float));
  strbuf_add(&sb, m->m_memory, np * sizeof(float));
  strbuf_add(&sb, m->v_memory, np * sizeof(float));
  put_u64(&sb, st->tsv->len);
  strbuf_add(&sb, st->tsv->buf, st->tsv->len);
  ckpt_key(id, st->step, key);
  rc = cache_memo_put(c, key, sb.buf, sb.len, err);
  strbuf_release(&sb);
  if (rc < 0)
    return rc;
  ckpt_key(id, -1, key);
  snprintf(latest, sizeof latest, "%d", st->step);
  return cache_memo_put(c, key, latest, strlen(latest), err);
}

struct reader {
  const char *p;
  size_t left;
  int bad;
};

static const char *take(struct reader *rd, size_t n)
{
  const char *p = rd->p;
  if (rd->bad || rd->left < n) {
    rd->bad = 1;
    return NULL;
  }
  rd->p += n;
  rd->left -= n;
  return p;
}

static uint64_t get_u64(struct reader *rd)
{
  uint64_t x = 0;
  const char *p = take(rd, sizeof x);
  if (p)
    memcpy(&x, p, sizeof x);
  return x;
}

/* Parses a record; on success fills st and m and returns 1. */
static int restore(const char *val, size_t n, long step, struct llava *m, struct train_ckpt *st)
{
  struct reader rd = { val, n, 0 };
  const char *mg = take(&rd, 8), *perm, *sums, *arrays, *log;
  uint64_t rng, pos, nperm, np, tlen, i;
  if (!mg || memcmp(mg, CKPT_MAGIC, 8) != 0 || get_u64(&rd) != (uint64_t)step)
    return 0;
  rng = get_u64(&rd);
  pos = get_u64(&rd);
  nperm = get_u64(&rd);
  if (rd.bad || nperm != st->n || pos > nperm || nperm > rd.left / 8)
    return 0;
  perm = take(&rd, nperm * 8);
  sums = take(&rd, sizeof st->sums);
  np = get_u64(&rd);
  if (rd.bad || np != m->num_parameters || np > rd.left / (3 * sizeof(float)))
    return 0;
  arrays = take(&rd, 3 * np * sizeof(float));
  tlen = get_u64(&rd);
  log = take(&rd, tlen);
  if (rd.bad || rd.left != 0)
    return 0;
  for (i = 0; i < nperm; i++) {
    uint64_t x;
    memcpy(&x, perm + i * 8, 8);
    if (x >= nperm)
      return 0;
  }
  for (i = 0; i < nperm; i++) {
    uint64_t x;
    memcpy(&x, perm + i * 8, 8);
    st->perm[i] = (size_t)x;
  }
  if (!m->m_memory) {
    m->m_memory = xcalloc(np + 1, sizeof(float));
    m->v_memory = xcalloc(np + 1, sizeof(float));
  }
  memcpy(m->params_memory, arrays, np * sizeof(float));
  memcpy(m->m_memory, arrays + np * sizeof(float), np * sizeof(float));
  memcpy(m->v_memory, arrays + 2 * np * sizeof(float), np * sizeof(float));
  memcpy(st->sums, sums, sizeof st->sums);
  st->step = (int)step;
  st->rng = rng;
  st->pos = (size_t)pos;
  strbuf_reset(st->tsv);
  strbuf_add(st->tsv, log, (size_t)tlen);
  return 1;
}

int train_ckpt_load(struct cache *c, const struct strbuf *id, int steps, struct llava *m,
                    struct train_ckpt *st, FILE *log, struct pd_err *err)
{
  uint8_t key[PD_DIGEST_LEN];
  char *val = NULL, *end;
  size_t n;
  long step;
  int rc;
  ckpt_key(id, -1, key);
  if ((rc = cache_memo_get(c, key, &val, &n, err)) <= 0)
    return rc;
  step = strtol(val, &end, 10);
  if (end == val || *end || step < 1 || step >= steps) {
    fprintf(log, "checkpoint: ignoring a latest entry '%s'\n", val);
    free(val);
    return 0;
  }
  free(val);
  ckpt_key(id, (int)step, key);
  if ((rc = cache_memo_get(c, key, &val, &n, err)) < 0)
    return rc;
  if (rc == 0) {
    fprintf(log, "checkpoint: step %ld is missing\n", step);
    return 0;
  }
  rc = restore(val, n, step, m, st);
  free(val);
  if (!rc)
    fprintf(log, "checkpoint: step %ld does not fit this run; starting over\n", step);
  return rc;
}
