/* llava_io.h - the model's parameters as safetensors, named like Hugging
 * Face's LlavaForConditionalGeneration (vision_tower.vision_model...,
 * multi_modal_projector.linear_1/2, language_model.model.layers.N...,
 * language_model.lm_head), F32, with the config in __metadata__ ("llava.*"
 * keys, decimal strings). The fused q|k|v and gate|up matrices are split
 * into HF's q_proj/k_proj/v_proj and gate_proj/up_proj (contiguous row
 * blocks, no copies). RoPE is HF's rotate_half, so q/k need no permutation.
 * Differences from a real checkpoint: no class token, so
 * embeddings.position_embedding.weight is (P, Cv), not (P + 1, Cv); the
 * patch embedding is stored as the conv weight (Cv, ch, ps, ps); no
 * post_layernorm. A separate library (pd_model_io) so that pd_model does not
 * depend on pd_tasks. */
#ifndef PD_LLAVA_IO_H
#define PD_LLAVA_IO_H

#include "llava.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Returns 0 or an error naming the path. */
int llava_save(const struct llava *m, const char *path, struct pd_err *err);
/* Initialises m (llava_init) from the file's config and reads every tensor,
 * checking names, dtype and shapes. Returns 0, or an error (m then freed). */
int llava_load(struct llava *m, const char *path, struct pd_err *err);

#ifdef __cplusplus
}
#endif

#endif
