// The CPU backend's GEMM family: validates a GEMM call and queues prophet::cpu::sgemm on the
// stream (the packed SIMD kernel behind native/cpu/gemm.h).
#include <string>

#include "../../core/kernels_gemm.h"
#include "../cpu_internal.h"
#include "../gemm.h"

namespace prophet::cpu {
namespace {

// A matrix stored with `cols` values per row needs a leading dimension of at least that (and at
// least 1, as BLAS asks, so that an empty matrix still has a well-formed stride).
bool valid_ld(int64_t ld, int64_t cols) { return ld >= 1 && ld >= cols; }

prophet_status_t gemm_sgemm(prophet_stream_t stream, int trans_a, int trans_b, int64_t m,
                            int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                            const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  if (stream == nullptr) return fail(PROPHET_ERR_INVALID, "gemm: stream is NULL");
  if (m < 0 || n < 0 || k < 0) {
    return fail(PROPHET_ERR_INVALID, "gemm: m, n, k must be >= 0 (got " + std::to_string(m) +
                                         ", " + std::to_string(n) + ", " + std::to_string(k) + ")");
  }
  if (!valid_ld(lda, trans_a ? m : k)) return fail(PROPHET_ERR_INVALID, "gemm: lda too small");
  if (!valid_ld(ldb, trans_b ? k : n)) return fail(PROPHET_ERR_INVALID, "gemm: ldb too small");
  if (!valid_ld(ldc, n)) return fail(PROPHET_ERR_INVALID, "gemm: ldc too small");
  if (m > 0 && n > 0 && (c == nullptr || (k > 0 && (a == nullptr || b == nullptr)))) {
    return fail(PROPHET_ERR_INVALID, "gemm: NULL matrix pointer");
  }
  stream->enqueue([=] {
    sgemm(trans_a != 0, trans_b != 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

}  // namespace

extern const prophet_gemm_i kGemm = {
    /* .sgemm = */ gemm_sgemm,
};

}  // namespace prophet::cpu
