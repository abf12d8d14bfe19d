/* generate.h - batched autoregressive generation for the LLaVA-style model
 * (llava.h), with a KV cache per layer.
 *
 * Prefill: one llava_forward over images + prompt (the vision tower, the
 * projector and the LM over the L = Tp - 1 + P positions in one pass); the
 * keys and values of every layer (after RoPE) are copied from the forward's
 * saved qkv into the cache, and the logits of the last position give the
 * first new token. Decode: one token per sequence per step, at position
 * L + s - 1 (RoPE positions continue after the prompt), attending to the
 * cache, which it extends.
 *
 * Prompt layout: EQUAL LENGTHS. prompt is (B, Tp), every row a full prompt
 * of exactly Tp tokens with exactly one cfg.image_token (its position may
 * differ between rows); there is no padding and no attention mask. Group
 * prompts by length (or run batches of 1) when lengths differ.
 *
 * Token choice, per sequence and step, on the last position's logits z
 * (with z[eos_id] += eos_bias; the IMAGE token is never emitted: its logit
 * is -inf):
 *   - temperature == 0: greedy, argmax (lowest id on ties);
 *   - temperature > 0: softmax(z / temperature), restricted to the smallest
 *     set of most likely tokens whose probability reaches top_p (nucleus;
 *     top_p >= 1 keeps all; the most likely token is always kept), then
 *     renormalised and sampled by inverse CDF with a uniform from Philox4x32
 *     (kernels/philox.h), key = seed, counter = (b, step, 0, 0): the same
 *     seed gives the same samples, and row b's stream does not depend on
 *     the other rows' tokens (it does depend on b).
 * A sequence stops at eos_id; the others go on until all stopped or
 * max_new_tokens were generated.
 *
 * Output: out (B, max_new_tokens), row b holds the generated tokens, the
 * eos included when one was generated, then eos_id to the end of the row.
 * out_len[b] = the number of tokens before the eos (the answer length; =
 * max_new_tokens when no eos was generated).
 *
 * The model's activations (m->acts, m->B, ...) are those of the prefill
 * forward afterwards. Not thread safe (one model per thread). Positions may
 * run past cfg.max_seq during decoding (RoPE has no table); the prompt must
 * fit (Tp - 1 + P <= max_seq).
 */
#ifndef PD_GENERATE_H
#define PD_GENERATE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct llava;

/* images (B,S,S,ch) in [0,1]; prompt (B,Tp); out (B,max_new_tokens);
 * out_len (B). max_new_tokens >= 1, 0 <= eos_id < vocab, temperature >= 0,
 * top_p > 0. */
void llava_generate(struct llava *m, const float *images, const int *prompt, int B, int Tp,
                    int max_new_tokens, int eos_id, float temperature, float top_p,
                    uint64_t seed, int *out, int *out_len);

/* The same, with eos_bias added to the eos logit at every step (> 0 gives
 * shorter answers, < 0 longer ones; 0 is llava_generate). */
void llava_generate_bias(struct llava *m, const float *images, const int *prompt, int B,
                         int Tp, int max_new_tokens, int eos_id, float temperature, float top_p,
                         uint64_t seed, float eos_bias, int *out, int *out_len);

#ifdef __cplusplus
}
#endif

#endif
