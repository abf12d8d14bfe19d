/* nn_test.c - tests of the model kernels (kernels/nn.h, kernels/cpu/):
 *   - every forward against a double precision reference in this file
 *     (and against its naive float reference where the library has one),
 *     on shapes that include T = 1, C not a multiple of 8 and OC = 1;
 *   - every backward against central finite differences of the double
 *     reference, loss = sum(out * rw) with random rw, the analytic gradient
 *     accumulated (+=) on top of random values that are subtracted after;
 *   - determinism: the same inputs twice give the same bits; matmul with 1
 *     and 2 OpenBLAS threads gives the same bits;
 *   - the fast attention (sgemm, causal blocks) against the naive loops on
 *     shapes that span several blocks; the in-place RoPE backward and the
 *     SIMD AdamW against their plain versions, bit for bit; vmath.h's exp
 *     and tanh against double precision, special values included.
 * Every check prints its maxdiff. Gradient checks use the mixed error
 * |analytic - fd| / (1 + |fd|); forwards the absolute error. Tolerances
 * sit next to each check: 2e-6 for float kernels (values O(1), reductions
 * of at most ~40 terms; the largest seen is 5e-7), 1e-6 for 5 AdamW steps.
 * The finite differences themselves (h = 1e-6 in double) are good to ~1e-9.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <cmocka.h>

#include "nn.h"
#include "cpu/vmath.h"

/* --- helpers ------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static float frand(void) /* uniform in [-1, 1) */
{
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  z ^= z >> 31;
  return (float)(z >> 40) * 0x1p-23f - 1.0f;
}

static float *frandv(size_t n, float scale)
{
  float *x = malloc(n * sizeof *x + 1);
  size_t i;
  assert_non_null(x);
  for (i = 0; i < n; i++)
    x[i] = scale * frand();
  return x;
}

static float *fzeros(size_t n)
{
  float *x = calloc(n + 1, sizeof *x);
  assert_non_null(x);
  return x;
}

static double *todouble(const float *x, size_t n)
{
  double *d = malloc(n * sizeof *d + 1);
  size_t i;
  assert_non_null(d);
  for (i = 0; i < n; i++)
    d[i] = (double)x[i];
  return d;
}

static float *fcopy(const float *x, size_t n)
{
  float *y = malloc(n * sizeof *y + 1);
  assert_non_null(y);
  memcpy(y, x, n * sizeof *y);
  return y;
}

static double maxdiff_ff(const float *a, const float *b, size_t n)
{
  double m = 0;
  size_t i;
  for (i = 0; i < n; i++)
    m = fmax(m, fabs((double)a[i] - (double)b[i]));
  return m;
}

/* mixed error |a - b| / (1 + |b|), for values that are not O(1) */
static double maxmixed_ff(const float *a, const float *b, size_t n)
{
  double m = 0;
  size_t i;
  for (i = 0; i < n; i++)
    m = fmax(m, fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i])));
  return m;
}

static double maxdiff_fd(const float *a, const double *b, size_t n)
{
  double m = 0;
  size_t i;
  for (i = 0; i < n; i++)
    m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

static void check(const char *what, double maxdiff, double tol)
{
  printf("%-44s maxdiff %.3e (tol %.0e)\n", what, maxdiff, tol);
  assert_true(maxdiff <= tol);
}

/* --- finite differences ---------------------------------------------------------
 * f computes out (nout) from the double inputs in[0..n_in-1]; ints carry the
 * dims. fd_check compares the analytic gradient of loss = sum(out * rw) with
 * respect to in[j], given as (after - before) of a float buffer, with
 * central differences. */
typedef void (*fwd_fn)(double *out, double **in, const int *d);

struct fd {
  fwd_fn f;
  double **in;
  const int *d;
  const float *rw;
  size_t nout;
};

static double fd_loss(const struct fd *c)
{
  double *out = malloc(c->nout * sizeof *out + 1), l = 0;
  size_t i;
  assert_non_null(out);
  c->f(out, c->in, c->d);
  for (i = 0; i < c->nout; i++)
    l += out[i] * (double)c->rw[i];
  free(out);
  return l;
}

static double fd_check(const struct fd *c, int j, size_t n, const float *after,
                       const float *before)
{
  double m = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    double x = c->in[j][i], h = 1e-6, lp, lm, g, a;
    c->in[j][i] = x + h;
    lp = fd_loss(c);
    c->in[j][i] = x - h;
    lm = fd_loss(c);
    c->in[j][i] = x;
    g = (lp - lm) / (2 * h);
    a = (double)after[i] - (before ? (double)before[i] : 0.0);
    m = fmax(m, fabs(a - g) / (1 + fabs(g)));
  }
  return m;
}

/* --- double references --------------------------------------------------------- */

/* in: inp (BT,C), w (OC,C), bias (OC); d: BT, C, OC */
static void matmul_d(double *out, double **in, const int *d)
{
  int bt, o, i, BT = d[0], C = d[1], OC = d[2];
  for (bt = 0; bt < BT; bt++)
    for (o = 0; o < OC; o++) {
      double v = in[2][o];
      for (i = 0; i < C; i++)
        v += in[0][bt * C + i] * in[1][o * C + i];
      out[bt * OC + o] = v;
    }
}

