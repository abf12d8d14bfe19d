/* report_svg.c - hand-written inline SVG charts for report.html: grouped
 * bars and line charts with labelled points. No scripts, no external
 * resources; every label is HTML-escaped. Coordinates are printed with one
 * decimal, so the same data give the same bytes.
 *
 * Axes take "nice" ticks (1, 2 or 5 times a power of ten, about five of
 * them); lines of more than LINE_MAX_POINTS points are thinned by a fixed
 * stride (their last point kept) to keep the page small.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report.h"
#include "strbuf.h"

#define LINE_MAX_POINTS 400

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

/* A legend row at y: a swatch and a name per series, then (points) a dot
 * for the labelled points. */
static void svg_legend(struct strbuf *sb, const struct frame *f, double y,
                       const struct report_series *s, size_t n, const char *points)
{
  double x = f->l;
  size_t i;
  for (i = 0; i < n; i++) {
    strbuf_addf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>\n", x,
                y - 9, palette[i % NPALETTE]);
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
      if (!isnan(series[s].y[g]))
        hi = isnan(hi) ? series[s].y[g] : fmax(hi, series[s].y[g]);
  axis_fit(&f.y, 0, isnan(hi) || hi <= 0 ? 1 : hi);
  svg_open(sb, &f, title);
  svg_yaxis(sb, &f, ylabel);
  gw = (f.w - f.l - f.r) / (double)(ngroups ? ngroups : 1);
  bw = gw * 0.8 / (double)(nseries ? nseries : 1);
  for (g = 0; g < ngroups; g++) {
    for (s = 0; s < nseries; s++) {
      double v = g < series[s].n ? series[s].y[g] : NAN, x = f.l + (double)g * gw + gw * 0.1 +
                                                             (double)s * bw;
      if (isnan(v))
        continue;
      strbuf_addf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
                  x, py(&f, v), bw * 0.92, py(&f, 0) - py(&f, v), palette[s % NPALETTE]);
      if (bw < 24) /* no room for a value over a narrow bar */
        continue;
      snprintf(buf, sizeof buf, "%.1f", v);
      svg_text(sb, x + bw * 0.46, py(&f, v) - 3, "middle", "value", buf);
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
  strbuf_addf(sb, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", colour);
  for (k = 0; k < s->n; k++) {
    if ((k % stride != 0 && k + 1 != s->n) || isnan(s->x[k]) || isnan(s->y[k]))
      continue;
    strbuf_addf(sb, "%.1f,%.1f ", px(f, s->x[k]), py(f, s->y[k]));
  }
  strbuf_addstr(sb, "\"/>\n");
  if (s->n > 40)
    return;
  for (k = 0; k < s->n; k++)
    if (!isnan(s->x[k]) && !isnan(s->y[k]))
      strbuf_addf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                  px(f, s->x[k]), py(f, s->y[k]), colour);
}

void report_svg_lines(struct strbuf *sb, const char *title, const char *xlabel,
                      const char *ylabel, const struct report_series *lines, size_t nlines,
                      const struct report_label *labels, size_t nlabels, const char *labels_name)
{
  struct frame f = { 560, 320, 60, 24, 34, 70, { 0, 1, 1, 0 }, { 0, 1, 1, 0 } };
  size_t i;
  fit_lines(&f, lines, nlines, labels, nlabels);
  svg_open(sb, &f, title);
  svg_yaxis(sb, &f, ylabel);
  svg_xaxis(sb, &f, xlabel);
  for (i = 0; i < nlines; i++)
    svg_line(sb, &f, &lines[i], palette[i % NPALETTE]);
  for (i = 0; i < nlabels; i++) {
    if (isnan(labels[i].x) || isnan(labels[i].y))
      continue;
    strbuf_addf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" class=\"point\"/>\n",
                px(&f, labels[i].x), py(&f, labels[i].y));
    /* Labels point inwards, so that none leaves the chart. */
    if (px(&f, labels[i].x) > (f.l + f.w - f.r) / 2)
      svg_text(sb, px(&f, labels[i].x) - 7, py(&f, labels[i].y) - 7, "end", "plabel",
               labels[i].text);
    else
      svg_text(sb, px(&f, labels[i].x) + 7, py(&f, labels[i].y) - 7, "start", "plabel",
               labels[i].text);
  }
  if (nlines > 0 || nlabels > 0)
    svg_legend(sb, &f, f.h - 10, lines, nlines, nlabels ? labels_name : NULL);
  strbuf_addstr(sb, "</svg>\n");
}
