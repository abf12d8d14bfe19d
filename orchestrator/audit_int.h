/* audit_int.h - what audit.c (integrity, provenance, the report) and
 * audit_reexec.c (re-execution) share. */
#ifndef PD_AUDIT_INT_H
#define PD_AUDIT_INT_H

#include <stdint.h>

#include "audit.h"
#include "digest_map.h"
#include "run_rec.h"

struct audit_task {
  const struct run_task *rt;
  int selected;                 /* reported (every task, or a --task) */
  cJSON *j;                     /* its object in the report (borrowed from it) */
  cJSON *problems;              /* its "problems" array */
  char *preimage;               /* the stored preimage of its key, or NULL */
  int bad_integrity, bad_provenance, bad_reexec;
};

struct audit {
  struct cache *c;
  const struct audit_opts *o;
  struct run_rec rec;
  struct audit_task *t;         /* rec.ntasks entries, in record order */
  cJSON *report;
  struct digest_map checked;    /* blob digest -> -1 intact, k > 0: msgs[k - 1] */
  char **msgs;
  size_t nmsgs;
  int interrupted;
};

/* Adds a problem to task t's report: check is "integrity", "provenance"
 * or "reexecute". */
void audit__problem(struct audit *a, struct audit_task *t, const char *check,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A note on the whole report. */
void audit__note(struct audit *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Re-executes the selected tasks (audit_reexec.c). 0 or an error that
 * stopped the audit. */
int audit__reexecute(struct audit *a, struct pd_err *err);

#endif
