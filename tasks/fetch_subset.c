/* fetch_subset.c - the `fetch_subset` kind: the training and eval images
 * with their ground truth, POPE questions, the world's description and a
 * contact sheet.
 *
 * Sources: "builtin:shapes", the procedural world of shapes.h (generated in
 * parallel, bit-identical for any thread count); "llava", a LLaVA-Instruct
 * JSON file (json = file(...)) and its images (images_dir = dir(...)),
 * both hashed by content into the action key; a pinned URL (http://,
 * https://, file://) of such a JSON file with sha256 = "<hex>" and
 * images_dir (fetch_llava.h, fetch_url.h). All write the same artifacts,
 * so every later task reads one format (dataset.h, pope.h, world.h).
 * Refused when the graph loads: "llava:PATH" (a path in a string is not
 * hashed, so edits to the data would not rerun the task: the error says
 * what to write instead) and URLs of archives (.tar, .tgz, .zip, ...).
 * Any other source is an error when the graph loads, as are a bad pin and
 * llava parameters given to the wrong source.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataset.h"
#include "fetch_llava.h"
#include "fetch_url.h"
#include "graph.h"
#include "pope.h"
#include "preview.h"
#include "registry.h"
#include "run.h"
#include "shapes.h"
#include "world.h"

#define PREVIEW_N 16

static const struct kind_param fetch_params[] = {
  { "source", PT_STRING, "\"builtin:shapes\"", 0, -1, NULL, 0,
    "where the data comes from: builtin:shapes, the procedural world; llava, a LLaVA-Instruct "
    "JSON file (json) with its images (images_dir); or an http(s):// or file:// URL of such a "
    "JSON file pinned by sha256, with images_dir (archives are not supported). llava:PATH is "
    "refused: its data would not be hashed" },
  { "json", PT_ANY, "\"\"", 0, -1, NULL, 0,
    "source llava: the LLaVA-Instruct JSON file, file(\"...\") or a task's output (hashed by "
    "content)" },
  { "images_dir", PT_ANY, "\"\"", 0, -1, NULL, 0,
    "source llava or a URL: the folder the items' \"image\" names are in, dir(\"...\") or a "
    "task's output (hashed by content); JPEG or PNG" },
  { "sha256", PT_STRING, "\"\"", 0, -1, NULL, 0,
    "URL sources (required): the SHA-256 of the file at the URL, 64 hex digits; a download "
    "that does not match fails" },
  { "image_size", PT_INT, "32", 8, 512, NULL, 0,
    "llava and URL sources: images are center-cropped and resized to this square size "
    "(builtin:shapes is always 32)" },
  { "train", PT_INT, "8000", 1, 1e6, NULL, 0,
    "training images (held in memory while generated: about 3.5 KB each); a smaller "
    "subset is a prefix of a larger one (llava: a pick stratified over description, "
    "reasoning and conversation items)" },
  { "eval", PT_INT, "500", 0, 1e6, NULL, 0,
    "eval images (clean ground truth, POPE questions)" },
  { "seed", PT_INT, "1", 0, 1e15, NULL, 0,
    "seed of the world: each image depends only on (seed, split, index)" },
  { "objects", PT_LIST, "[0.15, 0.30, 0.35, 0.20]", 0, -1, NULL, 0,
    "weights of 1, 2, 3 and 4 objects per image (in distinct slots of the 2x2 grid)" },
  { "themes", PT_LIST, "[0.45, 0.35, 0.20]", 0, -1, NULL, 0,
    "weights of the scene themes: geometry (circle square triangle diamond), "
    "signs (cross plus star arrow), ornaments (ring frame heart bar)" },
  { "on_theme", PT_FLOAT, "0.85", 0, 1, NULL, 0,
    "probability that an object's category is from the scene's theme" },
  { "typical_colour", PT_FLOAT, "0.5", 0, 1, NULL, 0,
    "probability that an object takes its category's typical colour (else one of the other 5)" },
  { "partner_noise", PT_FLOAT, "0.6", 0, 1, NULL, 0,
    "label noise: probability that a training description names the absent partner of its "
    "first object, in its typical colour, right after it (eval is always clean)" },
  { "order", PT_STRING, "\"slots\"", 0, -1, "slots|salience", 0,
    "order of the objects in descriptions: slots (reading order: top left, top right, bottom "
    "left, bottom right) or salience (larger and more opaque first, as captions often go; a "
    "small model learned to ground slot-ordered descriptions much better: recall 0.56 "
    "against 0.29 after the same SFT)" },
  { "size_min", PT_FLOAT, "10", 4, 16, NULL, 0, "smallest glyph, in pixels" },
  { "size_max", PT_FLOAT, "14", 4, 16, NULL, 0, "largest glyph, in pixels" },
  { "jitter", PT_FLOAT, "2", 0, 4, NULL, 0,
    "largest offset of a glyph's centre from its slot's centre, in pixels" },
  { "contrast_min", PT_FLOAT, "0.6", 0.05, 1, NULL, 0,
    "lowest opacity of a glyph over the background" },
  { "contrast_max", PT_FLOAT, "1", 0.05, 1, NULL, 0,
    "highest opacity of a glyph over the background" },
  { "background_min", PT_FLOAT, "0.05", 0, 1, NULL, 0, "darkest background grey level" },
  { "background_max", PT_FLOAT, "0.3", 0, 1, NULL, 0, "lightest background grey level" },
  { "noise_sigma", PT_FLOAT, "0.06", 0, 0.5, NULL, 0,
    "standard deviation of the Gaussian pixel noise (pixels in [0, 1])" },
  { "specks", PT_FLOAT, "1", 0, 4, NULL, 0,
    "mean number of unlabelled colour specks per image (Poisson)" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

/* In the order fetch_run writes them. */
enum { NOUT = 5 };
static const struct kind_output fetch_outputs[NOUT + 1] = {
  { "train", "training split, a directory: items.jsonl (LLaVA conversations: a description "
             "and one yes and one no question per image, plus ground-truth objects and the "
             "description's mentions, label noise flagged), images.safetensors (U8 "
             "[N, 32, 32, 3]) and index.tsv (image -> row); llava and URL sources: the "
             "file's conversations with empty objects, images [N, S, S, 3] for image_size S" },
  { "eval", "eval split, the same layout; descriptions are clean" },
  { "pope", "POPE questions on the eval split, a directory: random.jsonl, popular.jsonl, "
            "adversarial.jsonl (3 present and 3 absent objects per image)" },
  { "world", "world.json: categories with synonyms, partners and typical colours, colours, "
             "themes, generator settings, and co-occurrence and label-noise statistics "
             "measured on the splits; llava and URL sources: \"categories\": [] and a note "
             "(no ground truth), so pope's files are empty" },
  { "preview", "PNG contact sheet of the first 16 training images (4x) with their "
               "ground-truth objects and label noise" },
  { NULL, NULL },
};

