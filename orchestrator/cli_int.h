/* cli_int.h - what the command files share (cli.c parses options and
 * dispatches; cmd_run.c: run, status, explain, show; cmd_info.c: graph,
 * tasks, log, cache). */
#ifndef PD_CLI_INT_H
#define PD_CLI_INT_H

#include <stddef.h>
#include <stdint.h>

#include "progress.h"

struct cache;
struct graph;
struct sched;
struct sched_opts;

struct opts {
  const char *cmd;
  char **pos;                /* positional arguments */
  size_t npos;
  struct override *sets;
  size_t nsets;
  const char *cache;
  int jobs, gpus, keep_going, dry_run, json, cat, help, verbose;
  enum progress_mode progress;
  const char *format;
  long keep;
  uint64_t max_size;
  int reexecute, unpin;      /* audit --reexecute, pin --unpin */
  const char **tasks;        /* audit --task T, repeatable */
  size_t ntasks;
  const char *out;           /* audit --out DIR */
  int argc;
  char **argv;
};

/* Prints "povid-dag: error: ..." and a pointer to --help; returns 2. */
int cli__usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *cli__cache_dir_for(const struct opts *o, const char *graph_dir);
/* Loads the graph named by the first positional argument; prints the
 * diagnostic and returns the exit code on failure, else 0. */
int cli__load_graph(const struct opts *o, struct graph *g);
int cli__open_cache(const struct opts *o, const char *graph_dir, struct cache **c);
int cli__resolve_targets(const struct opts *o, const struct graph *g, size_t first, int **targets,
                         size_t *n);
void cli__fill_sched_opts(const struct opts *o, struct sched_opts *so, const int *targets,
                          size_t ntargets, int plan);
/* The scheduler in plan mode over the targets from positional argument first on. */
int cli__plan(const struct opts *o, struct graph *g, struct cache *c, size_t first,
              struct sched **s);

int cli__run(struct opts *o);
int cli__status(struct opts *o);
int cli__explain(struct opts *o);
int cli__show(struct opts *o);
int cli__graph(struct opts *o);
int cli__tasks(struct opts *o);
int cli__log(struct opts *o);
int cli__cache(struct opts *o);
/* cmd_audit.c */
int cli__audit(struct opts *o);
int cli__why(struct opts *o);
int cli__pin(struct opts *o);
int cli__export(struct opts *o);
int cli__import(struct opts *o);

#endif
