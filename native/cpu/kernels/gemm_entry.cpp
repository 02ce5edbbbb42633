// The CPU backend's GEMM family: validates a GEMM call and queues prophet::cpu::sgemm on the
// stream (the packed SIMD kernel behind native/cpu/gemm.h).
#include <string>

#include "../../core/kernel_checks.h"
#include "../cpu_internal.h"
#include "../gemm.h"

namespace prophet::cpu {
namespace {

prophet_status_t gemm_sgemm(prophet_stream_t stream, int trans_a, int trans_b, int64_t m,
                            int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                            const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  const std::string error = checks::sgemm_error(stream != nullptr, trans_a, trans_b, m, n, k, a,
                                                lda, b, ldb, c, ldc);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
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
