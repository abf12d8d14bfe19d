/* key.h - action keys: SHA-256 over a canonical encoding of what determines
 * a task's outputs (DESIGN.md, "Cache model"). */
#ifndef PD_KEY_H
#define PD_KEY_H

#include <stdint.h>

#include "digest.h"

struct cache;
struct graph;
struct task;
struct strbuf;
struct pd_err;

/* Bump when the encoding below changes: every key changes with it. */
#define PD_KEY_VERSION 1

/* Digest of output `output` of task `node`, or NULL when not known yet (the
 * upstream task has not run or is stale). The pointer is borrowed. */
typedef const uint8_t *key_input_cb(void *arg, int node, const char *output);

/* Builds the preimage of t's action key into preimage (reset first) and its
 * SHA-256 into key:
 *   {"v":1,"salt":S,"kind":K,"version":N,"params":{...},"inputs":{"t.o":hex},"sources":{"rel":hex}}
 * params in canonical JSON without scheduling-only ones (KP_NOKEY), inputs
 * the digests of every referenced artifact by name, sources the digests of
 * file()/dir() inputs by their path relative to the graph. S is "povid-dag"
 * or $POVID_CACHE_SALT.
 * Returns 0, 1 when an input digest is not known yet (key not computable),
 * or <0 with err set when a source cannot be read. */
int key_compute(struct cache *c, const struct task *t, key_input_cb *cb, void *arg,
                struct strbuf *preimage, uint8_t key[PD_DIGEST_LEN],
                struct pd_err *err);

#endif
