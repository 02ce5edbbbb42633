// Host encodings of the GEMM/FFN storage types (f32, bf16, f16) for prophet_cuda_test.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace prophet::test {

enum Dtype { kF32 = 0, kBF16 = 1, kF16 = 2 };
inline const char *const kDtypeNames[] = {"f32", "bf16", "f16"};

inline uint16_t to_bf16(float f) {  // round to nearest even (inputs here are exact anyway)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even, with subnormals and overflow to infinity (random test data reaches both
// ends of f16's range).
inline uint16_t to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const float a = std::fabs(f);
  if (std::isnan(f)) return static_cast<uint16_t>(sign | 0x7e00u);
  if (a >= 65520.0f) return static_cast<uint16_t>(sign | 0x7c00u);
  if (a < 6.103515625e-05f) {  // subnormal: multiples of 2^-24 (1024 of them is the smallest normal)
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f)));
  }
  int e = 0;
  const float m = std::frexp(a, &e);  // a = m 2^e, m in [0.5, 1)
  uint32_t bits = static_cast<uint32_t>(std::nearbyint(std::ldexp(m, 11)));  // [1024, 2048]
  int exponent = e - 1 + 15;
  if (bits == 2048) {
    bits = 1024;
    ++exponent;
  }
  if (exponent >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  return static_cast<uint16_t>(sign | (exponent << 10) | (bits - 1024));
}

inline float from_f16(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  float value = 0.0f;
  if (exponent == 0) {
    value = std::ldexp(float(mantissa), -24);
  } else if (exponent == 31) {
    value = mantissa == 0 ? INFINITY : NAN;
  } else {
    value = std::ldexp(1.0f + float(mantissa) / 1024.0f, exponent - 15);
  }
  return (h & 0x8000) != 0 ? -value : value;
}

// Encodes floats in a dtype (bytes), and decodes them.
inline std::vector<uint8_t> encode(const std::vector<float> &values, int dtype) {
  std::vector<uint8_t> bytes(values.size() * (dtype == kF32 ? 4 : 2));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == kF32) {
      std::memcpy(&bytes[4 * i], &values[i], 4);
    } else {
      const uint16_t h = dtype == kBF16 ? to_bf16(values[i]) : to_f16(values[i]);
      std::memcpy(&bytes[2 * i], &h, 2);
    }
  }
  return bytes;
}

inline std::vector<float> decode(const std::vector<uint8_t> &bytes, int dtype) {
  const size_t width = dtype == kF32 ? 4 : 2;
  std::vector<float> values(bytes.size() / width);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == kF32) {
      std::memcpy(&values[i], &bytes[4 * i], 4);
    } else {
      uint16_t h;
      std::memcpy(&h, &bytes[2 * i], 2);
      values[i] = dtype == kBF16 ? from_bf16(h) : from_f16(h);
    }
  }
  return values;
}

}  // namespace prophet::test
