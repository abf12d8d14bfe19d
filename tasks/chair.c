/* chair.c - CHAIR and POPE metrics over texts and counts (see chair.h). */
#include "chair.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"

/* --- words ------------------------------------------------------------------------------ */

static int is_word_byte(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static char lower(char c)
{
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

struct words {
  char *buf;   /* lowercased copy of the text, words NUL-terminated in place */
  char **w;
  size_t n;
};

/* Splits text into lowercase words (pointers into one copy). */
static void words_split(struct words *ws, const char *text)
{
  size_t len = strlen(text), i, cap = len / 2 + 1;
  ws->buf = xmalloc(len + 1);
  ws->w = xmalloc(cap * sizeof *ws->w);
  ws->n = 0;
  for (i = 0; i <= len; i++)
    ws->buf[i] = is_word_byte((unsigned char)text[i]) ? lower(text[i]) : '\0';
  for (i = 0; i < len; i++)
    if (ws->buf[i] && (i == 0 || !ws->buf[i - 1]))
      ws->w[ws->n++] = ws->buf + i; /* n <= cap: words are separated by >= 1 byte */
}

static void words_release(struct words *ws)
{
  free(ws->buf);
  free(ws->w);
}

size_t chair_count_words(const char *text)
{
  size_t n = 0;
  const unsigned char *p = (const unsigned char *)text;
  for (; *p; p++)
    if (is_word_byte(*p) && (p == (const unsigned char *)text || !is_word_byte(p[-1])))
      n++;
  return n;
}

/* word is syn, or its plural when plural is set (see chair.h). */
static int word_matches(const char *word, const char *syn, int plural)
{
  size_t ls = strlen(syn), lw;
  if (strcmp(word, syn) == 0)
    return 1;
  if (!plural || strncmp(word, syn, ls) != 0)
    return 0;
  lw = strlen(word);
  if (lw == ls + 1 && word[ls] == 's')
    return 1;
  if (lw == ls + 2 && word[ls] == 'e' && word[ls + 1] == 's' && ls > 0) {
    char c = syn[ls - 1];
    if (c == 's' || c == 'x' || c == 'z')
      return 1;
    if (ls > 1 && syn[ls - 1] == 'h' && (syn[ls - 2] == 'c' || syn[ls - 2] == 's'))
      return 1;
  }
  return 0;
}

/* --- vocabulary ------------------------------------------------------------------------- */

void chair_vocab_init(struct chair_vocab *v)
{
  memset(v, 0, sizeof *v);
}

void chair_vocab_release(struct chair_vocab *v)
{
  size_t i;
  int k;
  for (k = 0; k < v->ncat; k++)
    free(v->cats[k]);
  free(v->cats);
  for (i = 0; i < v->nsyn; i++) {
    for (k = 0; k < v->syn[i].nwords; k++)
      free(v->syn[i].words[k]);
    free(v->syn[i].words);
  }
  free(v->syn);
  memset(v, 0, sizeof *v);
}

int chair_vocab_add_category(struct chair_vocab *v, const char *name)
{
  v->cats = xrealloc(v->cats, (size_t)(v->ncat + 1) * sizeof *v->cats);
  v->cats[v->ncat] = xstrdup(name);
  return v->ncat++;
}

void chair_vocab_add_synonym(struct chair_vocab *v, int cat, const char *text)
{
  struct words ws;
  struct chair_syn *s;
  size_t k;
  ASSERT(cat >= 0 && cat < v->ncat);
  words_split(&ws, text);
  if (ws.n > 0) {
    v->syn = xrealloc(v->syn, (v->nsyn + 1) * sizeof *v->syn);
    s = &v->syn[v->nsyn++];
    s->words = xmalloc(ws.n * sizeof *s->words);
    s->nwords = (int)ws.n;
    s->len = 0;
    s->cat = cat;
    for (k = 0; k < ws.n; k++) {
      s->words[k] = xstrdup(ws.w[k]);
      s->len += strlen(ws.w[k]);
    }
  }
  words_release(&ws);
}

/* Most words first, then most bytes, then category and words: a total
 * order, so the match does not depend on qsort. */
static int cmp_syn(const void *x, const void *y)
{
  const struct chair_syn *a = x, *b = y;
  int k, c;
  if (a->nwords != b->nwords)
    return a->nwords > b->nwords ? -1 : 1;
  if (a->len != b->len)
    return a->len > b->len ? -1 : 1;
  if (a->cat != b->cat)
    return a->cat < b->cat ? -1 : 1;
  for (k = 0; k < a->nwords; k++)
    if ((c = strcmp(a->words[k], b->words[k])) != 0)
      return c;
  return 0;
}

void chair_vocab_finish(struct chair_vocab *v)
{
  if (v->nsyn > 1)
    qsort(v->syn, v->nsyn, sizeof *v->syn, cmp_syn);
}

int chair_vocab_find(const struct chair_vocab *v, const char *name)
{
  int k;
  for (k = 0; k < v->ncat; k++)
    if (strcmp(v->cats[k], name) == 0)
      return k;
  return -1;
}

int chair_vocab_from_world(struct chair_vocab *v, const char *json, const char *path,
                           struct pd_err *err)
{
  cJSON *root = cJSON_Parse(json), *cats, *c;
  int rc = 0, i = 0;
  chair_vocab_init(v);
  cats = cJSON_GetObjectItemCaseSensitive(root, "categories");
  if (!root || !cJSON_IsArray(cats) || cJSON_GetArraySize(cats) == 0) {
    rc = ERR_SET(err, PD_EUSAGE, "'%s': not a world with a \"categories\" array", path);
    goto out;
  }
  cJSON_ArrayForEach(c, cats) {
    cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
    cJSON *syns = cJSON_GetObjectItemCaseSensitive(c, "synonyms"), *s;
    int k;
    if (!cJSON_IsString(name) || !name->valuestring[0] ||
        (syns && !cJSON_IsArray(syns))) {
      rc = ERR_SET(err, PD_EUSAGE, "'%s': category %d: expected a \"name\" and a \"synonyms\" "
                   "list", path, i);
      goto out;
    }
    if (chair_vocab_find(v, name->valuestring) >= 0) {
      rc = ERR_SET(err, PD_EUSAGE, "'%s': category '%s' appears twice", path, name->valuestring);
      goto out;
    }
    k = chair_vocab_add_category(v, name->valuestring);
    chair_vocab_add_synonym(v, k, name->valuestring);
    cJSON_ArrayForEach(s, syns) {
      if (!cJSON_IsString(s)) {
        rc = ERR_SET(err, PD_EUSAGE, "'%s': category '%s': a synonym is not a string", path,
                     name->valuestring);
        goto out;
      }
      chair_vocab_add_synonym(v, k, s->valuestring);
    }
    i++;
  }
  chair_vocab_finish(v);
out:
  cJSON_Delete(root);
  if (rc < 0)
    chair_vocab_release(v);
  return rc;
}

/* --- CHAIR ------------------------------------------------------------------------------ */

int chair_mentions(const struct chair_vocab *v, const char *text, unsigned char *mentioned)
{
  struct words ws;
  size_t i = 0, j;
  int n = 0, k;
  memset(mentioned, 0, (size_t)v->ncat);
  words_split(&ws, text);
  while (i < ws.n) {
    size_t step = 1;
    for (j = 0; j < v->nsyn; j++) {
      const struct chair_syn *s = &v->syn[j];
      if (i + (size_t)s->nwords > ws.n)
        continue;
      for (k = 0; k < s->nwords; k++)
        if (!word_matches(ws.w[i + (size_t)k], s->words[k], k == s->nwords - 1))
          break;
      if (k == s->nwords) {
        if (!mentioned[s->cat]) {
          mentioned[s->cat] = 1;
          n++;
        }
        step = (size_t)s->nwords;
        break;
      }
    }
    i += step;
  }
  words_release(&ws);
  return n;
}

void chair_counts_add(struct chair_counts *c, const unsigned char *mentioned,
                      const unsigned char *gt, int ncat, size_t words, size_t tokens)
{
  int k, hall = 0;
  for (k = 0; k < ncat; k++) {
    if (mentioned[k]) {
      c->mentions++;
      if (!gt[k]) {
        c->hallucinated++;
        hall = 1;
      }
    }
    if (gt[k]) {
      c->gt_objects++;
      if (mentioned[k])
        c->covered++;
    }
  }
  c->answers++;
  c->hallucinated_answers += (size_t)hall;
  c->words += words;
  c->tokens += tokens;
}

static double ratio(size_t a, size_t b)
{
  return b ? (double)a / (double)b : 0.0;
}

void chair_counts_scores(const struct chair_counts *c, struct chair_scores *s)
{
  s->chair_s = ratio(c->hallucinated_answers, c->answers);
  s->chair_i = ratio(c->hallucinated, c->mentions);
  s->recall = ratio(c->covered, c->gt_objects);
  s->objects_per_answer = ratio(c->mentions, c->answers);
  s->avg_words = ratio(c->words, c->answers);
  s->avg_tokens = ratio(c->tokens, c->answers);
}

/* --- POPE ------------------------------------------------------------------------------- */

int chair_pope_parse(const char *answer)
{
  const char *dot = strchr(answer, '.');
  char *first = dot ? xstrndup(answer, (size_t)(dot - answer)) : xstrdup(answer);
  struct words ws;
  size_t i;
  int yes = 1;
  words_split(&ws, first);
  for (i = 0; i < ws.n; i++)
    if (strcmp(ws.w[i], "no") == 0 || strcmp(ws.w[i], "not") == 0)
      yes = 0;
  words_release(&ws);
  free(first);
  return yes;
}

void chair_pope_add(struct chair_pope *p, int label_yes, int pred_yes)
{
  if (label_yes && pred_yes)
    p->tp++;
  else if (!label_yes && pred_yes)
    p->fp++;
  else if (!label_yes)
    p->tn++;
  else
    p->fn++;
}

void chair_pope_scores(const struct chair_pope *p, struct chair_pope_scores *s)
{
  size_t n = p->tp + p->fp + p->tn + p->fn;
  s->questions = n;
  s->accuracy = ratio(p->tp + p->tn, n);
  s->precision = ratio(p->tp, p->tp + p->fp);
  s->recall = ratio(p->tp, p->tp + p->fn);
  s->f1 = s->precision + s->recall > 0
              ? 2 * s->precision * s->recall / (s->precision + s->recall)
              : 0.0;
  s->yes_ratio = ratio(p->tp + p->fp, n);
}
