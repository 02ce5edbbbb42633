// Entry points of libprophet_cuda_testing.so (the test build of the backend) for what the ABI
// cannot reach: the grouped expert GEMMs alone, the FFN and optimizers on bf16/f16 storage (the
// ABI is f32), and the kernel table and error message without a device (init refuses there).
// C linkage, plain types; buffers in, checked, then the internal pointer entries.
#include <cstdint>

#include "../../native/core/kernels.h"
#include "../src/cuda_internal.h"
#include "../src/kernel_common.cuh"
#include "../src/optim.cuh"
#if PROPHET_CUDA_HAVE_CUBLAS
#include "../src/expert_ffn.h"
#include "../src/grouped_gemm.h"
#endif

#define PROPHET_TESTING_API extern "C" __attribute__((visibility("default")))

namespace prophet::cuda {
extern const prophet_kernel_i kKernel;
}

// 1 when the library was built with cuBLAS headers (the GEMM and FFN families exist).
PROPHET_TESTING_API int prophet_cuda_testing_has_cublas(void) { return PROPHET_CUDA_HAVE_CUBLAS; }

// The kernel table and last_error(), reachable without a device (prophet_backend_init refuses
// there), so CI can check what is wired and that argument checks match the CPU's.
PROPHET_TESTING_API const prophet_kernel_i *prophet_cuda_testing_kernels(void) {
  return &prophet::cuda::kKernel;
}
PROPHET_TESTING_API const char *prophet_cuda_testing_last_error(void) {
  return prophet::cuda::last_error();
}

// which: 0 forward (a = x, b = w, c = y), 1 backward_input (a = dy, b = w, c = dx),
// 2 backward_weight (a = x, b = dy, c = dw). dtype: 0 f32, 1 bf16, 2 f16.
PROPHET_TESTING_API prophet_status_t prophet_cuda_testing_grouped_gemm(
    int which, int64_t num_experts, const int64_t *rows_per_expert, int64_t k, int64_t n,
    int dtype, prophet_buffer_t a, prophet_buffer_t b, prophet_buffer_t c, int accumulate,
    prophet_stream_t stream) {
#if PROPHET_CUDA_HAVE_CUBLAS
  using namespace prophet::cuda;
  static const char *const kNames[] = {"grouped_gemm forward", "grouped_gemm backward_input",
                                       "grouped_gemm backward_weight"};
  if (which < 0 || which > 2) return fail(PROPHET_ERR_INVALID, "grouped_gemm: unknown entry");
  const GroupedGemmShape s{num_experts, rows_per_expert, k, n, static_cast<GemmDtype>(dtype)};
  int64_t R = 0;
  PROPHET_RETURN_IF_FAILED(grouped_gemm_check(kNames[which], s, stream, &R));
  const int64_t bytes = dtype_bytes(s.dtype), weights = num_experts * k * n;
  const int64_t counts[3][3] = {{R * k, weights, R * n}, {R * n, weights, R * k}, {R * k, R * n, weights}};
  const char *const names[3][3] = {{"x", "w", "y"}, {"dy", "w", "dx"}, {"x", "dy", "dw"}};
  const prophet_buffer_t buffers[3] = {a, b, c};
  for (int i = 0; i < 3; ++i) {
    PROPHET_RETURN_IF_FAILED(require_buffer(kNames[which], names[which][i], buffers[i], counts[which][i], bytes));
  }
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  switch (which) {
    case 0: return grouped_gemm_forward(s, a->ptr, b->ptr, c->ptr, stream);
    case 1: return grouped_gemm_backward_input(s, a->ptr, b->ptr, c->ptr, k, stream);
    default: return grouped_gemm_backward_weight(s, a->ptr, b->ptr, c->ptr, accumulate != 0, stream);
  }
#else
  return prophet::cuda::fail(PROPHET_ERR_UNSUPPORTED, "built without cuBLAS headers");
#endif
}

