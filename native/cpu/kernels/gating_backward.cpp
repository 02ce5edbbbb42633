// CPU gating aux losses and backward: the Switch/GShard load-balancing loss, the router z-loss,
// and the gradient of (combine weights, aux losses) with respect to the router logits.
#include <algorithm>
#include <string>
#include <vector>

#include "../../kernels/gating.h"
#include "buffer_args.h"
#include "gating_cpu.h"

namespace prophet::cpu {
namespace {

prophet_status_t check_sizes(const char *kernel, int64_t T, int64_t E, int64_t k) {
  int64_t num_logits = 0, num_slots = 0;
  if (T < 0 || E < 1 || k < 1 || k > E || !checked_mul(T, E, &num_logits) ||
      !checked_mul(T, k, &num_slots)) {
    return fail(PROPHET_ERR_INVALID, std::string(kernel) +
                                         ": need num_tokens >= 0, num_experts >= 1 and "
                                         "1 <= k <= num_experts");
  }
  return PROPHET_OK;
}

// Slots routed to each expert (kept or dropped: f_e describes the router's choice, as in GShard,
// where the fraction is taken before capacity trimming). Fails on an index outside [0, E).
prophet_status_t count_routed_slots(const char *kernel, const int32_t *expert_index, int64_t T,
                                    int64_t E, int64_t k, std::vector<int64_t> *routed) {
  routed->assign(static_cast<size_t>(E), 0);
  for (int64_t slot = 0; slot < T * k; ++slot) {
    const int32_t e = expert_index[slot];
    if (e < 0 || e >= E) {
      return fail(PROPHET_ERR_INVALID, std::string(kernel) + ": expert_index[" +
                                           std::to_string(slot / k) + ", " +
                                           std::to_string(slot % k) + "] = " + std::to_string(e) +
                                           " is outside [0, " + std::to_string(E) + ")");
    }
    ++(*routed)[e];
  }
  return PROPHET_OK;
}

prophet_status_t run_aux_loss(int64_t T, int64_t E, int64_t k, const float *probs,
                              const float *logsumexp, const int32_t *expert_index, float *losses) {
  std::vector<int64_t> routed;
  if (prophet_status_t s = count_routed_slots("gating aux_loss", expert_index, T, E, k, &routed);
      s != PROPHET_OK) {
    return s;
  }
  // Sums in double, in token order: exact enough for any T and the same on every run.
  double balance = 0.0, z_sum = 0.0;
  for (int64_t e = 0; e < E && T > 0; ++e) {
    double prob_sum = 0.0;
    for (int64_t t = 0; t < T; ++t) prob_sum += probs[t * E + e];
    balance += kernels::balance_term(routed[e], prob_sum, T, k);
  }
  for (int64_t t = 0; t < T; ++t) z_sum += double(logsumexp[t]) * double(logsumexp[t]);
  losses[0] = static_cast<float>(double(E) * balance);
  losses[1] = T > 0 ? static_cast<float>(z_sum / double(T)) : 0.0f;
  return PROPHET_OK;
}

prophet_status_t run_backward(const prophet_gating_backward_params_t &p, const float *probs,
                              const float *logsumexp, const int32_t *expert_index,
                              const int32_t *position, const float *d_weight, float *d_logits) {
  const int64_t T = p.num_tokens, E = p.num_experts, k = p.k;
  if (T == 0) return PROPHET_OK;
  std::vector<int64_t> routed;
  if (prophet_status_t s = count_routed_slots("gating backward", expert_index, T, E, k, &routed);
      s != PROPHET_OK) {
    return s;
  }
  // Step 1: dL_aux/dp[t, e] = aux_coef * E * f_e / T, the same for every token.
  std::vector<float> aux_grad(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) {
    aux_grad[e] = kernels::balance_prob_grad(p.aux_coef, E, routed[e], T, k);
  }
#pragma omp parallel if (T * E > kGatingParallelElements)
  {
    std::vector<float> kept_grad(static_cast<size_t>(k));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < T; ++t) {
      // Step 2: dL/dp of this token: aux part, then the combine weights (dropped slots: none).
      float *grad = d_logits + t * E;
      std::copy(aux_grad.begin(), aux_grad.end(), grad);
      for (int64_t j = 0; j < k; ++j) {
        const bool kept = position[t * k + j] >= 0 && d_weight != nullptr;
        kept_grad[j] = kept ? d_weight[t * k + j] : 0.0f;
      }
      kernels::weight_grad_to_prob_grad(probs + t * E, expert_index + t * k, kept_grad.data(), k,
                                        p.renormalize != 0, grad);
      // Step 3: through the softmax; the z-loss enters as d(lse_t^2 / T) / d lse_t.
      const float z_scale = kernels::z_loss_scale(p.z_coef, logsumexp[t], T);
      kernels::softmax_backward_row(probs + t * E, E, z_scale, grad);
    }
  }
  return PROPHET_OK;
}

}  // namespace

prophet_status_t gating_aux_loss(int64_t num_tokens, int64_t num_experts, int64_t k,
                                 prophet_buffer_t probs, prophet_buffer_t logsumexp,
                                 prophet_buffer_t expert_index, prophet_buffer_t losses,
                                 prophet_stream_t stream) {
  constexpr const char *kName = "gating aux_loss";
  const int64_t T = num_tokens, E = num_experts;
  prophet_status_t s = check_sizes(kName, T, E, k);
  if (s == PROPHET_OK) s = require_buffer(kName, "probs", probs, T * E, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "logsumexp", logsumexp, T, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "expert_index", expert_index, T * k, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "losses", losses, 2, 4);
  if (s != PROPHET_OK) return s;
  stream->enqueue([=] {
    return run_aux_loss(T, E, k, data_of<const float>(probs), data_of<const float>(logsumexp),
                        data_of<const int32_t>(expert_index), data_of<float>(losses));
  });
  return PROPHET_OK;
}

prophet_status_t gating_backward(const prophet_gating_backward_params_t *params,
                                 prophet_buffer_t probs, prophet_buffer_t logsumexp,
                                 prophet_buffer_t expert_index, prophet_buffer_t position,
                                 prophet_buffer_t d_weight, prophet_buffer_t d_logits,
                                 prophet_stream_t stream) {
  constexpr const char *kName = "gating backward";
  if (params == nullptr) return fail(PROPHET_ERR_INVALID, std::string(kName) + ": no params");
  const prophet_gating_backward_params_t p = *params;
  const int64_t T = p.num_tokens, E = p.num_experts, k = p.k;
  prophet_status_t s = check_sizes(kName, T, E, k);
  if (s == PROPHET_OK) s = require_buffer(kName, "probs", probs, T * E, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "logsumexp", logsumexp, T, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "expert_index", expert_index, T * k, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "position", position, T * k, 4);
  if (s == PROPHET_OK && d_weight != nullptr) {
    s = require_buffer(kName, "d_weight", d_weight, T * k, 4);
  }
  if (s == PROPHET_OK) s = require_buffer(kName, "d_logits", d_logits, T * E, 4);
  if (s != PROPHET_OK) return s;
  stream->enqueue([=] {
    return run_backward(p, data_of<const float>(probs), data_of<const float>(logsumexp),
                        data_of<const int32_t>(expert_index), data_of<const int32_t>(position),
                        d_weight != nullptr ? data_of<const float>(d_weight) : nullptr,
                        data_of<float>(d_logits));
  });
  return PROPHET_OK;
}

}  // namespace prophet::cpu
