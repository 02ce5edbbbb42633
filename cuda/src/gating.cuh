// Entries of the CUDA gating family (native/core/kernels_gating.h): forward in gating_forward.cu
// (softmax + top-k, then the capacity pass), aux_loss and backward in gating_backward.cu.
#pragma once

#include "../../native/core/kernels_gating.h"

namespace prophet::cuda {

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

// Rows of a [rows, E] tile kept in shared memory: the stride is odd so that thread r reading
// element e of its own row hits bank (r * stride + e) % 32, distinct across a warp.
inline int64_t tile_stride(int64_t num_experts) { return num_experts | 1; }

// Shared memory one block may use without opting in.
constexpr int64_t kTileBytes = 48 * 1024;
// Tokens (threads) per block at most.
constexpr int64_t kMaxTileRows = 128;

// Tokens per block when each token needs `row_bytes` of shared memory, after `fixed_bytes`;
// 0 when not even one fits (the kernels then work on global memory).
inline int64_t tile_rows(int64_t row_bytes, int64_t fixed_bytes) {
  const int64_t rows = (kTileBytes - fixed_bytes) / row_bytes;
  return rows < 1 ? 0 : (rows > kMaxTileRows ? kMaxTileRows : rows);
}

}  // namespace prophet::cuda
