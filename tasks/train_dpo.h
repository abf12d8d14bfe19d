/* train_dpo.h - the DPO arithmetic of the train_dpo kind (train_dpo.c),
 * exposed for its unit tests. */
#ifndef PD_TRAIN_DPO_H
#define PD_TRAIN_DPO_H

struct dpo_config {
  double beta, w_text, w_image, sft_w;
  int text, image; /* which dispreferences are active */
};

/* Batch means of one step. Rewards are beta (s - r); margin_T = reward_chosen
 * - reward_T = the z of term T; acc_T = share of pairs with z > 0. */
struct dpo_stats {
  double loss, loss_text, loss_image;
  double reward_chosen, reward_text, reward_image;
  double margin_text, margin_image, acc_text, acc_image;
  double nll_chosen; /* per token */
};

/* -log sigmoid(z), stable for any z. */
double dpo_loss(double z);
double dpo_sigmoid(double z);

/* The loss of a batch of B pairs and its gradient with respect to each row's
 * summed log-probability s: s_w / r_w chosen (policy / reference), s_t / r_t
 * text-dispreferred, s_n / r_n noise-dispreferred (NULL when inactive),
 * ntok_w the chosen rows' answer tokens (the anchor is -s_w / ntok_w).
 * Writes ds_w, ds_t, ds_n (dL/ds per row, the inactive ones untouched) and
 * st. */
void dpo_terms(const struct dpo_config *c, int B, const double *s_w, const double *r_w,
               const double *s_t, const double *r_t, const double *s_n, const double *r_n,
               const int *ntok_w, double *ds_w, double *ds_t, double *ds_n,
               struct dpo_stats *st);

#endif
