/* report_svg.c - hand-written inline SVG charts for report.html: grouped
 * bars and line charts with labelled points. No scripts, no external
 * resources; every label is HTML-escaped. Coordinates are printed with one
 * decimal, so the same data give the same bytes.
 *
 * Axes take "nice" ticks (1, 2 or 5 times a power of ten, about five of
 * them); lines of more than LINE_MAX_POINTS points are thinned by a fixed
 * stride (their last point kept) to keep the page small.
 *
 * Point labels are placed greedily, in order: each takes the first of a
 * few places around its point (beside it towards the middle, above; then
 * below, then the other side, then further out with a leader line) whose
 * box, estimated from the text's length, overlaps no label already placed
 * and no other point, and stays inside the plot; beside the point, it must
 * also be nearer its own point than any other point drawn (so that it
 * cannot read as another's). A label with no such place is left out and
 * named on a line under the chart. Text widths are estimates (no font metrics here), so
 * two labels may touch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "report.h"
#include "strbuf.h"

#define LINE_MAX_POINTS 400
#define LINE_DOTS_MAX 40 /* a line of at most this many points shows them as dots */

/* Estimated size of a point label (11px, semi-bold), px per character. */
#define LABEL_CHAR_W 6.6
#define LABEL_H 13.0

static const char *const palette[] = { "#2b6cb0", "#c05621", "#2f855a", "#b83280",
                                       "#6b46c1", "#975a16", "#2c7a7b", "#4a5568" };
#define NPALETTE (sizeof palette / sizeof palette[0])

struct axis {
  double lo, hi, step;
  int decimals;
};

struct frame {
  double w, h, l, r, t, b; /* size and margins */
  struct axis x, y;
};

static double nice_step(double range)
{
  double raw = range / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* Fits an axis with nice ticks around [lo, hi] (NAN: nothing to show). */
static void axis_fit(struct axis *a, double lo, double hi)
{
  if (isnan(lo) || isnan(hi)) {
    lo = 0;
    hi = 1;
  }
  if (!(hi > lo)) {
    double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  a->step = nice_step(hi - lo);
  a->lo = floor(lo / a->step + 1e-9) * a->step;
  a->hi = ceil(hi / a->step - 1e-9) * a->step;
  a->decimals = a->step >= 1 ? 0 : (int)ceil(-log10(a->step) - 1e-9);
}

static double px(const struct frame *f, double x)
{
  return f->l + (x - f->x.lo) / (f->x.hi - f->x.lo) * (f->w - f->l - f->r);
}

static double py(const struct frame *f, double y)
{
  return f->h - f->b - (y - f->y.lo) / (f->y.hi - f->y.lo) * (f->h - f->t - f->b);
}

static void svg_text(struct strbuf *sb, double x, double y, const char *anchor, const char *cls,
                     const char *text)
{
  strbuf_addf(sb, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" class=\"%s\">", x, y, anchor,
              cls);
  report_html_escape(sb, text);
  strbuf_addstr(sb, "</text>\n");
}

static void svg_open(struct strbuf *sb, const struct frame *f, const char *title)
{
  strbuf_addf(sb, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f "
                  "%.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"",
              f->w, f->h, f->w, f->h);
  report_html_escape(sb, title);
  strbuf_addstr(sb, "\">\n");
  svg_text(sb, f->w / 2, 18, "middle", "title", title);
}

/* Horizontal grid lines with y tick labels, the y axis title, the x axis. */
static void svg_yaxis(struct strbuf *sb, const struct frame *f, const char *ylabel)
{
  char buf[32];
  double v;
  int k;
  for (k = 0; (v = f->y.lo + k * f->y.step) <= f->y.hi + f->y.step * 1e-6; k++) {
    strbuf_addf(sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>\n",
                f->l, py(f, v), f->w - f->r, py(f, v));
    snprintf(buf, sizeof buf, "%.*f", f->y.decimals, fabs(v) < f->y.step * 1e-6 ? 0.0 : v);
    svg_text(sb, f->l - 6, py(f, v) + 4, "end", "tick", buf);
  }
  strbuf_addf(sb, "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" class=\"axis\" "
                  "transform=\"rotate(-90 14 %.1f)\">",
              (f->t + f->h - f->b) / 2, (f->t + f->h - f->b) / 2);
  report_html_escape(sb, ylabel);
  strbuf_addstr(sb, "</text>\n");
  strbuf_addf(sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axisline\"/>\n",
              f->l, f->h - f->b, f->w - f->r, f->h - f->b);
}

static const char *series_colour(const struct report_series *s, size_t i)
{
  return palette[(s->colour > 0 ? (size_t)(s->colour - 1) : i) % NPALETTE];
}

/* A legend row at y: a swatch and a name per named series, then (points) a
 * dot for the labelled points. */
static void svg_legend(struct strbuf *sb, const struct frame *f, double y,
                       const struct report_series *s, size_t n, const char *points)
{
  double x = f->l;
  size_t i;
  for (i = 0; i < n; i++) {
    if (!s[i].name)
      continue;
    strbuf_addf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>\n", x,
                y - 9, series_colour(&s[i], i));
    svg_text(sb, x + 14, y, "start", "legend", s[i].name);
    x += 24 + 7.0 * (double)strlen(s[i].name);
  }
  if (points) {
    strbuf_addf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" class=\"point\"/>\n", x + 5, y - 4);
    svg_text(sb, x + 14, y, "start", "legend", points);
  }
}