static double num(const struct val *v)
{
  return v->kind == V_INT ? (double)v->u.i : v->u.f;
}

static double fparam(const struct task *t, const char *name)
{
  return num(task_param(t, name));
}

enum source_kind {
  SRC_UNKNOWN = -1, /* an error when the graph loads */
  SRC_SHAPES,       /* builtin:shapes */
  SRC_REFUSED,      /* llava:PATH or an archive URL: an error when the graph loads */
  SRC_LLAVA,        /* llava with json and images_dir */
  SRC_URL           /* a pinned URL of a LLaVA JSON file, with images_dir */
};

static int is_archive(const char *url)
{
  static const char *const ext[] = { ".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz",
                                     ".tar.zst", ".zip" };
  size_t n = strcspn(url, "?#"), k;
  for (k = 0; k < sizeof ext / sizeof ext[0]; k++) {
    size_t e = strlen(ext[k]);
    if (n >= e && strncmp(url + n - e, ext[k], e) == 0)
      return 1;
  }
  return 0;
}

static enum source_kind source_kind(const char *s)
{
  if (strcmp(s, "builtin:shapes") == 0)
    return SRC_SHAPES;
  if (strcmp(s, "llava") == 0)
    return SRC_LLAVA;
  if (strncmp(s, "llava:", 6) == 0 && s[6])
    return SRC_REFUSED;
  if (fetch_url_is_url(s))
    return is_archive(s) ? SRC_REFUSED : SRC_URL;
  return SRC_UNKNOWN;
}

static int is_artifact(const struct val *v, enum val_kind k)
{
  return v->kind == k || v->kind == V_REF;
}

/* A parameter left at its default "" is unset. */
static int is_unset(const struct val *v)
{
  return v->kind == V_STR && v->u.str.n == 0;
}

