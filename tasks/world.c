/* world.c - world statistics and world.json (see world.h). */
#include "world.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "err.h"
#include "strbuf.h"

void world_stats_add(struct world_stats *w, const struct shapes_scene *s)
{
  int i, j;
  w->images++;
  w->objects += (size_t)s->n;
  w->nobj[s->n]++;
  w->theme[s->theme]++;
  for (i = 0; i < s->n; i++) {
    const struct shapes_object *o = &s->obj[i];
    w->on_theme += shapes_categories[o->cat].theme == s->theme;
    w->typical += shapes_categories[o->cat].typical == o->colour;
    for (j = 0; j < s->n; j++)
      w->co[o->cat][s->obj[j].cat]++;
  }
  for (i = 0; i < s->n; i++)
    w->count[s->obj[i].cat]++;
  /* Categories are distinct among objects, and a noisy mention names an
   * absent one, so mentions are distinct too. */
  for (i = 0; i < s->nmention; i++) {
    w->mentioned[s->mention[i].cat]++;
    for (j = 0; j < s->nmention; j++)
      w->mention_co[s->mention[i].cat][s->mention[j].cat]++;
  }
  w->mentions += (size_t)s->nmention;
  w->eligible += (size_t)s->eligible;
  for (i = 0; i < s->nmention; i++)
    w->noisy += (size_t)s->mention[i].noise;
}

void world_stats_of(struct world_stats *w, const struct dataset *d)
{
  size_t i;
  memset(w, 0, sizeof *w);
  for (i = 0; i < d->n; i++)
    world_stats_add(w, &d->scenes[i]);
}

static int pair_better(const struct world_pair *x, const struct world_pair *y)
{
  if (x->p != y->p)
    return x->p > y->p;
  if (x->n != y->n)
    return x->n > y->n;
  return x->a != y->a ? x->a < y->a : x->b < y->b;
}

size_t world_top_pairs(const struct world_stats *w, int mentions, struct world_pair *out,
                       size_t max)
{
  size_t n = 0, k;
  int a, b;
  for (a = 0; a < SHAPES_NCAT; a++) {
    size_t ca = mentions ? w->mentioned[a] : w->count[a];
    if (!ca)
      continue;
    for (b = 0; b < SHAPES_NCAT; b++) {
      struct world_pair pr;
      if (a == b)
        continue;
      pr.a = a;
      pr.b = b;
      pr.n = mentions ? w->mention_co[a][b] : w->co[a][b];
      pr.p = (double)pr.n / (double)ca;
      if (n < max)
        k = n++;
      else if (max > 0 && pair_better(&pr, &out[max - 1]))
        k = max - 1;
      else
        continue;
      for (; k > 0 && pair_better(&pr, &out[k - 1]); k--)
        out[k] = out[k - 1];
      out[k] = pr;
    }
  }
  return n;
}

static void add_name_list(struct strbuf *sb, const int *cats, int n)
{
  int i;
  strbuf_addch(sb, '[');
  for (i = 0; i < n; i++)
    strbuf_addf(sb, "%s\"%s\"", i ? "," : "", shapes_categories[cats[i]].name);
  strbuf_addch(sb, ']');
}

static void add_counts(struct strbuf *sb, const size_t *v, int n)
{
  int i;
  strbuf_addch(sb, '[');
  for (i = 0; i < n; i++)
    strbuf_addf(sb, "%s%zu", i ? "," : "", v[i]);
  strbuf_addch(sb, ']');
}

static void add_doubles(struct strbuf *sb, const double *v, int n)
{
  int i;
  strbuf_addch(sb, '[');
  for (i = 0; i < n; i++)
    strbuf_addf(sb, "%s%.6g", i ? "," : "", v[i]);
  strbuf_addch(sb, ']');
}

static double ratio(size_t a, size_t b)
{
  return b ? (double)a / (double)b : 0.0;
}