/* in: inp (BT,C), w (C), b (C); d: BT, C */
static void layernorm_d(double *out, double **in, const int *d)
{
  int bt, i, BT = d[0], C = d[1];
  for (bt = 0; bt < BT; bt++) {
    const double *x = in[0] + bt * C;
    double m = 0, v = 0, s;
    for (i = 0; i < C; i++)
      m += x[i] / C;
    for (i = 0; i < C; i++)
      v += (x[i] - m) * (x[i] - m) / C;
    s = 1 / sqrt(v + (double)LAYERNORM_EPS);
    for (i = 0; i < C; i++)
      out[bt * C + i] = (x[i] - m) * s * in[1][i] + in[2][i];
  }
}

/* in: inp (BT,C), w (C); d: BT, C */
static void rmsnorm_d(double *out, double **in, const int *d)
{
  int bt, i, BT = d[0], C = d[1];
  for (bt = 0; bt < BT; bt++) {
    const double *x = in[0] + bt * C;
    double ss = 0, s;
    for (i = 0; i < C; i++)
      ss += x[i] * x[i] / C;
    s = 1 / sqrt(ss + (double)RMSNORM_EPS);
    for (i = 0; i < C; i++)
      out[bt * C + i] = x[i] * s * in[1][i];
  }
}

/* in: inp (N); d: N */
static void gelu_d(double *out, double **in, const int *d)
{
  int i;
  for (i = 0; i < d[0]; i++) {
    double x = in[0][i];
    out[i] = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  }
}

/* in: inp (BT,2H); d: BT, H */
static void swiglu_d(double *out, double **in, const int *d)
{
  int bt, i, BT = d[0], H = d[1];
  for (bt = 0; bt < BT; bt++)
    for (i = 0; i < H; i++) {
      double a = in[0][bt * 2 * H + i], b = in[0][bt * 2 * H + H + i];
      out[bt * H + i] = a / (1 + exp(-a)) * b;
    }
}

static const int *ce_targets;
static const float *ce_weights;

/* in: logits (BT,V); d: BT, V */
static void crossentropy_d(double *out, double **in, const int *d)
{
  int bt, i, BT = d[0], V = d[1];
  for (bt = 0; bt < BT; bt++) {
    const double *z = in[0] + bt * V;
    double mx = -INFINITY, s = 0;
    if (ce_weights && ce_weights[bt] == 0.0f) {
      out[bt] = 0;
      continue;
    }
    for (i = 0; i < V; i++)
      mx = fmax(mx, z[i]);
    for (i = 0; i < V; i++)
      s += exp(z[i] - mx);
    out[bt] = log(s) + mx - z[ce_targets[bt]];
  }
}

/* in: qkv (B,T,3C); d: B, T, C, NH, causal */
static void attention_d(double *out, double **in, const int *d)
{
  int B = d[0], T = d[1], C = d[2], NH = d[3], causal = d[4], hs = C / NH, b, t, h, t2, i;
  double *a = malloc((size_t)T * sizeof *a + 1);
  assert_non_null(a);
  for (b = 0; b < B; b++)
    for (t = 0; t < T; t++)
      for (h = 0; h < NH; h++) {
        const double *q = in[0] + (b * T + t) * 3 * C + h * hs;
        int last = causal ? t : T - 1;
        double mx = -INFINITY, s = 0;
        for (t2 = 0; t2 <= last; t2++) {
          const double *k = in[0] + (b * T + t2) * 3 * C + C + h * hs;
          double v = 0;
          for (i = 0; i < hs; i++)
            v += q[i] * k[i];
          a[t2] = v / sqrt((double)hs);
          mx = fmax(mx, a[t2]);
        }
        for (t2 = 0; t2 <= last; t2++)
          s += (a[t2] = exp(a[t2] - mx));
        for (i = 0; i < hs; i++) {
          double v = 0;
          for (t2 = 0; t2 <= last; t2++)
            v += a[t2] / s * in[0][(b * T + t2) * 3 * C + 2 * C + h * hs + i];
          out[(b * T + t) * C + h * hs + i] = v;
        }
      }
  free(a);
}

static const int *rope_pos;

/* in: x (BT,NH*HS), plain stride; d: B, T, NH, HS */
static void rope_d(double *out, double **in, const int *d)
{
  int B = d[0], T = d[1], NH = d[2], HS = d[3], half = HS / 2, bt, h, i;
  for (bt = 0; bt < B * T; bt++) {
    int p = rope_pos ? rope_pos[bt] : bt % T;
    for (h = 0; h < NH; h++)
      for (i = 0; i < half; i++) {
        double f = pow(ROPE_THETA, -2.0 * i / HS), c = cos(p * f), s = sin(p * f);
        size_t j = (size_t)(bt * NH * HS + h * HS + i), k = j + (size_t)half;
        out[j] = in[0][j] * c - in[0][k] * s;
        out[k] = in[0][k] * c + in[0][j] * s;
      }
  }
}

