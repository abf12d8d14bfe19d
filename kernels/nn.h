/* nn.h - CPU kernels of the small LLaVA-style model, written the way llm.c
 * writes GPT-2: one concept per file in cpu/, each a forward/backward pair.
 *
 * Conventions (STYLE.md, "Kernels (llm.c)"):
 *   B = batch, T = time (tokens), C = channels, OC = output channels,
 *   NH = heads, HS = head size (C / NH), V = vocabulary, N = element count.
 *   Arguments: outputs, saved-for-backward, inputs, dims. All tensors are
 *   dense float32, row major, shapes given in the comments.
 *   Backward passes ACCUMULATE (+=) into every gradient they write, input
 *   gradients included: the caller zeroes the gradient buffers once per
 *   step. A NULL gradient pointer means "not wanted" where documented.
 *
 * Each fast kernel has a naive reference (plain loops; tests, and the
 * fallback for shapes the fast path does not take). Where the kernel is
 * itself the plain llm.c loop (norms, activations, rope, adamw) the fast
 * kernel is its own reference and the tests check it against double
 * precision instead.
 *
 * Nothing here starts threads. matmul goes through CBLAS (OpenBLAS), which
 * may use its own thread pool; see cpu/matmul.c for what that means for
 * reproducibility.
 */
#ifndef PD_NN_H
#define PD_NN_H

