/* corrupt_pairs.c - one item of corrupt_captions into its preference pairs
 * (see corrupt_pairs.h). */
#include "corrupt_pairs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "err.h"
#include "shapes.h"

const char *const corrupt_skip_keys[CORRUPT_NSKIP] = {
  "no_objects", "no_edit", "still_true", "no_description", "unknown_question", "disagrees",
};

const char *const corrupt_skip_names[CORRUPT_NSKIP] = {
  "no objects in the ground truth",
  "no edit of the configured kinds applies",
  "the rewrite is still true of the image",
  "no description turn",
  "the question names no category of the world",
  "the answer disagrees with the objects",
};

void corrupt_counts_add(struct corrupt_counts *a, const struct corrupt_counts *b)
{
  size_t *x = (size_t *)a;
  const size_t *y = (const size_t *)b;
  size_t k;
  for (k = 0; k < sizeof *a / sizeof(size_t); k++)
    x[k] += y[k];
}

static uint64_t id_hash(const char *s)
{
  uint8_t d[PD_DIGEST_LEN];
  uint64_t h = 0;
  int k;
  digest_buf(s, strlen(s), d);
  for (k = 7; k >= 0; k--)
    h = h << 8 | d[k];
  return h;
}

const char *corrupt_pairs_strip_image(const char *s)
{
  if (strncmp(s, "<image>", 7) == 0)
    s += 7;
  while (*s == '\n' || *s == ' ')
    s++;
  return s;
}

/* "Is there a star in the image?" -> the star's index, or -1. */
static int question_category(const struct corrupt_world *w, const char *q)
{
  static const char head[] = "Is there ", tail[] = " in the image?";
  size_t n;
  char name[64];
  q = corrupt_pairs_strip_image(q);
  if (strncmp(q, head, sizeof head - 1) != 0)
    return -1;
  q += sizeof head - 1;
  if (strncmp(q, "an ", 3) == 0)
    q += 3;
  else if (strncmp(q, "a ", 2) == 0)
    q += 2;
  n = strlen(q);
  if (n <= sizeof tail - 1 || strcmp(q + n - (sizeof tail - 1), tail) != 0 ||
      n - (sizeof tail - 1) >= sizeof name)
    return -1;
  memcpy(name, q, n - (sizeof tail - 1));
  name[n - (sizeof tail - 1)] = '\0';
  return corrupt_world_category(w, name);
}

static void skip_answer(struct corrupt_line *res, const struct corrupt_item *it, int turn,
                        int why)
{
  res->c.skipped++;
  res->c.skip[why]++;
  if (!res->id[0]) {
    snprintf(res->id, sizeof res->id, "%s", it->id);
    res->skip_turn = turn;
    res->skip = why;
  }
}

void corrupt_pairs_line(struct strbuf *o, const struct corrupt_item *it, int turn,
                        const char *prompt, const char *chosen, const char *rejected)
{
  strbuf_addstr(o, "{\"id\":");
  if (turn == 1) {
    strbuf_add_json_str(o, it->id, strlen(it->id));
  } else {
    char *id = xasprintf("%s-t%d", it->id, turn);
    strbuf_add_json_str(o, id, strlen(id));
    free(id);
  }
  strbuf_addstr(o, ",\"image\":");
  strbuf_add_json_str(o, it->image, strlen(it->image));
  strbuf_addf(o, ",\"turn\":%d,\"prompt\":", turn);
  if (strncmp(prompt, "<image>", 7) != 0) {
    char *p = xasprintf("<image>\n%s", prompt);
    strbuf_add_json_str(o, p, strlen(p));
    free(p);
  } else {
    strbuf_add_json_str(o, prompt, strlen(prompt));
  }
  strbuf_addstr(o, ",\"chosen\":");
  strbuf_add_json_str(o, chosen, strlen(chosen));
  strbuf_addstr(o, ",\"rejected\":");
  strbuf_add_json_str(o, rejected, strlen(rejected));
  strbuf_addstr(o, ",\"edits\":[");
}

void corrupt_pairs_edit(struct strbuf *o, int first, const char *kind, const char *object,
                        const char *detail)
{
  strbuf_addf(o, "%s{\"kind\":\"%s\",\"object\":", first ? "" : ",", kind);
  strbuf_add_json_str(o, object, strlen(object));
  strbuf_addstr(o, ",\"detail\":");
  strbuf_add_json_str(o, detail, strlen(detail));
  strbuf_addch(o, '}');
}

enum corrupt_turn_kind corrupt_pairs_turn(const struct corrupt_item *it, int t)
{
  const char *answer;
  if (t < 1 || t >= it->nturn || it->turn[t].human || !it->turn[t - 1].human)
    return CORRUPT_TURN_NONE;
  if (strncmp(corrupt_pairs_strip_image(it->turn[t - 1].value), "Describe", 8) == 0)
    return CORRUPT_TURN_DESCRIBE;
  answer = it->turn[t].value;
  if (strcmp(answer, "Yes.") == 0 || strcmp(answer, "No.") == 0)
    return CORRUPT_TURN_YESNO;
  return CORRUPT_TURN_OTHER;
}

