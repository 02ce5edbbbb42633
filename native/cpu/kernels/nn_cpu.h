// Entries of the CPU dense-layer family (native/core/kernels_nn.h), one file per kernel; the
// table that collects them is nn_table.cpp.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "../../core/kernels_nn.h"
#include "buffer_args.h"

namespace prophet::cpu {

prophet_status_t nn_embedding_forward(int64_t num_tokens, int64_t vocab, int64_t dim,
                                      int64_t num_positions, prophet_buffer_t ids,
                                      prophet_buffer_t table, prophet_buffer_t pos_table,
                                      prophet_buffer_t out, prophet_stream_t stream);
prophet_status_t nn_embedding_backward(int64_t num_tokens, int64_t vocab, int64_t dim,
                                       int64_t num_positions, prophet_buffer_t ids,
                                       prophet_buffer_t d_out, prophet_buffer_t d_table,
                                       prophet_buffer_t d_pos, prophet_stream_t stream);
prophet_status_t nn_rmsnorm_forward(int64_t num_rows, int64_t dim, float eps, prophet_buffer_t x,
                                    prophet_buffer_t gain, prophet_buffer_t y,
                                    prophet_buffer_t rstd, prophet_stream_t stream);
prophet_status_t nn_rmsnorm_backward(int64_t num_rows, int64_t dim, prophet_buffer_t d_y,
                                     prophet_buffer_t x, prophet_buffer_t gain,
                                     prophet_buffer_t rstd, prophet_buffer_t d_x,
                                     prophet_buffer_t d_gain, prophet_stream_t stream);
prophet_status_t nn_attention_forward(const prophet_attention_shape_t *shape,
                                      prophet_buffer_t qkv, prophet_buffer_t out,
                                      prophet_buffer_t lse, prophet_stream_t stream);
prophet_status_t nn_attention_backward(const prophet_attention_shape_t *shape,
                                       prophet_buffer_t qkv, prophet_buffer_t out,
                                       prophet_buffer_t lse, prophet_buffer_t d_out,
                                       prophet_buffer_t d_qkv, prophet_stream_t stream);
prophet_status_t nn_cross_entropy_forward(int64_t num_rows, int64_t num_classes,
                                          prophet_buffer_t logits, prophet_buffer_t targets,
                                          prophet_buffer_t loss, prophet_buffer_t lse,
                                          prophet_buffer_t mean_loss, prophet_stream_t stream);
prophet_status_t nn_cross_entropy_backward(int64_t num_rows, int64_t num_classes, float scale,
                                           prophet_buffer_t logits, prophet_buffer_t targets,
                                           prophet_buffer_t lse, prophet_buffer_t d_logits,
                                           prophet_stream_t stream);
prophet_status_t nn_add(int64_t num_elements, prophet_buffer_t a, prophet_buffer_t b,
                        prophet_buffer_t out, prophet_stream_t stream);

// Rows-times-features work below which OpenMP threads cost more than they save.
constexpr int64_t kNnParallelElements = int64_t(1) << 14;

// PROPHET_OK when every dimension is >= its minimum and their product does not overflow; the
// failure names the kernel.
inline prophet_status_t check_dims(const char *kernel, std::initializer_list<int64_t> dims,
                                   std::initializer_list<int64_t> minimums) {
  int64_t product = 1;
  auto minimum = minimums.begin();
  for (const int64_t dim : dims) {
    const int64_t low = minimum != minimums.end() ? *minimum++ : 0;
    if (dim < low || !checked_mul(product, dim, &product)) {
      return fail(PROPHET_ERR_INVALID, std::string(kernel) + ": invalid shape");
    }
  }
  return PROPHET_OK;
}

// Index of the first value outside [0, limit), or -1.
inline int64_t first_out_of_range(const int32_t *values, int64_t count, int64_t limit) {
  for (int64_t i = 0; i < count; ++i) {
    if (values[i] < 0 || values[i] >= limit) return i;
  }
  return -1;
}

}  // namespace prophet::cpu
