/* graph.h - the resolved graph: tasks with typed parameters and edges.
 *
 * graph_load() runs the whole front end: lexing, parsing, includes, params
 * with --set overrides, pools, `for` expansion, validation of every task
 * against its kind, reference resolution and cycle detection. The graph owns
 * every task, value and string in it; everything else borrows.
 */
#ifndef PD_GRAPH_H
#define PD_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "value.h"

struct task_kind;
struct pd_err;

/* One named output of a task. For exec, path is the declared path under
 * ${out} ("index.json", "images/"); for builtin kinds it is the output name. */
struct task_output {
  char *name;
  char *path;
};

struct task {
  char *name;
  const struct task_kind *kind;
  struct srcloc loc;        /* where `task NAME = KIND` stands */
  struct val params;        /* V_MAP: every parameter of the kind (and the
                               common ones), defaults filled, sorted by name */
  struct task_output *outputs;
  size_t noutputs;
  int *deps;                /* indices of tasks this one references, unique, sorted */
  size_t ndeps;
  int *rdeps;               /* indices of tasks that reference this one, unique, sorted */
  size_t nrdeps;
  /* Convenience copies of common parameters. */
  const char *pool;         /* "cpu" by default; borrowed from params */
  int threads;              /* cpu slots the task takes (default 1) */
  int retries;              /* extra attempts after a failure (exec) */
};

struct param_decl {
  char *name;
  struct val value;   /* after --set */
  int overridden;     /* 1 if --set changed it */
  struct srcloc loc;
};

struct pool_decl {
  char *name;
  int size;
  struct srcloc loc;
};

/* --set NAME=VALUE as given on the command line. */
struct override {
  const char *name;
  const char *value; /* text, parsed as a literal of the param's default type */
};

struct graph {
  char *path;                 /* absolute path of the top graph file */
  char *dir;                  /* its folder (absolute) */
  struct task *tasks;         /* in declaration order, `for` families expanded in place */
  size_t ntasks;
  int *topo;                  /* task indices, dependencies first */
  struct param_decl *params;
  size_t nparams;
  struct pool_decl *pools;
  size_t npools;
  char **sources;             /* absolute paths of every graph file read (top first, then includes) */
  size_t nsources;
  uint8_t digest[32];         /* SHA-256 over the sources' bytes in order (run records) */
  void *priv;                 /* name index, interned strings: graph.c's business */
};

/* Loads and validates the graph at path. On error returns a negative code
 * (PD_EPARSE, PD_EGRAPH, PD_ECYCLE, -errno) with err->msg holding the full
 * diagnostic: "file:line:col: error: MESSAGE\n  <source line>\n  <caret>"
 * (plus a "did you mean 'x'?" where a near name exists); g is then released.
 * overrides may be NULL when noverrides is 0. */
int graph_load(struct graph *g, const char *path, const struct override *overrides,
               size_t noverrides, struct pd_err *err);
void graph_release(struct graph *g);

/* Index of the task named name, or -1. O(1). */
int graph_find_task(const struct graph *g, const char *name);
/* Index of output name in t->outputs, or -1. */
int task_find_output(const struct task *t, const char *name);
/* Borrowed parameter value, or NULL. */
const struct val *task_param(const struct task *t, const char *name);

/* Formats a diagnostic at loc into err (code PD_EGRAPH unless code is given),
 * with the source line and a caret, as graph_load does. For kinds' check()
 * callbacks. Returns code. */
int graph_error_at(struct pd_err *err, int code, const struct srcloc *loc,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Closest candidate to name by edit distance (for "did you mean"), or NULL
 * when nothing is close enough. */
const char *closest_name(const char *name, const char *const *cands, size_t n);

#endif
