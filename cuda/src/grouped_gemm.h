// Grouped expert GEMMs on cuBLAS: the matrix products of the expert FFN, one per expert over that
// expert's contiguous block of rows (the layout dispatch produces). Internal to the CUDA backend
// until the FFN family's ABI (native/core/kernels_ffn.h) lands; prophet_cuda_test exercises it.
//
// All matrices are dense and row-major; R = sum of rows_per_expert, expert e owning rows
// [offset_e, offset_e + rows_e) in expert order. Storage is f32, bf16 or f16; accumulation is
// always fp32 (CUBLAS_COMPUTE_32F, which keeps f32 in full fp32: no TF32).
#pragma once

#include <cstdint>

#include "cuda_internal.h"

namespace prophet::cuda {

enum class GemmDtype : int32_t { kF32 = 0, kBF16 = 1, kF16 = 2 };

struct GroupedGemmShape {
  int64_t num_experts;              // E >= 1
  const int64_t *rows_per_expert;   // host [E], each >= 0 (cuBLAS needs the sizes on the host)
  int64_t k;                        // inner features (d_model for the first FFN GEMM), >= 1
  int64_t n;                        // outer features, >= 1
  GemmDtype dtype;
};

// y_e = x_e w_e: x [R, k], w [E, k, n], y [R, n] (overwritten).
prophet_status_t grouped_gemm_forward(const GroupedGemmShape &shape, prophet_buffer_t x,
                                      prophet_buffer_t w, prophet_buffer_t y,
                                      prophet_stream_t stream);

// dx_e = dy_e w_e^T: dy [R, n], w [E, k, n], dx [R, k] (overwritten).
prophet_status_t grouped_gemm_backward_input(const GroupedGemmShape &shape, prophet_buffer_t dy,
                                             prophet_buffer_t w, prophet_buffer_t dx,
                                             prophet_stream_t stream);

// dw_e = x_e^T dy_e (or dw_e += ... with accumulate): x [R, k], dy [R, n], dw [E, k, n]. An expert
// with no rows gets zeros (or is left as it was when accumulating).
prophet_status_t grouped_gemm_backward_weight(const GroupedGemmShape &shape, prophet_buffer_t x,
                                              prophet_buffer_t dy, prophet_buffer_t dw,
                                              bool accumulate, prophet_stream_t stream);

}  // namespace prophet::cuda
