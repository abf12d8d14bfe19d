/* audit.h - `povid-dag audit RUN`: what produced every artifact of a run,
 * whether the stored bytes are intact, and whether doing it again gives
 * the same bits.
 *
 * Three checks per task of the run record:
 *   integrity   every output (each blob below a tree too) and log is present
 *               and re-hashes to its digest; the cache is only read, so
 *               damage is reported, never repaired away;
 *   provenance  the action key's stored preimage (hashing to the key: kind,
 *               implementation version, parameters, input digests, source
 *               digests) and the action record exist and agree with the run;
 *               inputs are traced to the upstream task of the run that made
 *               them; the run's environment and seeds head the report;
 *   re-execution (optional) the graph recorded in the run is loaded with the
 *               run's overrides, each task's key is recomputed from the run's
 *               input digests, and where it matches the recorded key the
 *               closure is run again in a scratch cache and every output
 *               digest compared. A key that differs (a source or parameter
 *               changed since) is reported as such, never compared.
 * The result is a JSON report (cJSON), rendered as a text table or as
 * Markdown. Left out: kind-defined tolerances for nondeterministic kinds
 * (they are compared by digest, and the report says so), replaying API
 * calls from the item memo (no API kind exists yet), sources' bytes (not
 * stored in the cache: re-execution needs them unchanged).
 */
#ifndef PD_AUDIT_H
#define PD_AUDIT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "scheduler.h"

struct cache;
struct pd_err;
struct strbuf;

struct audit_opts {
  const char *run_id;
  const char *const *tasks;     /* --task names; ntasks == 0: every task of the run */
  size_t ntasks;
  int reexecute;
  /* For re-execution: jobs, gpus, progress, verbose, argc/argv. Targets,
   * overrides, plan and keep_going are set by the audit. */
  struct sched_opts sched;
};

/* Audits run o->run_id in c. Returns 0 with *report (caller deletes; its
 * "ok" is true when everything checked out, "interrupted" true when a
 * re-execution was stopped by SIGINT), PD_ENOTFOUND for an unknown run,
 * PD_EUSAGE for a --task the run does not have (message names it and a
 * near name), or another error that stopped the audit. */
int audit_run(struct cache *c, const struct audit_opts *o, cJSON **report,
              struct pd_err *err);

/* The report as a text table (problems and notes below it); verbose adds
 * each task's provenance. */
void audit_text(const cJSON *report, int verbose, struct strbuf *out);
/* The report as Markdown, with each task's provenance in full. */
void audit_markdown(const cJSON *report, struct strbuf *out);

/* Parameters of a key preimage ("params" object) that are required or
 * differ from kind's defaults: a new object, caller deletes. Every
 * parameter when kind is unknown. */
cJSON *audit_changed_params(const char *kind, const cJSON *params);
/* Parameters named seed, or *_seed / seed_*: a new object (caller deletes). */
cJSON *audit_seeds(const cJSON *params);

#endif