static void describe_turn(const struct corrupt_ctx *c, const struct corrupt_item *it, int turn,
                          const char *prompt, const char *chosen, struct corrupt_line *res)
{
  struct corrupt_result cr;
  struct shapes_rng rng;
  struct strbuf rejected;
  int n, k;

  if (it->nobj == 0) {
    skip_answer(res, it, turn, CORRUPT_SKIP_NO_OBJECTS);
    return;
  }
  shapes_rng_init(&rng, c->seed, turn, CORRUPT_STREAM, id_hash(it->id));
  if ((n = corrupt_rules_apply(c->w, &c->o, it->obj, it->nobj, &rng, &cr)) == 0) {
    skip_answer(res, it, turn, CORRUPT_SKIP_NO_EDIT);
    return;
  }
  strbuf_init(&rejected, 256);
  corrupt_describe(c->w, cr.m, cr.nm, &rejected);
  /* The guarantee, checked on the result rather than trusted. */
  if (strcmp(rejected.buf, chosen) == 0 ||
      corrupt_false_mentions(it->obj, it->nobj, cr.m, cr.nm) == 0) {
    skip_answer(res, it, turn, CORRUPT_SKIP_STILL_TRUE);
    strbuf_release(&rejected);
    return;
  }
  corrupt_pairs_line(&res->out, it, turn, prompt, chosen, rejected.buf);
  res->c.pairs++;
  for (k = 0; k < cr.nedit; k++) {
    const struct corrupt_edit *e = &cr.edit[k];
    corrupt_pairs_edit(&res->out, k == 0, corrupt_kind_names[e->kind], c->w->cat[e->cat],
                       e->detail);
    res->c.edits[e->kind]++;
    res->c.top[e->kind] += (size_t)e->top;
  }
  strbuf_addstr(&res->out, "]}\n");
  res->c.described++;
  if (n < c->o.edits) {
    res->c.short_answers++;
    res->c.missing += (size_t)(c->o.edits - n);
  }
  strbuf_release(&rejected);
}

static void question_turn(const struct corrupt_ctx *c, const struct corrupt_item *it, int turn,
                          const char *prompt, const char *answer, struct corrupt_line *res)
{
  int cat = question_category(c->w, prompt), yes = strcmp(answer, "Yes.") == 0, k, there = 0;
  char detail[32];
  if (cat < 0) {
    skip_answer(res, it, turn, CORRUPT_SKIP_QUESTION);
    return;
  }
  for (k = 0; k < it->nobj; k++)
    there |= it->obj[k].cat == cat;
  if (yes != there) {
    skip_answer(res, it, turn, CORRUPT_SKIP_DISAGREES);
    return;
  }
  corrupt_pairs_line(&res->out, it, turn, prompt, answer, yes ? "No." : "Yes.");
  res->c.pairs++;
  snprintf(detail, sizeof detail, "%s -> %s (%s)", yes ? "yes" : "no", yes ? "no" : "yes",
           there ? "present" : "absent");
  corrupt_pairs_edit(&res->out, 1, corrupt_kind_names[CORRUPT_FLIP], c->w->cat[cat], detail);
  strbuf_addstr(&res->out, "]}\n");
  res->c.edits[CORRUPT_FLIP]++;
  res->c.asked++;
}

void corrupt_pairs_item(const struct corrupt_ctx *c, const struct corrupt_item *it,
                        struct corrupt_line *res)
{
  struct strbuf chosen;
  int t, described = 0;
  size_t pairs = res->c.pairs;

  res->c.items++;
  strbuf_init(&chosen, 256);
  corrupt_describe(c->w, it->obj, it->nobj, &chosen);
  if (it->nnoise > 0) {
    res->c.noisy_items++;
    res->c.noisy_mentions += (size_t)it->nnoise;
  }
  for (t = 1; t < it->nturn; t++) {
    const char *human = it->turn[t - 1].value, *answer = it->turn[t].value;
    switch (corrupt_pairs_turn(it, t)) {
    case CORRUPT_TURN_NONE:
      break;
    case CORRUPT_TURN_DESCRIBE:
      described = 1;
      describe_turn(c, it, t, human, chosen.buf, res);
      break;
    case CORRUPT_TURN_YESNO:
      if (c->questions)
        question_turn(c, it, t, human, answer, res);
      break;
    case CORRUPT_TURN_OTHER:
      res->c.ignored_turns++;
      break;
    }
  }
  if (!described)
    skip_answer(res, it, 0, CORRUPT_SKIP_NO_DESCRIPTION);
  if (res->c.pairs == pairs)
    res->c.skipped_items++;
  strbuf_release(&chosen);
}
