// Optimizer kernels on CUDA, with the per-element math of native/kernels/optim.h (the CPU
// backend's): fused SGD and AdamW steps (one thread reads the gradient and updates the parameter
// and its state in place) over flat f32 parameters and state, with f32, bf16 or f16 gradients (the
// ABI entries, optim_entry.cpp, pass f32; bf16/f16 are reached only by prophet_cuda_test until the
// ABI has a dtype); and the vector utilities of the optimizer family (optim_vector.cu).
// Pointers are device pointers; everything is stream-ordered, no host synchronization.
#pragma once

#include "../../native/core/kernels_optim.h"
#include "../../native/kernels/optim.h"
#include "grouped_gemm.h"

namespace prophet::cuda {

// param, buf [n] f32 in place (buf unused, may be NULL, when c.momentum == 0); grad [n].
prophet_status_t launch_sgd(prophet_stream_t stream, int64_t n, float *param, const void *grad,
                            GemmDtype grad_dtype, float *buf, const kernels::SgdCoeffs &c);

// param, m, v [n] f32 in place; grad [n].
prophet_status_t launch_adamw(prophet_stream_t stream, int64_t n, float *param, const void *grad,
                              GemmDtype grad_dtype, float *m, float *v,
                              const kernels::AdamwCoeffs &c);

// The vector entries of the optimizer family (kernels_optim.h), in optim_vector.cu.
prophet_status_t optim_fill(prophet_stream_t stream, int64_t n, float *x, float value);
prophet_status_t optim_scale(prophet_stream_t stream, int64_t n, float *x, float alpha);
prophet_status_t optim_axpy(prophet_stream_t stream, int64_t n, float alpha, const float *x,
                            float *y);
prophet_status_t optim_sum_squares(prophet_stream_t stream, int64_t num_tensors,
                                   const float *const *tensors, const int64_t *sizes, float *out);
prophet_status_t optim_clip_by_norm(prophet_stream_t stream, int64_t num_tensors,
                                    float *const *tensors, const int64_t *sizes,
                                    const float *sum_squares, float max_norm);

}  // namespace prophet::cuda