/* The llava and URL parameters: each given where it is used, and only there. */
static int check_llava_params(const struct task *t, enum source_kind sk, struct pd_err *err)
{
  const struct val *src = task_param(t, "source"), *json = task_param(t, "json"),
                   *dir = task_param(t, "images_dir"), *pin = task_param(t, "sha256"),
                   *size = task_param(t, "image_size");
  if (sk == SRC_SHAPES || sk == SRC_REFUSED) {
    const struct val *v = !is_unset(json) ? json : !is_unset(dir) ? dir : !is_unset(pin) ? pin
                                                                                       : NULL;
    if (v)
      return graph_error_at(err, PD_EGRAPH, &v->loc,
                            "parameter '%s' is only used with source \"llava\" or a URL",
                            v == json ? "json" : v == dir ? "images_dir" : "sha256");
    if (sk == SRC_SHAPES && size->u.i != SHAPES_SIZE)
      return graph_error_at(err, PD_EGRAPH, &size->loc,
                            "parameter 'image_size': builtin:shapes images are %dx%d", SHAPES_SIZE,
                            SHAPES_SIZE);
    return 0;
  }
  if (sk == SRC_LLAVA) {
    if (is_unset(json))
      return graph_error_at(err, PD_EGRAPH, &src->loc,
                            "source \"llava\" needs json = file(\"...\") (or a task's output)");
    if (!is_artifact(json, V_FILE))
      return graph_error_at(err, PD_EGRAPH, &json->loc,
                            "parameter 'json' must be a file(\"...\") or a task's output");
    if (!is_unset(pin))
      return graph_error_at(err, PD_EGRAPH, &pin->loc,
                            "parameter 'sha256' is only used with a URL source");
  } else {
    if (!is_unset(json))
      return graph_error_at(err, PD_EGRAPH, &json->loc,
                            "parameter 'json' is not used with a URL source: the URL is the "
                            "JSON file");
    if (is_unset(pin))
      return graph_error_at(err, PD_EGRAPH, &src->loc,
                            "source '%s' needs sha256 = \"<64 hex digits>\": a URL is pinned by "
                            "the SHA-256 of its file", src->u.str.s);
    if (fetch_url_check_pin(pin->u.str.s) < 0)
      return graph_error_at(err, PD_EGRAPH, &pin->loc,
                            "parameter 'sha256' must be 64 hex digits, got '%s'", pin->u.str.s);
  }
  if (is_unset(dir))
    return graph_error_at(err, PD_EGRAPH, &src->loc,
                          "source '%s' needs images_dir = dir(\"...\") (or a task's output), so "
                          "that the images are hashed", src->u.str.s);
  if (!is_artifact(dir, V_DIR))
    return graph_error_at(err, PD_EGRAPH, &dir->loc,
                          "parameter 'images_dir' must be a dir(\"...\") or a task's output");
  return 0;
}

static int check_weights(const struct task *t, const char *name, int n, struct pd_err *err)
{
  const struct val *v = task_param(t, name);
  double sum = 0;
  size_t k;
  if (v->u.list.n != (size_t)n)
    return graph_error_at(err, PD_EGRAPH, &v->loc, "parameter '%s' needs %d weights, got %zu",
                          name, n, v->u.list.n);
  for (k = 0; k < v->u.list.n; k++) {
    const struct val *w = &v->u.list.v[k];
    if ((w->kind != V_INT && w->kind != V_FLOAT) || !(num(w) >= 0))
      return graph_error_at(err, PD_EGRAPH, &w->loc,
                            "parameter '%s': a weight must be a number >= 0", name);
    sum += num(w);
  }
  if (!(sum > 0))
    return graph_error_at(err, PD_EGRAPH, &v->loc, "parameter '%s': the weights sum to 0", name);
  return 0;
}

static int check_order(const struct task *t, const char *lo, const char *hi, struct pd_err *err)
{
  if (fparam(t, lo) > fparam(t, hi))
    return graph_error_at(err, PD_EGRAPH, &task_param(t, hi)->loc,
                          "parameter '%s' (%g) is below '%s' (%g)", hi, fparam(t, hi), lo,
                          fparam(t, lo));
  return 0;
}

