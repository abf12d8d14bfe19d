/* dataset.c - generating and writing a split of the built-in world (see
 * dataset.h). */
#include "dataset.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "safetensors.h"
#include "strbuf.h"

#define CHUNK 64 /* images per unit of work; any value gives the same bytes */

struct gen {
  const struct shapes_params *p;
  struct dataset *d;
  atomic_size_t next;  /* first image of the next chunk to take */
  atomic_size_t done;  /* images finished */
  atomic_int stop;
};

/* Takes chunks until none is left; returns 0 when the work ran out, 1 when
 * it was stopped. The caller's instance reports progress after each chunk. */
static int gen_loop(struct gen *g, dataset_progress_cb *cb, void *arg)
{
  for (;;) {
    size_t i, i0, i1;
    if (atomic_load(&g->stop))
      return 1;
    i0 = atomic_fetch_add(&g->next, CHUNK);
    if (i0 >= g->d->n)
      return 0;
    i1 = i0 + CHUNK < g->d->n ? i0 + CHUNK : g->d->n;
    for (i = i0; i < i1; i++) {
      shapes_scene_make(g->p, g->d->split, i, &g->d->scenes[i]);
      shapes_render(g->p, g->d->split, i, &g->d->scenes[i], &g->d->pixels[i * SHAPES_PIXELS]);
    }
    i = atomic_fetch_add(&g->done, i1 - i0) + (i1 - i0);
    if (cb && cb(arg, i, g->d->n)) {
      atomic_store(&g->stop, 1);
      return 1;
    }
  }
}

static void *gen_worker(void *arg)
{
  gen_loop(arg, NULL, NULL);
  return NULL;
}

int dataset_generate(struct dataset *d, const struct shapes_params *p, int split, size_t n,
                     int threads, dataset_progress_cb *cb, void *arg, struct pd_err *err)
{
  struct gen g;
  pthread_t *tid;
  int k, started = 0, stopped;

  memset(d, 0, sizeof *d);
  d->split = split;
  d->n = n;
  d->scenes = xcalloc(n ? n : 1, sizeof *d->scenes);
  d->pixels = xmalloc(n ? n * SHAPES_PIXELS : 1);
  g.p = p;
  g.d = d;
  atomic_init(&g.next, 0);
  atomic_init(&g.done, 0);
  atomic_init(&g.stop, 0);
  if (threads < 1)
    threads = 1;
  if ((size_t)threads > (n + CHUNK - 1) / CHUNK)
    threads = (int)((n + CHUNK - 1) / CHUNK);
  tid = xcalloc(threads > 1 ? (size_t)threads : 1, sizeof *tid);
  /* A thread that cannot start leaves its share to the others. */
  for (k = 1; k < threads; k++)
    if (pthread_create(&tid[started], NULL, gen_worker, &g) == 0)
      started++;
  stopped = gen_loop(&g, cb, arg);
  for (k = 0; k < started; k++)
    pthread_join(tid[k], NULL);
  free(tid);
  if (stopped) {
    dataset_release(d);
    return ERR_SET(err, PD_EINTR, "cancelled");
  }
  return 0;
}

void dataset_release(struct dataset *d)
{
  free(d->scenes);
  free(d->pixels);
  memset(d, 0, sizeof *d);
}

const char *dataset_split_name(int split)
{
  return split == SHAPES_TRAIN ? "train" : "eval";
}

void dataset_item_id(int split, size_t i, char *buf, size_t n)
{
  snprintf(buf, n, "%s-%06zu", dataset_split_name(split), i);
}

static void add_turn(struct strbuf *out, const char *from, const char *value, int first)
{
  if (!first)
    strbuf_addch(out, ',');
  strbuf_addf(out, "{\"from\":\"%s\",\"value\":", from);
  strbuf_add_json_str(out, value, strlen(value));
  strbuf_addch(out, '}');
}

static void add_question(struct strbuf *out, struct strbuf *tmp, int cat, int yes)
{
  strbuf_reset(tmp);
  shapes_question(cat, tmp);
  add_turn(out, "human", tmp->buf, 0);
  add_turn(out, "gpt", yes ? "Yes." : "No.", 0);
}