/* --- matmul ------------------------------------------------------------------- */

static void test_matmul(void **state)
{
  static const int shapes[][4] = { /* B, T, C, OC */
    { 2, 3, 8, 5 }, { 1, 1, 7, 1 }, { 2, 5, 13, 3 }, { 3, 1, 1, 9 }, { 1, 4, 17, 16 },
  };
  size_t s;
  (void)state;
  for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int B = shapes[s][0], T = shapes[s][1], C = shapes[s][2], OC = shapes[s][3];
    size_t BT = (size_t)(B * T), ni = BT * (size_t)C, nw = (size_t)OC * (size_t)C,
           no = BT * (size_t)OC;
    float *inp = frandv(ni, 1), *w = frandv(nw, 1), *bias = frandv((size_t)OC, 1);
    float *out = fzeros(no), *out2 = fzeros(no), *rw = frandv(no, 1);
    float *g0i = frandv(ni, 1), *g0w = frandv(nw, 1), *g0b = frandv((size_t)OC, 1);
    float *di = fcopy(g0i, ni), *dw = fcopy(g0w, nw), *db = fcopy(g0b, (size_t)OC);
    float *di2 = fcopy(g0i, ni), *dw2 = fcopy(g0w, nw), *db2 = fcopy(g0b, (size_t)OC);
    double *in[3] = { todouble(inp, ni), todouble(w, nw), todouble(bias, (size_t)OC) };
    double *ref = malloc(no * sizeof *ref + 1);
    int d[3] = { (int)BT, C, OC };
    struct fd c = { matmul_d, in, d, rw, no };
    char name[64];

    matmul_d(ref, in, d);
    matmul_forward(out, inp, w, bias, B, T, C, OC);
    matmul_forward_naive(out2, inp, w, bias, B, T, C, OC);
    snprintf(name, sizeof name, "matmul fwd vs double %dx%dx%dx%d", B, T, C, OC);
    check(name, maxdiff_fd(out, ref, no), 2e-6);
    snprintf(name, sizeof name, "matmul fwd vs naive %dx%dx%dx%d", B, T, C, OC);
    check(name, maxdiff_ff(out, out2, no), 2e-6);

    matmul_backward(di, dw, db, rw, inp, w, B, T, C, OC);
    matmul_backward_naive(di2, dw2, db2, rw, inp, w, B, T, C, OC);
    snprintf(name, sizeof name, "matmul bwd vs naive %dx%dx%dx%d", B, T, C, OC);
    check(name, fmax(maxdiff_ff(di, di2, ni), fmax(maxdiff_ff(dw, dw2, nw),
                                                  maxdiff_ff(db, db2, (size_t)OC))), 2e-6);
    check("matmul dinp vs fd", fd_check(&c, 0, ni, di, g0i), 2e-6);
    check("matmul dweight vs fd", fd_check(&c, 1, nw, dw, g0w), 2e-6);
    check("matmul dbias vs fd", fd_check(&c, 2, (size_t)OC, db, g0b), 2e-6);

    /* no bias, no input gradient (first layer), frozen weight */
    matmul_forward(out, inp, w, NULL, B, T, C, OC);
    matmul_forward_naive(out2, inp, w, NULL, B, T, C, OC);
    check("matmul fwd no bias vs naive", maxdiff_ff(out, out2, no), 2e-6);
    memcpy(dw2, dw, nw * sizeof *dw);
    matmul_backward(NULL, dw, NULL, rw, inp, w, B, T, C, OC);
    matmul_backward_naive(NULL, dw2, NULL, rw, inp, w, B, T, C, OC);
    check("matmul bwd dweight only vs naive", maxdiff_ff(dw, dw2, nw), 2e-6);

    free(inp), free(w), free(bias), free(out), free(out2), free(rw), free(g0i), free(g0w);
    free(g0b), free(di), free(dw), free(db), free(di2), free(dw2), free(db2), free(ref);
    free(in[0]), free(in[1]), free(in[2]);
  }
}

static void test_matmul_deterministic(void **state)
{
  int B = 4, T = 32, C = 128, OC = 160;
  size_t ni = (size_t)(B * T * C), nw = (size_t)(OC * C), no = (size_t)(B * T * OC);
  float *inp = frandv(ni, 1), *w = frandv(nw, 1), *bias = frandv((size_t)OC, 1);
  float *o1 = fzeros(no), *o2 = fzeros(no), *dw1 = fzeros(nw), *dw2 = fzeros(nw);
  float *di1 = fzeros(ni), *di2 = fzeros(ni);
  (void)state;
  matmul_forward(o1, inp, w, bias, B, T, C, OC);
  matmul_forward(o2, inp, w, bias, B, T, C, OC);
  assert_memory_equal(o1, o2, no * sizeof *o1);
  openblas_set_num_threads(2);
  matmul_forward(o2, inp, w, bias, B, T, C, OC);
  matmul_backward(di2, dw2, NULL, o1, inp, w, B, T, C, OC);
  openblas_set_num_threads(1);
  matmul_backward(di1, dw1, NULL, o1, inp, w, B, T, C, OC);
  printf("matmul: 1 and 2 OpenBLAS threads give the same bits\n");
  assert_memory_equal(o1, o2, no * sizeof *o1);
  assert_memory_equal(di1, di2, ni * sizeof *di1);
  assert_memory_equal(dw1, dw2, nw * sizeof *dw1);
  free(inp), free(w), free(bias), free(o1), free(o2), free(dw1), free(dw2), free(di1);
  free(di2);
}

