// GEMMs on cuBLAS (grouped_gemm.h): one cublasGemmEx per call, and per expert with rows for the
// grouped forms, queued on the caller's stream through its cuBLAS handle. Row-major products map
// to cuBLAS's column-major ones by swapping the operands: C = op(A) op(B) row-major is
// C^T = op(B)^T op(A)^T.
#include "grouped_gemm.h"

#include <climits>
#include <string>

#include "cublas.h"

namespace prophet::cuda {
namespace {

cudaDataType cuda_type(GemmDtype dtype) {
  switch (dtype) {
    case GemmDtype::kBF16: return CUDA_R_16BF;
    case GemmDtype::kF16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

char *at(const void *base, int64_t byte_offset) {
  return static_cast<char *>(const_cast<void *>(base)) + byte_offset;
}

}  // namespace

std::string gemm_int_error(const char *kernel, std::initializer_list<int64_t> values) {
  for (int64_t value : values) {
    if (value > INT_MAX) {
      return std::string(kernel) + ": sizes and leading dimensions must be < 2^31 on CUDA "
                                   "(cuBLAS takes 32-bit ints)";
    }
  }
  return "";
}

prophet_status_t rowmajor_gemm(prophet_stream_t stream, bool trans_a, bool trans_b, int64_t M,
                               int64_t N, int64_t K, float alpha, const void *A, int64_t lda,
                               const void *B, int64_t ldb, float beta, void *C, int64_t ldc,
                               GemmDtype dtype) {
  const CublasApi *api = nullptr;
  PROPHET_RETURN_IF_FAILED(cublas_api(&api));
  cublasHandle_t handle = nullptr;
  PROPHET_RETURN_IF_FAILED(cublas_handle(stream, &handle));
  const cudaDataType type = cuda_type(dtype);
  return PROPHET_CUBLAS_CHECK(api->gemm_ex(
      handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(N), static_cast<int>(M), static_cast<int>(K), &alpha, B, type,
      static_cast<int>(ldb), A, type, static_cast<int>(lda), &beta, C, type, static_cast<int>(ldc),
      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

prophet_status_t grouped_gemm_check(const char *name, const GroupedGemmShape &s,
                                    prophet_stream_t stream, int64_t *total_rows) {
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

prophet_status_t grouped_gemm_forward(const GroupedGemmShape &s, const void *x, const void *w,
                                      void *y, prophet_stream_t stream) {
  const int64_t b = dtype_bytes(s.dtype);
  int64_t row = 0;
  for (int64_t e = 0; e < s.num_experts; ++e) {
    const int64_t m = s.rows_per_expert[e];
    if (m > 0) {
      PROPHET_RETURN_IF_FAILED(rowmajor_gemm(stream, false, false, m, s.n, s.k, 1.0f,
                                             at(x, row * s.k * b), s.k, at(w, e * s.k * s.n * b),
                                             s.n, 0.0f, at(y, row * s.n * b), s.n, s.dtype));
    }
    row += m;
  }
  return PROPHET_OK;
}

prophet_status_t grouped_gemm_backward_input(const GroupedGemmShape &s, const void *dy,
                                             const void *w, void *dx, int64_t ldx,
                                             prophet_stream_t stream) {
  const int64_t b = dtype_bytes(s.dtype);
  int64_t row = 0;
  for (int64_t e = 0; e < s.num_experts; ++e) {
    const int64_t m = s.rows_per_expert[e];
    if (m > 0) {
      // dx_e [m, k] = dy_e [m, n] * (w_e [k, n])^T
      PROPHET_RETURN_IF_FAILED(rowmajor_gemm(stream, false, true, m, s.k, s.n, 1.0f,
                                             at(dy, row * s.n * b), s.n, at(w, e * s.k * s.n * b),
                                             s.n, 0.0f, at(dx, row * ldx * b), ldx, s.dtype));
    }
    row += m;
  }
  return PROPHET_OK;
}

prophet_status_t grouped_gemm_backward_weight(const GroupedGemmShape &s, const void *x,
                                              const void *dy, void *dw, bool accumulate,
                                              prophet_stream_t stream) {
  const int64_t b = dtype_bytes(s.dtype);
  int64_t row = 0;
  for (int64_t e = 0; e < s.num_experts; ++e) {
    const int64_t m = s.rows_per_expert[e];
    void *dw_e = at(dw, e * s.k * s.n * b);
    if (m > 0) {
      // dw_e [k, n] = (x_e [m, k])^T * dy_e [m, n]
      PROPHET_RETURN_IF_FAILED(rowmajor_gemm(stream, true, false, s.k, s.n, m, 1.0f,
                                             at(x, row * s.k * b), s.k, at(dy, row * s.n * b), s.n,
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
