// Fused optimizer steps on CUDA (one kernel reads the gradient and updates the parameter and its
// state in place), over flat f32 parameters with f32, bf16 or f16 gradients. Internal until the
// optimizer family's ABI (native/core/kernels_optim.h) lands; prophet_cuda_test exercises it.
#pragma once

#include "grouped_gemm.h"
#include "optim_math.cuh"

namespace prophet::cuda {

// params, m, v: [n] f32, updated in place; grads: [n] of grad_dtype. step >= 1.
prophet_status_t optim_adamw(int64_t n, prophet_buffer_t params, prophet_buffer_t grads,
                             GemmDtype grad_dtype, prophet_buffer_t m, prophet_buffer_t v,
                             float lr, float beta1, float beta2, float eps, float weight_decay,
                             int64_t step, prophet_stream_t stream);

// params, momentum_buffer: [n] f32 (the buffer may be NULL when momentum is 0); grads: [n].
prophet_status_t optim_sgd(int64_t n, prophet_buffer_t params, prophet_buffer_t grads,
                           GemmDtype grad_dtype, prophet_buffer_t momentum_buffer, float lr,
                           float momentum, float weight_decay, bool first_step,
                           prophet_stream_t stream);

}  // namespace prophet::cuda