void dataset_item_json(const struct dataset *d, size_t i, struct strbuf *out)
{
  const struct shapes_scene *s = &d->scenes[i];
  struct strbuf tmp;
  char id[32];
  int k;

  strbuf_init(&tmp, 128);
  dataset_item_id(d->split, i, id, sizeof id);
  strbuf_addf(out, "{\"id\":\"%s\",\"image\":\"%s\",\"theme\":\"%s\",\"conversations\":[", id, id,
              shapes_themes[s->theme].name);
  add_turn(out, "human", "<image>\nDescribe this image.", 1);
  shapes_describe(s, &tmp);
  add_turn(out, "gpt", tmp.buf, 0);
  add_question(out, &tmp, s->yes_first ? s->yes_cat : s->no_cat, s->yes_first);
  add_question(out, &tmp, s->yes_first ? s->no_cat : s->yes_cat, !s->yes_first);
  strbuf_addstr(out, "],\"objects\":[");
  for (k = 0; k < s->n; k++) {
    const struct shapes_object *o = &s->obj[k];
    double h = o->size / 2.0;
    strbuf_addf(out, "%s{\"category\":\"%s\",\"colour\":\"%s\",\"position\":\"%s\","
                "\"box\":[%.2f,%.2f,%.2f,%.2f],\"contrast\":%.3f}",
                k ? "," : "", shapes_categories[o->cat].name, shapes_colours[o->colour].name,
                shapes_positions[o->slot], o->cx - h, o->cy - h, (double)o->size,
                (double)o->size, (double)o->contrast);
  }
  strbuf_addstr(out, "],\"mentions\":[");
  for (k = 0; k < s->nmention; k++) {
    const struct shapes_mention *m = &s->mention[k];
    strbuf_addf(out, "%s{\"category\":\"%s\",\"colour\":\"%s\",\"position\":\"%s\",\"noise\":%s}",
                k ? "," : "", shapes_categories[m->cat].name, shapes_colours[m->colour].name,
                shapes_positions[m->slot], m->noise ? "true" : "false");
  }
  strbuf_addstr(out, "]}");
  strbuf_release(&tmp);
}

static int write_items(const struct dataset *d, const char *path, struct pd_err *err)
{
  struct strbuf line;
  FILE *f = fopen(path, "wb");
  size_t i;
  int rc = 0;
  if (!f)
    return ERR_SET(err, -errno, "cannot create '%s': %s", path, strerror(errno));
  strbuf_init(&line, 1024);
  for (i = 0; i < d->n && rc == 0; i++) {
    strbuf_reset(&line);
    dataset_item_json(d, i, &line);
    strbuf_addch(&line, '\n');
    if (fwrite(line.buf, 1, line.len, f) != line.len)
      rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  }
  if (fclose(f) != 0 && rc == 0)
    rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  strbuf_release(&line);
  return rc;
}

static int write_index(const struct dataset *d, const char *path, struct pd_err *err)
{
  FILE *f = fopen(path, "wb");
  char id[32];
  size_t i;
  int rc = 0;
  if (!f)
    return ERR_SET(err, -errno, "cannot create '%s': %s", path, strerror(errno));
  fputs("image\trow\n", f);
  for (i = 0; i < d->n; i++) {
    dataset_item_id(d->split, i, id, sizeof id);
    fprintf(f, "%s\t%zu\n", id, i);
  }
  if (ferror(f))
    rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  if (fclose(f) != 0 && rc == 0)
    rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  return rc;
}

static int write_images(const struct dataset *d, const struct shapes_params *p,
                        const char *source, const char *path, struct pd_err *err)
{
  int64_t shape[4] = { (int64_t)d->n, SHAPES_SIZE, SHAPES_SIZE, 3 };
  struct st_write_tensor t = { "images", "U8", 4, shape, d->pixels };
  char seed[32], count[32];
  const char *meta[] = {
    "source", source, "split", dataset_split_name(d->split), "seed", seed, "count", count,
    "layout", "NHWC RGB uint8; row i is line i of items.jsonl", NULL,
  };
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
  snprintf(count, sizeof count, "%zu", d->n);
  return safetensors_write(path, &t, 1, meta, err);
}

int dataset_write(const struct dataset *d, const struct shapes_params *p, const char *source,
                  const char *dir, struct pd_err *err)
{
  char *path;
  int rc;
  if (mkdir(dir, 0755) < 0 && errno != EEXIST)
    return ERR_SET(err, -errno, "cannot create '%s': %s", dir, strerror(errno));
  path = xasprintf("%s/items.jsonl", dir);
  rc = write_items(d, path, err);
  free(path);
  if (rc == 0) {
    path = xasprintf("%s/images.safetensors", dir);
    rc = write_images(d, p, source, path, err);
    free(path);
  }
  if (rc == 0) {
    path = xasprintf("%s/index.tsv", dir);
    rc = write_index(d, path, err);
    free(path);
  }
  return rc;
}
