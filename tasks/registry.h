/* registry.h - the task-kind registry.
 *
 * Each kind declares its typed parameters (type, default, range, doc) and its
 * outputs. The front end validates every task against its kind; `povid-dag
 * tasks [KIND]` prints these tables. Adding a kind = one file in tasks/ plus
 * one line in registry.c.
 */
#ifndef PD_REGISTRY_H
#define PD_REGISTRY_H

#include <stddef.h>

struct task;
struct graph;
struct pd_err;
struct strbuf;
struct task_run;

enum ptype {
  PT_BOOL,
  PT_INT,      /* range [min, max] checked when min <= max */
  PT_FLOAT,    /* ints are accepted and widened; range as for PT_INT */
  PT_STRING,   /* choices: "a|b|c" restricts the values when set */
  PT_LIST,     /* any list */
  PT_MAP,      /* any map */
  PT_ARTIFACT, /* a reference TASK.OUTPUT, file("...") or dir("...") */
  PT_ANY       /* anything; the kind's check() looks closer */
};

enum kind_param_flags {
  KP_NOKEY = 1 << 0 /* scheduling only (pool, retries...): not in the action key */
};

struct kind_param {
  const char *name;
  enum ptype type;
  const char *def;     /* default in graph-language syntax ("1", "\"cpu\"", "[]"); NULL = required */
  double min, max;     /* range for PT_INT / PT_FLOAT when min <= max */
  const char *choices; /* for PT_STRING: "a|b|c", or NULL */
  unsigned flags;      /* enum kind_param_flags */
  const char *doc;
};

struct kind_output {
  const char *name;
  const char *doc;
};

enum kind_flags {
  KIND_PROCESS = 1 << 0,         /* runs as a child process (exec) */
  KIND_NONDETERMINISTIC = 1 << 1 /* outputs may differ between runs (audits compare by tolerance) */
};

struct task_kind {
  const char *name;
  int version; /* bump when the implementation's outputs change: it is part of every key */
  const char *doc;
  const struct kind_param *params; /* terminated by { NULL } */
  const struct kind_output *outputs; /* terminated by { NULL }; exec's come from its params */
  unsigned flags;
  /* Kind-specific validation after the generic checks, called by the front
   * end with all parameters resolved (defaults filled). May fill
   * t->outputs (exec does). Returns 0 or an error with err set at the
   * offending value's location. NULL = nothing more to check. */
  int (*check)(struct graph *g, struct task *t, struct pd_err *err);
  /* Builtin compute kinds: runs on a worker thread. NULL for KIND_PROCESS. */
  int (*run)(struct task_run *r);
  /* The kind's tolerance for `audit --reexecute`: called for an output whose
   * digest differs between the run and its re-execution, with both as
   * read-only paths. Returns 1 when they agree within what the kind defines
   * (run statistics set aside, a numeric tolerance), 0 when they differ; in
   * both cases *detail (malloc'd) says what was compared. NULL: outputs must
   * match bit for bit. */
  int (*audit_compare)(const struct task *t, const char *output, const char *run_path,
                       const char *now_path, char **detail);
  /* What executing the task would involve beyond running it (API answers
   * to request against those the per-item memo already holds...), for
   * `run --dry-run`, which appends it to the task's line. Called on the
   * main thread, only for a task that would run and whose inputs all exist
   * (its dependencies are cached). r has task, cache and resolve set, so
   * task_run_input() works; outdir and log are NULL: nothing may be
   * written, sent, logged or reported as progress. Appends one line (no
   * newline) to out, or nothing. Returns 0, or an error with r->err set
   * (the listing then says it could not count). NULL = no note. */
  int (*dry_run)(struct task_run *r, struct strbuf *out);
};

/* Parameters every kind has (pool, threads, retries), terminated by { NULL }. */
extern const struct kind_param registry_common_params[];

/* Returns the kind named name, or NULL. */
const struct task_kind *registry_find(const char *name);
/* All kinds, sorted by name; *n receives the count. */
const struct task_kind *const *registry_all(size_t *n);
/* Finds a parameter of kind k (or a common one), or NULL. */
const struct kind_param *registry_param(const struct task_kind *k, const char *name);

const char *ptype_name(enum ptype t);

#endif