/* --- norms -------------------------------------------------------------------- */

static void test_layernorm(void **state)
{
  static const int shapes[][3] = { { 2, 3, 8 }, { 1, 1, 5 }, { 2, 4, 13 } };
  size_t s;
  (void)state;
  for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int B = shapes[s][0], T = shapes[s][1], C = shapes[s][2];
    size_t BT = (size_t)(B * T), n = BT * (size_t)C, nc = (size_t)C;
    float *inp = frandv(n, 2), *w = frandv(nc, 1), *b = frandv(nc, 1), *rw = frandv(n, 1);
    float *out = fzeros(n), *out2 = fzeros(n), *mean = fzeros(BT), *rstd = fzeros(BT);
    float *g0i = frandv(n, 1), *g0w = frandv(nc, 1), *g0b = frandv(nc, 1);
    float *di = fcopy(g0i, n), *dw = fcopy(g0w, nc), *db = fcopy(g0b, nc);
    double *in[3] = { todouble(inp, n), todouble(w, nc), todouble(b, nc) };
    double *ref = malloc(n * sizeof *ref + 1);
    int d[2] = { (int)BT, C };
    struct fd c = { layernorm_d, in, d, rw, n };

    layernorm_d(ref, in, d);
    layernorm_forward(out, mean, rstd, inp, w, b, B, T, C);
    check("layernorm fwd vs double", maxdiff_fd(out, ref, n), 2e-6);
    layernorm_forward(out2, mean, rstd, inp, w, b, B, T, C);
    assert_memory_equal(out, out2, n * sizeof *out);
    layernorm_backward(di, dw, db, rw, inp, w, mean, rstd, B, T, C);
    check("layernorm dinp vs fd", fd_check(&c, 0, n, di, g0i), 2e-6);
    check("layernorm dw vs fd", fd_check(&c, 1, nc, dw, g0w), 2e-6);
    check("layernorm db vs fd", fd_check(&c, 2, nc, db, g0b), 2e-6);
    free(inp), free(w), free(b), free(rw), free(out), free(out2), free(mean), free(rstd);
    free(g0i), free(g0w), free(g0b), free(di), free(dw), free(db), free(ref);
    free(in[0]), free(in[1]), free(in[2]);
  }
}

static void test_rmsnorm(void **state)
{
  static const int shapes[][3] = { { 2, 3, 8 }, { 1, 1, 5 }, { 2, 4, 13 } };
  size_t s;
  (void)state;
  for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int B = shapes[s][0], T = shapes[s][1], C = shapes[s][2];
    size_t BT = (size_t)(B * T), n = BT * (size_t)C, nc = (size_t)C;
    float *inp = frandv(n, 2), *w = frandv(nc, 1), *rw = frandv(n, 1);
    float *out = fzeros(n), *out2 = fzeros(n), *rstd = fzeros(BT);
    float *g0i = frandv(n, 1), *g0w = frandv(nc, 1);
    float *di = fcopy(g0i, n), *dw = fcopy(g0w, nc);
    double *in[2] = { todouble(inp, n), todouble(w, nc) };
    double *ref = malloc(n * sizeof *ref + 1);
    int d[2] = { (int)BT, C };
    struct fd c = { rmsnorm_d, in, d, rw, n };

    rmsnorm_d(ref, in, d);
    rmsnorm_forward(out, rstd, inp, w, B, T, C);
    check("rmsnorm fwd vs double", maxdiff_fd(out, ref, n), 2e-6);
    rmsnorm_forward(out2, rstd, inp, w, B, T, C);
    assert_memory_equal(out, out2, n * sizeof *out);
    rmsnorm_backward(di, dw, rw, inp, w, rstd, B, T, C);
    check("rmsnorm dinp vs fd", fd_check(&c, 0, n, di, g0i), 2e-6);
    check("rmsnorm dw vs fd", fd_check(&c, 1, nc, dw, g0w), 2e-6);
    free(inp), free(w), free(rw), free(out), free(out2), free(rstd), free(g0i), free(g0w);
    free(di), free(dw), free(ref), free(in[0]), free(in[1]);
  }
}

/* --- activations ---------------------------------------------------------------- */

static void test_gelu(void **state)
{
  size_t n = 37;
  float *inp = frandv(n, 4), *rw = frandv(n, 1), *out = fzeros(n), *out2 = fzeros(n);
  float *g0 = frandv(n, 1), *di = fcopy(g0, n);
  double *in[1] = { todouble(inp, n) }, *ref = malloc(n * sizeof *ref + 1);
  int d[1] = { (int)n };
  struct fd c = { gelu_d, in, d, rw, n };
  (void)state;
  gelu_d(ref, in, d);
  gelu_forward(out, inp, (int)n);
  check("gelu fwd vs double", maxdiff_fd(out, ref, n), 2e-6);
  gelu_forward(out2, inp, (int)n);
  assert_memory_equal(out, out2, n * sizeof *out);
  gelu_backward(di, inp, rw, (int)n);
  check("gelu dinp vs fd", fd_check(&c, 0, n, di, g0), 2e-6);
  free(inp), free(rw), free(out), free(out2), free(g0), free(di), free(in[0]), free(ref);
}

