/* progress.h - what a run shows while it works.
 *
 * On a terminal: permanent event lines scroll above a live block that shows
 * [done/total] and each running task with its elapsed time and, for builtin
 * kinds, its own progress; redrawn 10 times a second. Elsewhere (or with
 * --progress=plain): the event lines only. */
#ifndef PD_PROGRESS_H
#define PD_PROGRESS_H

#include <stddef.h>
#include <uv.h>

enum progress_mode {
  PROGRESS_AUTO,  /* tty when stderr is a terminal, else plain */
  PROGRESS_TTY,
  PROGRESS_PLAIN,
  PROGRESS_QUIET  /* errors only */
};

struct progress_item {
  const char *name;
  double start;     /* uv_hrtime-based seconds */
  double frac;      /* 0..1, or < 0 when unknown */
  const char *msg;  /* may be NULL */
};

/* Fills up to max items describing the running tasks; returns how many. */
typedef size_t progress_list_cb(void *arg, struct progress_item *items, size_t max);

struct progress {
  enum progress_mode mode; /* resolved: never AUTO */
  uv_timer_t timer;
  int timer_on;
  size_t drawn;            /* lines of the live block now on screen */
  size_t done, total;
  progress_list_cb *list;
  void *arg;
};

void progress_init(struct progress *p, uv_loop_t *loop, enum progress_mode mode,
                   progress_list_cb *list, void *arg);
void progress_counts(struct progress *p, size_t done, size_t total);
/* A line that stays (task finished, failed...), to stderr. */
void progress_line(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like progress_line, shown in every mode but QUIET's... and in QUIET too. */
void progress_error(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears the live block and closes the timer (the loop can then end). */
void progress_stop(struct progress *p);
double progress_now(void);

#endif
