// AVX2 + FMA micro-kernel: a 6 x 16 register tile (12 ymm accumulators, 2 ymm of B, one
// broadcast of A), the classic Haswell-to-Zen shape: 12 independent FMA chains cover two FMA
// ports at 5-cycle latency within the 16 ymm registers. Compiled for AVX2 in this file only; the
// driver calls it only where cpuid reports AVX2 and FMA.
#include <algorithm>
#include <cstdint>

#include "gemm_kernel.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

// Standard headers come first so that no shared inline function is compiled with these flags.
#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace prophet::cpu::gemm {
namespace {

constexpr int kMr = 6;
constexpr int kNumVectors = 2;  // ymm vectors per row of the tile
constexpr int kNr = 8 * kNumVectors;
constexpr int kPrefetchDistance = 8;  // depth steps

void kernel_6x16(int64_t kc, const float *a, const float *b, int64_t ldb, float *c,
                 int64_t ldc, float alpha, float beta, const float *l2_next,
                 int64_t l2_lines) {
  // Step 1: rank-1 updates over the depth, accumulating in registers.
  __m256 acc[kMr][kNumVectors];
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) {
#pragma GCC unroll 2
    for (int v = 0; v < kNumVectors; ++v) acc[i][v] = _mm256_setzero_ps();
  }
  for (int64_t p = 0; p < kc; ++p) {
    _mm_prefetch(reinterpret_cast<const char *>(b + kPrefetchDistance * ldb), _MM_HINT_T0);
    // The driver's lines, one per step (see MicroKernel).
    if (p < l2_lines) {
      _mm_prefetch(reinterpret_cast<const char *>(l2_next + p * kFloatsPerLine), _MM_HINT_T1);
    }
    __m256 bv[kNumVectors];
#pragma GCC unroll 2
    for (int v = 0; v < kNumVectors; ++v) bv[v] = _mm256_loadu_ps(b + 8 * v);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 2
      for (int v = 0; v < kNumVectors; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += kMr;
    b += ldb;
  }

  for (int64_t line = std::min(kc, l2_lines); line < l2_lines; ++line) {
    _mm_prefetch(reinterpret_cast<const char *>(l2_next + line * kFloatsPerLine), _MM_HINT_T1);
  }

  // Step 2: C = alpha * acc + beta * C; C is not read when beta == 0.
  const __m256 alpha_v = _mm256_set1_ps(alpha);
  const __m256 beta_v = _mm256_set1_ps(beta);
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) {
    float *c_row = c + i * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < kNumVectors; ++v) {
      __m256 result = _mm256_mul_ps(alpha_v, acc[i][v]);
      if (beta != 0.0f) result = _mm256_fmadd_ps(beta_v, _mm256_loadu_ps(c_row + 8 * v), result);
      _mm256_storeu_ps(c_row + 8 * v, result);
    }
  }
}

}  // namespace

// Blocking for a 32-48 KiB L1d and >= 1 MiB L2: a 256 x 16 micro-panel of B is 16 KiB (L1), a
// 144 x 256 block of A is 144 KiB (L2). BLIS's loop order (B panel in L1): AVX2 processors'
// L2 (256 KiB to 1 MiB) is too small to hold a kc x nc block of B worth sweeping.
extern const KernelInfo kAvx2Kernel = {
    "avx2", kMr, kNr, /*mc=*/144, /*kc=*/256, /*nc=*/3072, kernel_6x16, nullptr, nullptr,
    /*a_panel_outer=*/false};

}  // namespace prophet::cpu::gemm

#pragma GCC pop_options

#else  // not x86: the ISA does not exist, and the selector never picks this kernel

namespace prophet::cpu::gemm {
extern const KernelInfo kAvx2Kernel = {"avx2", 6, 16, 1, 1, 1, nullptr, nullptr, nullptr, false};
}  // namespace prophet::cpu::gemm

#endif