/* A group label cut to 18 bytes at a character boundary. */
static void short_label(char *buf, size_t cap, const char *s)
{
  size_t n = strlen(s);
  if (n < cap) {
    memcpy(buf, s, n + 1);
    return;
  }
  n = cap - 4;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
    n--;
  memcpy(buf, s, n);
  memcpy(buf + n, "…", sizeof "…");
}

/* The error bar of bar g of s, 0 for none. */
static double bar_err(const struct report_series *s, size_t g)
{
  return s->err && !isnan(s->err[g]) && s->err[g] > 0 ? s->err[g] : 0;
}

/* A vertical error bar with caps at x over [lo, hi]. */
static void svg_errbar(struct strbuf *sb, const struct frame *f, double x, double lo, double hi,
                       double cap)
{
  double y0 = py(f, fmax(lo, f->y.lo)), y1 = py(f, hi);
  strbuf_addf(sb, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\" stroke=\"#1a202c\" "
                  "stroke-width=\"1\" fill=\"none\"/>\n",
              x, y0, y1, x - cap, y0, x + cap, x - cap, y1, x + cap);
}

void report_svg_bars(struct strbuf *sb, const char *title, const char *ylabel,
                     const char *const *groups, size_t ngroups,
                     const struct report_series *series, size_t nseries)
{
  struct frame f = { 370, 260, 48, 12, 34, nseries > 1 ? 62 : 44, { 0, 1, 1, 0 }, { 0, 1, 1, 0 } };
  double hi = NAN, gw, bw;
  char buf[32], label[19];
  size_t g, s;
  for (s = 0; s < nseries; s++)
    for (g = 0; g < ngroups && g < series[s].n; g++)
      if (!isnan(series[s].y[g])) {
        double top = series[s].y[g] + bar_err(&series[s], g);
        hi = isnan(hi) ? top : fmax(hi, top);
      }
  axis_fit(&f.y, 0, isnan(hi) || hi <= 0 ? 1 : hi);
  svg_open(sb, &f, title);
  svg_yaxis(sb, &f, ylabel);
  gw = (f.w - f.l - f.r) / (double)(ngroups ? ngroups : 1);
  bw = gw * 0.8 / (double)(nseries ? nseries : 1);
  for (g = 0; g < ngroups; g++) {
    for (s = 0; s < nseries; s++) {
      double v = g < series[s].n ? series[s].y[g] : NAN, x = f.l + (double)g * gw + gw * 0.1 +
                                                             (double)s * bw, e;
      if (isnan(v))
        continue;
      e = bar_err(&series[s], g);
      strbuf_addf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
                  x, py(&f, v), bw * 0.92, py(&f, 0) - py(&f, v), series_colour(&series[s], s));
      if (e > 0)
        svg_errbar(sb, &f, x + bw * 0.46, v - e, v + e, fmin(6, bw * 0.2));
      if (bw < 24) /* no room for a value over a narrow bar */
        continue;
      snprintf(buf, sizeof buf, "%.1f", v);
      svg_text(sb, x + bw * 0.46, py(&f, v + e) - 3, "middle", "value", buf);
    }
    short_label(label, sizeof label, groups[g]);
    svg_text(sb, f.l + ((double)g + 0.5) * gw, f.h - f.b + 16, "middle", "tick", label);
  }
  if (nseries > 1)
    svg_legend(sb, &f, f.h - 10, series, nseries, NULL);
  strbuf_addstr(sb, "</svg>\n");
}

