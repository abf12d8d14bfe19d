/* distort_images.c - the `distort_images` kind: forward diffusion noise on
 * a split's images, POVID's image-side dispreference (kernels/distort.h).
 *
 * Input: a fetch_subset split directory (images.safetensors, U8
 * [N, H, W, 3], and index.tsv) or an images.safetensors file alone.
 * Each image's noise is keyed by (seed, item id, draw): the item id is the
 * "image" column of the split's index.tsv, hashed (the first 8 bytes of its
 * SHA-256, little-endian), or the row number when the input is a bare
 * file (an index.tsv beside a file is not part of the action key, so it is
 * not read). Item ids are stable across subset sizes, so the first 100
 * images of a 1,000-image split get the noise of the 100-image split.
 *
 * Outputs: `noisy`, a directory with images.safetensors (F32
 * [N * draws, H, W, 3], NHWC, pixels on the [0, 1] scale, row i * draws + d
 * = draw d of input row i; values left unclamped, so they leave [0, 1],
 * unless clamp = true) and index.tsv (image, draw -> row); `preview`, a
 * contact sheet of the first images, clean and noisy; `grid`, one image at
 * k = 0, 250, 500, 750, 999 with the same noise, for reports.
 *
 * Left out: streaming (input and output are held in memory: 15 KB per image
 * and draw), inputs other than U8 RGB.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "distort.h"
#include "graph.h"
#include "preview.h"
#include "registry.h"
#include "run.h"
#include "safetensors.h"

#define PREVIEW_IMAGES 8 /* rows of the preview */
#define PREVIEW_DRAWS 3  /* noisy columns per row at most */

static const struct kind_param distort_params[] = {
  { "images", PT_ARTIFACT, NULL, 0, -1, NULL, 0,
    "the clean images: a fetch_subset split (a directory holding images.safetensors and "
    "index.tsv) or an images.safetensors file (U8 [N, H, W, 3]; noise then keyed by row)" },
  { "step", PT_INT, "500", 0, DISTORT_T - 1, NULL, 0,
    "diffusion step k: x_k = sqrt(abar_k) x_0 + sqrt(1 - abar_k) eps, with abar_k the "
    "product of (1 - beta_t) for t <= k (POVID: 500)" },
  { "schedule", PT_STRING, "\"sigmoid\"", 0, -1, "sigmoid|linear", 0,
    "beta schedule over 1000 steps: sigmoid (POVID's code: sigmoid(linspace(-6, 6)) scaled "
    "to [1e-5, 5e-3]) or linear (DDPM: 1e-4 to 0.02)" },
  { "draws", PT_INT, "1", 1, 1000, NULL, 0, "noisy copies of each image, each its own noise" },
  { "seed", PT_INT, "1", 0, 1e15, NULL, 0,
    "noise seed: an image's noise depends only on (seed, item id, draw)" },
  { "clamp", PT_BOOL, "false", 0, -1, NULL, 0,
    "clamp x_k to [0, 1]; by default values stay as computed (POVID's code wraps them "
    "through a byte cast instead)" },
  { "device", PT_STRING, "\"cpu\"", 0, -1, "cpu|cuda", 0,
    "where the kernel runs: cpu (vectorised, on the task's threads) or cuda (needs a CUDA "
    "build and a GPU; meant to give the same bits)" },
  { NULL, PT_ANY, NULL, 0, 0, NULL, 0, NULL },
};

enum { OUT_NOISY, OUT_PREVIEW, OUT_GRID, NOUT };
static const struct kind_output distort_outputs[NOUT + 1] = {
  { "noisy", "the noisy images, a directory: images.safetensors (one F32 tensor \"images\" "
             "[N * draws, H, W, 3], NHWC RGB on the [0, 1] scale, unclamped unless clamp = "
             "true; row i * draws + d is draw d of input row i; the metadata holds step, "
             "schedule and coefficients) and index.tsv (image, draw -> row)" },
  { "preview", "PNG contact sheet: the first 8 images, clean then up to 3 noisy draws (shown "
               "clamped)" },
  { "grid", "PNG: the first image at k = 0, 250, 500, 750 and 999 with the same noise (draw "
            "0), beside the clean one" },
  { NULL, NULL },
};

static const int grid_steps[] = { 0, 250, 500, 750, 999 };
#define GRID_N ((int)(sizeof grid_steps / sizeof grid_steps[0]))

