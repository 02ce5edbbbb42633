// Single-precision GEMM for the CPU backend: our own cache-blocked, packed, SIMD kernel with
// OpenMP, chosen at run time for the processor (AVX-512, AVX2+FMA, or portable C++). No BLAS.
#pragma once

#include <cstdint>

namespace prophet::cpu {

// C = alpha * op(A) * op(B) + beta * C, row-major.
//   op(A) is [m, k]: A is [m, k] with row stride lda, or [k, m] when trans_a.
//   op(B) is [k, n]: B is [k, n] with row stride ldb, or [n, k] when trans_b.
//   C is [m, n] with row stride ldc. beta == 0 overwrites C (NaNs in C do not propagate).
//   k == 0 or alpha == 0 only scales C by beta, reading neither A nor B (the BLAS convention).
// Blocks the calling thread; parallel over OpenMP threads. m, n or k may be 0. Thread-safe:
// concurrent calls (two stream worker threads) use separate per-thread packing buffers. Tiny
// problems run as direct loops on the calling thread. Implementation: native/cpu/gemm/.
// Throws std::bad_alloc if its packing buffer (a few MiB per thread, kept) cannot be allocated.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
           int64_t ldc);

// The kernel sgemm selected on this processor: "avx512", "avx2" or "generic".
const char *sgemm_isa();

}  // namespace prophet::cpu