/* Pads [*lo, *hi] by 4% each side, never across zero. */
static void pad_range(double *lo, double *hi)
{
  double d = (*hi - *lo) * 0.04;
  *lo = *lo >= 0 && *lo - d < 0 ? 0 : *lo - d;
  *hi = *hi <= 0 && *hi + d > 0 ? 0 : *hi + d;
}

/* Axes around the data; with labels, padded so that points stay off the
 * frame and their labels inside it. */
static void fit_lines(struct frame *f, const struct report_series *lines, size_t nlines,
                      const struct report_label *labels, size_t nlabels)
{
  double x0 = NAN, x1 = NAN, y0 = NAN, y1 = NAN;
  size_t i, k;
  for (i = 0; i < nlines; i++)
    for (k = 0; k < lines[i].n; k++) {
      if (isnan(lines[i].x[k]) || isnan(lines[i].y[k]))
        continue;
      x0 = isnan(x0) ? lines[i].x[k] : fmin(x0, lines[i].x[k]);
      x1 = isnan(x1) ? lines[i].x[k] : fmax(x1, lines[i].x[k]);
      y0 = isnan(y0) ? lines[i].y[k] : fmin(y0, lines[i].y[k]);
      y1 = isnan(y1) ? lines[i].y[k] : fmax(y1, lines[i].y[k]);
    }
  for (i = 0; i < nlabels; i++) {
    if (isnan(labels[i].x) || isnan(labels[i].y))
      continue;
    x0 = isnan(x0) ? labels[i].x : fmin(x0, labels[i].x);
    x1 = isnan(x1) ? labels[i].x : fmax(x1, labels[i].x);
    y0 = isnan(y0) ? labels[i].y : fmin(y0, labels[i].y);
    y1 = isnan(y1) ? labels[i].y : fmax(y1, labels[i].y);
  }
  if (nlabels > 0 && !isnan(x0)) {
    pad_range(&x0, &x1);
    pad_range(&y0, &y1);
  }
  axis_fit(&f->x, x0, x1);
  axis_fit(&f->y, y0, y1);
}

static void svg_xaxis(struct strbuf *sb, const struct frame *f, const char *xlabel)
{
  char buf[32];
  double v;
  int k;
  for (k = 0; (v = f->x.lo + k * f->x.step) <= f->x.hi + f->x.step * 1e-6; k++) {
    snprintf(buf, sizeof buf, "%.*f", f->x.decimals, fabs(v) < f->x.step * 1e-6 ? 0.0 : v);
    svg_text(sb, px(f, v), f->h - f->b + 16, "middle", "tick", buf);
  }
  svg_text(sb, (f->l + f->w - f->r) / 2, f->h - f->b + 32, "middle", "axis", xlabel);
}

