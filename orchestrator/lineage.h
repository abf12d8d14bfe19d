/* lineage.h - `povid-dag why FILE TASK.OUTPUT`: the chain of tasks,
 * parameters, inputs and sources behind a cached artifact.
 *
 * The walk follows the graph's dependencies from the artifact's task up to
 * the sources; what each task saw comes from its action key's stored
 * preimage (the same record `explain` diffs), so it is what produced the
 * cached bytes, not a re-reading of the graph. Item-level lineage (one
 * preference pair, one generated answer) needs per-item records that the
 * POVID task kinds will write; until then it is reported as unavailable.
 */
#ifndef PD_LINEAGE_H
#define PD_LINEAGE_H

#include <cjson/cJSON.h>

struct cache;
struct graph;
struct sched;
struct strbuf;

/* Builds the lineage of output `output` of task `task`, which must be
 * cached in s (a plan-mode scheduler over g and c). Returns a new object
 * (caller deletes): {"artifact","digest","size","tree","graph","tasks":[...]}
 * with tasks in breadth-first order from the artifact's task. */
cJSON *lineage_build(struct cache *c, const struct graph *g, const struct sched *s, int task,
                     const char *output);
/* A key preimage value in graph-language form: {"$ref":"a.b"} as a.b,
 * {"$cat":[...]} as an interpolated string, {"$file":"x"} as file("x"). */
void lineage_value_text(struct strbuf *sb, const cJSON *v);
/* Text form of a lineage object. */
void lineage_text(const cJSON *l, struct strbuf *out);
/* Text form of one task: an object with name, kind, version, key and,
 * when present, produced, preimage, changed_params, inputs, sources,
 * outputs (the fields of a lineage task; audits build the same). */
void lineage_task_text(const cJSON *t, struct strbuf *out);

#endif