/* counts, the co-occurrence matrix, P(column | row) and the top pairs. */
static void add_matrix_stats(struct strbuf *sb, const size_t *count,
                             const size_t co[SHAPES_NCAT][SHAPES_NCAT], const struct world_stats *w,
                             int mentions)
{
  struct world_pair top[12];
  size_t ntop = world_top_pairs(w, mentions, top, 12), k;
  int a, b;
  strbuf_addstr(sb, "\"count\":");
  add_counts(sb, count, SHAPES_NCAT);
  strbuf_addstr(sb, ",\"frequency\":[");
  for (a = 0; a < SHAPES_NCAT; a++)
    strbuf_addf(sb, "%s%.4f", a ? "," : "", ratio(count[a], w->images));
  strbuf_addstr(sb, "],\"cooccurrence\":[");
  for (a = 0; a < SHAPES_NCAT; a++) {
    strbuf_addstr(sb, a ? ",\n    " : "\n    ");
    add_counts(sb, co[a], SHAPES_NCAT);
  }
  strbuf_addstr(sb, "],\"conditional\":[");
  for (a = 0; a < SHAPES_NCAT; a++) {
    strbuf_addstr(sb, a ? ",\n    [" : "\n    [");
    for (b = 0; b < SHAPES_NCAT; b++)
      strbuf_addf(sb, "%s%.4f", b ? "," : "", ratio(co[a][b], count[a]));
    strbuf_addch(sb, ']');
  }
  strbuf_addstr(sb, "],\"top_pairs\":[");
  for (k = 0; k < ntop; k++)
    strbuf_addf(sb, "%s{\"a\":\"%s\",\"b\":\"%s\",\"images\":%zu,\"p_b_given_a\":%.4f}",
                k ? ",\n    " : "\n    ", shapes_categories[top[k].a].name,
                shapes_categories[top[k].b].name, top[k].n, top[k].p);
  strbuf_addch(sb, ']');
}

static void add_stats(struct strbuf *sb, const char *name, const struct world_stats *w,
                      const struct shapes_params *p, int train)
{
  strbuf_addf(sb, ",\n\"%s\":{\"images\":%zu,\"objects\":%zu,\"objects_per_image\":", name,
              w->images, w->objects);
  add_counts(sb, w->nobj + 1, SHAPES_MAXOBJ);
  strbuf_addstr(sb, ",\"themes\":");
  add_counts(sb, w->theme, SHAPES_NTHEME);
  strbuf_addf(sb, ",\"on_theme_rate\":%.4f,\"typical_colour_rate\":%.4f,\n  \"objects_stats\":{",
              ratio(w->on_theme, w->objects), ratio(w->typical, w->objects));
  add_matrix_stats(sb, w->count, w->co, w, 0);
  strbuf_addstr(sb, "},\n  \"mention_stats\":{");
  add_matrix_stats(sb, w->mentioned, w->mention_co, w, 1);
  strbuf_addch(sb, '}');
  if (train)
    strbuf_addf(sb, ",\n  \"label_noise\":{\"configured\":%.6g,\"eligible\":%zu,\"noisy\":%zu,"
                "\"rate\":%.4f,\"share_of_mentions\":%.4f}",
                p->partner_noise, w->eligible, w->noisy, ratio(w->noisy, w->eligible),
                ratio(w->noisy, w->mentions));
  strbuf_addch(sb, '}');
}

int world_write(const char *path, const struct shapes_params *p, const char *source,
                const struct world_stats *train, const struct world_stats *eval,
                struct pd_err *err)
{
  struct strbuf sb;
  FILE *f;
  int c, i, rc = 0;
  const char *const *s;

