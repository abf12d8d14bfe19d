/* train_util.h - pieces shared by the training tasks (see train_util.c). */
#ifndef PD_TRAIN_UTIL_H
#define PD_TRAIN_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct pd_err;
struct task;

/* The whole file as a NUL-terminated string (malloc'd), or NULL with err set. */
char *train_read_text(const char *path, struct pd_err *err);
/* splitmix64: the next value of a seeded 64-bit stream. */
uint64_t train_rng_next(uint64_t *s);
/* perm = a seeded Fisher-Yates shuffle of 0..n-1. */
void train_shuffle(size_t *perm, size_t n, uint64_t *rng);
/* Monotonic seconds. */
double train_now(void);
/* Linear warmup over steps [0, warmup), then cosine from lr to lr_min. */
float train_lr_at(int s, int steps, int warmup, float lr, float lr_min);
/* An integer / numeric parameter of t (as the kind's table guarantees). */
int train_iparam(const struct task *t, const char *name);
float train_fparam(const struct task *t, const char *name);

struct llava;
/* Global L2 norm of the trainable gradients (the vision tower's left out
 * when frozen); scales them down to clip when above it (clip > 0). */
float train_clip_grads(struct llava *m, float clip);

#endif