// The expert FFN with the ABI's semantics on any storage dtype, on device pointers, which may
// point anywhere inside an allocation (test_ffn.cpp places some off a 16-byte boundary to reach
// the epilogues' one-element path): forward (backward = 0: io = {x, pre, act, y}) or backward
// (io = {dy, x, pre, act, dx, dpre}; grads accumulated); weights and grads are {w1, b1, w2, b2}.
// Sizes are the caller's responsibility (test code only).
PROPHET_TESTING_API prophet_status_t prophet_cuda_testing_expert_ffn_at(
    int backward, int64_t num_experts, const int64_t *rows_per_expert, int64_t d_model,
    int64_t hidden, int activation, int gated, int dtype, void *const *weights, void *const *grads,
    void *const *io, prophet_stream_t stream) {
#if PROPHET_CUDA_HAVE_CUBLAS
  using namespace prophet::cuda;
  const ExpertFfnShape s{num_experts, rows_per_expert, d_model, hidden, activation, gated,
                         static_cast<GemmDtype>(dtype)};
  const ExpertFfnWeights w{weights[0], weights[1], weights[2], weights[3]};
  if (backward == 0) return expert_ffn_forward(s, w, io[0], io[1], io[2], io[3], stream);
  const ExpertFfnGrads g{grads[0], grads[1], grads[2], grads[3]};
  return expert_ffn_backward(s, w, io[0], io[1], io[2], io[3], io[4], io[5], g, stream);
#else
  return prophet::cuda::fail(PROPHET_ERR_UNSUPPORTED, "built without cuBLAS headers");
#endif
}

// The same on buffers (each pointer at the start of its allocation).
PROPHET_TESTING_API prophet_status_t prophet_cuda_testing_expert_ffn(
    int backward, int64_t num_experts, const int64_t *rows_per_expert, int64_t d_model,
    int64_t hidden, int activation, int gated, int dtype, const prophet_buffer_t *weights,
    const prophet_buffer_t *grads, const prophet_buffer_t *io, prophet_stream_t stream) {
  void *weight_ptrs[4], *grad_ptrs[4] = {}, *io_ptrs[6] = {};
  for (int i = 0; i < 4; ++i) weight_ptrs[i] = weights[i]->ptr;
  for (int i = 0; i < 4 && backward != 0; ++i) grad_ptrs[i] = grads[i]->ptr;
  for (int i = 0; i < (backward != 0 ? 6 : 4); ++i) io_ptrs[i] = io[i]->ptr;
  return prophet_cuda_testing_expert_ffn_at(backward, num_experts, rows_per_expert, d_model, hidden,
                                            activation, gated, dtype, weight_ptrs, grad_ptrs,
                                            io_ptrs, stream);
}

// Fused optimizer steps with f32, bf16 or f16 gradients (grad_dtype 0, 1, 2); torch semantics
// (native/kernels/optim.h), SGD without dampening or Nesterov.
PROPHET_TESTING_API prophet_status_t prophet_cuda_testing_adamw(
    int64_t n, prophet_buffer_t params, prophet_buffer_t grads, int grad_dtype, prophet_buffer_t m,
    prophet_buffer_t v, float lr, float beta1, float beta2, float eps, float weight_decay,
    int64_t step, prophet_stream_t stream) {
  using namespace prophet::cuda;
  const GemmDtype dtype = static_cast<GemmDtype>(grad_dtype);
  PROPHET_RETURN_IF_FAILED(require_buffer("adamw", "params", params, n, 4));
  PROPHET_RETURN_IF_FAILED(require_buffer("adamw", "grads", grads, n, dtype_bytes(dtype)));
  PROPHET_RETURN_IF_FAILED(require_buffer("adamw", "m", m, n, 4));
  PROPHET_RETURN_IF_FAILED(require_buffer("adamw", "v", v, n, 4));
  const prophet::kernels::AdamwCoeffs c =
      prophet::kernels::adamw_coeffs(lr, beta1, beta2, eps, weight_decay, step);
  return launch_adamw(stream, n, data_of<float>(params), grads->ptr, dtype, data_of<float>(m),
                      data_of<float>(v), c);
}

PROPHET_TESTING_API prophet_status_t prophet_cuda_testing_sgd(
    int64_t n, prophet_buffer_t params, prophet_buffer_t grads, int grad_dtype,
    prophet_buffer_t momentum_buffer, float lr, float momentum, float weight_decay, int first_step,
    prophet_stream_t stream) {
  using namespace prophet::cuda;
  const GemmDtype dtype = static_cast<GemmDtype>(grad_dtype);
  PROPHET_RETURN_IF_FAILED(require_buffer("sgd", "params", params, n, 4));
  PROPHET_RETURN_IF_FAILED(require_buffer("sgd", "grads", grads, n, dtype_bytes(dtype)));
  if (momentum != 0.0f) {
    PROPHET_RETURN_IF_FAILED(require_buffer("sgd", "momentum_buffer", momentum_buffer, n, 4));
  }
  const prophet::kernels::SgdCoeffs c{lr, momentum, 0.0f, weight_decay, false, first_step != 0};
  return launch_sgd(stream, n, data_of<float>(params), grads->ptr, dtype,
                    data_of<float>(momentum_buffer), c);
}
