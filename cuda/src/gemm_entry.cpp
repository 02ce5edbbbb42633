// The CUDA backend's GEMM family (kernels_gemm.h): the CPU's checks (kernel_checks.h), then one
// fp32 cuBLAS GEMM on the stream's handle (rowmajor_gemm), stream-ordered.
#include <string>

#include "../../native/core/kernel_checks.h"
#include "grouped_gemm.h"
#include "kernel_families.h"

namespace prophet::cuda {
namespace {

prophet_status_t gemm_sgemm(prophet_stream_t stream, int trans_a, int trans_b, int64_t m,
                            int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                            const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  std::string error = checks::sgemm_error(stream != nullptr, trans_a, trans_b, m, n, k, a, lda, b,
                                          ldb, c, ldc);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  error = gemm_int_error("gemm", {m, n, k, lda, ldb, ldc});
  if (!error.empty()) return fail(PROPHET_ERR_UNSUPPORTED, error);
  if (m == 0 || n == 0) return PROPHET_OK;
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  // k == 0 is passed on: cuBLAS then computes C = beta C (and beta == 0 never reads C), the
  // ABI's semantics.
  return rowmajor_gemm(stream, trans_a != 0, trans_b != 0, m, n, k, alpha, a, lda, b, ldb, beta, c,
                       ldc, GemmDtype::kF32);
}

}  // namespace

const prophet_gemm_i kGemm = {
    /* .sgemm = */ gemm_sgemm,
};

}  // namespace prophet::cuda
