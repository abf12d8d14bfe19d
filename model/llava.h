/* llava.h - the small LLaVA-style model on the CPU, written the way llm.c
 * writes GPT-2: a config, parameters / gradients / activations as structs of
 * pointers carved from one allocation each, and forward, backward, zero_grad
 * and update over the kernels of kernels/nn.h.
 *
 *   image (B,S,S,3) in [0,1]
 *     -> normalize (CLIP mean/std) -> unfold into P = (S/ps)^2 patches
 *     -> patch embedding (matmul, no bias, the conv of CLIP) + learned positions
 *     -> pre-LayerNorm (CLIP's pre_layrnorm)
 *     -> vision blocks (pre-LN, bidirectional MHA, GELU MLP), features from
 *        hidden_states[feature_layer] (HF indexing: 0 = embeddings after
 *        pre_layrnorm, i = output of block i, negative counts from the end;
 *        LLaVA takes -2, the second to last). Blocks above it are never run.
 *   projector (mlp2x_gelu): linear -> gelu -> linear, into the LM width
 *   language model (Llama): token embedding in which the single IMAGE token of
 *     each example is replaced by its P projected patch features, so the LM
 *     sequence has L = T - 1 + P positions; blocks of RMSNorm, fused qkv,
 *     RoPE on q and k, causal MHA, output projection, RMSNorm, SwiGLU MLP
 *     (fused gate|up, down); final RMSNorm; untied head to vocab logits.
 *
 * Differences from the real LLaVA-1.5 (documented, deliberate):
 *   - no class token in the vision tower (LLaVA's "patch" feature select
 *     drops it from the features anyway; here it does not attend either);
 *   - the vision MLP uses the tanh GELU of nn.h, not CLIP's quick_gelu;
 *     the projector's GELU is also the tanh one (HF uses the erf GELU);
 *   - no post_layernorm (LLaVA never uses it).
 *
 * Loss. targets and weights come in the TEXT layout (B,T), aligned with
 * tokens: targets[b,t] is what position t predicts (the next token), and
 * weights[b,t] >= 0 selects and weighs it (0 on prompt, image and padding
 * positions). The prediction made at the IMAGE token moves to the last image
 * position; the other image positions get weight 0. The loss is a per-example
 * weighted mean, then a mean over the batch:
 *   loss = 1/B sum_b ( sum_t w[b,t] nll[b,t] / sum_t w[b,t] )
 * so each answer token of example b weighs 1/n_answer_tokens(b) when weights
 * are 0/1. An example whose weights sum to 0 contributes 0 (and still counts
 * in B).
 *
 * Parameters are ordered vision tower first, so that the vision tower is the
 * prefix [0, num_vision_parameters) of the flat parameter array: freezing it
 * means skipping its backward and its AdamW step.
 *
 * Not thread safe; one model per thread. Matmuls go through OpenBLAS: set it
 * to one thread for bitwise reproducible runs (kernels/cpu/matmul.c).
 */
#ifndef PD_LLAVA_H
#define PD_LLAVA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pd_err;

struct llava_config {
  /* image */
  int image_size;     /* S: images are S x S x channels, float in [0,1] (32) */
  int patch_size;     /* ps: S % ps == 0, P = (S/ps)^2 patches (4 -> 64) */
  int channels;       /* 3 */
  /* vision tower (CLIP-style ViT) */
  int v_width;        /* 64 */
  int v_layers;       /* 4 */
  int v_heads;        /* 4 */
  int v_mlp;          /* 256 */
  int feature_layer;  /* HF vision_feature_layer, -2 */
  /* language model (Llama-style) */
  int vocab;          /* 512 */
  int width;          /* C: 128 */
  int layers;         /* 4 */
  int heads;          /* 4, head size C/heads must be even (RoPE) */
  int hidden;         /* SwiGLU hidden size H: 344 */
  int max_seq;        /* longest LM sequence L = T - 1 + P: 256 */
  int image_token;    /* id of <image> in the vocabulary: 1 */
  float init_std;     /* std of the normal init of matrices: 0.02 */
};

/* The defaults above. */
void llava_config_default(struct llava_config *cfg);

/* Number of vision blocks actually run (from feature_layer). */
int llava_vision_layers_run(const struct llava_config *cfg);

#define LLAVA_NUM_PARAM_TENSORS 29

/* Nv = v_layers, Cv = v_width, Hv = v_mlp, K = channels*ps*ps, P = patches,
 * Nl = layers, C = width, H = hidden, V = vocab. */
