/* distort.c - forward diffusion noise on the CPU (see distort.h): the beta
 * schedules, the fast kernel, its naive reference and a threaded driver.
 *
 * The fast kernel works on batches of BATCH blocks (4 values each) of one
 * image and draw, in passes that GCC vectorises (-O3; check with
 * -fopt-info-vec): Philox on BATCH counters at once (structure of arrays,
 * the round keys hoisted), Box-Muller on 2 * BATCH word pairs (gauss.h:
 * branch-free, so the loop vectorises), the words back in value order, then
 * x_k = sa * x_0 + sb * eps. Every float operation is the one
 * distort_value() and the CUDA kernel perform, in the same order, so the
 * results are the same bits whatever the vector width. The file is built
 * with -fno-math-errno (kernels/CMakeLists.txt): sqrtf would otherwise
 * keep a branch to set errno and the Box-Muller loop would not vectorise.
 *
 * On x86-64 the kernel is compiled three times (baseline SSE2, AVX2,
 * AVX-512) and picked at run time; measured on a 2-core AMD EPYC with
 * AVX-512: 97k, 128k and 292k images of 32x32x3 per second per core.
 *
 * Left out: intrinsics (an AVX2 Philox with explicit even/odd 32-bit
 * multiplies runs 2x faster than what GCC makes of the C), non-temporal
 * stores.
 */
#include "distort.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define BATCH 64    /* blocks of 4 values per pass: 256 values, 4 KiB of scratch */
#define CHUNK 16    /* images per unit of work for the threads */

/* --- schedules ------------------------------------------------------------- */

void distort_schedule(enum distort_schedule s, double *beta, double *abar)
{
  double prod = 1.0, b;
  int t;
  for (t = 0; t < DISTORT_T; t++) {
    double x = (double)t / (double)(DISTORT_T - 1); /* linspace(0, 1, T)[t] */
    if (s == DISTORT_LINEAR)
      b = 1e-4 + (0.02 - 1e-4) * x;
    else
      b = 1.0 / (1.0 + exp(-(-6.0 + 12.0 * x))) * (5e-3 - 1e-5) + 1e-5;
    prod *= 1.0 - b;
    if (beta)
      beta[t] = b;
    if (abar)
      abar[t] = prod;
  }
}

void distort_coef_at(struct distort_coef *c, enum distort_schedule s, int k)
{
  double abar[DISTORT_T];
  ASSERT(k >= 0 && k < DISTORT_T);
  distort_schedule(s, NULL, abar);
  c->sa = (float)sqrt(abar[k]);
  c->sb = (float)sqrt(1.0 - abar[k]);
}

/* --- fast kernel ----------------------------------------------------------- */

/* Pass 1, Philox4x32-10 (philox.h) on the counters (b0 + j, d, idlo, idhi),
 * j < BATCH, with the round keys hoisted. Two formulations of the same
 * integer arithmetic: 32-bit lanes (GCC widens each product to 64 bits and
 * narrows back), and 64-bit lanes holding 32-bit values (one 64-bit vector
 * multiply per product: faster where those are cheap, as with AVX-512). */
static inline __attribute__((always_inline)) void
philox_batch(uint32_t *wu, uint32_t *wv, /* (2*BATCH) (2*BATCH) */
             const uint32_t kk0[10], const uint32_t kk1[10], uint32_t d, uint64_t id,
             uint32_t b0, int wide)
{
  uint32_t idlo = (uint32_t)id, idhi = (uint32_t)(id >> 32);
  int j, r;
  if (wide) {
    const uint64_t lo = 0xffffffffu;
    for (j = 0; j < BATCH; j++) {
      uint64_t c0 = b0 + (uint32_t)j, c1 = d, c2 = idlo, c3 = idhi;
      for (r = 0; r < 10; r++) {
        uint64_t p0 = (c0 & lo) * PHILOX_M0, p1 = (c2 & lo) * PHILOX_M1;
        c0 = (p1 >> 32) ^ c1 ^ kk0[r];
        c1 = p1 & lo;
        c2 = (p0 >> 32) ^ c3 ^ kk1[r];
        c3 = p0 & lo;
      }
      wu[j] = (uint32_t)c0; /* pair (w0, w1) -> values 4j, 4j + 1 */
      wv[j] = (uint32_t)c1;
      wu[BATCH + j] = (uint32_t)c2; /* pair (w2, w3) -> values 4j + 2, 4j + 3 */
      wv[BATCH + j] = (uint32_t)c3;
    }
    return;
  }
  for (j = 0; j < BATCH; j++) {
    uint32_t c0 = b0 + (uint32_t)j, c1 = d, c2 = idlo, c3 = idhi;
    for (r = 0; r < 10; r++) {
      uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
      c0 = (uint32_t)(p1 >> 32) ^ c1 ^ kk0[r];
      c1 = (uint32_t)p1;
      c2 = (uint32_t)(p0 >> 32) ^ c3 ^ kk1[r];
      c3 = (uint32_t)p0;
    }
    wu[j] = c0;
    wv[j] = c1;
    wu[BATCH + j] = c2;
    wv[BATCH + j] = c3;
  }
}

