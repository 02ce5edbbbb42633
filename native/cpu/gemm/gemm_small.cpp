#include "gemm_small.h"

namespace prophet::cpu::gemm {

void scale_matrix(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < m; ++i) {
    float *c_row = c + i * ldc;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < n; ++j) c_row[j] = 0.0f;
    } else {
      for (int64_t j = 0; j < n; ++j) c_row[j] *= beta;
    }
  }
}

void sgemm_small(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc) {
  // Strides of op(A)(i, p) and op(B)(p, j), so that one loop nest serves every transpose.
  const int64_t a_stride_i = trans_a ? 1 : lda;
  const int64_t a_stride_p = trans_a ? lda : 1;
  const int64_t b_stride_p = trans_b ? 1 : ldb;
  const int64_t b_stride_j = trans_b ? ldb : 1;
  for (int64_t i = 0; i < m; ++i) {
    float *c_row = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (int64_t p = 0; p < k; ++p) {
        sum += a[i * a_stride_i + p * a_stride_p] * b[p * b_stride_p + j * b_stride_j];
      }
      c_row[j] = beta == 0.0f ? alpha * sum : alpha * sum + beta * c_row[j];
    }
  }
}

}  // namespace prophet::cpu::gemm
