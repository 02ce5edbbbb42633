// Per-row math of the embedding kernels, shared by the CPU backend and CUDA: one output row is a
// table row plus (optionally) a position row; the backward adds a gradient row into a table row.
#pragma once

#include <stdint.h>

#include "common.h"

namespace prophet::kernels {

// out[i] = row[i] + (pos_row ? pos_row[i] : 0), in feature order.
PROPHET_HD void embedding_row(const float *row, const float *pos_row, int64_t dim, float *out) {
  for (int64_t i = 0; i < dim; ++i) out[i] = pos_row != nullptr ? row[i] + pos_row[i] : row[i];
}

// acc[i] += grad[i]: one token's gradient added into the row it read.
PROPHET_HD void accumulate_row(const float *grad, int64_t dim, float *acc) {
  for (int64_t i = 0; i < dim; ++i) acc[i] += grad[i];
}

}  // namespace prophet::kernels
