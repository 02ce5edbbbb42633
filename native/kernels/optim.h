// Per-element math of the optimizers, shared by the CPU loops and CUDA kernels. Coefficients that
// depend only on the step (bias corrections) are computed once on the host in fp64, as PyTorch
// computes them in Python floats, and passed in.
#pragma once

#include <cmath>
#include <cstdint>

#include "common.h"

namespace prophet::kernels {

// SGD coefficients of one call (torch.optim.SGD).
struct SgdCoeffs {
  float lr;
  float momentum;
  float dampening;
  float weight_decay;
  bool nesterov;
  bool first_step;  // buf = g on the buffer's first update (no dampening), as torch
};

// One element of SGD. buf is unused when momentum == 0.
PROPHET_HD void sgd_update(float *p, float g, float *buf, const SgdCoeffs &c) {
  float d = c.weight_decay != 0.0f ? g + c.weight_decay * *p : g;
  if (c.momentum != 0.0f) {
    const float b = c.first_step ? d : c.momentum * *buf + (1.0f - c.dampening) * d;
    *buf = b;
    d = c.nesterov ? d + c.momentum * b : b;
  }
  *p = *p - c.lr * d;
}

// AdamW coefficients of one step t (torch.optim.AdamW, amsgrad off).
struct AdamwCoeffs {
  float beta1;
  float beta2;
  float eps;
  float decay;      // 1 - lr·weight_decay (decoupled weight decay)
  float step_size;  // lr / (1 - beta1^t)
  float bc2_sqrt;   // sqrt(1 - beta2^t)
};

inline AdamwCoeffs adamw_coeffs(double lr, double beta1, double beta2, double eps,
                                double weight_decay, int64_t step) {
  const double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  AdamwCoeffs c;
  c.beta1 = static_cast<float>(beta1);
  c.beta2 = static_cast<float>(beta2);
  c.eps = static_cast<float>(eps);
  c.decay = static_cast<float>(1.0 - lr * weight_decay);
  c.step_size = static_cast<float>(lr / bc1);
  c.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  return c;
}

// One element of AdamW, in torch's order of operations: decay, m = lerp(m, g, 1 - beta1)
// (= m + (1 - beta1)·(g - m)), v = beta2·v + (1 - beta2)·g², p -= step_size·m / denom with
// denom = sqrt(v) / bc2_sqrt + eps.
PROPHET_HD void adamw_update(float *p, float g, float *m, float *v, const AdamwCoeffs &c) {
  const float decayed = *p * c.decay;
  const float m_new = *m + (1.0f - c.beta1) * (g - *m);
  const float v_new = *v * c.beta2 + (1.0f - c.beta2) * g * g;
  const float denom = sqrtf(v_new) / c.bc2_sqrt + c.eps;
  *m = m_new;
  *v = v_new;
  *p = decayed - c.step_size * (m_new / denom);
}

// The factor clip_grad_norm_ scales by: min(1, max_norm / (norm + 1e-6)); NaN propagates.
PROPHET_HD float clip_coefficient(double sum_squares, float max_norm) {
  const double coef = static_cast<double>(max_norm) / (sqrt(sum_squares) + 1e-6);
  return static_cast<float>(coef < 1.0 ? coef : (coef == coef ? 1.0 : coef));
}

}  // namespace prophet::kernels
