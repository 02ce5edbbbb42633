// CPU gating forward: softmax + top-k per token (parallel over tokens), then the capacity pass
// that gives every slot its position inside its expert (sequential: it is a running count).
#include <algorithm>
#include <climits>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "../../kernels/gating.h"
#include "buffer_args.h"
#include "gating_cpu.h"

namespace prophet::cpu {
namespace {

constexpr const char *kName = "gating forward";

prophet_status_t check_forward(const prophet_gating_params_t &p, prophet_buffer_t logits,
                               const prophet_gating_outputs_t &out) {
  int64_t num_logits = 0, num_slots = 0;
  if (std::string e = checks::gating_params_error(kName, p, &num_logits, &num_slots); !e.empty()) {
    return fail(PROPHET_ERR_INVALID, e);
  }
  const auto buffers = checks::gating_forward_buffers(p, logits, out, num_logits, num_slots);
  for (const auto &b : buffers) {
    if (prophet_status_t s = require_buffer(kName, b.name, b.buffer, b.count, 4); s != PROPHET_OK) {
      return s;
    }
  }
  return PROPHET_OK;
}

// Index of the first NaN or infinite logit, or -1. Checked before anything is written so that a
// failed call leaves its outputs as they were.
int64_t first_non_finite(const float *logits, int64_t count) {
  int64_t first = INT64_MAX;
#pragma omp parallel for schedule(static) reduction(min : first) if (count > kGatingParallelElements)
  for (int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(logits[i]) && i < first) first = i;
  }
  return first == INT64_MAX ? -1 : first;
}

// Softmax, top-k and the (optionally renormalised) weights of every token. The weight row is
// the top-k scratch first (the selected logits), then the selected probabilities.
void route_tokens(const prophet_gating_params_t &p, const float *logits, float *probs,
                  float *logsumexp, int32_t *expert_index, float *weight) {
  const int64_t E = p.num_experts, k = p.k;
#pragma omp parallel for schedule(static) if (p.num_tokens * E > kGatingParallelElements)
  for (int64_t t = 0; t < p.num_tokens; ++t) {
    float *prob_row = probs + t * E;
    int32_t *index_row = expert_index + t * k;
    float *weight_row = weight + t * k;
    logsumexp[t] = kernels::softmax_row(logits + t * E, E, prob_row);
    kernels::topk_row(logits + t * E, E, k, index_row, weight_row);
    for (int64_t j = 0; j < k; ++j) weight_row[j] = prob_row[index_row[j]];
    if (p.renormalize != 0) kernels::renormalize_row(weight_row, k);
  }
}

// Tokens in the order their slots claim capacity: token order, or increasing random priority.
std::vector<int32_t> token_order(const prophet_gating_params_t &p) {
  std::vector<int32_t> order(static_cast<size_t>(p.num_tokens));
  std::iota(order.begin(), order.end(), 0);
  if (p.slot_order == PROPHET_SLOT_ORDER_RANDOM) {
    std::vector<uint32_t> priority(order.size());
    for (size_t t = 0; t < order.size(); ++t) {
      priority[t] = kernels::random_priority(p.seed, static_cast<int64_t>(t));
    }
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return priority[a] != priority[b] ? priority[a] < priority[b] : a < b;
    });
  }
  return order;
}

// GShard/DeepSpeed position-based dropping: all first choices claim capacity before any second
// choice (rank j outer), tokens in `order` inner; a slot whose position would reach the capacity
// is dropped (position -1, weight 0). Returns the number dropped.
int32_t assign_positions(const prophet_gating_params_t &p, const std::vector<int32_t> &order,
                         const int32_t *expert_index, float *weight, int32_t *position,
                         int32_t *counts_per_expert) {
  std::fill(counts_per_expert, counts_per_expert + p.num_experts, 0);
  int32_t num_dropped = 0;
  for (int64_t j = 0; j < p.k; ++j) {
    for (const int32_t t : order) {
      const int64_t slot = t * p.k + j;
      int32_t &count = counts_per_expert[expert_index[slot]];
      if (p.capacity < 0 || count < p.capacity) {
        position[slot] = count++;
      } else {
        position[slot] = -1;
        weight[slot] = 0.0f;
        ++num_dropped;
      }
    }
  }
  return num_dropped;
}

prophet_status_t run_forward(const prophet_gating_params_t &p, prophet_buffer_t logits_buffer,
                             const prophet_gating_outputs_t &out) {
  const float *logits = data_of<const float>(logits_buffer);
  // Step 1: refuse non-finite logits (documented policy: no NaN propagation into routing).
  if (const int64_t bad = first_non_finite(logits, p.num_tokens * p.num_experts); bad >= 0) {
    return fail(PROPHET_ERR_INVALID,
                std::string(kName) + ": logits[" + std::to_string(bad / p.num_experts) + ", " +
                    std::to_string(bad % p.num_experts) + "] is " +
                    (std::isnan(logits[bad]) ? "NaN" : "infinite") + "; logits must be finite");
  }
  // Step 2: probabilities, top-k experts and weights of every token.
  auto *expert_index = data_of<int32_t>(out.expert_index);
  auto *weight = data_of<float>(out.weight);
  route_tokens(p, logits, data_of<float>(out.probs), data_of<float>(out.logsumexp), expert_index,
               weight);
  // Step 3: positions inside experts, dropping what exceeds the capacity.
  *data_of<int32_t>(out.num_dropped) =
      assign_positions(p, token_order(p), expert_index, weight, data_of<int32_t>(out.position),
                       data_of<int32_t>(out.counts_per_expert));
  return PROPHET_OK;
}

}  // namespace

prophet_status_t gating_forward(const prophet_gating_params_t *params, prophet_buffer_t logits,
                                const prophet_gating_outputs_t *outputs, prophet_stream_t stream) {
  if (params == nullptr || outputs == nullptr) {
    return fail(PROPHET_ERR_INVALID, std::string(kName) + ": params and outputs are required");
  }
  if (prophet_status_t s = check_forward(*params, logits, *outputs); s != PROPHET_OK) return s;
  stream->enqueue([p = *params, logits, out = *outputs] { return run_forward(p, logits, out); });
  return PROPHET_OK;
}

}  // namespace prophet::cpu
