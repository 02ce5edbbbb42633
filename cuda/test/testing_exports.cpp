// Entry points of libprophet_cuda_testing.so (the test build of the backend) for code that is not
// reachable through the ABI yet: the grouped expert GEMMs. C linkage, plain types.
#include <cstdint>

#include "../src/cuda_internal.h"
#include "../src/optim.cuh"
#if PROPHET_CUDA_HAVE_CUBLAS
#include "../src/expert_ffn.h"
#include "../src/grouped_gemm.h"
#endif

#define PROPHET_TESTING_API extern "C" __attribute__((visibility("default")))

// 1 when the library was built with cuBLAS headers (the grouped GEMMs exist).
PROPHET_TESTING_API int prophet_cuda_testing_has_cublas(void) { return PROPHET_CUDA_HAVE_CUBLAS; }

// which: 0 forward (a = x, b = w, c = y), 1 backward_input (a = dy, b = w, c = dx),
// 2 backward_weight (a = x, b = dy, c = dw). dtype: 0 f32, 1 bf16, 2 f16.
PROPHET_TESTING_API prophet_status_t prophet_cuda_testing_grouped_gemm(
    int which, int64_t num_experts, const int64_t *rows_per_expert, int64_t k, int64_t n,
    int dtype, prophet_buffer_t a, prophet_buffer_t b, prophet_buffer_t c, int accumulate,
    prophet_stream_t stream) {
#if PROPHET_CUDA_HAVE_CUBLAS
  using namespace prophet::cuda;
  const GroupedGemmShape shape{num_experts, rows_per_expert, k, n, static_cast<GemmDtype>(dtype)};
  switch (which) {
    case 0: return grouped_gemm_forward(shape, a, b, c, stream);
    case 1: return grouped_gemm_backward_input(shape, a, b, c, stream);
    case 2: return grouped_gemm_backward_weight(shape, a, b, c, accumulate != 0, stream);
    default: return prophet::cuda::fail(PROPHET_ERR_INVALID, "grouped_gemm: unknown entry");
  }
#else
  return prophet::cuda::fail(PROPHET_ERR_UNSUPPORTED, "built without cuBLAS headers");
#endif
}

// The expert FFN: forward (backward = 0: io = {x, pre, h, y}) or backward (io = {x, pre, h, dy,
// dx}); weights and grads are {w1, b1, w2, b2}.
PROPHET_TESTING_API prophet_status_t prophet_cuda_testing_expert_ffn(
    int backward, int64_t num_experts, const int64_t *rows_per_expert, int64_t d_model,
    int64_t d_hidden, int activation, int gated, int dtype, const prophet_buffer_t *weights,
    const prophet_buffer_t *grads, const prophet_buffer_t *io, prophet_stream_t stream) {
#if PROPHET_CUDA_HAVE_CUBLAS
  using namespace prophet::cuda;
  const ExpertFfnShape shape{num_experts, rows_per_expert, d_model, d_hidden, activation, gated,
                             static_cast<GemmDtype>(dtype)};
  const ExpertFfnWeights w{weights[0], weights[1], weights[2], weights[3]};
  if (backward == 0) return expert_ffn_forward(shape, w, io[0], io[1], io[2], io[3], stream);
  const ExpertFfnWeights g{grads[0], grads[1], grads[2], grads[3]};
  return expert_ffn_backward(shape, w, io[0], io[1], io[2], io[3], g, io[4], stream);
#else
  return prophet::cuda::fail(PROPHET_ERR_UNSUPPORTED, "built without cuBLAS headers");
#endif
}

// Fused optimizer steps (optim.cuh); grad_dtype: 0 f32, 1 bf16, 2 f16.
PROPHET_TESTING_API prophet_status_t prophet_cuda_testing_adamw(
    int64_t n, prophet_buffer_t params, prophet_buffer_t grads, int grad_dtype, prophet_buffer_t m,
    prophet_buffer_t v, float lr, float beta1, float beta2, float eps, float weight_decay,
    int64_t step, prophet_stream_t stream) {
  return prophet::cuda::optim_adamw(n, params, grads, static_cast<prophet::cuda::GemmDtype>(grad_dtype),
                                    m, v, lr, beta1, beta2, eps, weight_decay, step, stream);
}

PROPHET_TESTING_API prophet_status_t prophet_cuda_testing_sgd(
    int64_t n, prophet_buffer_t params, prophet_buffer_t grads, int grad_dtype,
    prophet_buffer_t momentum_buffer, float lr, float momentum, float weight_decay, int first_step,
    prophet_stream_t stream) {
  return prophet::cuda::optim_sgd(n, params, grads, static_cast<prophet::cuda::GemmDtype>(grad_dtype),
                                  momentum_buffer, lr, momentum, weight_decay, first_step != 0, stream);
}