struct llava_params {
  /* vision tower */
  float *v_patch_w;    /* (Cv, K) patch embedding, K ordered (channel, y, x) as a conv weight */
  float *v_pos;        /* (P, Cv) */
  float *v_pre_w;      /* (Cv) pre_layrnorm */
  float *v_pre_b;      /* (Cv) */
  float *v_ln1w;       /* (Nv, Cv) */
  float *v_ln1b;       /* (Nv, Cv) */
  float *v_qkvw;       /* (Nv, 3Cv, Cv) q | k | v */
  float *v_qkvb;       /* (Nv, 3Cv) */
  float *v_attprojw;   /* (Nv, Cv, Cv) */
  float *v_attprojb;   /* (Nv, Cv) */
  float *v_ln2w;       /* (Nv, Cv) */
  float *v_ln2b;       /* (Nv, Cv) */
  float *v_fcw;        /* (Nv, Hv, Cv) */
  float *v_fcb;        /* (Nv, Hv) */
  float *v_fcprojw;    /* (Nv, Cv, Hv) */
  float *v_fcprojb;    /* (Nv, Cv) */
  /* projector */
  float *p_fc1w;       /* (C, Cv) */
  float *p_fc1b;       /* (C) */
  float *p_fc2w;       /* (C, C) */
  float *p_fc2b;       /* (C) */
  /* language model */
  float *wte;          /* (V, C) */
  float *ln1w;         /* (Nl, C) */
  float *qkvw;         /* (Nl, 3C, C) q | k | v, no bias */
  float *attprojw;     /* (Nl, C, C) */
  float *ln2w;         /* (Nl, C) */
  float *fcw;          /* (Nl, 2H, C) gate | up */
  float *fcprojw;      /* (Nl, C, H) down */
  float *lnfw;         /* (C) */
  float *lm_head;      /* (V, C) */
};

#define LLAVA_NUM_ACT_TENSORS 42

/* Saved for backward. B = batch, L = LM sequence length, Nr = vision blocks
 * run, NHv / NH = heads. The gradient of the activations uses the same
 * layout (its preatt/att serve as attention_backward's scratch). */
struct llava_acts {
  float *img;          /* (B, S, S, ch) normalized */
  float *patches;      /* (B, P, K) */
  float *v_emb;        /* (B, P, Cv) patches @ W + pos */
  float *v_pre;        /* (B, P, Cv) after pre_layrnorm = input of block 0 */
  float *v_pre_mean;   /* (B, P) */
  float *v_pre_rstd;   /* (B, P) */
  float *v_ln1;        /* (Nr, B, P, Cv) */
  float *v_ln1_mean;   /* (Nr, B, P) */
  float *v_ln1_rstd;   /* (Nr, B, P) */
  float *v_qkv;        /* (Nr, B, P, 3Cv) */
  float *v_atty;       /* (Nr, B, P, Cv) */
  float *v_preatt;     /* (Nr, B, NHv, P, P) */
  float *v_att;        /* (Nr, B, NHv, P, P) */
  float *v_res2;       /* (Nr, B, P, Cv) */
  float *v_ln2;        /* (Nr, B, P, Cv) */
  float *v_ln2_mean;   /* (Nr, B, P) */
  float *v_ln2_rstd;   /* (Nr, B, P) */
  float *v_fch;        /* (Nr, B, P, Hv) */
  float *v_fch_gelu;   /* (Nr, B, P, Hv) */
  float *v_res3;       /* (Nr, B, P, Cv) output of each block */
  float *p_h;          /* (B, P, C) projector fc1 */
  float *p_g;          /* (B, P, C) gelu */
  float *p_out;        /* (B, P, C) projected features */
  float *x0;           /* (B, L, C) LM input embeddings */
  float *ln1;          /* (Nl, B, L, C) */
  float *ln1_rstd;     /* (Nl, B, L) */
  float *qkv;          /* (Nl, B, L, 3C) after RoPE on q and k */
  float *atty;         /* (Nl, B, L, C) */
  float *preatt;       /* (Nl, B, NH, L, L) */
  float *att;          /* (Nl, B, NH, L, L) */
  float *res2;         /* (Nl, B, L, C) */
  float *ln2;          /* (Nl, B, L, C) */
  float *ln2_rstd;     /* (Nl, B, L) */
  float *fch;          /* (Nl, B, L, 2H) */
  float *fch_sw;       /* (Nl, B, L, H) */
  float *res3;         /* (Nl, B, L, C) */
  float *lnf;          /* (B, L, C) */
  float *lnf_rstd;     /* (B, L) */
  float *logits;       /* (B, L, V) */
  float *probs;        /* (B, L, V) where weighted */
  float *losses;       /* (B, L) per-position NLL (0 where unweighted) */
  float *dlosses;      /* (B, L) dLoss/dlosses */
};

