// AVX-512 micro-kernel: a 14 x 32 register tile (28 zmm accumulators, 2 zmm of B, A broadcast
// from memory), compiled for AVX-512 in this file only; the driver calls it only where cpuid
// reports AVX-512F/VL/BW/DQ.
//
// Why 14 x 32: Sapphire Rapids issues two 512-bit FMAs per cycle with 4-cycle latency, so at
// least 8 independent accumulators are needed; 28 of the 32 zmm registers hold C, leaving room
// for two B vectors and a broadcast. Per depth step it loads 2 vectors of B and 14 scalars of A
// for 28 FMAs, which the two vector load ports sustain.
#include <algorithm>
#include <cstdint>

#include "gemm_kernel.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

// Everything below is compiled for AVX-512. The standard headers are included above, so no
// shared inline function is compiled with these flags (which would leak AVX-512 code into
// other files through the linker), and the kernel has internal linkage.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,fma")

namespace prophet::cpu::gemm {
namespace {

constexpr int kMr = 14;
constexpr int kNumVectors = 2;  // zmm vectors per row of the tile
constexpr int kNr = 16 * kNumVectors;

// How far ahead (in depth steps) the A and B streams are prefetched into L1.
constexpr int kPrefetchDistance = 8;
// Depth steps left when the C tile is prefetched (~14 cycles each: enough to hide an L2 miss).
constexpr int64_t kCTailSteps = 16;

// The tile's first Rows rows (Rows = kMr for full tiles; fewer for the last rows of C, whose
// packed panel is still kMr wide), so that no FMA is spent on padding rows.
template <int Rows>
void kernel_rows(int64_t kc, const float *a, const float *b, int64_t ldb, float *c,
                 int64_t ldc, float alpha, float beta, const float *l2_next,
                 int64_t l2_lines) {
  // Step 1: rank-1 updates over the depth, accumulating in registers.
  __m512 acc[Rows][kNumVectors];
#pragma GCC unroll 14
  for (int i = 0; i < Rows; ++i) {
#pragma GCC unroll 2
    for (int v = 0; v < kNumVectors; ++v) acc[i][v] = _mm512_setzero_ps();
  }
  const auto rank1_update = [&]() __attribute__((always_inline)) {
    // Two lines: a panel read in place from B need not start on a cache line.
    _mm_prefetch(reinterpret_cast<const char *>(b + kPrefetchDistance * ldb), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char *>(b + kPrefetchDistance * ldb + kNr - 1),
                 _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char *>(a + kPrefetchDistance * kMr), _MM_HINT_T0);
    __m512 bv[kNumVectors];
#pragma GCC unroll 2
    for (int v = 0; v < kNumVectors; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 14
    for (int i = 0; i < Rows; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 2
      for (int v = 0; v < kNumVectors; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += kMr;
    b += ldb;
  };
  // Step 2: requests for cache lines, one or two per step between the FMAs (a burst of them
  // stalls on the fill buffers). Early on, the C tile's rows into L2: they arrive from memory
  // while the call runs. Then the driver's lines into L2 (see MicroKernel). In the last
  // kCTailSteps steps, the C rows into L1, late enough that the A and B streams do not evict
  // them again (C's rows, often 4 KiB apart, share L1 sets).
  const auto request_row = [&](int i, int hint) __attribute__((always_inline)) {
    const char *row = reinterpret_cast<const char *>(c + i * ldc);
    if (hint == 1) {
      _mm_prefetch(row, _MM_HINT_T1);
      _mm_prefetch(row + (kNr - 1) * sizeof(float), _MM_HINT_T1);
    } else {
      _mm_prefetch(row, _MM_HINT_T0);
      _mm_prefetch(row + (kNr - 1) * sizeof(float), _MM_HINT_T0);
    }
  };
  const int64_t body_steps = kc - kCTailSteps;
  int64_t p = 0;
  for (; p < body_steps && p < Rows; ++p) {
    request_row(static_cast<int>(p), 1);
    rank1_update();
  }
  int64_t line = 0;  // of l2_next
  for (; p < body_steps && line < l2_lines; ++p, ++line) {
    _mm_prefetch(reinterpret_cast<const char *>(l2_next + line * kFloatsPerLine), _MM_HINT_T1);
    rank1_update();
  }
  for (; p < body_steps; ++p) rank1_update();
  for (; line < l2_lines; ++line) {
    _mm_prefetch(reinterpret_cast<const char *>(l2_next + line * kFloatsPerLine), _MM_HINT_T1);
  }
  int row = 0;
  for (; p < kc; ++p) {
    if (row < Rows) request_row(row++, 0);
    rank1_update();
  }
  for (; row < Rows; ++row) request_row(row, 0);

  // Step 3: C = alpha * acc + beta * C; C is not read when beta == 0.
  const __m512 alpha_v = _mm512_set1_ps(alpha);
  const __m512 beta_v = _mm512_set1_ps(beta);
#pragma GCC unroll 14
  for (int i = 0; i < Rows; ++i) {
    float *c_row = c + i * ldc;
#pragma GCC unroll 2
    for (int v = 0; v < kNumVectors; ++v) {
      __m512 result = _mm512_mul_ps(alpha_v, acc[i][v]);
      if (beta != 0.0f) result = _mm512_fmadd_ps(beta_v, _mm512_loadu_ps(c_row + 16 * v), result);
      _mm512_storeu_ps(c_row + 16 * v, result);
    }
  }
}

constexpr MicroKernel kRowKernels[kMr + 1] = {
    nullptr,         kernel_rows<1>,  kernel_rows<2>,  kernel_rows<3>,  kernel_rows<4>,
    kernel_rows<5>,  kernel_rows<6>,  kernel_rows<7>,  kernel_rows<8>,  kernel_rows<9>,
    kernel_rows<10>, kernel_rows<11>, kernel_rows<12>, kernel_rows<13>, kernel_rows<14>};

}  // namespace

// Blocking for a 48 KiB L1d and 2 MiB L2 per core, in OpenBLAS's loop order (a_panel_outer):
// each 14 x 512 micro-panel of A (28 KiB) is swept against the 16 micro-panels of a 512 x 512
// block of B (1 MiB, in L2, 128 bytes a depth step), the kernel prefetching both streams. A
// block of A (up to 2016 x 512, 4 MiB, in L2 and L3) is packed once per kc slice and swept
// against all of a thread's columns.
// - kc = 512: every C tile is read and written once per kc slice, so the depth sets C's memory
//   traffic. From 256 (with nc 1024), interleaved A/B over the 32 d_model >= 1024 shapes at two
//   threads, both load orders: 1.9% faster (geometric mean), faster in 47 of 64 paired
//   medians (2026-11-28). OpenBLAS's SkylakeX sgemm uses a depth of 448.
// - BLIS's order (a 32 KiB B panel in L1, A streamed from L2, nc = 3072 in L3) measured 10-14%
//   slower per core on this Sapphire Rapids: the B panel took two thirds of L1, and the A
//   stream and C tiles evicted it; and with mc = 504, packing A again for every nc columns cost
//   2-14% at m = 256-1024 (single and two threads, interleaved runs, 2026-11-28;
//   docs/benchmarks.md).
extern const KernelInfo kAvx512Kernel = {
    "avx512", kMr, kNr, /*mc=*/2016, /*kc=*/512, /*nc=*/512, kernel_rows<kMr>, kRowKernels,
    pack_transposed_avx512, /*a_panel_outer=*/true};

}  // namespace prophet::cpu::gemm

#pragma GCC pop_options

#else  // not x86: the ISA does not exist, and the selector never picks this kernel

namespace prophet::cpu::gemm {
extern const KernelInfo kAvx512Kernel = {"avx512", 14,      32,      1,   1,
                                          1,        nullptr, nullptr, nullptr, true};
}  // namespace prophet::cpu::gemm

#endif
