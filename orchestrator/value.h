/* value.h - evaluated values of the graph language.
 *
 * The front end (lexer.c, parse.c, graph.c) turns source text into these;
 * the scheduler renders them into argv/env and encodes them canonically for
 * action keys. References to other tasks' outputs, source files and the
 * task's own output directory stay symbolic until a task runs.
 */
#ifndef PD_VALUE_H
#define PD_VALUE_H

#include <stddef.h>
#include <stdint.h>

struct strbuf;

enum val_kind {
  V_NULL,   /* absent (only as "no default") */
  V_BOOL,   /* u.b */
  V_INT,    /* u.i */
  V_FLOAT,  /* u.f */
  V_STR,    /* u.str: plain text, interpolation already done */
  V_LIST,   /* u.list */
  V_MAP,    /* u.map, keys unique, kept sorted by strcmp */
  V_REF,    /* u.ref: TASK.OUTPUT, an edge of the DAG */
  V_FILE,   /* u.src: file("path"), a source input hashed by content */
  V_DIR,    /* u.src: dir("path"), a source tree hashed by content */
  V_OUT,    /* ${out}: the running task's fresh output directory */
  V_CONCAT  /* u.list: a string with references/${out} inside, parts in order */
};

/* A place in a graph source file. file is interned by the graph (valid as
 * long as the graph); line and col count from 1. */
struct srcloc {
  const char *file;
  int line;
  int col;
};

struct val {
  enum val_kind kind;
  struct srcloc loc;
  union {
    int b;
    int64_t i;
    double f;
    struct { char *s; size_t n; } str;
    struct { struct val *v; size_t n; } list;
    struct { char **k; struct val *v; size_t n; } map;
    struct { char *task; char *output; int node; } ref; /* node: index in graph->tasks, -1 until resolved */
    struct { char *path; char *rel; } src; /* path: absolute; rel: as written, relative to the graph file's folder */
  } u;
};

void val_release(struct val *v);          /* frees contents, leaves V_NULL */
void val_copy(struct val *dst, const struct val *src); /* deep copy */
int val_equal(const struct val *a, const struct val *b);

/* Map helpers: val_map_get returns a borrowed pointer or NULL. */
const struct val *val_map_get(const struct val *map, const char *key);

/* Canonical JSON used in action keys (deterministic, sorted map keys, no
 * whitespace): ints as integers, floats with %.17g (always with '.' or 'e'),
 * V_REF as {"$ref":"task.output"}, V_FILE as {"$file":"rel"}, V_DIR as
 * {"$dir":"rel"}, V_OUT as {"$out":true}, V_CONCAT as {"$cat":[parts]}. */
void val_to_json(const struct val *v, struct strbuf *out);

/* Human-readable form in graph-language syntax (for `tasks`, `status`,
 * diagnostics): "text", 3, 0.5, [1, 2], { a = 1 }, subset.train, file("x"). */
void val_to_source(const struct val *v, struct strbuf *out);

/* Type name for diagnostics: "string", "integer", "float", "bool", "list",
 * "map", "reference", "file", "dir". */
const char *val_kind_name(enum val_kind k);

#endif
