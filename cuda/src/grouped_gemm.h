// GEMMs on cuBLAS: one row-major GEMM (the ABI's sgemm, gemm_entry.cpp), and the grouped expert
// GEMMs of the expert FFN, one per expert over that expert's contiguous block of rows (the layout
// dispatch produces).
//
// All matrices are row-major device pointers; R = sum of rows_per_expert, expert e owning rows
// [offset_e, offset_e + rows_e) in expert order. Storage is f32, bf16 or f16; accumulation is
// always fp32 (CUBLAS_COMPUTE_32F, which keeps f32 in full fp32: no TF32). Everything is queued
// on the stream's cuBLAS handle: stream-ordered, no host synchronization. Callers make the
// stream's device current (use_device) and check sizes against cuBLAS's int limits first
// (gemm_int_error).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "cuda_internal.h"

namespace prophet::cuda {

enum class GemmDtype : int32_t { kF32 = 0, kBF16 = 1, kF16 = 2 };

inline int64_t dtype_bytes(GemmDtype dtype) { return dtype == GemmDtype::kF32 ? 4 : 2; }

// "" when every value fits cuBLAS's 32-bit int arguments, else a message naming `kernel`
// (reported as PROPHET_ERR_UNSUPPORTED: the arguments are valid, this backend cannot take them).
std::string gemm_int_error(const char *kernel, std::initializer_list<int64_t> values);

// C[M, N] = alpha op(A) op(B) + beta C, where op(A) is [M, K] and op(B) is [K, N]; lda, ldb, ldc
// are the row-major leading dimensions of the stored matrices. beta == 0 never reads C.
prophet_status_t rowmajor_gemm(prophet_stream_t stream, bool trans_a, bool trans_b, int64_t M,
                               int64_t N, int64_t K, float alpha, const void *A, int64_t lda,
                               const void *B, int64_t ldb, float beta, void *C, int64_t ldc,
                               GemmDtype dtype);

struct GroupedGemmShape {
  int64_t num_experts;              // E >= 1
  const int64_t *rows_per_expert;   // host [E], each >= 0 (cuBLAS needs the sizes on the host)
  int64_t k;                        // inner features (d_model for the first FFN GEMM), >= 1
  int64_t n;                        // outer features, >= 1
  GemmDtype dtype;
};

// Checks a grouped shape (sizes, cuBLAS int limits); *total_rows = R.
prophet_status_t grouped_gemm_check(const char *kernel, const GroupedGemmShape &shape,
                                    prophet_stream_t stream, int64_t *total_rows);

// y_e = x_e w_e: x [R, k], w [E, k, n], y [R, n] (overwritten).
prophet_status_t grouped_gemm_forward(const GroupedGemmShape &shape, const void *x,
                                      const void *w, void *y, prophet_stream_t stream);

// dx_e = dy_e w_e^T: dy [R, n], w [E, k, n], dx [R, k] with row stride ldx >= k (overwritten;
// the FFN writes into a column slice of a wider matrix).
prophet_status_t grouped_gemm_backward_input(const GroupedGemmShape &shape, const void *dy,
                                             const void *w, void *dx, int64_t ldx,
                                             prophet_stream_t stream);

// dw_e = x_e^T dy_e (or dw_e += ... with accumulate): x [R, k], dy [R, n], dw [E, k, n]. An expert
// with no rows gets zeros (or is left as it was when accumulating).
prophet_status_t grouped_gemm_backward_weight(const GroupedGemmShape &shape, const void *x,
                                              const void *dy, void *dw, bool accumulate,
                                              prophet_stream_t stream);

}  // namespace prophet::cuda