/* eps[0 .. 4 * BATCH) = the noise of blocks b0 .. b0 + BATCH of (key, d, id). */
static inline __attribute__((always_inline)) void
noise_batch(float *eps,                                     /* (4*BATCH) */
            const uint32_t kk0[10], const uint32_t kk1[10], /* round keys */
            uint32_t d, uint64_t id, uint32_t b0, int wide)
{
  uint32_t wu[2 * BATCH], wv[2 * BATCH];
  float zc[2 * BATCH], zs[2 * BATCH];
  int j;
  philox_batch(wu, wv, kk0, kk1, d, id, b0, wide);
  /* Pass 2: Box-Muller on each pair. */
  for (j = 0; j < 2 * BATCH; j++)
    gauss_box_muller(wu[j], wv[j], &zc[j], &zs[j]);
  /* Pass 3: back to value order. */
  for (j = 0; j < BATCH; j++) {
    eps[4 * j + 0] = zc[j];
    eps[4 * j + 1] = zs[j];
    eps[4 * j + 2] = zc[BATCH + j];
    eps[4 * j + 3] = zs[BATCH + j];
  }
}

/* Pass 4: out[0..n) = sa * inp / 255 + sb * eps, clamped when asked. */
static inline __attribute__((always_inline)) void
combine(float *out, const uint8_t *inp, const float *eps, int n, float sa, float sb, int clamp)
{
  int k;
  if (clamp) {
    for (k = 0; k < n; k++) {
      float v = sa * ((float)inp[k] / 255.0f) + sb * eps[k];
      v = v < 0.0f ? 0.0f : v;
      out[k] = v > 1.0f ? 1.0f : v;
    }
  } else {
    for (k = 0; k < n; k++)
      out[k] = sa * ((float)inp[k] / 255.0f) + sb * eps[k];
  }
}

static inline __attribute__((always_inline)) void
forward(float *out, const uint8_t *inp, const uint64_t *ids, const struct distort_coef *c, int N,
        int D, int P, int wide)
{
  uint32_t key[2], kk0[10], kk1[10];
  float eps[4 * BATCH];
  int i, d, r, v;

  distort_key(c->seed, key);
  for (r = 0; r < 10; r++) { /* Philox's key schedule, as in philox4x32_10() */
    kk0[r] = key[0] + (uint32_t)r * PHILOX_W0;
    kk1[r] = key[1] + (uint32_t)r * PHILOX_W1;
  }
  for (i = 0; i < N; i++) {
    const uint8_t *x = inp + (size_t)i * (size_t)P;
    for (d = 0; d < D; d++) {
      float *o = out + ((size_t)i * (size_t)D + (size_t)d) * (size_t)P;
      for (v = 0; v < P; v += 4 * BATCH) {
        int n = P - v < 4 * BATCH ? P - v : 4 * BATCH;
        noise_batch(eps, kk0, kk1, (uint32_t)d, ids[i], (uint32_t)(v / 4), wide);
        combine(o + v, x + v, eps, n, c->sa, c->sb, c->clamp);
      }
    }
  }
}

/* One copy of the kernel per instruction set, chosen at run time: the same
 * C compiled for the baseline, for AVX2 and for AVX-512. Every copy gives
 * the same bits (integer and correctly rounded float operations only, no
 * contraction). */
