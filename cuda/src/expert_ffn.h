// The expert FFN on CUDA, with the semantics of the ABI's FFN family (native/core/kernels_ffn.h):
// per expert, pre = x W1 + b1, act = f(pre) (gated: f(pre[:, :h]) * pre[:, h:]),
// y = act W2 + b2, over the expert-contiguous rows dispatch produces; backward overwrites dx and
// dpre and ACCUMULATES into dW1, db1, dW2, db2. The GEMMs are the grouped cuBLAS GEMMs of
// grouped_gemm.h; the bias/activation epilogues are kernels (expert_ffn.cu) over the shared
// per-element math of native/kernels/activation.h, in fp32 on f32/bf16/f16 storage. The ABI entry
// (ffn_entry.cpp) runs it in f32; bf16/f16 are reached only by prophet_cuda_test until the ABI
// has a dtype.
//
// Shapes: R = sum rows, D = d_model, F = hidden, P = gated ? 2F : F. Pointers are device pointers;
// stream-ordered, no host synchronization.
#pragma once

#include "grouped_gemm.h"

namespace prophet::cuda {

struct ExpertFfnShape {
  int64_t num_experts;             // E >= 1
  const int64_t *rows_per_expert;  // host [E], each >= 0
  int64_t d_model;                 // D >= 1
  int64_t hidden;                  // F >= 1
  int32_t activation;              // prophet_activation_t
  int32_t gated;                   // nonzero: W1, b1, pre hold [gate | up]
  GemmDtype dtype;
};

struct ExpertFfnWeights {
  const void *w1;  // [E, D, P]
  const void *b1;  // [E, P]
  const void *w2;  // [E, F, D]
  const void *b2;  // [E, D]
};

struct ExpertFfnGrads {
  void *w1, *b1, *w2, *b2;  // as ExpertFfnWeights; accumulated into
};

// Checks the shape against what the CUDA code can take (cuBLAS's int sizes); the ABI's own checks
// (kernel_checks.h) come first. *total_rows = R.
prophet_status_t expert_ffn_check(const char *kernel, const ExpertFfnShape &shape,
                                  prophet_stream_t stream, int64_t *total_rows);

// Writes pre [R, P], act [R, F] (both saved for backward) and y [R, D].
prophet_status_t expert_ffn_forward(const ExpertFfnShape &shape, const ExpertFfnWeights &weights,
                                    const void *x, void *pre, void *act, void *y,
                                    prophet_stream_t stream);

// From dy [R, D] and the forward's x, W1, W2, pre, act: overwrites dx [R, D] and dpre [R, P] (also
// the scratch of dL/dact) and accumulates into grads.
prophet_status_t expert_ffn_backward(const ExpertFfnShape &shape, const ExpertFfnWeights &weights,
                                     const void *dy, const void *x, const void *pre,
                                     const void *act, void *dx, void *dpre,
                                     const ExpertFfnGrads &grads, prophet_stream_t stream);

}  // namespace prophet::cuda
