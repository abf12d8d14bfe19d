/* train_ckpt.h - training checkpoints in the cache's per-item memo, shared
 * by the training kinds (train_dpo; train_sft keeps its own format).
 *
 * A run's identity is a byte string: a tag naming the kind and format, every
 * parameter of the kind that affects training (canonical JSON, in the
 * table's order, minus those named in skip), and the digest and size of
 * every input file that matters. Its checkpoint at step s is stored under
 * SHA-256(identity || "step s"); "latest" (SHA-256(identity || "latest"))
 * names the last step stored, written only once that checkpoint is
 * committed, so a kill at any point leaves a consistent pair.
 *
 * A checkpoint holds the step, the data order (permutation, position in it,
 * RNG state), up to TRAIN_CKPT_SUMS running sums of the kind's own, the
 * model's parameters and AdamW moments, and the log lines written so far.
 * Restoring it and training on ends with the same bytes as a run that was
 * never interrupted.
 */
#ifndef PD_TRAIN_CKPT_H
#define PD_TRAIN_CKPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cache;
struct llava;
struct pd_err;
struct strbuf;
struct task;
struct kind_param;

#define TRAIN_CKPT_SUMS 8

struct train_ckpt {
  int step;           /* steps done */
  uint64_t rng;
  size_t pos, n;      /* position in perm, its length */
  size_t *perm;       /* n entries, the caller's */
  double sums[TRAIN_CKPT_SUMS];
  struct strbuf *tsv; /* the log so far, the caller's */
};

/* Builds the identity into id: tag, the parameters of table params that t
 * sets (all but the names in skip, a NULL-terminated list) and the digests of
 * the nfiles files. Returns 0 or an error naming a file it cannot read. */
int train_ckpt_ident(struct strbuf *id, const char *tag, const struct task *t,
                     const struct kind_param *params, const char *const *skip,
                     const char *const *files, size_t nfiles, struct pd_err *err);

/* Stores m and st as the checkpoint of step st->step, then points "latest" at
 * it. */
int train_ckpt_save(struct cache *c, const struct strbuf *id, const struct llava *m,
                    const struct train_ckpt *st, struct pd_err *err);

/* Restores the latest checkpoint before step `steps` into m and st (st->n and
 * st->perm set by the caller: a checkpoint of another length does not fit).
 * Returns 1 when restored, 0 when there is none or it does not fit (m and st
 * untouched, a line on log says why), <0 on a cache error. */
int train_ckpt_load(struct cache *c, const struct strbuf *id, int steps, struct llava *m,
                    struct train_ckpt *st, FILE *log, struct pd_err *err);

#endif