static void test_swiglu(void **state)
{
  int B = 2, T = 3, H = 7;
  size_t no = (size_t)(B * T * H), ni = 2 * no;
  float *inp = frandv(ni, 3), *rw = frandv(no, 1), *out = fzeros(no), *out2 = fzeros(no);
  float *g0 = frandv(ni, 1), *di = fcopy(g0, ni);
  double *in[1] = { todouble(inp, ni) }, *ref = malloc(no * sizeof *ref + 1);
  int d[2] = { B * T, H };
  struct fd c = { swiglu_d, in, d, rw, no };
  (void)state;
  swiglu_d(ref, in, d);
  swiglu_forward(out, inp, B, T, H);
  check("swiglu fwd vs double", maxdiff_fd(out, ref, no), 2e-6);
  swiglu_forward(out2, inp, B, T, H);
  assert_memory_equal(out, out2, no * sizeof *out);
  swiglu_backward(di, rw, inp, B, T, H);
  check("swiglu dinp vs fd", fd_check(&c, 0, ni, di, g0), 2e-6);
  free(inp), free(rw), free(out), free(out2), free(g0), free(di), free(in[0]), free(ref);
}

/* --- cross-entropy -------------------------------------------------------------- */

static void test_crossentropy(void **state)
{
  int B = 2, T = 4, V = 11, bt;
  size_t BT = (size_t)(B * T), n = BT * (size_t)V;
  float *logits = frandv(n, 4), *probs = fzeros(n), *probs2 = fzeros(n);
  float *losses = fzeros(BT), *losses2 = fzeros(BT), *w = fzeros(BT), *rw = frandv(BT, 1);
  float *g0 = frandv(n, 1), *dl = fcopy(g0, n);
  int targets[8];
  double *in[1] = { todouble(logits, n) }, ref[8];
  int d[2] = { (int)BT, V };
  struct fd c = { crossentropy_d, in, d, rw, BT };
  (void)state;
  for (bt = 0; bt < (int)BT; bt++) {
    /* the first token of each row is prompt: weight 0, target -1 */
    int prompt = bt % T == 0;
    w[bt] = prompt ? 0.0f : 1.0f;
    targets[bt] = prompt ? -1 : (bt * 7) % V;
    if (prompt)
      rw[bt] = 0.0f; /* its dloss is 0: the backward skips it */
  }
  ce_targets = targets;
  ce_weights = w;
  crossentropy_d(ref, in, d);
  crossentropy_forward(losses, probs, logits, targets, w, B, T, V);
  crossentropy_forward_naive(losses2, probs2, logits, targets, w, B, T, V);
  check("crossentropy fwd vs double", maxdiff_fd(losses, ref, BT), 2e-6);
  check("crossentropy fwd vs naive", maxdiff_ff(losses, losses2, BT), 2e-6);
  for (bt = 0; bt < (int)BT; bt++)
    if (w[bt] != 0.0f)
      check("crossentropy probs vs naive", maxdiff_ff(probs + bt * V, probs2 + bt * V,
                                                      (size_t)V), 1e-6);
  memcpy(losses2, losses, BT * sizeof *losses);
  crossentropy_forward(losses, probs2, logits, targets, w, B, T, V);
  assert_memory_equal(losses, losses2, BT * sizeof *losses);
  crossentropy_backward(dl, rw, probs, targets, B, T, V);
  check("crossentropy dlogits vs fd", fd_check(&c, 0, n, dl, g0), 2e-6);
  for (bt = 0; bt < (int)BT; bt++)
    if (w[bt] == 0.0f)
      assert_memory_equal(dl + bt * V, g0 + bt * V, (size_t)V * sizeof *dl);

  /* a logit far above the rest: the target's probability underflows, the
   * loss stays finite */
  {
    float z[3] = { 200.0f, 0.0f, -10.0f }, p[3], l;
    int tg = 2;
    crossentropy_forward(&l, p, z, &tg, NULL, 1, 1, 3);
    check("crossentropy loss of underflowing prob", fabs((double)l - 210.0), 2e-6);
  }
  free(logits), free(probs), free(probs2), free(losses), free(losses2), free(w), free(rw);
  free(g0), free(dl), free(in[0]);
}

/* --- attention ------------------------------------------------------------------- */

