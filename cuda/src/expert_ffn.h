// The expert FFN on CUDA: per expert, y = act(x W1 + b1) W2 + b2, or with `gated`
// y = (act(x W1a + b1a) * (x W1b + b1b)) W2 + b2 (SwiGLU/GeGLU; W1 = [W1a | W1b]), over the
// expert-contiguous rows dispatch produces; forward and backward. The GEMMs are the grouped cuBLAS
// GEMMs of grouped_gemm.h, the bias/activation epilogues are kernels (expert_ffn.cu) with the
// math of ffn_math.cuh, in fp32 on f32/bf16/f16 storage. Internal until the FFN family's ABI
// (native/core/kernels_ffn.h) lands; prophet_cuda_test exercises it.
//
// Shapes: R = sum rows, D = d_model, F = d_hidden, P = gated ? 2F : F.
#pragma once

#include "grouped_gemm.h"

namespace prophet::cuda {

struct ExpertFfnShape {
  int64_t num_experts;             // E >= 1
  const int64_t *rows_per_expert;  // host [E]
  int64_t d_model;                 // D >= 1
  int64_t d_hidden;                // F >= 1
  int32_t activation;              // FfnActivation (ffn_math.cuh)
  int32_t gated;                   // nonzero: gated variant
  GemmDtype dtype;
};

struct ExpertFfnWeights {
  prophet_buffer_t w1;  // [E, D, P]
  prophet_buffer_t b1;  // [E, P]
  prophet_buffer_t w2;  // [E, F, D]
  prophet_buffer_t b2;  // [E, D]
};

// pre [R, P] (saved: x W1 + b1), h [R, F] (saved: the activation), y [R, D]; all overwritten.
prophet_status_t expert_ffn_forward(const ExpertFfnShape &shape, const ExpertFfnWeights &weights,
                                    prophet_buffer_t x, prophet_buffer_t pre, prophet_buffer_t h,
                                    prophet_buffer_t y, prophet_stream_t stream);

// From dy [R, D] and the saved x, pre, h: dx [R, D] and the weight gradients `grads` (same
// layout as the weights), all overwritten.
prophet_status_t expert_ffn_backward(const ExpertFfnShape &shape, const ExpertFfnWeights &weights,
                                     prophet_buffer_t x, prophet_buffer_t pre, prophet_buffer_t h,
                                     prophet_buffer_t dy, const ExpertFfnWeights &grads,
                                     prophet_buffer_t dx, prophet_stream_t stream);

}  // namespace prophet::cuda