static void svg_line(struct strbuf *sb, const struct frame *f, const struct report_series *s,
                     const char *colour)
{
  size_t k, stride = s->n > LINE_MAX_POINTS ? (s->n + LINE_MAX_POINTS - 1) / LINE_MAX_POINTS : 1;
  strbuf_addf(sb, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" points=\"", colour,
              s->thin ? "1\" stroke-opacity=\"0.75" : "1.8");
  for (k = 0; k < s->n; k++) {
    if ((k % stride != 0 && k + 1 != s->n) || isnan(s->x[k]) || isnan(s->y[k]))
      continue;
    strbuf_addf(sb, "%.1f,%.1f ", px(f, s->x[k]), py(f, s->y[k]));
  }
  strbuf_addstr(sb, "\"/>\n");
  if (s->n > LINE_DOTS_MAX)
    return;
  for (k = 0; k < s->n; k++)
    if (!isnan(s->x[k]) && !isnan(s->y[k]))
      strbuf_addf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" fill=\"%s\"/>\n",
                  px(f, s->x[k]), py(f, s->y[k]), s->thin ? "2" : "2.5", colour);
}

struct box {
  double x0, y0, x1, y1;
};

static int box_overlap(const struct box *a, const struct box *b)
{
  return a->x0 < b->x1 && b->x0 < a->x1 && a->y0 < b->y1 && b->y0 < a->y1;
}

/* Distance from b to the point (x, y); 0 inside. */
static double box_dist(const struct box *b, double x, double y)
{
  double dx = x < b->x0 ? b->x0 - x : x > b->x1 ? x - b->x1 : 0;
  double dy = y < b->y0 ? b->y0 - y : y > b->y1 ? y - b->y1 : 0;
  return sqrt(dx * dx + dy * dy);
}

/* Where the labelled points are, in chart coordinates. */
struct spot {
  double x, y;
};

