// Per-element optimizer updates (AdamW as in torch.optim.AdamW, SGD with momentum and weight
// decay as in torch.optim.SGD), written once for host and device. Lives here until the CPU
// optimizer family brings native/kernels/optim.h; then both must use that one.
#pragma once

#include <math.h>
#include <stdint.h>

#include "../../native/kernels/common.h"

namespace prophet::cuda {

struct AdamWParams {
  float lr, beta1, beta2, eps, weight_decay;
  float bias_correction1;  // 1 - beta1^step
  float bias_correction2;  // 1 - beta2^step
};

// One AdamW step of one parameter: decoupled weight decay, then the Adam update.
PROPHET_HD void adamw_update(const AdamWParams &p, float grad, float *param, float *m, float *v) {
  *param -= p.lr * p.weight_decay * *param;
  *m = p.beta1 * *m + (1.0f - p.beta1) * grad;
  *v = p.beta2 * *v + (1.0f - p.beta2) * grad * grad;
  const float m_hat = *m / p.bias_correction1;
  const float v_hat = *v / p.bias_correction2;
  *param -= p.lr * m_hat / (sqrtf(v_hat) + p.eps);
}

struct SgdParams {
  float lr, momentum, weight_decay;
  int32_t first_step;  // nonzero: the momentum buffer starts as the gradient (torch semantics)
};

// One SGD step: g += wd * p; buf = momentum * buf + g (buf = g on the first step); p -= lr * buf.
PROPHET_HD void sgd_update(const SgdParams &p, float grad, float *param, float *buf) {
  const float g = grad + p.weight_decay * *param;
  if (p.momentum != 0.0f) {
    *buf = p.first_step != 0 ? g : p.momentum * *buf + g;
    *param -= p.lr * *buf;
  } else {
    *param -= p.lr * g;
  }
}

}  // namespace prophet::cuda
