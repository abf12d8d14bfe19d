/* graph_int.h - what the files of the loader share (graph.c, graph_task.c,
 * graph_order.c, graph_names.c). Internal: everyone else uses graph.h.
 */
#ifndef PD_GRAPH_INT_H
#define PD_GRAPH_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "graph.h"
#include "lexer.h"
#include "parse.h"

struct task_kind;
struct kind_param;

/* --- name tables (graph_names.c) ---------------------------------------- */

/* Open addressing, linear probing, power-of-two capacity. Keys are
 * borrowed: they belong to the task, param or pool they name. Each slot
 * keeps the key's hash, so that a probe reads another key's text only when
 * the hashes agree (the texts are all over the arena: each read is a cache
 * miss). */
struct strmap_slot {
  const char *key; /* NULL: empty */
  uint32_t hash;
  int val;
};

struct strmap {
  struct strmap_slot *slots;
  size_t cap, n;
};

/* The value for k, or -1. */
int graph__map_get(const struct strmap *m, const char *k);
/* k must not be in m yet. */
void graph__map_put(struct strmap *m, const char *k, int v);
/* Adds k -> v unless k is there: returns -1, or the value k already has
 * (and then changes nothing). */
int graph__map_add(struct strmap *m, const char *k, int v);
/* Makes room for n keys in all, so that filling m does not rehash. */
void graph__map_reserve(struct strmap *m, size_t n);
void graph__map_free(struct strmap *m);

/* --- private state and the source registry (graph_names.c) -------------- */

struct source {
  char *display; /* interned: every srcloc.file of this file points here */
  char *abs;     /* real path */
  char *dir;     /* its folder */
  char *text;
  size_t len;
  int text_in_arena; /* else malloc'd */
};

/* graph->priv. */
struct priv {
  struct source **src;
  size_t nsrc;
  struct strmap tasks, params, pools;
  /* Every value, name and small array of the graph: it is freed whole, so
   * a value costs no malloc of its own (see eval.c). */
  struct arena arena;
  struct priv *reg_next; /* the registry of live graphs */
};

/* Adds a graph's sources to those graph_error_at can show, or removes them. */
void graph__reg_add(struct priv *pv);
void graph__reg_remove(struct priv *pv);
/* Appends s to pv->src while no graph_error_at reads the list. */
void graph__reg_add_source(struct priv *pv, struct source *s);

/* SHA-256 over the sources' bytes in order, each after its length (8 bytes,
 * little-endian): graph->digest. Sources this big are hashed on a thread
 * of their own while passes 1 to 3 run (once read, nothing writes them). */
struct digester {
  pthread_t th;
  int started;
  const struct priv *pv;
  uint8_t out[32];
};

/* Starts hashing pv's sources (all read: pass 0 is done). */
void graph__digest_start(struct digester *d, const struct priv *pv);
/* Waits for the digest and writes it to out, computing it here if no
 * thread was started. With out NULL, only waits for a thread (if any): a
 * zeroed digester was never started. */
void graph__digest_finish(struct digester *d, uint8_t out[32]);

/* "; did you mean 'x'?" or "" (written into buf). */
const char *graph__suggest(char *buf, size_t size, const char *near);

/* --- the loader --------------------------------------------------------- */

/* A kind's parameters (its own, then the common ones it does not shadow),
 * sorted by name, with their defaults parsed once per load. */
struct kind_info {
  const struct task_kind *kind;
  const struct kind_param **kps;
  struct val *defs;  /* V_NULL where required; in the graph's arena */
  char **keys;       /* the names (kps[i]->name): every task's params map
                        of this kind shares the array */
  size_t n;
  int ix_pool, ix_threads, ix_retries; /* in kps, or -1 */
};

/* Pointers to V_REF values, to resolve. */
struct refs {
  struct val **v;
  size_t n, cap;
};

struct loader {
  struct graph *g;
  struct priv *pv;
  struct pd_err *err;
  const struct override *ov;
  size_t nov;
  char *ov_used;
  struct ast **asts;        /* every parsed file, owned */
  size_t nasts;
  struct source **stack;    /* files being included, for cycles */
  size_t nstack;
  struct binding *vars;     /* loop variables, innermost last */
  size_t nvars, capvars;
  size_t captasks;
  struct kind_info *kinds;
  size_t nkinds;
  const char *kind_name;    /* the last name find_kind looked up... */
  const struct task_kind *kind; /* ...and what it found */
  int *scratch;             /* deps of one task while resolving */
  size_t nscratch, capscratch;
  struct refs refs;         /* every V_REF in task params, task by task */
  size_t *ref_first;        /* per task: its first entry in refs */
  struct refs prerefs;      /* those of the tasks graph__on_task made */
  int *deferred;            /* tasks whose references pass 2 left to pass 3 */
  size_t ndeferred, capdeferred;
  size_t ntask_stmts;       /* task statements seen in pass 1 (a size hint) */
};

/* "task 'x' is already defined at FILE:LINE:COL" at `at` (graph.c). */
int graph__already_defined(struct loader *ld, const struct srcloc *at, const char *what,
                           const char *name, const struct srcloc *first);
/* "a string", "an integer"... for messages (graph_kinds.c). */
const char *graph__a_val(enum val_kind k);

/* Kinds (graph_kinds.c). The kind's parameters, found or made: a bad
 * default is an error, unless quiet (then nothing is kept, and the next
 * call tries again). */
int graph__kind_info_get(struct loader *ld, const struct task_kind *k, struct kind_info **out,
                         int quiet);
/* Index of parameter name in ki, or -1. */
int graph__kind_info_find(const struct kind_info *ki, const char *name);
void graph__kinds_free(struct loader *ld);
/* registry_find, remembering the last name looked up: the parser hands
 * out one pointer for a kind name that repeats. */
const struct task_kind *graph__find_kind(struct loader *ld, const char *name);
/* "unknown task kind 'x'" at s, "unknown parameter 'x' for task kind 'y'"
 * at a, each with its did-you-mean. */
int graph__unknown_kind(struct loader *ld, const struct stmt *s);
int graph__unknown_attr(struct loader *ld, const struct kind_info *ki, const struct attr *a);

/* Pass 2 (graph_task.c): evaluates the task statements of a, following
 * includes, and frees a's tree as it goes. */
int graph__eval_file(struct loader *ld, struct ast *a);
/* The parser's on_task callback: a task whose attributes are all constant
 * gets its params evaluated while the tree is still in the cache (s->pre),
 * and the parser drops the tree. Reports nothing: a task it cannot do, or
 * would fail, is left to pass 2. */
int graph__on_task(void *arg, struct stmt *s);
/* A context for evaluating in a (its folder is a->dir). */
void graph__eval_init(struct loader *ld, struct eval_ctx *cx, enum eval_mode mode,
                      const struct ast *a);

/* Pass 3 (graph_order.c): references to task indices, deps and rdeps, then
 * the topological order (or the cycle). */
int graph__build_edges(struct loader *ld);
/* Resolves task i's references (refs from ref_first[i] on) and sets
 * its deps, if every task they name is defined already: most are, and
 * their names and outputs are still in the cache. Otherwise leaves it to
 * graph__build_edges, which reports what is wrong in order. */
void graph__resolve_early(struct loader *ld, size_t i);
int graph__order(struct loader *ld);

#endif
