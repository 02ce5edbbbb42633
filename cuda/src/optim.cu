// Fused AdamW and SGD steps (optim.cuh): one thread per parameter (grid-stride), the per-element
// math of optim_math.cuh, fp32 state.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <string>

#include "kernel_common.cuh"
#include "optim.cuh"

namespace prophet::cuda {
namespace {

__device__ __forceinline__ float to_float(float g) { return g; }
__device__ __forceinline__ float to_float(__nv_bfloat16 g) { return __bfloat162float(g); }
__device__ __forceinline__ float to_float(__half g) { return __half2float(g); }

template <typename G>
__global__ void adamw_kernel(int64_t n, float *params, const G *grads, float *m, float *v,
                             AdamWParams p) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    adamw_update(p, to_float(grads[i]), params + i, m + i, v + i);
  }
}

template <typename G>
__global__ void sgd_kernel(int64_t n, float *params, const G *grads, float *buf, SgdParams p) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float unused = 0.0f;
    sgd_update(p, to_float(grads[i]), params + i, buf != nullptr ? buf + i : &unused);
  }
}

int64_t grad_bytes(GemmDtype dtype) { return dtype == GemmDtype::kF32 ? 4 : 2; }

prophet_status_t check_common(const char *name, int64_t n, prophet_buffer_t params,
                              prophet_buffer_t grads, GemmDtype dtype, prophet_stream_t stream) {
  if (stream == nullptr) return fail(PROPHET_ERR_INVALID, std::string(name) + ": stream is NULL");
  if (n < 0) return fail(PROPHET_ERR_INVALID, std::string(name) + ": n must be >= 0");
  if (dtype != GemmDtype::kF32 && dtype != GemmDtype::kBF16 && dtype != GemmDtype::kF16) {
    return fail(PROPHET_ERR_INVALID, std::string(name) + ": unknown gradient dtype");
  }
  PROPHET_RETURN_IF_FAILED(require_buffer(name, "params", params, n, 4));
  PROPHET_RETURN_IF_FAILED(require_buffer(name, "grads", grads, n, grad_bytes(dtype)));
  return use_device(stream->device);
}

}  // namespace

prophet_status_t optim_adamw(int64_t n, prophet_buffer_t params, prophet_buffer_t grads,
                             GemmDtype dtype, prophet_buffer_t m, prophet_buffer_t v, float lr,
                             float beta1, float beta2, float eps, float weight_decay, int64_t step,
                             prophet_stream_t stream) {
  constexpr const char *kName = "adamw";
  PROPHET_RETURN_IF_FAILED(check_common(kName, n, params, grads, dtype, stream));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "m", m, n, 4));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "v", v, n, 4));
  if (step < 1) return fail(PROPHET_ERR_INVALID, "adamw: step must be >= 1");
  // Bias corrections in double on the host, as torch computes them in Python floats.
  const AdamWParams p{lr, beta1, beta2, eps, weight_decay,
                      static_cast<float>(1.0 - std::pow(double(beta1), double(step))),
                      static_cast<float>(1.0 - std::pow(double(beta2), double(step)))};
  if (n == 0) return PROPHET_OK;
  float *pp = data_of<float>(params), *mp = data_of<float>(m), *vp = data_of<float>(v);
  const unsigned grid = grid_for(n, 256);
  cudaStream_t s = stream->stream;
  switch (dtype) {
    case GemmDtype::kBF16: adamw_kernel<<<grid, 256, 0, s>>>(n, pp, data_of<const __nv_bfloat16>(grads), mp, vp, p); break;
    case GemmDtype::kF16: adamw_kernel<<<grid, 256, 0, s>>>(n, pp, data_of<const __half>(grads), mp, vp, p); break;
    default: adamw_kernel<<<grid, 256, 0, s>>>(n, pp, data_of<const float>(grads), mp, vp, p); break;
  }
  return PROPHET_CHECK_LAUNCH();
}

prophet_status_t optim_sgd(int64_t n, prophet_buffer_t params, prophet_buffer_t grads,
                           GemmDtype dtype, prophet_buffer_t momentum_buffer, float lr,
                           float momentum, float weight_decay, bool first_step,
                           prophet_stream_t stream) {
  constexpr const char *kName = "sgd";
  PROPHET_RETURN_IF_FAILED(check_common(kName, n, params, grads, dtype, stream));
  if (momentum != 0.0f) PROPHET_RETURN_IF_FAILED(require_buffer(kName, "momentum_buffer", momentum_buffer, n, 4));
  const SgdParams p{lr, momentum, weight_decay, first_step ? 1 : 0};
  if (n == 0) return PROPHET_OK;
  float *pp = data_of<float>(params);
  float *buf = momentum != 0.0f ? data_of<float>(momentum_buffer) : nullptr;
  const unsigned grid = grid_for(n, 256);
  cudaStream_t s = stream->stream;
  switch (dtype) {
    case GemmDtype::kBF16: sgd_kernel<<<grid, 256, 0, s>>>(n, pp, data_of<const __nv_bfloat16>(grads), buf, p); break;
    case GemmDtype::kF16: sgd_kernel<<<grid, 256, 0, s>>>(n, pp, data_of<const __half>(grads), buf, p); break;
    default: sgd_kernel<<<grid, 256, 0, s>>>(n, pp, data_of<const float>(grads), buf, p); break;
  }
  return PROPHET_CHECK_LAUNCH();
}

}  // namespace prophet::cuda
