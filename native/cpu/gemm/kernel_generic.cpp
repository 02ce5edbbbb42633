// Portable micro-kernel: a 4 x 8 tile in plain C++, for processors without AVX2 (and other
// architectures). Written so that the compiler's auto-vectoriser maps each row of the tile to
// two SSE registers at the baseline x86-64 ISA: 8 accumulators fit the 16 xmm registers.
#include <cstdint>

#include "gemm_kernel.h"

namespace prophet::cpu::gemm {
namespace {

constexpr int kMr = 4;
constexpr int kNr = 8;

void kernel_4x8(int64_t kc, const float *a, const float *b, int64_t ldb, float *c,
                int64_t ldc, float alpha, float beta, const float *l2_next, int64_t l2_lines) {
  // Step 1: rank-1 updates over the depth, requesting the driver's lines one per step (see
  // MicroKernel; locality 2 is x86's prefetcht1, into L2).
  float acc[kMr][kNr] = {};
  for (int64_t p = 0; p < kc; ++p) {
    if (p < l2_lines) __builtin_prefetch(l2_next + p * kFloatsPerLine, /*rw=*/0, /*locality=*/2);
    for (int i = 0; i < kMr; ++i) {
      for (int j = 0; j < kNr; ++j) acc[i][j] += a[i] * b[j];
    }
    a += kMr;
    b += ldb;
  }

  for (int64_t line = kc; line < l2_lines; ++line) {
    __builtin_prefetch(l2_next + line * kFloatsPerLine, /*rw=*/0, /*locality=*/2);
  }

  // Step 2: C = alpha * acc + beta * C; C is not read when beta == 0.
  for (int i = 0; i < kMr; ++i) {
    float *c_row = c + i * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < kNr; ++j) c_row[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < kNr; ++j) c_row[j] = alpha * acc[i][j] + beta * c_row[j];
    }
  }
}

}  // namespace

extern const KernelInfo kGenericKernel = {
    "generic", kMr, kNr, /*mc=*/128, /*kc=*/256, /*nc=*/2048, kernel_4x8, nullptr, nullptr,
    /*a_panel_outer=*/false};

}  // namespace prophet::cpu::gemm
