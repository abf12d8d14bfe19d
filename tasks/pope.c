/* pope.c - POPE question sets (see pope.h). */
#include "pope.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "err.h"
#include "strbuf.h"
#include "world.h"

const char *const pope_sampler_names[POPE_NSAMPLER] = { "random", "popular", "adversarial" };

/* The random choices of one image: the present subset, then the random
 * sampler's draws, from one stream of the eval split. */
static void pope_rng(struct shapes_rng *r, uint64_t seed, uint64_t index)
{
  shapes_rng_init(r, seed, SHAPES_EVAL, SHAPES_S_POPE, index);
}

/* Partial Fisher-Yates: the first k of v[0..n-1] become a uniform sample. */
static void sample_k(struct shapes_rng *r, int *v, int n, int k)
{
  int i, j, t;
  for (i = 0; i < k && i < n; i++) {
    j = i + (int)shapes_rng_below(r, (uint32_t)(n - i));
    t = v[i], v[i] = v[j], v[j] = t;
  }
}

static int present_with(struct shapes_rng *r, const struct shapes_scene *s, int *out)
{
  int idx[SHAPES_MAXOBJ], i, j, t, k = s->n < POPE_K ? s->n : POPE_K;
  for (i = 0; i < s->n; i++)
    idx[i] = i;
  if (s->n > POPE_K) {
    sample_k(r, idx, s->n, k);
    for (i = 1; i < k; i++) /* back into salience order */
      for (j = i; j > 0 && idx[j - 1] > idx[j]; j--)
        t = idx[j], idx[j] = idx[j - 1], idx[j - 1] = t;
  }
  for (i = 0; i < k; i++)
    out[i] = s->obj[idx[i]].cat;
  return k;
}

int pope_present(const struct shapes_scene *s, uint64_t seed, uint64_t index, int *out)
{
  struct shapes_rng r;
  pope_rng(&r, seed, index);
  return present_with(&r, s, out);
}

/* Ranks absent categories by score (higher first), then training
 * frequency, then category order; returns the top POPE_K. */
static int top_absent(const struct shapes_scene *s, const size_t *score, const size_t *count,
                      int *out)
{
  int cand[SHAPES_NCAT], n = 0, c, i, j, t;
  for (c = 0; c < SHAPES_NCAT; c++)
    if (!shapes_has(s, c))
      cand[n++] = c;
  for (i = 1; i < n; i++)
    for (j = i; j > 0; j--) {
      int a = cand[j - 1], b = cand[j];
      if (score[a] > score[b] || (score[a] == score[b] && count[a] >= count[b]))
        break;
      t = cand[j], cand[j] = cand[j - 1], cand[j - 1] = t;
    }
  for (i = 0; i < n && i < POPE_K; i++)
    out[i] = cand[i];
  return i;
}

static int absent_with(struct shapes_rng *r, enum pope_sampler sampler,
                       const struct shapes_scene *s, const struct world_stats *train, int *out)
{
  size_t score[SHAPES_NCAT] = { 0 };
  int cand[SHAPES_NCAT], n = 0, c, i, k;
  switch (sampler) {
  case POPE_RANDOM:
    for (c = 0; c < SHAPES_NCAT; c++)
      if (!shapes_has(s, c))
        cand[n++] = c;
    k = n < POPE_K ? n : POPE_K;
    sample_k(r, cand, n, k);
    memcpy(out, cand, (size_t)k * sizeof *out);
    return k;
  case POPE_POPULAR:
    return top_absent(s, train->count, train->count, out);
  case POPE_ADVERSARIAL:
    for (c = 0; c < SHAPES_NCAT; c++)
      for (i = 0; i < s->n; i++)
        score[c] += train->co[s->obj[i].cat][c];
    return top_absent(s, score, train->count, out);
  default:
    BUG("unknown pope sampler");
  }
}

int pope_absent(enum pope_sampler sampler, const struct shapes_scene *s,
                const struct world_stats *train, uint64_t seed, uint64_t index, int *out)
{
  struct shapes_rng r;
  int present[POPE_K];
  pope_rng(&r, seed, index);
  present_with(&r, s, present); /* the random sampler's draws follow these */
  return absent_with(&r, sampler, s, train, out);
}

static void add_question(struct strbuf *sb, size_t *qid, const char *image, int cat, int yes)
{
  strbuf_addf(sb, "{\"question_id\":%zu,\"image\":\"%s\",\"text\":\"", ++*qid, image);
  shapes_question(cat, sb);
  strbuf_addf(sb, "\",\"label\":\"%s\",\"category\":\"%s\"}\n", yes ? "yes" : "no",
              shapes_categories[cat].name);
}

int pope_write(const char *dir, const struct dataset *eval, const struct world_stats *train,
               uint64_t seed, struct pd_err *err)
{
  struct strbuf sb[POPE_NSAMPLER];
  size_t qid[POPE_NSAMPLER] = { 0 }, i;
  int k, rc = 0;

  if (mkdir(dir, 0755) < 0 && errno != EEXIST)
    return ERR_SET(err, -errno, "cannot create '%s': %s", dir, strerror(errno));
  for (k = 0; k < POPE_NSAMPLER; k++)
    strbuf_init(&sb[k], eval->n * 6 * 100 + 1);
  for (i = 0; i < eval->n; i++) {
    const struct shapes_scene *s = &eval->scenes[i];
    struct shapes_rng r, r0;
    int yes[POPE_K], no[POPE_K], ny, nn, j;
    char id[32];
    dataset_item_id(eval->split, i, id, sizeof id);
    pope_rng(&r0, seed, i);
    ny = present_with(&r0, s, yes);
    for (k = 0; k < POPE_NSAMPLER; k++) {
      r = r0; /* every sampler starts after the present draws */
      nn = absent_with(&r, (enum pope_sampler)k, s, train, no);
      for (j = 0; j < ny || j < nn; j++) {
        if (j < ny)
          add_question(&sb[k], &qid[k], id, yes[j], 1);
        if (j < nn)
          add_question(&sb[k], &qid[k], id, no[j], 0);
      }
    }
  }
  for (k = 0; k < POPE_NSAMPLER && rc == 0; k++) {
    char *path = xasprintf("%s/%s.jsonl", dir, pope_sampler_names[k]);
    FILE *f = fopen(path, "wb");
    if (!f) {
      rc = ERR_SET(err, -errno, "cannot create '%s': %s", path, strerror(errno));
    } else {
      if (fwrite(sb[k].buf, 1, sb[k].len, f) != sb[k].len)
        rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
      if (fclose(f) != 0 && rc == 0)
        rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
    }
    free(path);
  }
  for (k = 0; k < POPE_NSAMPLER; k++)
    strbuf_release(&sb[k]);
  return rc;
}
