// Index arithmetic and row math of dispatch/combine, shared by the CPU backend and CUDA. A slot
// (t, j) maps to one row of the expert-contiguous buffer; backends differ only in the loops.
#pragma once

#include <stdint.h>

#include "common.h"

namespace prophet::kernels {

// Row of the permuted buffer a slot maps to, or -1 for a dropped slot (position < 0). The
// expert's block starts at row_offset_per_expert[expert]; the slot's position is its row inside.
PROPHET_HD int64_t slot_row(const int32_t *row_offset_per_expert, int32_t expert,
                            int32_t position) {
  if (position < 0) return -1;
  return static_cast<int64_t>(row_offset_per_expert[expert]) + position;
}

// out[i] += scale * row[i], in feature order.
PROPHET_HD void axpy_row(float scale, const float *row, int64_t num_features, float *out) {
  for (int64_t i = 0; i < num_features; ++i) out[i] += scale * row[i];
}

// <a, b> summed in feature order, so the result is the same on every run and thread count.
PROPHET_HD float dot_row(const float *a, const float *b, int64_t num_features) {
  float sum = 0.0f;
  for (int64_t i = 0; i < num_features; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace prophet::kernels
