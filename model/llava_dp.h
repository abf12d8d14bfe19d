/* llava_dp.h - data parallelism for the model on the CPU: a batch cut into a
 * fixed number of shards, each run (forward and backward) by its own model
 * replica on up to `threads` threads, their gradients summed in shard order.
 *
 * Determinism: the bits depend on the number of shards, never on the number
 * of threads. Each shard is a fixed slice of rows computed by one thread
 * from start to end (OpenBLAS at one thread), and the master's gradient is
 * g_before + g_0 + g_1 + ... in that order, whoever finished first. So a
 * task's `threads` can follow the cpu slots it holds while its outputs stay
 * bit-identical; `shards` is a training parameter (in the action key).
 * shards = 1 is exactly llava_forward + llava_backward on the master.
 *
 * The loss stays the per-example mean over the whole batch (llava.h): each
 * shard divides by the batch's B (llava.loss_batch), not its own, so the
 * summed gradient is the batch gradient, not a mean of shard means.
 *
 * Shard 0 is the master model itself; shards 1.. are replicas sharing its
 * parameters (llava_replica). Update the master only, between steps.
 */
#ifndef PD_LLAVA_DP_H
#define PD_LLAVA_DP_H

#include "llava.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LLAVA_DP_MAX_SHARDS 64

struct llava_dp {
  struct llava *m;           /* the master: shard 0, parameters, AdamW state */
  struct llava *rep;         /* shards - 1 replicas: shards 1 .. shards - 1 */
  int shards;                /* asked for; a batch of B < shards rows uses B */
  int threads;
  int used;                  /* shards of the last forward */
  int B, T;                  /* of the last forward */
  int row[LLAVA_DP_MAX_SHARDS + 1]; /* shard s holds batch rows [row[s], row[s+1]) */
};

/* shards in [1, LLAVA_DP_MAX_SHARDS], threads >= 1 (more threads than
 * shards are not used). m must outlive dp. */
void llava_dp_init(struct llava_dp *dp, struct llava *m, int shards, int threads);
void llava_dp_free(struct llava_dp *dp);

/* The shards' forwards (llava_forward's arguments, for the whole batch).
 * Shard s gets rows [B*s/n, B*(s+1)/n). Returns the batch's loss (-1
 * without targets): the sum of the shards' losses, each over the batch's B. */
float llava_dp_forward(struct llava_dp *dp, const float *images, const int *tokens,
                       const int *targets, const float *weights, int B, int T);

/* llava_backward of every shard of the last forward, then the replicas'
 * gradients added into the master's (+=, in shard order). */
void llava_dp_backward(struct llava_dp *dp);
/* Same from a caller's dLoss/dnll for the whole batch in the TEXT layout
 * (B, T), as llava_backward_dlosses (NULL: llava_dp_backward). */
void llava_dp_backward_dlosses(struct llava_dp *dp, const float *dlosses);

/* The model that ran batch row b in the last forward, and b's row in it. */
struct llava *llava_dp_row(struct llava_dp *dp, int b, int *local);

#ifdef __cplusplus
}
#endif

#endif