static void test_attention(void **state)
{
  static const int shapes[][4] = { { 2, 5, 8, 2 }, { 1, 1, 6, 3 }, { 2, 4, 12, 4 },
                                   { 1, 7, 5, 1 } };
  size_t s;
  int causal;
  (void)state;
  for (causal = 0; causal <= 1; causal++)
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
      int B = shapes[s][0], T = shapes[s][1], C = shapes[s][2], NH = shapes[s][3];
      size_t ni = (size_t)(B * T * 3 * C), no = (size_t)(B * T * C),
             na = (size_t)(B * NH * T * T);
      float *inp = frandv(ni, 1.5f), *rw = frandv(no, 1), *out = fzeros(no), *out2 = fzeros(no);
      float *pre = fzeros(na), *att = fzeros(na), *pre2 = fzeros(na), *att2 = fzeros(na);
      float *dpre = fzeros(na), *datt = fzeros(na), *g0 = frandv(ni, 1), *di = fcopy(g0, ni);
      double *in[1] = { todouble(inp, ni) }, *ref = malloc(no * sizeof *ref + 1);
      int d[5] = { B, T, C, NH, causal };
      struct fd c = { attention_d, in, d, rw, no };
      char name[64];

      attention_d(ref, in, d);
      attention_forward(out, pre, att, inp, B, T, C, NH, causal);
      attention_forward_naive(out2, inp, B, T, C, NH, causal);
      snprintf(name, sizeof name, "attention%s fwd vs double %dx%dx%d/%d",
               causal ? " causal" : "", B, T, C, NH);
      check(name, maxdiff_fd(out, ref, no), 2e-6);
      check("attention fwd vs naive", maxdiff_ff(out, out2, no), 2e-6);
      attention_forward(out2, pre2, att2, inp, B, T, C, NH, causal);
      assert_memory_equal(out, out2, no * sizeof *out);
      assert_memory_equal(pre, pre2, na * sizeof *pre);
      assert_memory_equal(att, att2, na * sizeof *att);
      attention_backward(di, dpre, datt, rw, inp, att, B, T, C, NH, causal);
      check("attention dqkv vs fd", fd_check(&c, 0, ni, di, g0), 2e-6);
      free(inp), free(rw), free(out), free(out2), free(pre), free(att), free(pre2);
      free(att2), free(dpre), free(datt), free(g0), free(di), free(in[0]), free(ref);
    }
}

/* The sgemm attention against the naive loops where it blocks: T past one
 * or two ATT_BLOCKs (32), head sizes 16 and 32 as in the model, and T = 1.
 * Gradients (sums of up to T products of O(1) values, up to ~10) use the
 * mixed error. */
static void test_attention_fast_vs_naive(void **state)
{
  static const int shapes[][4] = { { 2, 70, 64, 2 }, { 1, 33, 48, 3 }, { 3, 1, 8, 2 },
                                   { 1, 103, 128, 4 } };
  size_t s;
  int causal;
  (void)state;
  for (causal = 0; causal <= 1; causal++)
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
      int B = shapes[s][0], T = shapes[s][1], C = shapes[s][2], NH = shapes[s][3];
      size_t ni = (size_t)(B * T * 3 * C), no = (size_t)(B * T * C),
             na = (size_t)(B * NH * T * T), k;
      float *inp = frandv(ni, 1.5f), *dy = frandv(no, 1), *out = fzeros(no), *out2 = fzeros(no);
      float *pre = frandv(na, 9), *att = frandv(na, 9), *dpre = frandv(na, 9);
      float *datt = frandv(na, 9), *dpre2 = frandv(na, 9), *datt2 = frandv(na, 9);
      float *g0 = frandv(ni, 1), *di = fcopy(g0, ni), *di2 = fcopy(g0, ni);
      double rowsum_err = 0;
      char name[80];
      int b, h, t, t2;

      attention_forward(out, pre, att, inp, B, T, C, NH, causal);
      attention_forward_naive(out2, inp, B, T, C, NH, causal);
      snprintf(name, sizeof name, "attention%s fast vs naive %dx%dx%d/%d",
               causal ? " causal" : "", B, T, C, NH);
      check(name, maxdiff_ff(out, out2, no), 2e-6);
      /* saved tensors: rows of att sum to 1, masked entries -inf / 0 */
      for (b = 0; b < B; b++)
        for (h = 0; h < NH; h++)
          for (t = 0; t < T; t++) {
            size_t row = (((size_t)b * (size_t)NH + (size_t)h) * (size_t)T + (size_t)t) *
                         (size_t)T;
            double sum = 0;
            for (t2 = 0; t2 < T; t2++) {
              if (causal && t2 > t) {
                assert_true(isinf(pre[row + (size_t)t2]) && pre[row + (size_t)t2] < 0);
                assert_true(att[row + (size_t)t2] == 0.0f);
              }
              sum += (double)att[row + (size_t)t2];
            }
            rowsum_err = fmax(rowsum_err, fabs(sum - 1.0));
          }
      check("attention att rows sum to 1", rowsum_err, 1e-6);
      attention_backward(di, dpre, datt, dy, inp, att, B, T, C, NH, causal);
      attention_backward_naive(di2, dpre2, datt2, dy, inp, att, B, T, C, NH, causal);
      for (k = 0; k < ni; k++) { /* the gradient alone, without g0 */
        di[k] -= g0[k];
        di2[k] -= g0[k];
      }
      check("attention dqkv fast vs naive", maxmixed_ff(di, di2, ni), 2e-6);
      check("attention datt fast vs naive", maxmixed_ff(datt, datt2, na), 2e-6);
      check("attention dpreatt fast vs naive", maxmixed_ff(dpre, dpre2, na), 2e-6);
      free(inp), free(dy), free(out), free(out2), free(pre), free(att), free(dpre), free(datt);
      free(dpre2), free(datt2), free(g0), free(di), free(di2);
    }
}

