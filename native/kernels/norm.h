// Per-row math of RMSNorm (Zhang & Sennrich 2019), shared by the CPU backend and CUDA. Sums run
// in feature order so that every backend rounds the same way.
#pragma once

#include <math.h>
#include <stdint.h>

#include "common.h"

namespace prophet::kernels {

// y = x * rstd * gain with rstd = 1 / sqrt(mean(x^2) + eps). Returns rstd (kept for backward).
PROPHET_HD float rmsnorm_row(const float *x, const float *gain, int64_t dim, float eps, float *y) {
  float sum_sq = 0.0f;
  for (int64_t i = 0; i < dim; ++i) sum_sq += x[i] * x[i];
  const float rstd = 1.0f / sqrtf(sum_sq / static_cast<float>(dim) + eps);
  for (int64_t i = 0; i < dim; ++i) y[i] = x[i] * rstd * gain[i];
  return rstd;
}

// dx of one row. With xh = x * rstd and g = dy * gain: dx = rstd * (g - xh * mean(g * xh)),
// because d rstd / d x_i = -rstd^3 x_i / dim.
PROPHET_HD void rmsnorm_backward_row(const float *dy, const float *x, const float *gain,
                                     float rstd, int64_t dim, float *dx) {
  float dot = 0.0f;
  for (int64_t i = 0; i < dim; ++i) dot += dy[i] * gain[i] * x[i] * rstd;
  const float mean_dot = dot / static_cast<float>(dim);
  for (int64_t i = 0; i < dim; ++i) dx[i] = rstd * (dy[i] * gain[i] - x[i] * rstd * mean_dot);
}

}  // namespace prophet::kernels
