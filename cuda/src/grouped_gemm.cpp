// Grouped expert GEMMs (grouped_gemm.h): one cublasGemmEx per expert with rows, queued on the
// caller's stream through its cuBLAS handle. Row-major products map to cuBLAS's column-major
// ones by swapping the operands: C = op(A) op(B) row-major is C^T = op(B)^T op(A)^T.
#include "grouped_gemm.h"

#include <climits>
#include <string>

#include "cublas.h"
#include "kernel_common.cuh"

namespace prophet::cuda {
namespace {

int64_t element_bytes(GemmDtype dtype) { return dtype == GemmDtype::kF32 ? 4 : 2; }

cudaDataType cuda_type(GemmDtype dtype) {
  switch (dtype) {
    case GemmDtype::kBF16: return CUDA_R_16BF;
    case GemmDtype::kF16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

// Row-major C[M, N] = op(A) op(B) + beta C, where op(A) is [M, K] and op(B) is [K, N]; lda, ldb,
// ldc are the row-major leading dimensions of the stored matrices.
prophet_status_t rowmajor_gemm(cublasHandle_t handle, bool trans_a, bool trans_b, int64_t M,
                               int64_t N, int64_t K, const void *A, int64_t lda, const void *B,
                               int64_t ldb, float beta, void *C, int64_t ldc, GemmDtype dtype) {
  const CublasApi *api = nullptr;
  PROPHET_RETURN_IF_FAILED(cublas_api(&api));
  const float alpha = 1.0f;
  const cudaDataType type = cuda_type(dtype);
  return PROPHET_CUBLAS_CHECK(api->gemm_ex(
      handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, B, type,
      static_cast<int>(ldb), A, type, static_cast<int>(lda), &beta, C, type, static_cast<int>(ldc),
      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// Sizes, int limits of cuBLAS, and buffers large enough. *total_rows = R.
prophet_status_t check(const char *name, const GroupedGemmShape &s, prophet_stream_t stream,
                       int64_t *total_rows) {
  const std::string kernel = name;
  if (stream == nullptr) return fail(PROPHET_ERR_INVALID, kernel + ": stream is NULL");
  if (s.num_experts < 1 || s.rows_per_expert == nullptr || s.k < 1 || s.n < 1 ||
      s.k > INT_MAX || s.n > INT_MAX ||
      (s.dtype != GemmDtype::kF32 && s.dtype != GemmDtype::kBF16 && s.dtype != GemmDtype::kF16)) {
    return fail(PROPHET_ERR_INVALID, kernel + ": need num_experts >= 1, rows_per_expert, "
                                              "1 <= k, n < 2^31 and a known dtype");
  }
  int64_t rows = 0;
  for (int64_t e = 0; e < s.num_experts; ++e) {
    const int64_t r = s.rows_per_expert[e];
    if (r < 0 || r > INT_MAX || rows > INT64_MAX / 2) {
      return fail(PROPHET_ERR_INVALID, kernel + ": rows_per_expert[" + std::to_string(e) +
                                           "] must be in [0, 2^31)");
    }
    rows += r;
  }
  *total_rows = rows;
  return PROPHET_OK;
}

char *at(prophet_buffer_t buffer, int64_t byte_offset) {
  return static_cast<char *>(buffer->ptr) + byte_offset;
}

}  // namespace

prophet_status_t grouped_gemm_forward(const GroupedGemmShape &s, prophet_buffer_t x,
                                      prophet_buffer_t w, prophet_buffer_t y,
                                      prophet_stream_t stream) {
  constexpr const char *kName = "grouped_gemm forward";
  int64_t R = 0;
  PROPHET_RETURN_IF_FAILED(check(kName, s, stream, &R));
  const int64_t b = element_bytes(s.dtype);
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "x", x, R * s.k, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "w", w, s.num_experts * s.k * s.n, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "y", y, R * s.n, b));
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  cublasHandle_t handle = nullptr;
  PROPHET_RETURN_IF_FAILED(cublas_handle(stream, &handle));
  int64_t row = 0;
  for (int64_t e = 0; e < s.num_experts; ++e) {
    const int64_t m = s.rows_per_expert[e];
    if (m > 0) {
      PROPHET_RETURN_IF_FAILED(rowmajor_gemm(handle, false, false, m, s.n, s.k, at(x, row * s.k * b),
                                             s.k, at(w, e * s.k * s.n * b), s.n, 0.0f,
                                             at(y, row * s.n * b), s.n, s.dtype));
    }
    row += m;
  }
  return PROPHET_OK;
}

prophet_status_t grouped_gemm_backward_input(const GroupedGemmShape &s, prophet_buffer_t dy,
                                             prophet_buffer_t w, prophet_buffer_t dx,
                                             prophet_stream_t stream) {
  constexpr const char *kName = "grouped_gemm backward_input";
  int64_t R = 0;
  PROPHET_RETURN_IF_FAILED(check(kName, s, stream, &R));
  const int64_t b = element_bytes(s.dtype);
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "dy", dy, R * s.n, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "w", w, s.num_experts * s.k * s.n, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "dx", dx, R * s.k, b));
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  cublasHandle_t handle = nullptr;
  PROPHET_RETURN_IF_FAILED(cublas_handle(stream, &handle));
  int64_t row = 0;
  for (int64_t e = 0; e < s.num_experts; ++e) {
    const int64_t m = s.rows_per_expert[e];
    if (m > 0) {
      // dx_e [m, k] = dy_e [m, n] * (w_e [k, n])^T
      PROPHET_RETURN_IF_FAILED(rowmajor_gemm(handle, false, true, m, s.k, s.n, at(dy, row * s.n * b),
                                             s.n, at(w, e * s.k * s.n * b), s.n, 0.0f,
                                             at(dx, row * s.k * b), s.k, s.dtype));
    }
    row += m;
  }
  return PROPHET_OK;
}

prophet_status_t grouped_gemm_backward_weight(const GroupedGemmShape &s, prophet_buffer_t x,
                                              prophet_buffer_t dy, prophet_buffer_t dw,
                                              bool accumulate, prophet_stream_t stream) {
  constexpr const char *kName = "grouped_gemm backward_weight";
  int64_t R = 0;
  PROPHET_RETURN_IF_FAILED(check(kName, s, stream, &R));
  const int64_t b = element_bytes(s.dtype);
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "x", x, R * s.k, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "dy", dy, R * s.n, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "dw", dw, s.num_experts * s.k * s.n, b));
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  cublasHandle_t handle = nullptr;
  PROPHET_RETURN_IF_FAILED(cublas_handle(stream, &handle));
  int64_t row = 0;
  for (int64_t e = 0; e < s.num_experts; ++e) {
    const int64_t m = s.rows_per_expert[e];
    void *dw_e = at(dw, e * s.k * s.n * b);
    if (m > 0) {
      // dw_e [k, n] = (x_e [m, k])^T * dy_e [m, n]
      PROPHET_RETURN_IF_FAILED(rowmajor_gemm(handle, true, false, s.k, s.n, m, at(x, row * s.k * b),
                                             s.k, at(dy, row * s.n * b), s.n,
                                             accumulate ? 1.0f : 0.0f, dw_e, s.n, s.dtype));
    } else if (!accumulate) {
      PROPHET_RETURN_IF_FAILED(
          PROPHET_CUDA_CHECK(cudaMemsetAsync(dw_e, 0, s.k * s.n * b, stream->stream)));
    }
    row += m;
  }
  return PROPHET_OK;
}

}  // namespace prophet::cuda
