/* record.h - writing run records (JSON), shared by the scheduler and the
 * no-op fast path (snapshot.c), so both write the same format. */
#ifndef PD_RECORD_H
#define PD_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct strbuf;
struct override;
struct action_result;
struct graph;

struct record_head {
  const char *run_id, *graph, *status;
  const uint8_t *graph_digest;
  double started, ended;
  size_t tasks, executed, cached, failed, skipped;
  int argc;
  char **argv;
  const char *params_json;           /* the graph's params as a JSON object */
  const struct override *overrides;
  size_t noverrides;
  const char *const *sources;        /* graph files read */
  size_t nsources;
  int jobs, gpus;
  int snapshot;                      /* confirmed a no-op by snapshot.c, graph not evaluated */
};

struct record_task {
  const char *name, *kind, *state;
  int version;
  const uint8_t *key;                /* NULL when not computed */
  const struct action_result *res;   /* outputs and log, or NULL */
  const uint8_t *log;                /* log of a failed attempt when res is NULL, or NULL */
  int timed;                         /* start/duration/attempts are meaningful */
  double start, duration;
  int attempts;
  const char *error;                 /* or NULL */
};

/* Writes the record's head, up to and including "tasks":[ */
void record_begin(struct strbuf *sb, const struct record_head *h);
void record_task(struct strbuf *sb, const struct record_task *t, int first);
void record_end(struct strbuf *sb);
/* The graph's params as a JSON object (for record_head.params_json). */
void record_params_json(struct strbuf *sb, const struct graph *g);

#endif
