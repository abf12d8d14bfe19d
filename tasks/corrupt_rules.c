/* corrupt_rules.c - world.json and items.jsonl for corrupt_captions, the
 * description renderer and the rules that corrupt a description (see
 * corrupt_rules.h). */
#include "corrupt_rules.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "shapes.h"
#include "strbuf.h"

const char *const corrupt_kind_names[CORRUPT_NKIND] = {
  "insert", "replace", "recolour", "move", "flip",
};

/* --- world.json ------------------------------------------------------------ */

static const cJSON *get(const cJSON *o, const char *key)
{
  return cJSON_GetObjectItemCaseSensitive(o, key);
}

static char *read_text(const char *path, struct pd_err *err)
{
  FILE *f = fopen(path, "rb");
  struct strbuf sb;
  char buf[8192];
  size_t n;
  if (!f) {
    ERR_SET(err, -errno, "cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  strbuf_init(&sb, sizeof buf);
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    strbuf_add(&sb, buf, n);
  if (ferror(f)) {
    ERR_SET(err, PD_EIO, "cannot read '%s'", path);
    strbuf_release(&sb);
    fclose(f);
    return NULL;
  }
  fclose(f);
  return strbuf_detach(&sb, NULL);
}

/* Names of a JSON array of strings, or of objects' "name" fields. */
static int load_names(const cJSON *arr, char **names, int max, int *n)
{
  const cJSON *e;
  *n = 0;
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 || cJSON_GetArraySize(arr) > max)
    return -1;
  cJSON_ArrayForEach(e, arr) {
    const cJSON *s = cJSON_IsObject(e) ? get(e, "name") : e;
    if (!cJSON_IsString(s) || !s->valuestring[0])
      return -1;
    names[(*n)++] = xstrdup(s->valuestring);
  }
  return 0;
}

static int find(char *const *names, int n, const char *name)
{
  int k;
  for (k = 0; k < n; k++)
    if (strcmp(names[k], name) == 0)
      return k;
  return -1;
}

static void add_alias(struct corrupt_world *w, const char *name, int cat)
{
  if (corrupt_world_category(w, name) >= 0)
    return; /* the first category to claim a name keeps it */
  w->alias = xrealloc(w->alias, (size_t)(w->nalias + 1) * sizeof *w->alias);
  w->alias[w->nalias].name = xstrdup(name);
  w->alias[w->nalias++].cat = cat;
}

/* stats.count and stats.cooccurrence (ncat x ncat) into cond. */
static int load_cond(struct corrupt_world *w, const cJSON *stats, double cond[][CORRUPT_MAXCAT])
{
  const cJSON *count = get(stats, "count"), *co = get(stats, "cooccurrence"), *row, *v;
  double cnt[CORRUPT_MAXCAT];
  int a = 0, b;
  if (!cJSON_IsArray(count) || cJSON_GetArraySize(count) != w->ncat || !cJSON_IsArray(co) ||
      cJSON_GetArraySize(co) != w->ncat)
    return -1;
  cJSON_ArrayForEach(v, count) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0)
      return -1;
    cnt[a++] = v->valuedouble;
  }
  a = 0;
  cJSON_ArrayForEach(row, co) {
    if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != w->ncat)
      return -1;
    b = 0;
    cJSON_ArrayForEach(v, row) {
      if (!cJSON_IsNumber(v) || v->valuedouble < 0)
        return -1;
      cond[a][b] = cnt[a] > 0 ? v->valuedouble / cnt[a] : 0.0;
      b++;
    }
    a++;
  }
  return 0;
}

