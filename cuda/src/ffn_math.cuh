// Per-element math of the expert FFN epilogues (activations and their derivatives), written once
// for host and device like native/kernels/*.h. It lives here until the CPU FFN family brings its
// own header to native/kernels/; then both must use that one.
#pragma once

#include <math.h>
#include <stdint.h>

#include "../../native/kernels/common.h"

namespace prophet::cuda {

enum FfnActivation : int32_t { kActRelu = 0, kActGelu = 1, kActSilu = 2 };

// GELU in the tanh form (GPT-2, Megatron): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
PROPHET_HD float activation(int32_t act, float x) {
  if (act == kActRelu) return x > 0.0f ? x : 0.0f;
  if (act == kActGelu) {
    const float inner = 0.7978845608f * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.0f + tanhf(inner));
  }
  return x / (1.0f + expf(-x));  // SiLU
}

// d activation / dx at x.
PROPHET_HD float activation_grad(int32_t act, float x) {
  if (act == kActRelu) return x > 0.0f ? 1.0f : 0.0f;
  if (act == kActGelu) {
    const float inner = 0.7978845608f * (x + 0.044715f * x * x * x);
    const float t = tanhf(inner);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * 0.7978845608f * (1.0f + 0.134145f * x * x);
  }
  const float s = 1.0f / (1.0f + expf(-x));
  return s * (1.0f + x * (1.0f - s));
}

}  // namespace prophet::cuda