/* Characters of UTF-8 s, for its estimated width. */
static size_t utf8_len(const char *s)
{
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* Places label l's text (see the file's header), given the points drawn
 * (spots, own: l's) and the labels placed so far (used): sets *x, *y and
 * *anchor ('s' start, 'e' end), adds its box to used[*nused]; returns the
 * place's ring (1 beside the point, more: further out), 0 when none is
 * free. */
static int label_place(const struct frame *f, const struct report_label *l,
                       const struct spot *spots, size_t nspots, size_t own, struct box *used,
                       size_t *nused, double *x, double *y, char *anchor)
{
  /* (side, dy): side 1 towards the middle, -1 away from it. */
  static const struct {
    int side, ring;
    double dy;
  } where[] = { { 1, 1, -7 },  { 1, 1, 15 },  { -1, 1, -7 }, { -1, 1, 15 },
                { 1, 2, -19 }, { 1, 2, 27 },  { -1, 2, -19 }, { -1, 2, 27 },
                { 1, 3, -31 }, { 1, 3, 39 },  { -1, 3, -31 }, { -1, 3, 39 } };
  double cx = px(f, l->x), cy = py(f, l->y), w = LABEL_CHAR_W * (double)utf8_len(l->text);
  int inward = cx > (f->l + f->w - f->r) / 2 ? -1 : 1; /* -1: the label left of its point */
  size_t k, j;
  for (k = 0; k < sizeof where / sizeof where[0]; k++) {
    int dir = inward * where[k].side;
    double tx = cx + 7.0 * dir, ty = cy + where[k].dy;
    struct box b = { dir > 0 ? tx : tx - w, ty - LABEL_H + 3, dir > 0 ? tx + w : tx, ty + 3 };
    double d;
    if (b.x0 < 2 || b.x1 > f->w - 2 || b.y0 < f->t - 6 || b.y1 > f->h - f->b)
      continue;
    for (j = 0; j < *nused && !box_overlap(&b, &used[j]); j++)
      ;
    if (j < *nused)
      continue;
    /* Beside its point, nearer it than any other point, by 2px at least
     * (a point at the same place as its own aside: their labels stack
     * beside it); further out, the leader line says whose it is, and the
     * label only keeps off the other points. */
    d = where[k].ring == 1 ? box_dist(&b, spots[own].x, spots[own].y) : 0;
    for (j = 0; j < nspots; j++)
      if (j != own && hypot(spots[j].x - spots[own].x, spots[j].y - spots[own].y) >= 1 &&
          box_dist(&b, spots[j].x, spots[j].y) <= d + 2)
        break;
    if (j < nspots)
      continue;
    used[(*nused)++] = b;
    *x = tx;
    *y = ty;
    *anchor = dir > 0 ? 's' : 'e';
    return where[k].ring;
  }
  return 0;
}

void report_svg_lines(struct strbuf *sb, const char *title, const char *xlabel,
                      const char *ylabel, const struct report_series *lines, size_t nlines,
                      const struct report_label *labels, size_t nlabels, const char *labels_name)
{
  struct frame f = { 560, 320, 60, 24, 34, 70, { 0, 1, 1, 0 }, { 0, 1, 1, 0 } };
  struct box *used = xcalloc(nlabels + 1, sizeof *used);
  struct spot *spots;
  struct strbuf dropped;
  size_t i, k, nused = 0, nspots = 0, own = 0;
  fit_lines(&f, lines, nlines, labels, nlabels);
  svg_open(sb, &f, title);
  svg_yaxis(sb, &f, ylabel);
  svg_xaxis(sb, &f, xlabel);
  for (i = 0; i < nlines; i++)
    svg_line(sb, &f, &lines[i], series_colour(&lines[i], i));
  /* Every point drawn: the labelled ones first, in order (own counts
   * them), then the lines' and the dots. */
  for (i = 0; i < nlines; i++)
    nspots += lines[i].n <= LINE_DOTS_MAX ? lines[i].n : 0;
  spots = xcalloc(nspots + nlabels + 1, sizeof *spots);
  nspots = 0;
  for (i = 0; i < nlabels; i++)
    if (labels[i].text && !isnan(labels[i].x) && !isnan(labels[i].y))
      spots[nspots++] = (struct spot){ px(&f, labels[i].x), py(&f, labels[i].y) };
  for (i = 0; i < nlabels; i++)
    if (!labels[i].text && !isnan(labels[i].x) && !isnan(labels[i].y))
      spots[nspots++] = (struct spot){ px(&f, labels[i].x), py(&f, labels[i].y) };
  for (i = 0; i < nlines; i++)
    for (k = 0; lines[i].n <= LINE_DOTS_MAX && k < lines[i].n; k++)
      if (!isnan(lines[i].x[k]) && !isnan(lines[i].y[k]))
        spots[nspots++] = (struct spot){ px(&f, lines[i].x[k]), py(&f, lines[i].y[k]) };
  strbuf_init(&dropped, 0);
  for (i = 0; i < nlabels; i++) {
    double x, y, cx = px(&f, labels[i].x), cy = py(&f, labels[i].y);
    char anchor;
    int ring;
    if (isnan(labels[i].x) || isnan(labels[i].y))
      continue;
    if (!labels[i].text) {
      strbuf_addf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" class=\"point\" "
                      "fill-opacity=\"0.55\"/>\n",
                  cx, cy);
      continue;
    }
    strbuf_addf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" class=\"point\"/>\n", cx, cy);
    if (!(ring = label_place(&f, &labels[i], spots, nspots, own++, used, &nused, &x, &y,
                             &anchor))) {
      strbuf_addstr(&dropped, dropped.len ? ", " : "");
      strbuf_addstr(&dropped, labels[i].text);
      continue;
    }
    if (ring > 1) /* a leader line from the point to its label */
      strbuf_addf(sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                      "class=\"axisline\"/>\n",
                  cx, cy, x, y < cy ? y + 2 : y - 10);
    svg_text(sb, x, y, anchor == 's' ? "start" : "end", "plabel", labels[i].text);
  }
  if (dropped.len) {
    char *text = xasprintf("not labelled (no room): %s", dropped.buf);
    svg_text(sb, f.l, f.h - f.b + 46, "start", "legend", text);
    free(text);
  }
  strbuf_release(&dropped);
  free(used);
  free(spots);
  if (nlines > 0 || nlabels > 0)
    svg_legend(sb, &f, f.h - 10, lines, nlines, nlabels ? labels_name : NULL);
  strbuf_addstr(sb, "</svg>\n");
}