int corrupt_world_load(struct corrupt_world *w, const char *path, struct pd_err *err)
{
  char *text;
  cJSON *root;
  const cJSON *cats, *c, *s, *train, *images;
  const char *what = NULL;
  int k;

  memset(w, 0, sizeof *w);
  if (!(text = read_text(path, err)))
    return err->code;
  root = cJSON_Parse(text);
  free(text);
  if (!root)
    return ERR_SET(err, PD_ECORRUPT, "'%s' is not JSON", path);
  cats = get(root, "categories");
  train = get(root, "train");
  if (load_names(get(root, "positions"), w->pos, CORRUPT_MAXPOS, &w->npos) < 0)
    what = "\"positions\" (a list of 1 to 16 names)";
  else if (load_names(get(root, "colours"), w->colour, CORRUPT_MAXCOLOUR, &w->ncolour) < 0)
    what = "\"colours\" (a list of 1 to 32 named colours)";
  else if (load_names(cats, w->cat, CORRUPT_MAXCAT, &w->ncat) < 0)
    what = "\"categories\" (a list of 1 to 64 named categories)";
  else if (!cJSON_IsObject(train) || !cJSON_IsNumber(images = get(train, "images")))
    what = "\"train\" statistics";
  else if (load_cond(w, get(train, "objects_stats"), w->cond[CORRUPT_COOC_OBJECTS]) < 0)
    what = "\"train\".\"objects_stats\" (count and cooccurrence of every category)";
  else if (load_cond(w, get(train, "mention_stats"), w->cond[CORRUPT_COOC_MENTIONS]) < 0)
    what = "\"train\".\"mention_stats\" (count and cooccurrence of every category)";
  if (what) {
    cJSON_Delete(root);
    corrupt_world_release(w);
    return ERR_SET(err, PD_ECORRUPT, "'%s' lacks %s", path, what);
  }
  w->images = (size_t)images->valuedouble;
  k = 0;
  cJSON_ArrayForEach(c, cats) {
    const cJSON *typ = get(c, "typical_colour");
    w->typical[k] = cJSON_IsString(typ) ? find(w->colour, w->ncolour, typ->valuestring) : -1;
    k++;
  }
  for (k = 0; k < w->ncat; k++)
    add_alias(w, w->cat[k], k);
  k = 0;
  cJSON_ArrayForEach(c, cats) {
    cJSON_ArrayForEach(s, get(c, "synonyms"))
      if (cJSON_IsString(s))
        add_alias(w, s->valuestring, k);
    k++;
  }
  cJSON_Delete(root);
  return 0;
}

void corrupt_world_release(struct corrupt_world *w)
{
  int k;
  for (k = 0; k < w->ncat; k++)
    free(w->cat[k]);
  for (k = 0; k < w->ncolour; k++)
    free(w->colour[k]);
  for (k = 0; k < w->npos; k++)
    free(w->pos[k]);
  for (k = 0; k < w->nalias; k++)
    free(w->alias[k].name);
  free(w->alias);
  memset(w, 0, sizeof *w);
}

int corrupt_world_category(const struct corrupt_world *w, const char *name)
{
  int k;
  for (k = 0; k < w->nalias; k++)
    if (strcmp(w->alias[k].name, name) == 0)
      return w->alias[k].cat;
  return -1;
}

int corrupt_world_colour(const struct corrupt_world *w, const char *name)
{
  return find(w->colour, w->ncolour, name);
}

int corrupt_world_position(const struct corrupt_world *w, const char *name)
{
  return find(w->pos, w->npos, name);
}

/* --- items.jsonl ------------------------------------------------------------- */

