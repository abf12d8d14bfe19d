/* explain.h - why a task would rerun: the diff of its action key preimage
 * against the last one recorded for the same task name. */
#ifndef PD_EXPLAIN_H
#define PD_EXPLAIN_H

#include <cjson/cJSON.h>

struct cache;
struct graph;
struct sched;
struct strbuf;

/* One difference between two key preimages. */
struct change {
  char *what;  /* "param", "input", "source", "kind", "version", "salt", "format" */
  char *name;  /* parameter / input / source name, or "" */
  char *old;   /* JSON text of the old value, or NULL when added */
  char *now;   /* JSON text of the new value, or NULL when removed */
};

struct explanation {
  int has_last;           /* a previous key is recorded for this task */
  int same_key;           /* ... and it equals the current one */
  struct change *changes;
  size_t nchanges;
};

/* Compares preimage (of the current key) with the preimage of the last key
 * recorded for task in graph. Returns 0 or an error. */
int explain_task(struct cache *c, const char *graph_path, const char *task,
                 const char *preimage, struct explanation *ex);
void explanation_release(struct explanation *ex);

/* Writes a preimage value (canonical JSON) back in graph-language form:
 * {"$ref":"a.b"} as a.b, {"$cat":[...]} as an interpolated string,
 * {"$file":"x"} as file("x"), maps as { k = v }. */
void explain_value_source(struct strbuf *sb, const cJSON *v);

/* One-line reason a plan-mode task is stale/blocked, as `status` and
 * `--dry-run` print it (malloc'd). */
char *explain_short(struct cache *c, const struct graph *g, const struct sched *s, int task);
/* Full text for `explain` into out; JSON object into *json when non-NULL. */
void explain_long(struct cache *c, const struct graph *g, const struct sched *s, int task,
                  struct strbuf *out, cJSON **json);

#endif