static int fetch_check(struct graph *g, struct task *t, struct pd_err *err)
{
  const struct val *src = task_param(t, "source");
  int rc;
  (void)g;
  enum source_kind sk = source_kind(src->u.str.s);
  if (sk == SRC_UNKNOWN)
    return graph_error_at(err, PD_EGRAPH, &src->loc,
                          "unknown source '%s': expected builtin:shapes, llava:PATH or an "
                          "https:// URL (llava:PATH is written source = \"llava\", json = "
                          "file(...), images_dir = dir(...); http:// and file:// work too)",
                          src->u.str.s);
  if (sk == SRC_REFUSED && strncmp(src->u.str.s, "llava:", 6) == 0)
    return graph_error_at(err, PD_EGRAPH, &src->loc,
                          "source '%s' is not supported yet: a path inside a string is not "
                          "hashed, so edits to the data would not rerun the task; write source = "
                          "\"llava\", json = file(\"%s\"), images_dir = dir(\"...\")",
                          src->u.str.s, src->u.str.s + 6);
  if (sk == SRC_REFUSED)
    return graph_error_at(err, PD_EGRAPH, &src->loc,
                          "source '%s' is not supported yet: archives are out of scope; pin a "
                          "LLaVA-Instruct JSON file with sha256 and give images_dir = dir(\"...\")",
                          src->u.str.s);
  if ((rc = check_llava_params(t, sk, err)) < 0 ||
      (rc = check_weights(t, "objects", SHAPES_MAXOBJ, err)) < 0 ||
      (rc = check_weights(t, "themes", SHAPES_NTHEME, err)) < 0 ||
      (rc = check_order(t, "size_min", "size_max", err)) < 0 ||
      (rc = check_order(t, "contrast_min", "contrast_max", err)) < 0 ||
      (rc = check_order(t, "background_min", "background_max", err)) < 0)
    return rc;
  return 0;
}

static void read_params(const struct task *t, struct shapes_params *p)
{
  const struct val *v;
  size_t k;
  shapes_params_default(p);
  p->seed = (uint64_t)task_param(t, "seed")->u.i;
  v = task_param(t, "objects");
  for (k = 0; k < SHAPES_MAXOBJ; k++)
    p->count_p[k] = num(&v->u.list.v[k]);
  v = task_param(t, "themes");
  for (k = 0; k < SHAPES_NTHEME; k++)
    p->theme_p[k] = num(&v->u.list.v[k]);
  p->on_theme = fparam(t, "on_theme");
  p->typical = fparam(t, "typical_colour");
  p->partner_noise = fparam(t, "partner_noise");
  p->slot_order = strcmp(task_param(t, "order")->u.str.s, "slots") == 0;
  p->size_min = fparam(t, "size_min");
  p->size_max = fparam(t, "size_max");
  p->jitter = fparam(t, "jitter");
  p->contrast_min = fparam(t, "contrast_min");
  p->contrast_max = fparam(t, "contrast_max");
  p->bg_min = fparam(t, "background_min");
  p->bg_max = fparam(t, "background_max");
  p->noise_sigma = fparam(t, "noise_sigma");
  p->specks = fparam(t, "specks");
}

struct progress {
  struct task_run *r;
  const char *what;
  size_t base, all;
};

static int on_progress(void *arg, size_t done, size_t total)
{
  struct progress *pr = arg;
  task_run_progress(pr->r, 0.9 * (double)(pr->base + done) / (double)pr->all,
                    "%s %zu/%zu", pr->what, done, total);
  return task_run_cancelled(pr->r);
}

static void light(const float rgb[3], uint8_t out[3])
{
  int c;
  for (c = 0; c < 3; c++) /* lifted towards white: readable on the dark sheet */
    out[c] = (uint8_t)((0.7f * rgb[c] + 0.3f) * 255.0f + 0.5f);
}

static int write_preview(const char *path, const struct dataset *d, const struct shapes_params *p,
                         struct pd_err *err)
{
  static const char *const pos[SHAPES_NSLOT] = { "tl", "tr", "bl", "br" };
  static const uint8_t grey[3] = { 150, 150, 150 }, noise[3] = { 255, 120, 160 };
  struct preview_cell cells[PREVIEW_N];
  size_t n = d->n < PREVIEW_N ? d->n : PREVIEW_N, i;
  char title[128];
  int k;