  strbuf_init(&sb, 16384);
  strbuf_addstr(&sb, "{\"world\":\"shapes\",\"version\":1,\"source\":");
  strbuf_add_json_str(&sb, source, strlen(source));
  strbuf_addf(&sb, ",\n\"image\":{\"width\":%d,\"height\":%d,\"channels\":3,\"grid\":%d},"
              "\n\"positions\":[", SHAPES_SIZE, SHAPES_SIZE, SHAPES_GRID);
  for (i = 0; i < SHAPES_NSLOT; i++)
    strbuf_addf(&sb, "%s\"%s\"", i ? "," : "", shapes_positions[i]);
  strbuf_addstr(&sb, "],\n\"categories\":[");
  for (c = 0; c < SHAPES_NCAT; c++) {
    const struct shapes_category *k = &shapes_categories[c];
    strbuf_addf(&sb, "%s{\"name\":\"%s\",\"synonyms\":[", c ? ",\n  " : "\n  ", k->name);
    for (s = k->synonyms; *s; s++)
      strbuf_addf(&sb, "%s\"%s\"", s != k->synonyms ? "," : "", *s);
    strbuf_addf(&sb, "],\"theme\":\"%s\",\"partner\":\"%s\",\"typical_colour\":\"%s\"}",
                shapes_themes[k->theme].name, shapes_categories[k->partner].name,
                shapes_colours[k->typical].name);
  }
  strbuf_addstr(&sb, "],\n\"colours\":[");
  for (c = 0; c < SHAPES_NCOLOUR; c++) {
    const float *rgb = shapes_colours[c].rgb;
    strbuf_addf(&sb, "%s{\"name\":\"%s\",\"rgb\":[%d,%d,%d]}", c ? "," : "",
                shapes_colours[c].name, (int)(rgb[0] * 255 + 0.5f), (int)(rgb[1] * 255 + 0.5f),
                (int)(rgb[2] * 255 + 0.5f));
  }
  strbuf_addstr(&sb, "],\n\"themes\":[");
  for (i = 0; i < SHAPES_NTHEME; i++) {
    strbuf_addf(&sb, "%s{\"name\":\"%s\",\"weight\":%.6g,\"categories\":", i ? "," : "",
                shapes_themes[i].name, p->theme_p[i]);
    add_name_list(&sb, shapes_themes[i].cats, SHAPES_THEME_SIZE);
    strbuf_addch(&sb, '}');
  }
  strbuf_addstr(&sb, "],\n\"partners\":[");
  for (c = 0, i = 0; c < SHAPES_NCAT; c++) {
    int pair[2] = { c, shapes_categories[c].partner };
    if (pair[1] < c)
      continue;
    strbuf_addstr(&sb, i++ ? "," : "");
    add_name_list(&sb, pair, 2);
  }
  strbuf_addf(&sb, "],\n\"generator\":{\"seed\":%llu,\"objects\":", (unsigned long long)p->seed);
  add_doubles(&sb, p->count_p, SHAPES_MAXOBJ);
  strbuf_addstr(&sb, ",\"themes\":");
  add_doubles(&sb, p->theme_p, SHAPES_NTHEME);
  strbuf_addf(&sb, ",\"on_theme\":%.6g,\"typical_colour\":%.6g,\"partner_noise\":%.6g,"
              "\"size\":[%.6g,%.6g],\"jitter\":%.6g,\"contrast\":[%.6g,%.6g],"
              "\"background\":[%.6g,%.6g],\"noise_sigma\":%.6g,\"specks\":%.6g,\"order\":\"%s\"}",
              p->on_theme, p->typical, p->partner_noise, p->size_min, p->size_max, p->jitter,
              p->contrast_min, p->contrast_max, p->bg_min, p->bg_max, p->noise_sigma, p->specks,
              p->slot_order ? "slots" : "salience");
  add_stats(&sb, "train", train, p, 1);
  if (eval)
    add_stats(&sb, "eval", eval, p, 0);
  strbuf_addstr(&sb, "}\n");

  if (!(f = fopen(path, "wb"))) {
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", path, strerror(errno));
  } else {
    if (fwrite(sb.buf, 1, sb.len, f) != sb.len)
      rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
    if (fclose(f) != 0 && rc == 0)
      rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  }
  strbuf_release(&sb);
  return rc;
}
