// Per-token math of the gating kernels (softmax, top-k, renormalisation, the seeded slot order
// and the backward to the logits), shared by the CPU backend and CUDA. Each function handles
// one token row; backends differ only in how rows are spread over threads. The rules (ties,
// order) are documented in docs/kernels.md and mirrored by test/kernels/reference/gating.ts.
#pragma once

#include <math.h>
#include <stdint.h>

#include "common.h"

namespace prophet::kernels {

// Softmax of one row in fp32 with the row maximum subtracted (so exp never overflows); the sum
// runs in expert order so that every backend rounds the same way. Returns logsumexp of the row.
PROPHET_HD float softmax_row(const float *logits, int64_t num_experts, float *probs) {
  float row_max = logits[0];
  for (int64_t e = 1; e < num_experts; ++e) row_max = logits[e] > row_max ? logits[e] : row_max;
  float sum = 0.0f;
  for (int64_t e = 0; e < num_experts; ++e) {
    probs[e] = expf(logits[e] - row_max);
    sum += probs[e];
  }
  const float inv_sum = 1.0f / sum;
  for (int64_t e = 0; e < num_experts; ++e) probs[e] *= inv_sum;
  return row_max + logf(sum);
}

// The k largest logits of a row, in descending order, ties broken by the lower expert index.
// Ranking by logit rather than by probability selects the same experts (softmax is monotone)
// while comparing exact inputs, so near-ties do not depend on how exp rounds. `top_logit` is
// scratch of k floats. Insertion keeps the list sorted; a later (higher) index moves ahead only
// when strictly greater, which is the tie rule.
PROPHET_HD void topk_row(const float *logits, int64_t num_experts, int64_t k, int32_t *top_index,
                         float *top_logit) {
  int64_t num_held = 0;
  for (int64_t e = 0; e < num_experts; ++e) {
    const float value = logits[e];
    if (num_held == k && !(value > top_logit[k - 1])) continue;
    int64_t slot = num_held < k ? num_held++ : k - 1;
    while (slot > 0 && value > top_logit[slot - 1]) {
      top_logit[slot] = top_logit[slot - 1];
      top_index[slot] = top_index[slot - 1];
      --slot;
    }
    top_logit[slot] = value;
    top_index[slot] = static_cast<int32_t>(e);
  }
}

// Divides the k weights of a token by their sum (summed in slot order).
PROPHET_HD void renormalize_row(float *weight, int64_t k) {
  float sum = 0.0f;
  for (int64_t j = 0; j < k; ++j) sum += weight[j];
  const float inv_sum = 1.0f / sum;
  for (int64_t j = 0; j < k; ++j) weight[j] *= inv_sum;
}

// MurmurHash3's 32-bit finaliser: a bijection on uint32 with good avalanche.
PROPHET_HD uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// Priority of token t in the seeded random slot order: tokens claim capacity in increasing
// priority (ties, impossible for t < 2^32 because fmix32 is a bijection, by token index). A
// sort key rather than a sequential shuffle, so a GPU gets the same order from a radix sort.
PROPHET_HD uint32_t random_priority(uint32_t seed, int64_t token) {
  return fmix32(static_cast<uint32_t>(token) ^ fmix32(seed ^ 0x9e3779b9u));
}

// Gradient of the loss with respect to one token's probabilities, from the gradient of its k
// combine weights. grad_prob [E] must hold the aux-loss part already; this adds the weight part.
// d_weight [k] is the gradient of the kept weights (dropped slots must be passed as 0: their
// weight is the constant 0). With renormalisation w_j = p_j / S, S = sum_i p_i over all k
// selected slots, so dL/dp_m = (g_m - sum_j g_j w_j) / S for every selected m, dropped ones too.
PROPHET_HD void weight_grad_to_prob_grad(const float *probs, const int32_t *expert_index,
                                         const float *d_weight, int64_t k, bool renormalize,
                                         float *grad_prob) {
  if (!renormalize) {
    for (int64_t j = 0; j < k; ++j) grad_prob[expert_index[j]] += d_weight[j];
    return;
  }
  float sum = 0.0f;
  for (int64_t j = 0; j < k; ++j) sum += probs[expert_index[j]];
  const float inv_sum = 1.0f / sum;
  float weighted = 0.0f;
  for (int64_t j = 0; j < k; ++j) weighted += d_weight[j] * probs[expert_index[j]] * inv_sum;
  for (int64_t j = 0; j < k; ++j) grad_prob[expert_index[j]] += (d_weight[j] - weighted) * inv_sum;
}

// One expert's term of the Switch/GShard load-balancing loss L_aux = E * sum_e f_e * P_e, in
// double: f_e = routed / (k*T) is the fraction of slots routed to e (kept or dropped), P_e =
// prob_sum / T its mean probability. Backends sum these terms in their own order.
PROPHET_HD double balance_term(int64_t routed, double prob_sum, int64_t num_tokens, int64_t k) {
  return (double(routed) / double(num_tokens * k)) * (prob_sum / double(num_tokens));
}

// dL/dp[t, e] of aux_coef * L_aux: aux_coef * E * f_e / T, the same for every token (f_e is a
// count, so it has no gradient). Computed in double and rounded once, so backends agree bitwise.
PROPHET_HD float balance_prob_grad(float aux_coef, int64_t num_experts, int64_t routed,
                                   int64_t num_tokens, int64_t k) {
  return static_cast<float>(double(aux_coef) * double(num_experts) *
                            (double(routed) / double(num_tokens * k)) / double(num_tokens));
}

// The z-loss's part of dL/d lse_t for z_coef * L_z, L_z = mean_t lse_t^2: z_coef * 2 * lse_t / T.
// It is the z_scale of softmax_backward_row.
PROPHET_HD float z_loss_scale(float z_coef, float logsumexp, int64_t num_tokens) {
  return z_coef * 2.0f * logsumexp / static_cast<float>(num_tokens);
}

// Softmax backward of one row, in place: grad [E] holds dL/dp on entry and dL/dlogit on exit,
// dL/dlogit_i = p_i * (g_i - sum_e p_e g_e) + z_scale * p_i, where z_scale is the derivative of
// the z-loss with respect to this row's logsumexp (d lse / d logit_i = p_i).
PROPHET_HD void softmax_backward_row(const float *probs, int64_t num_experts, float z_scale,
                                     float *grad) {
  float dot = 0.0f;
  for (int64_t e = 0; e < num_experts; ++e) dot += probs[e] * grad[e];
  for (int64_t e = 0; e < num_experts; ++e) grad[e] = probs[e] * (grad[e] - dot + z_scale);
}

}  // namespace prophet::kernels
