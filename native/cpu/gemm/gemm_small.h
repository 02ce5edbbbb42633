// Private to native/cpu/gemm: the paths that need no packing.
#pragma once

#include <cstdint>

namespace prophet::cpu::gemm {

// C = beta * C over an m x n matrix; beta == 0 writes zeros without reading C. The whole
// product when k == 0 or alpha == 0 (BLAS convention: A and B are then not read).
void scale_matrix(int64_t m, int64_t n, float beta, float *c, int64_t ldc);

// sgemm of native/cpu/gemm.h by direct loops on the calling thread, for problems so small
// that packing and threading would cost more than the arithmetic.
void sgemm_small(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc);

}  // namespace prophet::cpu::gemm