#ifdef __cplusplus
extern "C" {
#endif

/* --- matmul (cpu/matmul.c) --------------------------------------------------
 * out = inp @ weight^T + bias, like torch.nn.Linear. bias may be NULL. */
void matmul_forward(float *out,                                  /* (B,T,OC) */
                    const float *inp, const float *weight,       /* (B,T,C) (OC,C) */
                    const float *bias,                           /* (OC) or NULL */
                    int B, int T, int C, int OC);
void matmul_forward_naive(float *out, const float *inp, const float *weight,
                          const float *bias, int B, int T, int C, int OC);
/* dinp += dout @ weight, dweight += dout^T @ inp, dbias += sum_rows dout.
 * Any of dinp, dweight, dbias may be NULL (frozen weights, no bias, or no
 * gradient wanted for the input). */
void matmul_backward(float *dinp, float *dweight, float *dbias,  /* (B,T,C) (OC,C) (OC) */
                     const float *dout,                          /* (B,T,OC) */
                     const float *inp, const float *weight,      /* (B,T,C) (OC,C) */
                     int B, int T, int C, int OC);
void matmul_backward_naive(float *dinp, float *dweight, float *dbias,
                           const float *dout, const float *inp, const float *weight,
                           int B, int T, int C, int OC);

/* --- layernorm (cpu/layernorm.c) --------------------------------------------
 * out = (inp - mean) * rstd * w + b over the last axis, biased variance,
 * rstd = 1 / sqrt(var + LAYERNORM_EPS) (GPT-2, CLIP: 1e-5). */
#define LAYERNORM_EPS 1e-5f
void layernorm_forward(float *out, float *mean, float *rstd,            /* (B,T,C) (B,T) (B,T) */
                       const float *inp, const float *w, const float *b, /* (B,T,C) (C) (C) */
                       int B, int T, int C);
void layernorm_backward(float *dinp, float *dw, float *db,             /* (B,T,C) (C) (C) */
                        const float *dout, const float *inp, const float *w,
                        const float *mean, const float *rstd, int B, int T, int C);

/* --- rmsnorm (cpu/rmsnorm.c) ------------------------------------------------
 * out = inp * rstd * w, rstd = 1 / sqrt(mean(inp^2) + RMSNORM_EPS)
 * (Llama: 1e-5 in Llama-2 and LLaVA-1.5's Vicuna; no bias). */
#define RMSNORM_EPS 1e-5f
void rmsnorm_forward(float *out, float *rstd,                /* (B,T,C) (B,T) */
                     const float *inp, const float *w,       /* (B,T,C) (C) */
                     int B, int T, int C);
void rmsnorm_backward(float *dinp, float *dw,                /* (B,T,C) (C) */
                      const float *dout, const float *inp, const float *w,
                      const float *rstd, int B, int T, int C);

/* --- gelu (cpu/gelu.c) -------------------------------------------------------
 * The tanh approximation GPT-2 and OpenAI's CLIP use (PyTorch
 * gelu(approximate="tanh"), HF "gelu_new"/"quick" is NOT this one):
 *   gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
void gelu_forward(float *out, const float *inp, int N);              /* (N) (N) */
void gelu_backward(float *dinp, const float *inp, const float *dout, int N);

/* --- swiglu (cpu/swiglu.c) ---------------------------------------------------
 * Llama's gated MLP activation: out = silu(a) * b, silu(a) = a * sigmoid(a).
 * inp is the output of one fused matmul with OC = 2H: per row, the first H
 * values are the gate a (W1 / gate_proj), the next H the up projection b
 * (W3 / up_proj). */
void swiglu_forward(float *out, const float *inp,                  /* (B,T,H) (B,T,2H) */
                    int B, int T, int H);
void swiglu_backward(float *dinp, const float *dout,               /* (B,T,2H) (B,T,H) */
                     const float *inp, int B, int T, int H);

/* --- crossentropy (cpu/crossentropy.c) ---------------------------------------
 * Fused softmax + cross-entropy over the vocabulary, per token:
 *   probs[b,t,:] = softmax(logits[b,t,:])
 *   losses[b,t]  = -log probs[b,t,targets[b,t]]  (= logsumexp - logit[target])
 * Positions with weights[b,t] == 0 (prompt tokens, padding) are skipped:
 * loss 0, probs not written, target not read (it may be -1). weights only
 * selects positions; the forward does not scale by it. NULL = all positions.
 * -losses[b,t] is the token's log-probability log pi(y_t | y_<t), which a
 * DPO loss sums per sequence. */
void crossentropy_forward(float *losses, float *probs,             /* (B,T) (B,T,V) */
                          const float *logits, const int *targets, /* (B,T,V) (B,T) */
                          const float *weights,                    /* (B,T) or NULL */
                          int B, int T, int V);
/* dlogits[b,t,:] += dlosses[b,t] * (probs[b,t,:] - onehot(targets[b,t])),
 * skipping positions with dlosses[b,t] == 0. dlosses is dL/dlosses: for a
 * weighted mean SFT loss sum_t w_t loss_t / sum_t w_t it is w_t / sum w;
 * for DPO, with logp_t = -losses_t, it is -dL/dlogp_t. */
void crossentropy_backward(float *dlogits,                         /* (B,T,V) */
                           const float *dlosses, const float *probs, /* (B,T) (B,T,V) */
                           const int *targets, int B, int T, int V);
/* Reference: softmax then -logf(prob), unfused. */
void crossentropy_forward_naive(float *losses, float *probs, const float *logits,
                                const int *targets, const float *weights,
                                int B, int T, int V);

/* --- attention (cpu/attention.c) ---------------------------------------------
 * Multi-head scaled dot-product attention, llm.c layout: inp is the fused
 * qkv projection, per token [q (C) | k (C) | v (C)], head h using channels
 * h*HS .. h*HS+HS-1 of each. causal != 0 masks keys after the query (the
 * language model); causal == 0 attends to all T (the vision tower).
 * Saved: preatt = q.k / sqrt(HS), att = softmax(preatt) over keys; masked
 * entries hold preatt = -INFINITY and att = 0. The products go through
 * CBLAS per (b, h) on strided views of inp (causal: in blocks of query
 * rows that skip most of the masked triangle), so the OpenBLAS thread
 * count matters for the bits as in matmul. */
void attention_forward(float *out, float *preatt, float *att,     /* (B,T,C) (B,NH,T,T) (B,NH,T,T) */
                       const float *inp,                          /* (B,T,3C) */
                       int B, int T, int C, int NH, int causal);
/* dinp += d(qkv); dpreatt and datt are scratch of (B,NH,T,T) that the
 * function overwrites (llm.c accumulates into them: here they need no
 * zeroing). */
void attention_backward(float *dinp, float *dpreatt, float *datt, /* (B,T,3C) (B,NH,T,T) (B,NH,T,T) */
                        const float *dout, const float *inp, const float *att, /* (B,T,C) (B,T,3C) (B,NH,T,T) */
                        int B, int T, int C, int NH, int causal);
/* Reference: per (b, h), explicit Q K^T, mask, softmax in three passes, @ V. */
void attention_forward_naive(float *out, const float *inp,
                             int B, int T, int C, int NH, int causal);
/* Reference backward: llm.c's scalar loops per (b, t, h), same contract as
 * attention_backward (the fast one takes the products through sgemm). */
void attention_backward_naive(float *dinp, float *dpreatt, float *datt,
                              const float *dout, const float *inp, const float *att,
                              int B, int T, int C, int NH, int causal);

/* --- rope (cpu/rope.c) --------------------------------------------------------
 * Rotary position embeddings, Llama style, ROPE_THETA = 10000, HALF-SPLIT
 * pairing (Hugging Face's rotate_half, not Meta's interleaved pairs): in each
 * head, channel i < HS/2 pairs with channel i + HS/2,
 *   out[i]        = x[i] cos(p f_i) - x[i+HS/2] sin(p f_i)
 *   out[i + HS/2] = x[i+HS/2] cos(p f_i) + x[i] sin(p f_i)
 *   f_i = ROPE_THETA^(-2i/HS),
 * p = pos[b*T+t], or t when pos is NULL. HS must be even. The angle and its
 * cos/sin are computed in double and rounded to float. Rows are `stride`
 * floats apart in inp and out (NH*HS for a plain (B,T,NH,HS) tensor, 3C to
 * rotate q or k inside a qkv buffer: pass qkv or qkv + C). The forward may
 * run in place (out == inp); the backward accumulates and must not alias. */
#define ROPE_THETA 10000.0
void rope_forward(float *out, const float *inp,                  /* (B,T,NH,HS) rows of `stride` */
                  const int *pos,                                /* (B,T) or NULL */
                  int B, int T, int NH, int HS, int stride);
void rope_backward(float *dinp, const float *dout, const int *pos,
                   int B, int T, int NH, int HS, int stride);
/* d = the backward of d, in place and overwriting (not accumulating): the
 * same values rope_backward adds into a zeroed buffer, without the buffer. */
void rope_backward_inplace(float *d, const int *pos,            /* rows of `stride` */
                           int B, int T, int NH, int HS, int stride);

/* --- adamw (cpu/adamw.c) -----------------------------------------------------
 * One AdamW step (Loshchilov & Hutter; torch.optim.AdamW), t = 1, 2, ...:
 *   m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
 *   p -= lr * (m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd * p)
 * Weight decay is decoupled (not added to g) and uses p before the step. */
void adamw_update(float *params, float *m, float *v,             /* (N) (N) (N) */
                  const float *grads, long N,                    /* (N) */
                  float lr, float beta1, float beta2, float eps,
                  float weight_decay, int t);

#ifdef __cplusplus
}
#endif

#endif
