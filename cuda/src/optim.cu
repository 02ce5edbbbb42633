// Fused SGD and AdamW steps (optim.cuh): one thread per parameter (grid-stride), the per-element
// math of native/kernels/optim.h, fp32 state. With --fmad=false the device rounds every operation
// as the CPU's loops do, so CPU and CUDA updates agree bit for bit on the same inputs.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernel_common.cuh"
#include "optim.cuh"

namespace prophet::cuda {
namespace {

__device__ __forceinline__ float to_float(float g) { return g; }
__device__ __forceinline__ float to_float(__nv_bfloat16 g) { return __bfloat162float(g); }
__device__ __forceinline__ float to_float(__half g) { return __half2float(g); }

template <typename G>
__global__ void adamw_kernel(int64_t n, float *param, const G *grad, float *m, float *v,
                             kernels::AdamwCoeffs c) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    kernels::adamw_update(param + i, to_float(grad[i]), m + i, v + i, c);
  }
}

template <typename G>
__global__ void sgd_kernel(int64_t n, float *param, const G *grad, float *buf,
                           kernels::SgdCoeffs c) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float unused = 0.0f;  // no momentum: sgd_update never touches the buffer
    kernels::sgd_update(param + i, to_float(grad[i]), buf != nullptr ? buf + i : &unused, c);
  }
}

}  // namespace

prophet_status_t launch_sgd(prophet_stream_t stream, int64_t n, float *param, const void *grad,
                            GemmDtype dtype, float *buf, const kernels::SgdCoeffs &c) {
  if (n == 0) return PROPHET_OK;
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  float *b = c.momentum != 0.0f ? buf : nullptr;
  const unsigned grid = grid_for(n, 256);
  cudaStream_t s = stream->stream;
  switch (dtype) {
    case GemmDtype::kBF16: sgd_kernel<<<grid, 256, 0, s>>>(n, param, static_cast<const __nv_bfloat16 *>(grad), b, c); break;
    case GemmDtype::kF16: sgd_kernel<<<grid, 256, 0, s>>>(n, param, static_cast<const __half *>(grad), b, c); break;
    default: sgd_kernel<<<grid, 256, 0, s>>>(n, param, static_cast<const float *>(grad), b, c); break;
  }
  return PROPHET_CHECK_LAUNCH();
}

prophet_status_t launch_adamw(prophet_stream_t stream, int64_t n, float *param, const void *grad,
                              GemmDtype dtype, float *m, float *v, const kernels::AdamwCoeffs &c) {
  if (n == 0) return PROPHET_OK;
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  const unsigned grid = grid_for(n, 256);
  cudaStream_t s = stream->stream;
  switch (dtype) {
    case GemmDtype::kBF16: adamw_kernel<<<grid, 256, 0, s>>>(n, param, static_cast<const __nv_bfloat16 *>(grad), m, v, c); break;
    case GemmDtype::kF16: adamw_kernel<<<grid, 256, 0, s>>>(n, param, static_cast<const __half *>(grad), m, v, c); break;
    default: adamw_kernel<<<grid, 256, 0, s>>>(n, param, static_cast<const float *>(grad), m, v, c); break;
  }
  return PROPHET_CHECK_LAUNCH();
}

}  // namespace prophet::cuda