  memset(cells, 0, sizeof cells);
  for (i = 0; i < n; i++) {
    const struct shapes_scene *s = &d->scenes[i];
    struct preview_cell *c = &cells[i];
    c->rgb = &d->pixels[i * SHAPES_PIXELS];
    c->w = c->h = SHAPES_SIZE;
    dataset_item_id(d->split, i, c->line[0], sizeof c->line[0]);
    memcpy(c->colour[0], grey, 3);
    c->nlines = 1;
    for (k = 0; k < s->n; k++, c->nlines++) {
      const struct shapes_object *o = &s->obj[k];
      snprintf(c->line[c->nlines], sizeof c->line[0], "%s %s %s", shapes_colours[o->colour].name,
               shapes_categories[o->cat].name, pos[o->slot]);
      light(shapes_colours[o->colour].rgb, c->colour[c->nlines]);
    }
    for (k = 0; k < s->nmention; k++)
      if (s->mention[k].noise) {
        snprintf(c->line[c->nlines], sizeof c->line[0], "noise: %s %s",
                 shapes_colours[s->mention[k].colour].name,
                 shapes_categories[s->mention[k].cat].name);
        memcpy(c->colour[c->nlines++], noise, 3);
      }
  }
  snprintf(title, sizeof title, "builtin:shapes seed %llu - first %zu training images",
           (unsigned long long)p->seed, n);
  return preview_write(path, title, cells, n, 4, 4, err);
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void log_summary(FILE *log, const struct world_stats *w)
{
  struct world_pair top[6];
  size_t n = world_top_pairs(w, 0, top, 6), k;
  fprintf(log, "label noise: %zu of %zu eligible descriptions (%.3f)\n", w->noisy, w->eligible,
          w->eligible ? (double)w->noisy / (double)w->eligible : 0.0);
  fprintf(log, "top co-occurring pairs in train, P(b | a):\n");
  for (k = 0; k < n; k++)
    fprintf(log, "  %-8s -> %-8s %.3f (%zu images)\n", shapes_categories[top[k].a].name,
            shapes_categories[top[k].b].name, top[k].p, top[k].n);
}

static int fetch_run(struct task_run *r)
{
  const struct task *t = r->task;
  const char *source = task_param(t, "source")->u.str.s;
  size_t ntrain = (size_t)task_param(t, "train")->u.i, neval = (size_t)task_param(t, "eval")->u.i;
  struct dataset train = { 0 }, eval = { 0 };
  struct world_stats wtrain, weval;
  struct shapes_params p;
  struct progress pr = { r, "train", 0, ntrain + neval };
  char *path[NOUT] = { NULL };
  double t0 = now(), t1;
  int k, rc;

  switch (source_kind(source)) {
  case SRC_LLAVA:
  case SRC_URL:
    return fetch_llava_run(r);
  case SRC_REFUSED:
    if (strncmp(source, "llava:", 6) == 0)
      return ERR_SET(&r->err, PD_EUSAGE,
                     "source '%s' is not supported yet: a path inside a string is not hashed, "
                     "so edits to the data would not rerun the task; write source = \"llava\", "
                     "json = file(\"%s\"), images_dir = dir(\"...\")", source, source + 6);
    return ERR_SET(&r->err, PD_EUSAGE,
                   "source '%s' is not supported yet: archives are out of scope; pin a "
                   "LLaVA-Instruct JSON file with sha256 and give images_dir = dir(\"...\")",
                   source);
  default:
    break;
  }
  read_params(t, &p);
  if ((rc = dataset_generate(&train, &p, SHAPES_TRAIN, ntrain, r->threads, on_progress, &pr,
                             &r->err)) < 0)
    return rc;
  pr.what = "eval";
  pr.base = ntrain;
  if ((rc = dataset_generate(&eval, &p, SHAPES_EVAL, neval, r->threads, on_progress, &pr,
                             &r->err)) < 0)
    goto out;
  t1 = now();
  fprintf(r->log, "generated %zu train and %zu eval images in %.3fs with %d thread%s (%.0f images/s)\n",
          ntrain, neval, t1 - t0, r->threads, r->threads == 1 ? "" : "s",
          (double)(ntrain + neval) / (t1 - t0 > 1e-9 ? t1 - t0 : 1e-9));
  world_stats_of(&wtrain, &train);
  world_stats_of(&weval, &eval);
  task_run_progress(r, 0.9, "writing");

  for (k = 0; k < NOUT; k++)
    path[k] = task_run_output(r, fetch_outputs[k].name);
  if ((rc = dataset_write(&train, &p, source, path[0], &r->err)) < 0 ||
      (rc = dataset_write(&eval, &p, source, path[1], &r->err)) < 0 ||
      (rc = pope_write(path[2], &eval, &wtrain, p.seed, &r->err)) < 0 ||
      (rc = world_write(path[3], &p, source, &wtrain, &weval, &r->err)) < 0 ||
      (rc = write_preview(path[4], &train, &p, &r->err)) < 0)
    goto out;
  log_summary(r->log, &wtrain);
  fprintf(r->log, "wrote everything in %.3fs\n", now() - t0);
  task_run_progress(r, 1.0, "done");
out:
  for (k = 0; k < NOUT; k++)
    free(path[k]);
  dataset_release(&train);
  dataset_release(&eval);
  return rc;
}

const struct task_kind fetch_subset_kind = {
  .name = "fetch_subset",
  .version = 2,
  .doc = "Training and eval images with ground truth, POPE questions and the world's "
         "statistics; builtin:shapes is a procedural world whose training descriptions carry "
         "the label noise that teaches hallucination.",
  .params = fetch_params,
  .outputs = fetch_outputs,
  .flags = 0,
  .check = fetch_check,
  .run = fetch_run,
};
