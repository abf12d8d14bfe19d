/* progress.c - live progress on a terminal, plain lines elsewhere. */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SHOWN 8

double progress_now(void)
{
  return (double)uv_hrtime() / 1e9;
}

static void clear_block(struct progress *p)
{
  size_t i;
  for (i = 0; i < p->drawn; i++)
    fputs("\033[1A\033[2K", stderr);
  p->drawn = 0;
}

static void draw_block(struct progress *p)
{
  struct progress_item items[MAX_SHOWN + 1];
  size_t n = p->list(p->arg, items, MAX_SHOWN + 1), i;
  double now = progress_now();
  fprintf(stderr, "[%zu/%zu] %zu running\n", p->done, p->total, n);
  p->drawn = 1;
  for (i = 0; i < n && i < MAX_SHOWN; i++) {
    char frac[16] = "";
    if (items[i].frac >= 0)
      snprintf(frac, sizeof frac, " %3.0f%%", items[i].frac * 100.0);
    fprintf(stderr, "  %-32.32s %6.1fs%s%s%.60s\n", items[i].name, now - items[i].start,
            frac, items[i].msg ? "  " : "", items[i].msg ? items[i].msg : "");
    p->drawn++;
  }
  if (n > MAX_SHOWN) {
    fprintf(stderr, "  ...\n");
    p->drawn++;
  }
  fflush(stderr);
}

static void on_tick(uv_timer_t *t)
{
  struct progress *p = t->data;
  clear_block(p);
  draw_block(p);
}

void progress_init(struct progress *p, uv_loop_t *loop, enum progress_mode mode,
                   progress_list_cb *list, void *arg)
{
  memset(p, 0, sizeof *p);
  if (mode == PROGRESS_AUTO)
    mode = isatty(STDERR_FILENO) && getenv("TERM") && strcmp(getenv("TERM"), "dumb") != 0
               ? PROGRESS_TTY : PROGRESS_PLAIN;
  p->mode = mode;
  p->list = list;
  p->arg = arg;
  if (mode == PROGRESS_TTY) {
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, on_tick, 100, 100);
    p->timer_on = 1;
  }
}

void progress_counts(struct progress *p, size_t done, size_t total)
{
  p->done = done;
  p->total = total;
}

static void vline(struct progress *p, const char *fmt, va_list ap)
{
  if (p->mode == PROGRESS_TTY)
    clear_block(p);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  fflush(stderr);
}

void progress_line(struct progress *p, const char *fmt, ...)
{
  va_list ap;
  if (p->mode == PROGRESS_QUIET)
    return;
  va_start(ap, fmt);
  vline(p, fmt, ap);
  va_end(ap);
}

void progress_error(struct progress *p, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vline(p, fmt, ap);
  va_end(ap);
}

void progress_stop(struct progress *p)
{
  if (p->mode == PROGRESS_TTY)
    clear_block(p);
  if (p->timer_on) {
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, NULL);
    p->timer_on = 0;
  }
}