/* --- rope --------------------------------------------------------------------------- */

static void test_rope(void **state)
{
  int B = 2, T = 5, NH = 3, HS = 6, C = NH * HS, bt, i, pass;
  size_t n = (size_t)(B * T * C), nq = (size_t)(B * T * 3 * C);
  int pos[10] = { 0, 1, 2, 3, 4, 100, 101, 4095, 4096, 7 };
  (void)state;
  for (pass = 0; pass < 2; pass++) {
    const int *p = pass ? pos : NULL;
    float *inp = frandv(n, 1), *rw = frandv(n, 1), *out = fzeros(n), *g0 = frandv(n, 1);
    float *di = fcopy(g0, n), *qkv = frandv(nq, 1), *qkv2, *dq = fzeros(nq), *dp = fzeros(n);
    double *in[1] = { todouble(inp, n) }, *ref = malloc(n * sizeof *ref + 1);
    int d[4] = { B, T, NH, HS };
    struct fd c = { rope_d, in, d, rw, n };

    rope_pos = p;
    rope_d(ref, in, d);
    rope_forward(out, inp, p, B, T, NH, HS, C);
    check(pass ? "rope fwd vs double (positions)" : "rope fwd vs double",
          maxdiff_fd(out, ref, n), 2e-6);
    rope_backward(di, rw, p, B, T, NH, HS, C);
    check("rope dinp vs fd", fd_check(&c, 0, n, di, g0), 2e-6);

    /* in place on the k part of a qkv buffer (stride 3C): the same bits as
     * the plain tensor, q and v untouched */
    qkv2 = fcopy(qkv, nq);
    for (bt = 0; bt < B * T; bt++)
      memcpy(qkv + (size_t)bt * 3 * (size_t)C + C, inp + (size_t)bt * (size_t)C,
             (size_t)C * sizeof *qkv);
    memcpy(qkv2, qkv, nq * sizeof *qkv);
    rope_forward(qkv + C, qkv + C, p, B, T, NH, HS, 3 * C);
    for (bt = 0; bt < B * T; bt++) {
      float *row = qkv + (size_t)bt * 3 * (size_t)C, *row2 = qkv2 + (size_t)bt * 3 * (size_t)C;
      assert_memory_equal(row + C, out + (size_t)bt * (size_t)C, (size_t)C * sizeof *row);
      assert_memory_equal(row, row2, (size_t)C * sizeof *row);
      assert_memory_equal(row + 2 * C, row2 + 2 * C, (size_t)C * sizeof *row);
    }
    /* strided backward: the same as the plain one */
    for (bt = 0; bt < B * T; bt++)
      for (i = 0; i < C; i++)
        qkv2[(size_t)bt * 3 * (size_t)C + (size_t)C + (size_t)i] = rw[bt * C + i];
    rope_backward(dq + C, qkv2 + C, p, B, T, NH, HS, 3 * C);
    rope_backward(dp, rw, p, B, T, NH, HS, C);
    for (bt = 0; bt < B * T; bt++)
      assert_memory_equal(dq + (size_t)bt * 3 * (size_t)C + C, dp + (size_t)bt * (size_t)C,
                          (size_t)C * sizeof *dp);
    /* in place, overwriting: the bits rope_backward adds into zeros */
    {
      float *dz = fzeros(nq), *dip = fcopy(qkv2, nq);
      rope_backward(dz + C, qkv2 + C, p, B, T, NH, HS, 3 * C);
      rope_backward_inplace(dip + C, p, B, T, NH, HS, 3 * C);
      for (bt = 0; bt < B * T; bt++) {
        const float *r = dip + (size_t)bt * 3 * (size_t)C, *r2 = qkv2 + (size_t)bt * 3 * (size_t)C;
        assert_memory_equal(r + C, dz + (size_t)bt * 3 * (size_t)C + C, (size_t)C * sizeof *r);
        assert_memory_equal(r, r2, (size_t)C * sizeof *r);
        assert_memory_equal(r + 2 * C, r2 + 2 * C, (size_t)C * sizeof *r);
      }
      free(dz), free(dip);
    }
    free(inp), free(rw), free(out), free(g0), free(di), free(qkv), free(qkv2), free(dq);
    free(dp), free(in[0]), free(ref);
  }
  rope_pos = NULL;
}

/* --- adamw --------------------------------------------------------------------------- */

