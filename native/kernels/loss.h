// Per-row math of softmax cross-entropy, shared by the CPU backend and CUDA. Sums run in class
// order, with the row maximum subtracted so that exp never overflows.
#pragma once

#include <math.h>
#include <stdint.h>

#include "common.h"

namespace prophet::kernels {

// log sum_c exp(logits[c]) of one row.
PROPHET_HD float logsumexp_row(const float *logits, int64_t num_classes) {
  float row_max = logits[0];
  for (int64_t c = 1; c < num_classes; ++c) row_max = logits[c] > row_max ? logits[c] : row_max;
  float sum = 0.0f;
  for (int64_t c = 0; c < num_classes; ++c) sum += expf(logits[c] - row_max);
  return row_max + logf(sum);
}

// d_logits[c] = (exp(logits[c] - lse) - [c == target]) * scale.
PROPHET_HD void cross_entropy_backward_row(const float *logits, int32_t target, float lse,
                                           int64_t num_classes, float scale, float *d_logits) {
  for (int64_t c = 0; c < num_classes; ++c) {
    const float onehot = c == target ? 1.0f : 0.0f;
    d_logits[c] = (expf(logits[c] - lse) - onehot) * scale;
  }
}

}  // namespace prophet::kernels
