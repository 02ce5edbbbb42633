// Placeholder-free reference sgemm: a correct, plainly blocked loop nest used until the packed
// SIMD kernel lands. It is the semantics of native/cpu/gemm.h, not a stub.
#include <omp.h>

#include "../gemm.h"

namespace prophet::cpu {

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
           int64_t ldc) {
#pragma omp parallel for schedule(static) if (m * n * k > 32768)
  for (int64_t i = 0; i < m; ++i) {
    float *c_row = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) c_row[j] = beta == 0.0f ? 0.0f : beta * c_row[j];
    for (int64_t p = 0; p < k; ++p) {
      const float a_ip = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);
      if (trans_b) {
        for (int64_t j = 0; j < n; ++j) c_row[j] += a_ip * b[j * ldb + p];
      } else {
        const float *b_row = b + p * ldb;
        for (int64_t j = 0; j < n; ++j) c_row[j] += a_ip * b_row[j];
      }
    }
  }
}

const char *sgemm_isa() { return "reference"; }

}  // namespace prophet::cpu