static void test_adamw(void **state)
{
  size_t n = 29, i;
  float *p = frandv(n, 1), *m = fzeros(n), *v = fzeros(n), *g = fzeros(n);
  double pd[29], md[29] = { 0 }, vd[29] = { 0 }, maxd = 0;
  float lr = 1e-2f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f;
  int t;
  (void)state;
  for (i = 0; i < n; i++)
    pd[i] = (double)p[i];
  for (t = 1; t <= 5; t++) {
    for (i = 0; i < n; i++)
      g[i] = frand();
    adamw_update(p, m, v, g, (long)n, lr, b1, b2, eps, wd, t);
    for (i = 0; i < n; i++) {
      double gi = (double)g[i];
      md[i] = (double)b1 * md[i] + (1 - (double)b1) * gi;
      vd[i] = (double)b2 * vd[i] + (1 - (double)b2) * gi * gi;
      pd[i] -= (double)lr * (md[i] / (1 - pow((double)b1, t)) /
                             (sqrt(vd[i] / (1 - pow((double)b2, t))) + (double)eps) +
                             (double)wd * pd[i]);
    }
  }
  for (i = 0; i < n; i++)
    maxd = fmax(maxd, fabs((double)p[i] - pd[i]));
  check("adamw 5 steps vs double", maxd, 1e-6);
  free(p), free(m), free(v), free(g);
}

/* The SIMD loop (4 at a time) and the scalar one give the same bits: the
 * same update one parameter per call (N = 1 takes the scalar loop). */
static void test_adamw_simd_vs_scalar(void **state)
{
  size_t n = 37, i;
  float *p = frandv(n, 1), *m = fzeros(n), *v = fzeros(n), *g = fzeros(n);
  float *p2 = fcopy(p, n), *m2 = fzeros(n), *v2 = fzeros(n);
  int t;
  (void)state;
  for (t = 1; t <= 3; t++) {
    for (i = 0; i < n; i++)
      g[i] = frand() * (i % 5 == 0 ? 0.0f : 1.0f);
    adamw_update(p, m, v, g, (long)n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, t);
    for (i = 0; i < n; i++)
      adamw_update(p2 + i, m2 + i, v2 + i, g + i, 1, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, t);
  }
  assert_memory_equal(p, p2, n * sizeof *p);
  assert_memory_equal(m, m2, n * sizeof *m);
  assert_memory_equal(v, v2, n * sizeof *v);
  free(p), free(m), free(v), free(g), free(p2), free(m2), free(v2);
}

/* vmath.h: exp within 2 ulp of double exp (a sweep of normal results and
 * the subnormal range), special values as libm; tanh within 2e-7. */
static void test_vmath(void **state)
{
  double worst = 0, worst_sub = 0, worst_tanh = 0;
  float x;
  int k;
  (void)state;
  for (k = 0; k <= 200000; k++) {
    double e, ulp;
    x = -87.0f + 175.5f * (float)k / 200000.0f; /* normal results */
    e = exp((double)x);
    ulp = ldexp(1.0, ilogb(e) - 23);
    worst = fmax(worst, fabs((double)vexpf(x) - e) / ulp);
  }
  for (k = 0; k <= 2000; k++) { /* subnormal results: absolute, in units of 2^-149 */
    x = -103.9f + 16.5f * (float)k / 2000.0f;
    worst_sub = fmax(worst_sub, fabs((double)vexpf(x) - exp((double)x)) / 0x1p-149);
  }
  check("vexpf vs double (ulp)", worst, 2.0);
  check("vexpf subnormal vs double (2^-149)", worst_sub, 1.0);
  assert_true(vexpf(0.0f) == 1.0f && vexpf(-0.0f) == 1.0f);
  assert_true(vexpf(-INFINITY) == 0.0f && vexpf(-200.0f) == 0.0f);
  assert_true(isinf(vexpf(INFINITY)) && isinf(vexpf(89.0f)) && isinf(vexpf(1e30f)));
  assert_true(isnan(vexpf(NAN)) && isnan(vexpf(-NAN)));
  assert_true(vexpf(88.72f) == expf(88.72f) || fabs((double)vexpf(88.72f) / exp(88.72) - 1) < 3e-7);
  for (k = 0; k <= 200000; k++) {
    x = -12.0f + 24.0f * (float)k / 200000.0f;
    worst_tanh = fmax(worst_tanh, fabs((double)vtanhf(x) - tanh((double)x)));
  }
  check("vtanhf vs double (absolute)", worst_tanh, 2e-7);
  assert_true(vtanhf(INFINITY) == 1.0f && vtanhf(-INFINITY) == -1.0f && isnan(vtanhf(NAN)));
  assert_true(vtanhf(0.0f) == 0.0f && signbit(vtanhf(-0.0f)));
}

static int setup(void **state)
{
  (void)state;
  openblas_set_num_threads(1);
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_matmul),       cmocka_unit_test(test_matmul_deterministic),
    cmocka_unit_test(test_layernorm),    cmocka_unit_test(test_rmsnorm),
    cmocka_unit_test(test_gelu),         cmocka_unit_test(test_swiglu),
    cmocka_unit_test(test_crossentropy), cmocka_unit_test(test_attention),
    cmocka_unit_test(test_rope),         cmocka_unit_test(test_adamw),
    cmocka_unit_test(test_attention_fast_vs_naive),
    cmocka_unit_test(test_adamw_simd_vs_scalar),
    cmocka_unit_test(test_vmath),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