/* What run() reads and makes. */
struct input {
  char *st_path;    /* images.safetensors */
  char *index_path; /* index.tsv, or NULL */
  int N, H, W, P;
  uint8_t *pixels;  /* (N,P) */
  uint64_t *ids;    /* (N) noise ids */
  char **names;     /* (N) item ids as written in index.tsv, or row numbers */
};

static void input_release(struct input *in)
{
  int i;
  if (in->names)
    for (i = 0; i < in->N; i++)
      free(in->names[i]);
  free(in->names);
  free(in->ids);
  free(in->pixels);
  free(in->st_path);
  free(in->index_path);
  memset(in, 0, sizeof *in);
}

/* --- reading ---------------------------------------------------------------- */

static int read_images(struct input *in, struct pd_err *err)
{
  struct safetensors st;
  const struct st_tensor *t;
  char shape[128] = "";
  int rc, k;

  if ((rc = safetensors_open(&st, in->st_path, err)) < 0)
    return rc;
  if (!(t = safetensors_find(&st, "images"))) {
    rc = ERR_SET(err, PD_ECORRUPT, "'%s' has no tensor 'images'", in->st_path);
    goto out;
  }
  for (k = 0; k < t->ndim; k++)
    snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", k ? ", " : "",
             (long long)t->shape[k]);
  if (strcmp(t->dtype, "U8") != 0) {
    rc = ERR_SET(err, PD_ECORRUPT, "'%s': tensor 'images' is %s [%s], expected U8 [N, H, W, 3]",
                 in->st_path, t->dtype, shape);
    goto out;
  }
  if (t->ndim != 4 || t->shape[3] != 3 || t->shape[1] < 1 || t->shape[2] < 1 ||
      t->shape[1] > 4096 || t->shape[2] > 4096) {
    rc = ERR_SET(err, PD_ECORRUPT,
                 "'%s': tensor 'images' has shape [%s], expected [N, H, W, 3] (RGB, sides "
                 "1..4096)", in->st_path, shape);
    goto out;
  }
  if (t->shape[0] < 1 || t->shape[0] > INT_MAX / 3) {
    rc = ERR_SET(err, PD_ECORRUPT, "'%s': tensor 'images' holds %lld images, expected 1 or more",
                 in->st_path, (long long)t->shape[0]);
    goto out;
  }
  in->N = (int)t->shape[0];
  in->H = (int)t->shape[1];
  in->W = (int)t->shape[2];
  in->P = in->H * in->W * 3;
  in->pixels = xmalloc((size_t)in->N * (size_t)in->P);
  rc = safetensors_read(&st, t, 0, in->pixels, (size_t)in->N * (size_t)in->P, err);
out:
  safetensors_close(&st);
  return rc;
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

/* index.tsv: a header "image<TAB>row..." then "ID<TAB>ROW" lines naming
 * every row 0..N-1 once. */
static int read_index(struct input *in, struct pd_err *err)
{
  FILE *f = fopen(in->index_path, "r");
  char *line = NULL, *tab, *end;
  size_t cap = 0, lineno = 0, seen = 0;
  ssize_t len;
  long long row;
  int rc = 0;

  if (!f)
    return ERR_SET(err, -errno, "cannot open '%s': %s", in->index_path, strerror(errno));
  in->names = xcalloc((size_t)in->N, sizeof *in->names);
  in->ids = xcalloc((size_t)in->N, sizeof *in->ids);
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if (lineno == 1) {
      if (strncmp(line, "image\t", 6) != 0) {
        rc = ERR_SET(err, PD_ECORRUPT, "'%s':1: expected the header 'image<TAB>row'",
                     in->index_path);
        break;
      }
      continue;
    }
    if (len == 0)
      continue;
    tab = strchr(line, '\t');
    errno = 0;
    row = tab ? strtoll(tab + 1, &end, 10) : -1;
    if (!tab || tab == line || errno || end == tab + 1 || (*end && *end != '\t') || row < 0 ||
        row >= in->N) {
      rc = ERR_SET(err, PD_ECORRUPT, "'%s':%zu: expected 'ID<TAB>ROW' with ROW in 0..%d",
                   in->index_path, lineno, in->N - 1);
      break;
    }
    if (in->names[row]) {
      rc = ERR_SET(err, PD_ECORRUPT, "'%s':%zu: row %lld is listed twice", in->index_path,
                   lineno, row);
      break;
    }
    *tab = '\0';
    in->names[row] = xstrdup(line);
    in->ids[row] = id_hash(line);
    seen++;
  }
  if (rc == 0 && ferror(f))
    rc = ERR_SET(err, PD_EIO, "cannot read '%s'", in->index_path);
  if (rc == 0 && seen != (size_t)in->N)
    rc = ERR_SET(err, PD_ECORRUPT, "'%s' lists %zu rows, but '%s' holds %d images",
                 in->index_path, seen, in->st_path, in->N);
  free(line);
  fclose(f);
  return rc;
}