struct llava {
  struct llava_config cfg;
  int num_patches;                 /* P */
  int patch_dim;                   /* K = channels * ps * ps */
  int v_run;                       /* vision blocks run */
  size_t param_sizes[LLAVA_NUM_PARAM_TENSORS];
  size_t num_parameters;
  size_t num_vision_parameters;    /* the prefix of the flat arrays */
  struct llava_params params;
  float *params_memory;
  struct llava_params grads;
  float *grads_memory;
  float *m_memory, *v_memory;      /* AdamW moments, allocated on first update */
  /* activations, (re)allocated by forward for the largest B * L seen */
  int B, T, L;                     /* of the last forward */
  size_t act_capacity_bl;          /* B * L the buffers were sized for */
  size_t num_activations;
  struct llava_acts acts;
  float *acts_memory;
  struct llava_acts grads_acts;
  float *grads_acts_memory;
  int *lm_targets;                 /* (B, L) */
  float *lm_weights;               /* (B, L) */
  int *lm_tokens;                  /* (B, L) token ids, -1 on image positions */
  int *image_pos;                  /* (B) index of the IMAGE token in tokens */
  int has_targets;                 /* the last forward had targets */
  float mean_loss;                 /* of the last forward, -1 without targets */
  int freeze_vision;               /* backward and update skip the vision tower */
  int loss_batch;                  /* denominator of the batch mean; 0: the forward's B
                                    * (a shard of a larger batch sets the batch's B) */
  int shares_params;               /* a replica: params belong to another model */
};

/* Checks cfg and allocates the parameters (and zeroed gradients), initialised
 * from seed: matrices ~ N(0, init_std) (output projections of the residual
 * branches scaled by 1/sqrt(2 * layers) as in GPT-2), position embeddings
 * ~ N(0, init_std), norm weights 1, biases 0. Returns 0, or PD_EUSAGE with err
 * set for an invalid config. */
int llava_init(struct llava *m, const struct llava_config *cfg, uint64_t seed,
               struct pd_err *err);
void llava_free(struct llava *m);

/* A replica of m for data parallelism (model/llava_dp.h): the same config,
 * its params pointing at m's (read-only while replicas run; m's updates are
 * seen at once), its own zeroed gradients and activations, m's
 * freeze_vision. No AdamW state: update m, never a replica. llava_free
 * releases what the replica owns only. Must not outlive m. */
void llava_replica(struct llava *r, const struct llava *m);

/* Forward pass. images (B,S,S,ch) float in [0,1]; tokens (B,T) each holding
 * exactly one cfg.image_token; T - 1 + P <= max_seq. targets (B,T) and
 * weights (B,T) may be NULL (inference: logits only, returns -1). Returns the
 * loss described above. Logits are m->acts.logits, (B, L, V). */
float llava_forward(struct llava *m, const float *images, const int *tokens,
                    const int *targets, const float *weights, int B, int T);

/* Maps an LM position of example b (of the last forward) to its text
 * position: t for text tokens, the IMAGE token's position for image
 * positions. */
int llava_text_pos(const struct llava *m, int b, int lm_pos);
/* The inverse for predictions: the LM position (of the last forward) whose
 * logits predict targets[b, t], i.e. where text position t's prediction
 * sits (the IMAGE token's prediction moves to the last image position). */
int llava_lm_pos(const struct llava *m, int b, int t);

/* Gradients of the last forward's loss, accumulated (+=) into m->grads.
 * Needs a forward with targets. With m->freeze_vision the vision tower's
 * backward is skipped (its gradients are left alone). */
void llava_backward(struct llava *m);
/* Same, from a caller's dLoss/dnll in the TEXT layout (B,T) (DPO): position
 * t's value applies to wherever its prediction sits in the LM sequence.
 * Positions must have had a nonzero weight in the forward (their NLL and
 * probabilities are only computed there). */
void llava_backward_dlosses(struct llava *m, const float *dlosses);
/* The vision tower's backward alone: takes the gradient already in
 * m->grads_acts at the feature layer (v_pre, or v_res3 of the last block
 * that runs) and accumulates (+=) into the tower's parameter gradients.
 * For training the tower on its own heads (train_vision); llava_backward
 * calls it too. */
void llava_vision_backward(struct llava *m);
void llava_zero_grad(struct llava *m);
/* One AdamW step on the trainable parameters (all, or all but the vision
 * tower with m->freeze_vision); t = 1, 2, ... */
void llava_update(struct llava *m, float lr, float beta1, float beta2, float eps,
                  float weight_decay, int t);

/* unfold: images (B,S,S,ch) -> patches (B,P,ch*ps*ps), patch p = py*(S/ps)+px,
 * within a patch ordered (channel, y, x) like a conv weight (C_out, C_in, kh, kw).
 * fold is its adjoint: dimg += fold(dpatches) (accumulates). */
void llava_unfold(float *patches, const float *img, int B, int S, int ch, int ps);
void llava_fold(float *dimg, const float *dpatches, int B, int S, int ch, int ps);

#ifdef __cplusplus
}
#endif

#endif
