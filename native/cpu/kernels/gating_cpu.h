// Entries of the CPU gating family (native/core/kernels_gating.h), one file per pass; the table
// that collects them is gating.cpp.
#pragma once

#include "../../core/kernels_gating.h"

namespace prophet::cpu {

prophet_status_t gating_forward(const prophet_gating_params_t *params, prophet_buffer_t logits,
                                const prophet_gating_outputs_t *outputs, prophet_stream_t stream);

prophet_status_t gating_aux_loss(int64_t num_tokens, int64_t num_experts, int64_t k,
                                 prophet_buffer_t probs, prophet_buffer_t logsumexp,
                                 prophet_buffer_t expert_index, prophet_buffer_t losses,
                                 prophet_stream_t stream);

prophet_status_t gating_backward(const prophet_gating_backward_params_t *params,
                                 prophet_buffer_t probs, prophet_buffer_t logsumexp,
                                 prophet_buffer_t expert_index, prophet_buffer_t position,
                                 prophet_buffer_t d_weight, prophet_buffer_t d_logits,
                                 prophet_stream_t stream);

// Row-times-experts work below which OpenMP threads cost more than they save.
constexpr int64_t kGatingParallelElements = int64_t(1) << 14;

}  // namespace prophet::cpu