/* Resolves the input (a directory or a file) and reads it. */
static int read_input(struct task_run *r, struct input *in)
{
  const char *path = task_run_input(r, "images");
  struct stat st;
  int rc, i;

  memset(in, 0, sizeof *in);
  if (!path)
    return ERR_SET(&r->err, PD_EUSAGE, "parameter 'images' is not an artifact");
  if (stat(path, &st) < 0)
    return ERR_SET(&r->err, -errno, "cannot open '%s': %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    in->st_path = xasprintf("%s/images.safetensors", path);
    in->index_path = xasprintf("%s/index.tsv", path);
    if (access(in->index_path, F_OK) != 0) {
      free(in->index_path);
      in->index_path = NULL;
    }
  } else {
    in->st_path = xstrdup(path);
  }
  if ((rc = read_images(in, &r->err)) < 0)
    return rc;
  if (in->index_path)
    return read_index(in, &r->err);
  in->names = xcalloc((size_t)in->N, sizeof *in->names);
  in->ids = xcalloc((size_t)in->N, sizeof *in->ids);
  for (i = 0; i < in->N; i++) {
    in->names[i] = xasprintf("%d", i);
    in->ids[i] = (uint64_t)i;
  }
  return 0;
}

/* --- writing ---------------------------------------------------------------- */

static int write_noisy(const char *dir, const struct input *in, const float *out, int D,
                       const struct distort_coef *c, const char *schedule, int step,
                       struct pd_err *err)
{
  int64_t shape[4] = { (int64_t)in->N * D, in->H, in->W, 3 };
  struct st_write_tensor t = { "images", "F32", 4, shape, out };
  char sstep[32], sa[32], sb[32], seed[32], draws[32], count[32];
  const char *meta[] = {
    "step", sstep, "schedule", schedule, "sqrt_abar", sa, "sqrt_one_minus_abar", sb,
    "seed", seed, "draws", draws, "count", count, "clamp", c->clamp ? "true" : "false",
    "layout", "NHWC RGB float32 on the [0, 1] scale; row i * draws + d is draw d of input row i",
    "noise", "Philox4x32-10 + Box-Muller keyed by (seed, item id, draw); see kernels/distort.h",
    NULL,
  };
  char *path;
  FILE *f;
  int rc, i, d;

  snprintf(sstep, sizeof sstep, "%d", step);
  snprintf(sa, sizeof sa, "%.9g", (double)c->sa);
  snprintf(sb, sizeof sb, "%.9g", (double)c->sb);
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
  snprintf(draws, sizeof draws, "%d", D);
  snprintf(count, sizeof count, "%d", in->N);
  if (mkdir(dir, 0755) < 0 && errno != EEXIST)
    return ERR_SET(err, -errno, "cannot create '%s': %s", dir, strerror(errno));
  path = xasprintf("%s/images.safetensors", dir);
  rc = safetensors_write(path, &t, 1, meta, err);
  free(path);
  if (rc < 0)
    return rc;
  path = xasprintf("%s/index.tsv", dir);
  if (!(f = fopen(path, "wb"))) {
    rc = ERR_SET(err, -errno, "cannot create '%s': %s", path, strerror(errno));
    free(path);
    return rc;
  }
  fputs("image\tdraw\trow\n", f);
  for (i = 0; i < in->N; i++)
    for (d = 0; d < D; d++)
      fprintf(f, "%s\t%d\t%lld\n", in->names[i], d, (long long)i * D + d);
  if (ferror(f))
    rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  if (fclose(f) != 0 && rc == 0)
    rc = ERR_SET(err, PD_EIO, "cannot write '%s'", path);
  free(path);
  return rc;
}

/* Float pixels to bytes for looking at: clamped, rounded. */
static void to_bytes(uint8_t *dst, const float *src, int n)
{
  int k;
  for (k = 0; k < n; k++) {
    float v = src[k] < 0.0f ? 0.0f : (src[k] > 1.0f ? 1.0f : src[k]);
    dst[k] = (uint8_t)(v * 255.0f + 0.5f);
  }
}