static void forward_base(float *out, const uint8_t *inp, const uint64_t *ids,
                         const struct distort_coef *c, int N, int D, int P)
{
  forward(out, inp, ids, c, N, D, P, 0);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define DISTORT_X86 1
__attribute__((target("avx2,fma,bmi2"))) static void
forward_avx2(float *out, const uint8_t *inp, const uint64_t *ids, const struct distort_coef *c,
             int N, int D, int P)
{
  forward(out, inp, ids, c, N, D, P, 0);
}

__attribute__((target("avx2,fma,bmi2,avx512f,avx512dq,avx512vl,avx512bw"))) static void
forward_avx512(float *out, const uint8_t *inp, const uint64_t *ids, const struct distort_coef *c,
               int N, int D, int P)
{
  forward(out, inp, ids, c, N, D, P, 1);
}
#endif

typedef void forward_fn(float *, const uint8_t *, const uint64_t *, const struct distort_coef *,
                        int, int, int);

static forward_fn *pick(void)
{
  const char *force = getenv("PD_DISTORT_ISA"); /* base | avx2 | avx512: for tests and benches */
#ifdef DISTORT_X86
  __builtin_cpu_init();
  if ((!force || strcmp(force, "avx512") == 0) && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
    return forward_avx512;
  if ((!force || strcmp(force, "avx512") == 0 || strcmp(force, "avx2") == 0) &&
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("bmi2"))
    return forward_avx2;
#endif
  (void)force;
  return forward_base;
}

const char *distort_isa(void)
{
  forward_fn *f = pick();
#ifdef DISTORT_X86
  if (f == forward_avx512)
    return "avx512";
  if (f == forward_avx2)
    return "avx2";
#endif
  return f == forward_base ? "base" : "?";
}

void distort_forward(float *out, const uint8_t *inp, const uint64_t *ids,
                     const struct distort_coef *c, int N, int D, int P)
{
  ASSERT(N >= 0 && D >= 1 && P >= 1);
  pick()(out, inp, ids, c, N, D, P);
}

/* --- reference ------------------------------------------------------------- */

void distort_forward_naive(float *out, const uint8_t *inp, const uint64_t *ids,
                           const struct distort_coef *c, int N, int D, int P)
{
  uint32_t key[2];
  int i, d, v;
  distort_key(c->seed, key);
  for (i = 0; i < N; i++)
    for (d = 0; d < D; d++)
      for (v = 0; v < P; v++) {
        uint32_t ctr[4] = { (uint32_t)v / 4, (uint32_t)d, (uint32_t)ids[i],
                            (uint32_t)(ids[i] >> 32) };
        uint32_t w[4];
        int pair = (v % 4) / 2;
        double u, t, eps, x;
        philox4x32_10(ctr, key, w);
        u = (double)((w[2 * pair] >> 8) + 1) / 16777216.0;
        t = (double)(w[2 * pair + 1] >> 8) / 16777216.0;
        eps = sqrt(-2.0 * log(u)) * (v % 2 == 0 ? cos(2 * M_PI * t) : sin(2 * M_PI * t));
        x = (double)c->sa * (inp[(size_t)i * (size_t)P + (size_t)v] / 255.0) + (double)c->sb * eps;
        if (c->clamp)
          x = x < 0 ? 0 : (x > 1 ? 1 : x);
        out[((size_t)i * (size_t)D + (size_t)d) * (size_t)P + (size_t)v] = (float)x;
      }
}

/* --- threads --------------------------------------------------------------- */

struct job {
  float *out;
  const uint8_t *inp;
  const uint64_t *ids;
  const struct distort_coef *c;
  int N, D, P;
  atomic_int next; /* next chunk to take */
  atomic_int stop;
  atomic_size_t done; /* images finished */
};

/* Takes chunks until none is left or stop is set. Returns after one chunk
 * when `one` is set (the caller's thread, which reports progress). */
static int work(struct job *j, int one)
{
  int nchunk = (j->N + CHUNK - 1) / CHUNK, k;
  while (!atomic_load(&j->stop) && (k = atomic_fetch_add(&j->next, 1)) < nchunk) {
    int i0 = k * CHUNK, n = j->N - i0 < CHUNK ? j->N - i0 : CHUNK;
    distort_forward(j->out + (size_t)i0 * (size_t)j->D * (size_t)j->P,
                    j->inp + (size_t)i0 * (size_t)j->P, j->ids + i0, j->c, n, j->D, j->P);
    atomic_fetch_add(&j->done, (size_t)n);
    if (one)
      return 1;
  }
  return 0;
}

static void *worker(void *arg)
{
  work(arg, 0);
  return NULL;
}

int distort_forward_threads(float *out, const uint8_t *inp, const uint64_t *ids,
                            const struct distort_coef *c, int N, int D, int P, int threads,
                            distort_progress_cb *cb, void *arg)
{
  struct job j = { out, inp, ids, c, N, D, P, 0, 0, 0 };
  pthread_t *tid;
  int nt = 0, k, nchunk = (N + CHUNK - 1) / CHUNK;

  ASSERT(N >= 0 && D >= 1 && P >= 1);
  if (threads > nchunk)
    threads = nchunk;
  if (threads < 1)
    threads = 1;
  tid = xcalloc((size_t)threads, sizeof *tid);
  for (k = 1; k < threads; k++)
    if (pthread_create(&tid[nt], NULL, worker, &j) == 0)
      nt++; /* on failure the others (and this thread) do the work */
  while (work(&j, 1))
    if (cb && cb(arg, atomic_load(&j.done), (size_t)N))
      atomic_store(&j.stop, 1);
  for (k = 0; k < nt; k++)
    pthread_join(tid[k], NULL);
  free(tid);
  if (atomic_load(&j.stop))
    return PD_EINTR;
  if (cb)
    cb(arg, (size_t)N, (size_t)N);
  return 0;
}