static const char *str(const cJSON *o, const char *key)
{
  const cJSON *v = get(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int fail(struct corrupt_item *it, char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct corrupt_item *it, char *why, size_t n, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, n, fmt, ap);
  va_end(ap);
  corrupt_item_release(it);
  return -1;
}

int corrupt_item_parse(struct corrupt_item *it, const struct corrupt_world *w, const char *line,
                       size_t len, char *why, size_t whylen)
{
  const cJSON *objs, *conv, *o, *m;
  const char *names[3];
  static const char *const fields[3] = { "category", "colour", "position" };
  int k, v[3];

  memset(it, 0, sizeof *it);
  if (!(it->root = cJSON_ParseWithLength(line, len)) || !cJSON_IsObject(it->root))
    return fail(it, why, whylen, "not a JSON object");
  if (!(it->id = str(it->root, "id")) || !it->id[0])
    return fail(it, why, whylen, "no \"id\" string");
  if (!(it->image = str(it->root, "image")))
    it->image = it->id;
  conv = get(it->root, "conversations");
  if (!cJSON_IsArray(conv))
    return fail(it, why, whylen, "item '%s': no \"conversations\" list", it->id);
  it->turn = xcalloc((size_t)cJSON_GetArraySize(conv) + 1, sizeof *it->turn);
  cJSON_ArrayForEach(o, conv) {
    const char *from = str(o, "from"), *value = str(o, "value");
    if (!from || !value)
      return fail(it, why, whylen, "item '%s': turn %d lacks \"from\" or \"value\"", it->id,
                  it->nturn);
    it->turn[it->nturn].human = strcmp(from, "human") == 0;
    it->turn[it->nturn++].value = value;
  }
  objs = get(it->root, "objects");
  if (!cJSON_IsArray(objs))
    return fail(it, why, whylen, "item '%s': no \"objects\" list (the ground truth)", it->id);
  if (cJSON_GetArraySize(objs) > CORRUPT_MAXOBJ)
    return fail(it, why, whylen, "item '%s': more than %d objects", it->id, CORRUPT_MAXOBJ);
  cJSON_ArrayForEach(o, objs) {
    for (k = 0; k < 3; k++)
      if (!(names[k] = str(o, fields[k])))
        return fail(it, why, whylen, "item '%s': object %d has no \"%s\"", it->id, it->nobj,
                    fields[k]);
    v[0] = corrupt_world_category(w, names[0]);
    v[1] = corrupt_world_colour(w, names[1]);
    v[2] = corrupt_world_position(w, names[2]);
    for (k = 0; k < 3; k++)
      if (v[k] < 0)
        return fail(it, why, whylen, "item '%s': object %d: unknown %s '%s'", it->id, it->nobj,
                    fields[k], names[k]);
    it->obj[it->nobj].cat = v[0];
    it->obj[it->nobj].colour = v[1];
    it->obj[it->nobj++].pos = v[2];
  }
  cJSON_ArrayForEach(m, get(it->root, "mentions"))
    it->nnoise += cJSON_IsTrue(get(m, "noise"));
  return 0;
}

void corrupt_item_release(struct corrupt_item *it)
{
  cJSON_Delete(it->root);
  free(it->turn);
  memset(it, 0, sizeof *it);
}

/* --- text ------------------------------------------------------------------ */

void corrupt_describe(const struct corrupt_world *w, const struct corrupt_mention *m, int n,
                      struct strbuf *out)
{
  int i;
  if (n == 0) {
    strbuf_addstr(out, "There is nothing in the image.");
    return;
  }
  strbuf_addstr(out, "There is ");
  for (i = 0; i < n; i++) {
    const char *colour = w->colour[m[i].colour];
    if (i > 0)
      strbuf_addstr(out, i == n - 1 ? " and " : ", ");
    strbuf_addf(out, "%s %s %s in the %s", shapes_article(colour), colour, w->cat[m[i].cat],
                w->pos[m[i].pos]);
  }
  strbuf_addch(out, '.');
}

int corrupt_is_true(const struct corrupt_mention *truth, int n, const struct corrupt_mention *m)
{
  int i;
  for (i = 0; i < n; i++)
    if (truth[i].cat == m->cat && truth[i].colour == m->colour && truth[i].pos == m->pos)
      return 1;
  return 0;
}

int corrupt_false_mentions(const struct corrupt_mention *truth, int n,
                           const struct corrupt_mention *m, int nm)
{
  int i, k = 0;
  for (i = 0; i < nm; i++)
    k += !corrupt_is_true(truth, n, &m[i]);
  return k;
}

/* --- the rules --------------------------------------------------------------- */

struct state {
  const struct corrupt_world *w;
  const struct corrupt_opts *o;
  const struct corrupt_mention *truth;
  int n;
  struct shapes_rng *rng;
  struct corrupt_result *res;
  int touched[CORRUPT_MAXMENTION]; /* mention edited (or inserted): never edited again */
};

static int present(const struct state *s, int cat)
{
  int i;
  for (i = 0; i < s->n; i++)
    if (s->truth[i].cat == cat)
      return 1;
  return 0;
}

static int mentioned(const struct state *s, int cat)
{
  int i;
  for (i = 0; i < s->res->nm; i++)
    if (s->res->m[i].cat == cat)
      return 1;
  return 0;
}

/* Candidate categories for insert/replace: absent from the image and not
 * named by the answer. score[c] is the co-occurrence (P(c | given), or its
 * mean over the categories present when given < 0), *best the highest;
 * wt[c] = score^power, uniform when all are 0. Returns how many, 0 when
 * none. */
static int absent_categories(const struct state *s, int given, double *score, double *wt,
                             double *best)
{
  const double(*cond)[CORRUPT_MAXCAT] = s->w->cond[s->o->cooc];
  int c, i, n = 0;
  double total = 0;
  *best = 0;
  for (c = 0; c < s->w->ncat; c++) {
    score[c] = wt[c] = 0;
    if (present(s, c) || mentioned(s, c))
      continue;
    n++;
    if (given >= 0) {
      score[c] = cond[given][c];
    } else {
      for (i = 0; i < s->n; i++)
        score[c] += cond[s->truth[i].cat][c];
      score[c] /= s->n > 0 ? s->n : 1;
    }
    wt[c] = s->o->power == 1 ? score[c] : s->o->power == 0 ? 1.0 : pow(score[c], s->o->power);
    total += wt[c];
    if (score[c] > *best)
      *best = score[c];
  }
  if (n > 0 && !(total > 0))
    for (c = 0; c < s->w->ncat; c++)
      wt[c] = present(s, c) || mentioned(s, c) ? 0 : 1;
  return n;
}

/* An untouched true mention, uniformly, or -1. */
static int pick_target(struct state *s)
{
  int i, idx[CORRUPT_MAXMENTION], n = 0;
  for (i = 0; i < s->res->nm; i++)
    if (!s->touched[i])
      idx[n++] = i;
  return n ? idx[shapes_rng_below(s->rng, (uint32_t)n)] : -1;
}

static int untouched(const struct state *s)
{
  int i, n = 0;
  for (i = 0; i < s->res->nm; i++)
    n += !s->touched[i];
  return n;
}

static int holder(const struct state *s, int pos)
{
  int i;
  for (i = 0; i < s->res->nm; i++)
    if (s->res->m[i].pos == pos)
      return i;
  return -1;
}

static struct corrupt_edit *new_edit(struct state *s, int kind, int cat)
{
  struct corrupt_edit *e = &s->res->edit[s->res->nedit++];
  memset(e, 0, sizeof *e);
  e->kind = kind;
  e->cat = cat;
  return e;
}

static int do_insert(struct state *s)
{
  const struct corrupt_world *w = s->w;
  struct corrupt_result *r = s->res;
  double score[CORRUPT_MAXCAT], wt[CORRUPT_MAXCAT], best;
  int c, i, at, free_pos[CORRUPT_MAXPOS], nfree = 0;
  struct corrupt_mention m;
  struct corrupt_edit *e;

  if (r->nm >= CORRUPT_MAXMENTION || absent_categories(s, -1, score, wt, &best) == 0)
    return 0;
  c = shapes_rng_pick(s->rng, wt, w->ncat);
  m.cat = c;
  m.colour = w->typical[c] >= 0 ? w->typical[c]
                                : (int)shapes_rng_below(s->rng, (uint32_t)w->ncolour);
  for (i = 0; i < w->npos; i++)
    if (holder(s, i) < 0)
      free_pos[nfree++] = i;
  m.pos = nfree ? free_pos[shapes_rng_below(s->rng, (uint32_t)nfree)]
                : (int)shapes_rng_below(s->rng, (uint32_t)w->npos);
  /* After the first mention, where the annotation habit puts it. */
  at = r->nm > 0 ? 1 + (int)shapes_rng_below(s->rng, (uint32_t)r->nm) : 0;
  memmove(&r->m[at + 1], &r->m[at], (size_t)(r->nm - at) * sizeof r->m[0]);
  memmove(&s->touched[at + 1], &s->touched[at], (size_t)(r->nm - at) * sizeof s->touched[0]);
  r->m[at] = m;
  s->touched[at] = 1;
  r->nm++;
  e = new_edit(s, CORRUPT_INSERT, c);
  e->top = best > 0 && score[c] >= best;
  snprintf(e->detail, sizeof e->detail, "absent; %s in the %s; co-occurrence %.3f",
           w->colour[m.colour], w->pos[m.pos], score[c]);
  return 1;
}

static int do_replace(struct state *s)
{
  struct corrupt_result *r = s->res;
  double score[CORRUPT_MAXCAT], wt[CORRUPT_MAXCAT], best;
  int i, c, old;
  struct corrupt_edit *e;

  if (untouched(s) == 0)
    return 0;
  i = pick_target(s);
  old = r->m[i].cat;
  if (absent_categories(s, old, score, wt, &best) == 0)
    return 0;
  c = shapes_rng_pick(s->rng, wt, s->w->ncat);
  r->m[i].cat = c;
  s->touched[i] = 1;
  e = new_edit(s, CORRUPT_REPLACE, old);
  e->top = best > 0 && score[c] >= best;
  snprintf(e->detail, sizeof e->detail, "%s -> %s (absent); co-occurrence %.3f", s->w->cat[old],
           s->w->cat[c], score[c]);
  return 1;
}

static int do_recolour(struct state *s)
{
  const struct corrupt_world *w = s->w;
  struct corrupt_result *r = s->res;
  int i, k, old, typ, cand[CORRUPT_MAXCOLOUR], n = 0;
  struct corrupt_mention m;
  struct corrupt_edit *e;

  if (untouched(s) == 0)
    return 0;
  i = pick_target(s);
  m = r->m[i];
  old = m.colour;
  for (k = 0; k < w->ncolour; k++) {
    m.colour = k;
    if (k != old && !corrupt_is_true(s->truth, s->n, &m))
      cand[n++] = k;
  }
  if (n == 0)
    return 0;
  typ = w->typical[m.cat];
  m.colour = cand[shapes_rng_below(s->rng, (uint32_t)n)];
  /* Draw both, so the stream does not depend on the branch. */
  if (shapes_rng_uniform(s->rng) < 0.5 && typ >= 0) {
    for (k = 0; k < n; k++)
      if (cand[k] == typ)
        m.colour = typ;
  }
  r->m[i] = m;
  s->touched[i] = 1;
  e = new_edit(s, CORRUPT_RECOLOUR, m.cat);
  snprintf(e->detail, sizeof e->detail, "%s -> %s", w->colour[old], w->colour[m.colour]);
  return 1;
}

static int do_move(struct state *s)
{
  const struct corrupt_world *w = s->w;
  struct corrupt_result *r = s->res;
  int i, p, j, old, cand[CORRUPT_MAXPOS], n = 0, loose[CORRUPT_MAXPOS], nloose = 0;
  struct corrupt_mention m, mj;
  struct corrupt_edit *e;

  if (untouched(s) == 0)
    return 0;
  i = pick_target(s);
  m = r->m[i];
  old = m.pos;
  for (p = 0; p < w->npos; p++) {
    if (p == old)
      continue;
    m.pos = p;
    if (corrupt_is_true(s->truth, s->n, &m))
      continue;
    j = holder(s, p);
    if (j < 0) {
      cand[n++] = p;
      continue;
    }
    /* A swap must leave the other mention false too, and must not move a
     * mention an earlier edit made (a moved one could go back). */
    mj = r->m[j];
    mj.pos = old;
    if (!s->touched[j] && !corrupt_is_true(s->truth, s->n, &mj))
      cand[n++] = p;
    else
      loose[nloose++] = p; /* shares a position: still false, but only as a last resort */
  }
  if (n == 0 && nloose == 0)
    return 0;
  p = n ? cand[shapes_rng_below(s->rng, (uint32_t)n)]
        : loose[shapes_rng_below(s->rng, (uint32_t)nloose)];
  j = n ? holder(s, p) : -1;
  r->m[i].pos = p;
  s->touched[i] = 1;
  e = new_edit(s, CORRUPT_MOVE, m.cat);
  if (j >= 0) {
    r->m[j].pos = old;
    s->touched[j] = 1;
    snprintf(e->detail, sizeof e->detail, "%s -> %s (swapped with the %s)", w->pos[old],
             w->pos[p], w->cat[r->m[j].cat]);
  } else {
    snprintf(e->detail, sizeof e->detail, "%s -> %s", w->pos[old], w->pos[p]);
  }
  return 1;
}

static int (*const rules[CORRUPT_NRULE])(struct state *) = {
  do_insert, do_replace, do_recolour, do_move,
};

int corrupt_rules_apply(const struct corrupt_world *w, const struct corrupt_opts *o,
                        const struct corrupt_mention *truth, int n, struct shapes_rng *rng,
                        struct corrupt_result *res)
{
  struct state s;
  double wt[CORRUPT_NRULE];
  int e, k, tries;

  memset(&s, 0, sizeof s);
  memset(res, 0, sizeof *res);
  s.w = w;
  s.o = o;
  s.truth = truth;
  s.n = n < CORRUPT_MAXOBJ ? n : CORRUPT_MAXOBJ;
  s.rng = rng;
  s.res = res;
  res->nm = s.n;
  memcpy(res->m, truth, (size_t)s.n * sizeof *truth);
  for (e = 0; e < o->edits && e < CORRUPT_MAXEDITS; e++) {
    /* Draw a kind from the mix; a kind that does not apply drops out and
     * the draw is repeated among the rest. */
    memcpy(wt, o->mix, sizeof wt);
    for (tries = 0; tries < CORRUPT_NRULE; tries++) {
      double total = 0;
      for (k = 0; k < CORRUPT_NRULE; k++)
        total += wt[k] > 0 ? wt[k] : 0;
      if (!(total > 0))
        return res->nedit;
      k = shapes_rng_pick(rng, wt, CORRUPT_NRULE);
      if (rules[k](&s))
        break;
      wt[k] = 0;
    }
    if (tries == CORRUPT_NRULE)
      return res->nedit;
  }
  return res->nedit;
}