static const uint8_t grey[3] = { 150, 150, 150 }, light[3] = { 220, 220, 220 };

static int write_preview(const char *path, const struct input *in, const float *out, int D,
                         int clamp, const char *title, struct pd_err *err)
{
  int rows = in->N < PREVIEW_IMAGES ? in->N : PREVIEW_IMAGES;
  int nd = D < PREVIEW_DRAWS ? D : PREVIEW_DRAWS, cols = 1 + nd, i, d, rc;
  struct preview_cell *cells = xcalloc((size_t)(rows * cols), sizeof *cells);
  uint8_t *bytes = xmalloc((size_t)(rows * nd) * (size_t)in->P);

  for (i = 0; i < rows; i++)
    for (d = 0; d <= nd; d++) {
      struct preview_cell *c = &cells[i * cols + d];
      c->w = in->W;
      c->h = in->H;
      if (d == 0) {
        c->rgb = in->pixels + (size_t)i * (size_t)in->P;
        snprintf(c->line[0], sizeof c->line[0], "%.20s", in->names[i]);
        snprintf(c->line[1], sizeof c->line[1], "clean");
      } else {
        uint8_t *b = bytes + (size_t)(i * nd + d - 1) * (size_t)in->P;
        to_bytes(b, out + ((size_t)i * (size_t)D + (size_t)(d - 1)) * (size_t)in->P, in->P);
        c->rgb = b;
        snprintf(c->line[0], sizeof c->line[0], "draw %d", d - 1);
        snprintf(c->line[1], sizeof c->line[1], "%s", clamp ? "clamped" : "");
      }
      memcpy(c->colour[0], light, 3);
      memcpy(c->colour[1], grey, 3);
      c->nlines = 2;
    }
  rc = preview_write(path, title, cells, (size_t)(rows * cols), cols, 4, err);
  free(bytes);
  free(cells);
  return rc;
}

/* The first image at each of grid_steps, with draw 0's noise (the CPU
 * kernel: the same bits as the GPU's). */
static int write_grid(const char *path, const struct input *in, struct distort_coef c,
                      enum distort_schedule s, const char *schedule, struct pd_err *err)
{
  struct preview_cell cells[GRID_N + 1];
  float *x = xmalloc((size_t)in->P * sizeof *x);
  uint8_t *bytes = xmalloc((size_t)GRID_N * (size_t)in->P);
  char title[160];
  int k, rc;

  memset(cells, 0, sizeof cells);
  for (k = 0; k <= GRID_N; k++) {
    struct preview_cell *cell = &cells[k];
    cell->w = in->W;
    cell->h = in->H;
    cell->nlines = 2;
    memcpy(cell->colour[0], light, 3);
    memcpy(cell->colour[1], grey, 3);
    if (k == 0) {
      cell->rgb = in->pixels;
      snprintf(cell->line[0], sizeof cell->line[0], "clean");
      snprintf(cell->line[1], sizeof cell->line[1], "%.20s", in->names[0]);
      continue;
    }
    distort_coef_at(&c, s, grid_steps[k - 1]);
    distort_forward(x, in->pixels, in->ids, &c, 1, 1, in->P);
    to_bytes(bytes + (size_t)(k - 1) * (size_t)in->P, x, in->P);
    cell->rgb = bytes + (size_t)(k - 1) * (size_t)in->P;
    snprintf(cell->line[0], sizeof cell->line[0], "k = %d", grid_steps[k - 1]);
    snprintf(cell->line[1], sizeof cell->line[1], "%.3f / %.3f", (double)c.sa, (double)c.sb);
  }
  snprintf(title, sizeof title, "%s schedule, seed %llu: x_k = a x_0 + b eps, a / b under each",
           schedule, (unsigned long long)c.seed);
  rc = preview_write(path, title, cells, GRID_N + 1, GRID_N + 1, 4, err);
  free(bytes);
  free(x);
  return rc;
}

/* --- run -------------------------------------------------------------------- */

struct progress {
  struct task_run *r;
  int D;
};

