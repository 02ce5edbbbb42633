// Per-element math of the expert FFN's activations, shared by the CPU loops and CUDA kernels.
// Each activation has its value and its derivative; exp is our own polynomial (Cephes expf) so
// that CPU loops vectorise (libm's expf does not) and both backends round the same way.
#pragma once

#include <cstdint>
#include <cstring>

#include "common.h"

namespace prophet::kernels {

// The activation ids of the ABI (prophet_activation_t), as compile-time tags.
enum class Activation : int { kRelu = 0, kGelu = 1, kSilu = 2 };

PROPHET_HD float float_from_bits(int32_t bits) {
#if defined(__CUDA_ARCH__)  // the device pass; nvcc's host pass of a __host__ __device__ uses memcpy
  return __int_as_float(bits);
#else
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
#endif
}

// exp(x) with relative error ~2 ulp: x = n·ln2 + r, |r| <= ln2/2, e^r by a degree-6 polynomial,
// 2^n built in the exponent bits. The input is clamped to [-87.33, 88.37] so that 2^n stays a
// normal float: results saturate at ~1.5e-38 and ~2.6e38 instead of 0 and Inf, which only the
// sigmoid below relies on (1 / (1 + 2.6e38) is 0 to fp32 precision). NaN propagates.
PROPHET_HD float fast_exp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;  // ln2 split so that n·kLn2Hi is exact
  constexpr float kLn2Lo = -2.12194440e-4f;
  x = x < -87.33f ? -87.33f : x;
  x = x > 88.37f ? 88.37f : x;
  // n = round(x·log2e) by the 1.5·2^23 trick: adding it pushes the fraction bits out under
  // round-to-nearest, so no floor call blocks vectorisation (|x·log2e| < 2^22 after the clamp).
  constexpr float kRound = 12582912.0f;
  const float n = (x * kLog2e + kRound) - kRound;
  const float r = x - n * kLn2Hi - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * float_from_bits((static_cast<int32_t>(n) + 127) << 23);
}

// 1 / (1 + e^-x), accurate in relative terms on both tails.
PROPHET_HD float sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// GELU, tanh approximation (PyTorch approximate='tanh'):
//   0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³).
// Written as x·σ(2u), the same function since 0.5·(1 + tanh(u)) = σ(2u), because σ keeps full
// relative precision for large negative x where 1 + tanh(u) would cancel.
constexpr float kGeluScale = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluCubic = 0.044715f;

template <Activation A>
PROPHET_HD float activate(float x) {
  if constexpr (A == Activation::kRelu) {
    return x < 0.0f ? 0.0f : x;  // NaN propagates (the comparison is false)
  } else if constexpr (A == Activation::kGelu) {
    const float u = kGeluScale * (x + kGeluCubic * x * x * x);
    return x * sigmoid(2.0f * u);
  } else {
    return x * sigmoid(x);
  }
}

// d activate / dx at x. relu'(0) = 0, as in PyTorch.
template <Activation A>
PROPHET_HD float activate_grad(float x) {
  if constexpr (A == Activation::kRelu) {
    return x > 0.0f ? 1.0f : 0.0f;
  } else if constexpr (A == Activation::kGelu) {
    const float x2 = x * x;
    const float u = kGeluScale * (x + kGeluCubic * x2 * x);
    const float s = sigmoid(2.0f * u);
    const float du_dx = kGeluScale * (1.0f + 3.0f * kGeluCubic * x2);
    return s + x * 2.0f * s * (1.0f - s) * du_dx;
  } else {
    const float s = sigmoid(x);
    return s * (1.0f + x * (1.0f - s));
  }
}

// Forward of one hidden element. Plain: a = f(z). Gated: a = f(gate)·up.
template <Activation A>
PROPHET_HD float gated_activate(float gate, float up) { return activate<A>(gate) * up; }

// Backward of one gated element given da = dL/da: dgate = da·up·f'(gate), dup = da·f(gate).
template <Activation A>
PROPHET_HD void gated_activate_grad(float gate, float up, float da, float *dgate, float *dup) {
  *dgate = da * up * activate_grad<A>(gate);
  *dup = da * activate<A>(gate);
}

}  // namespace prophet::kernels