static int on_progress(void *arg, size_t done, size_t total)
{
  struct progress *pr = arg;
  task_run_progress(pr->r, 0.05 + 0.8 * (double)done / (double)total, "%zu/%zu images x %d",
                    done, total, pr->D);
  return task_run_cancelled(pr->r);
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int distort_run(struct task_run *r)
{
  const struct task *t = r->task;
  const char *schedule = task_param(t, "schedule")->u.str.s;
  const char *device = task_param(t, "device")->u.str.s;
  enum distort_schedule s = strcmp(schedule, "linear") == 0 ? DISTORT_LINEAR : DISTORT_SIGMOID;
  int step = (int)task_param(t, "step")->u.i, D = (int)task_param(t, "draws")->u.i;
  int threads = r->threads > 0 ? r->threads : 1, rc, k;
  struct distort_coef c = { 0 };
  struct progress pr = { r, D };
  struct input in;
  char *path[NOUT] = { NULL }, title[160];
  size_t n, outside = 0, z;
  float *out = NULL;
  double t0 = now(), t1 = t0, t2;

  c.seed = (uint64_t)task_param(t, "seed")->u.i;
  c.clamp = task_param(t, "clamp")->u.b;
  distort_coef_at(&c, s, step);
  if ((rc = read_input(r, &in)) < 0)
    goto out;
  if ((long long)in.N * D > INT_MAX) {
    rc = ERR_SET(&r->err, PD_EUSAGE, "%d images x %d draws is too many rows", in.N, D);
    goto out;
  }
  fprintf(r->log, "%d images %dx%d from '%s', noise ids from %s\n", in.N, in.H, in.W,
          in.st_path, in.index_path ? "index.tsv" : "row numbers");
  fprintf(r->log, "%s schedule, step %d: sqrt(abar) = %.6f, sqrt(1 - abar) = %.6f\n", schedule,
          step, (double)c.sa, (double)c.sb);
  task_run_progress(r, 0.05, "noise");
  t1 = now();
  n = (size_t)in.N * (size_t)D * (size_t)in.P;
  out = xmalloc(n * sizeof *out);
  if (strcmp(device, "cuda") == 0) {
    if ((rc = distort_forward_gpu(out, in.pixels, in.ids, &c, in.N, D, in.P, &r->err)) < 0)
      goto out;
  } else if ((rc = distort_forward_threads(out, in.pixels, in.ids, &c, in.N, D, in.P, threads,
                                           on_progress, &pr)) < 0) {
    rc = ERR_SET(&r->err, rc, "cancelled");
    goto out;
  }
  t2 = now();
  for (z = 0; z < n; z++)
    outside += out[z] < 0.0f || out[z] > 1.0f;
  fprintf(r->log, "read in %.3fs; %d x %d noisy images in %.3fs on %s (%s, %d thread%s): "
          "%.0f images/s; %.2f%% of values outside [0, 1]%s\n",
          t1 - t0, in.N, D, t2 - t1, device,
          strcmp(device, "cuda") == 0 ? "gpu, with the copies" : distort_isa(), threads,
          threads == 1 ? "" : "s", (double)in.N * D / (t2 - t1 > 1e-9 ? t2 - t1 : 1e-9),
          100.0 * (double)outside / (double)n, c.clamp ? " (clamped)" : "");

  task_run_progress(r, 0.85, "writing");
  for (k = 0; k < NOUT; k++)
    path[k] = task_run_output(r, distort_outputs[k].name);
  /* Short: with one draw the sheet is 45 characters wide. */
  snprintf(title, sizeof title, "k=%d %s seed %llu: %.3f x0 + %.3f eps", step, schedule,
           (unsigned long long)c.seed, (double)c.sa, (double)c.sb);
  if ((rc = write_noisy(path[OUT_NOISY], &in, out, D, &c, schedule, step, &r->err)) < 0 ||
      (rc = write_preview(path[OUT_PREVIEW], &in, out, D, c.clamp, title, &r->err)) < 0 ||
      (rc = write_grid(path[OUT_GRID], &in, c, s, schedule, &r->err)) < 0)
    goto out;
  task_run_progress(r, 1.0, "done");
out:
  for (k = 0; k < NOUT; k++)
    free(path[k]);
  free(out);
  input_release(&in);
  return rc;
}

const struct task_kind distort_images_kind = {
  .name = "distort_images",
  .version = 1,
  .doc = "Forward diffusion noise on a split's images (POVID's image-side dispreference): "
         "x_k = sqrt(abar_k) x_0 + sqrt(1 - abar_k) eps, noise keyed by (seed, item id, draw).",
  .params = distort_params,
  .outputs = distort_outputs,
  .flags = 0,
  .check = NULL,
  .run = distort_run,
};
