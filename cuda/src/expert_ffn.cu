// Expert FFN forward/backward (expert_ffn.h): grouped cuBLAS GEMMs plus the epilogue kernels
// below. Each row's expert comes from a binary search in the row offsets (copied to the device
// once per call, stream-ordered); every sum (the bias gradients) runs in row order in fp32, so
// results are deterministic.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <string>
#include <vector>

#include "expert_ffn.h"
#include "ffn_math.cuh"
#include "kernel_common.cuh"

namespace prophet::cuda {
namespace {

__device__ __forceinline__ float load(const float *p) { return *p; }
__device__ __forceinline__ float load(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ float load(const __half *p) { return __half2float(*p); }
__device__ __forceinline__ void store(float *p, float v) { *p = v; }
__device__ __forceinline__ void store(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store(__half *p, float v) { *p = __float2half_rn(v); }

// Expert owning `row`: the last e with offsets[e] <= row (experts without rows are skipped
// because their offset equals the next one's). offsets has E + 1 entries, offsets[E] = R.
__device__ __forceinline__ int64_t expert_of(int64_t row, const int64_t *offsets, int64_t E) {
  int64_t lo = 0, hi = E;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    if (offsets[mid] <= row) lo = mid; else hi = mid;
  }
  return lo;
}

// pre += b1[e]; h = act(pre_a) (* pre_b when gated).
template <typename T>
__global__ void bias_activation(T *pre, const T *b1, const int64_t *offsets, int64_t E, int64_t R,
                                int64_t F, int32_t act, int32_t gated, T *h) {
  const int64_t P = gated ? 2 * F : F;
  for (int64_t row = blockIdx.y; row < R; row += gridDim.y) {
    const int64_t e = expert_of(row, offsets, E);
    T *pre_row = pre + row * P;
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < F;
         c += int64_t(gridDim.x) * blockDim.x) {
      const float a = load(pre_row + c) + load(b1 + e * P + c);
      store(pre_row + c, a);
      float value = activation(act, load(pre_row + c));  // from the stored (rounded) value
      if (gated) {
        const float g = load(pre_row + F + c) + load(b1 + e * P + F + c);
        store(pre_row + F + c, g);
        value *= load(pre_row + F + c);
      }
      store(h + row * F + c, value);
    }
  }
}

// y += b2[e].
template <typename T>
__global__ void bias_add(T *y, const T *b2, const int64_t *offsets, int64_t E, int64_t R, int64_t D) {
  for (int64_t row = blockIdx.y; row < R; row += gridDim.y) {
    const T *bias = b2 + expert_of(row, offsets, E) * D;
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < D;
         c += int64_t(gridDim.x) * blockDim.x) {
      store(y + row * D + c, load(y + row * D + c) + load(bias + c));
    }
  }
}

// dpre from dh through the activation (and the gate).
template <typename T>
__global__ void activation_backward(const T *pre, const T *dh, int64_t R, int64_t F, int32_t act,
                                    int32_t gated, T *dpre) {
  const int64_t P = gated ? 2 * F : F;
  for (int64_t row = blockIdx.y; row < R; row += gridDim.y) {
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < F;
         c += int64_t(gridDim.x) * blockDim.x) {
      const float a = load(pre + row * P + c), g_h = load(dh + row * F + c);
      if (gated) {
        const float g = load(pre + row * P + F + c);
        store(dpre + row * P + c, g_h * g * activation_grad(act, a));
        store(dpre + row * P + F + c, g_h * activation(act, a));
      } else {
        store(dpre + row * P + c, g_h * activation_grad(act, a));
      }
    }
  }
}

// db[e, c] = sum over expert e's rows of d[row, c], in row order (fp32).
template <typename T>
__global__ void bias_grad(const T *d, const int64_t *offsets, int64_t E, int64_t C, T *db) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < E * C;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t e = i / C, c = i % C;
    float sum = 0.0f;
#pragma unroll 8
    for (int64_t row = offsets[e]; row < offsets[e + 1]; ++row) sum += load(d + row * C + c);
    store(db + i, sum);
  }
}

int64_t element_bytes(GemmDtype dtype) { return dtype == GemmDtype::kF32 ? 4 : 2; }

// Rows on y (one expert lookup per row), columns on x with 256 threads a block.
dim3 grid2d(int64_t rows, int64_t cols) {
  const int64_t x = (cols + 255) / 256, y = rows;
  return dim3(static_cast<unsigned>(x < 1 ? 1 : (x > 1024 ? 1024 : x)),
              static_cast<unsigned>(y < 1 ? 1 : (y > 65535 ? 65535 : y)));
}

// Launches kernel<T> with the storage type of `dtype`.
template <template <typename> class Launch, typename... Args>
prophet_status_t by_dtype(GemmDtype dtype, Args &&...args) {
  switch (dtype) {
    case GemmDtype::kBF16: Launch<__nv_bfloat16>::run(args...); break;
    case GemmDtype::kF16: Launch<__half>::run(args...); break;
    default: Launch<float>::run(args...); break;
  }
  return PROPHET_CHECK_LAUNCH();
}

template <typename T> struct LaunchBiasActivation {
  static void run(cudaStream_t s, void *pre, const void *b1, const int64_t *off, int64_t E,
                  int64_t R, int64_t F, int32_t act, int32_t gated, void *h) {
    bias_activation<T><<<grid2d(R, F), 256, 0, s>>>(static_cast<T *>(pre), static_cast<const T *>(b1),
                                                            off, E, R, F, act, gated, static_cast<T *>(h));
  }
};
template <typename T> struct LaunchBiasAdd {
  static void run(cudaStream_t s, void *y, const void *b2, const int64_t *off, int64_t E, int64_t R, int64_t D) {
    bias_add<T><<<grid2d(R, D), 256, 0, s>>>(static_cast<T *>(y), static_cast<const T *>(b2), off, E, R, D);
  }
};
template <typename T> struct LaunchActivationBackward {
  static void run(cudaStream_t s, const void *pre, const void *dh, int64_t R, int64_t F, int32_t act,
                  int32_t gated, void *dpre) {
    activation_backward<T><<<grid2d(R, F), 256, 0, s>>>(static_cast<const T *>(pre), static_cast<const T *>(dh),
                                                                R, F, act, gated, static_cast<T *>(dpre));
  }
};
template <typename T> struct LaunchBiasGrad {
  static void run(cudaStream_t s, const void *d, const int64_t *off, int64_t E, int64_t C, void *db) {
    bias_grad<T><<<grid_for(E * C, 256), 256, 0, s>>>(static_cast<const T *>(d), off, E, C, static_cast<T *>(db));
  }
};

// Checks shared by forward and backward; *R = total rows.
prophet_status_t check(const char *name, const ExpertFfnShape &s, const ExpertFfnWeights &w,
                       prophet_stream_t stream, int64_t *R) {
  const std::string kernel = name;
  if (stream == nullptr) return fail(PROPHET_ERR_INVALID, kernel + ": stream is NULL");
  if (s.num_experts < 1 || s.rows_per_expert == nullptr || s.d_model < 1 || s.d_hidden < 1 ||
      s.activation < kActRelu || s.activation > kActSilu) {
    return fail(PROPHET_ERR_INVALID, kernel + ": need num_experts, d_model, d_hidden >= 1, "
                                              "rows_per_expert and activation relu, gelu or silu");
  }
  int64_t rows = 0;
  for (int64_t e = 0; e < s.num_experts; ++e) {
    if (s.rows_per_expert[e] < 0) {
      return fail(PROPHET_ERR_INVALID, kernel + ": rows_per_expert[" + std::to_string(e) + "] < 0");
    }
    rows += s.rows_per_expert[e];
  }
  *R = rows;
  const int64_t E = s.num_experts, D = s.d_model, F = s.d_hidden, P = s.gated ? 2 * F : F;
  const int64_t b = element_bytes(s.dtype);
  PROPHET_RETURN_IF_FAILED(require_buffer(name, "w1", w.w1, E * D * P, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(name, "b1", w.b1, E * P, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(name, "w2", w.w2, E * F * D, b));
  return require_buffer(name, "b2", w.b2, E * D, b);
}

// Stream-ordered scratch wrapped as a buffer, for the grouped GEMMs; freed stream-ordered.
struct ScratchBuffer {
  prophet_buffer buffer{};
  cudaStream_t stream = nullptr;
  ~ScratchBuffer() { scratch_free(buffer.ptr, stream); }
  prophet_status_t alloc(size_t bytes, prophet_stream_t s) {
    stream = s->stream;
    buffer.bytes = bytes;
    buffer.device = s->device;
    return scratch_alloc(bytes, stream, &buffer.ptr);
  }
};

// Row offsets [E + 1] on the device, stream-ordered (pageable source: staged before return).
prophet_status_t upload_offsets(const ExpertFfnShape &s, prophet_stream_t stream, ScratchBuffer *out) {
  std::vector<int64_t> offsets(static_cast<size_t>(s.num_experts) + 1, 0);
  for (int64_t e = 0; e < s.num_experts; ++e) offsets[e + 1] = offsets[e] + s.rows_per_expert[e];
  PROPHET_RETURN_IF_FAILED(out->alloc(8 * offsets.size(), stream));
  return PROPHET_CUDA_CHECK(cudaMemcpyAsync(out->buffer.ptr, offsets.data(), 8 * offsets.size(),
                                            cudaMemcpyHostToDevice, stream->stream));
}

GroupedGemmShape gemm_shape(const ExpertFfnShape &s, int64_t k, int64_t n) {
  return GroupedGemmShape{s.num_experts, s.rows_per_expert, k, n, s.dtype};
}

}  // namespace

prophet_status_t expert_ffn_forward(const ExpertFfnShape &s, const ExpertFfnWeights &w,
                                    prophet_buffer_t x, prophet_buffer_t pre, prophet_buffer_t h,
                                    prophet_buffer_t y, prophet_stream_t stream) {
  constexpr const char *kName = "expert_ffn forward";
  int64_t R = 0;
  PROPHET_RETURN_IF_FAILED(check(kName, s, w, stream, &R));
  const int64_t E = s.num_experts, D = s.d_model, F = s.d_hidden, P = s.gated ? 2 * F : F;
  const int64_t b = element_bytes(s.dtype);
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "x", x, R * D, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "pre", pre, R * P, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "h", h, R * F, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "y", y, R * D, b));
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  if (R == 0) return PROPHET_OK;
  ScratchBuffer offsets_mem;
  PROPHET_RETURN_IF_FAILED(upload_offsets(s, stream, &offsets_mem));
  const int64_t *offsets = static_cast<const int64_t *>(offsets_mem.buffer.ptr);
  cudaStream_t st = stream->stream;
  // Step 1: pre = x W1 + b1, h = act(pre) (gated: act(pre_a) * pre_b).
  PROPHET_RETURN_IF_FAILED(grouped_gemm_forward(gemm_shape(s, D, P), x, w.w1, pre, stream));
  PROPHET_RETURN_IF_FAILED(by_dtype<LaunchBiasActivation>(s.dtype, st, pre->ptr, w.b1->ptr, offsets, E, R, F,
                                                          s.activation, s.gated, h->ptr));
  // Step 2: y = h W2 + b2.
  PROPHET_RETURN_IF_FAILED(grouped_gemm_forward(gemm_shape(s, F, D), h, w.w2, y, stream));
  return by_dtype<LaunchBiasAdd>(s.dtype, st, y->ptr, w.b2->ptr, offsets, E, R, D);
}

prophet_status_t expert_ffn_backward(const ExpertFfnShape &s, const ExpertFfnWeights &w,
                                     prophet_buffer_t x, prophet_buffer_t pre, prophet_buffer_t h,
                                     prophet_buffer_t dy, const ExpertFfnWeights &g,
                                     prophet_buffer_t dx, prophet_stream_t stream) {
  constexpr const char *kName = "expert_ffn backward";
  int64_t R = 0;
  PROPHET_RETURN_IF_FAILED(check(kName, s, w, stream, &R));
  PROPHET_RETURN_IF_FAILED(check(kName, s, g, stream, &R));
  const int64_t E = s.num_experts, D = s.d_model, F = s.d_hidden, P = s.gated ? 2 * F : F;
  const int64_t b = element_bytes(s.dtype);
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "x", x, R * D, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "pre", pre, R * P, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "h", h, R * F, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "dy", dy, R * D, b));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "dx", dx, R * D, b));
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  cudaStream_t st = stream->stream;
  ScratchBuffer offsets_mem, dh, dpre;
  PROPHET_RETURN_IF_FAILED(upload_offsets(s, stream, &offsets_mem));
  const int64_t *offsets = static_cast<const int64_t *>(offsets_mem.buffer.ptr);
  PROPHET_RETURN_IF_FAILED(dh.alloc(R * F * b, stream));
  PROPHET_RETURN_IF_FAILED(dpre.alloc(R * P * b, stream));
  // Step 1: second layer. db2 = sum dy, dW2 = h^T dy, dh = dy W2^T.
  PROPHET_RETURN_IF_FAILED(by_dtype<LaunchBiasGrad>(s.dtype, st, dy->ptr, offsets, E, D, g.b2->ptr));
  PROPHET_RETURN_IF_FAILED(grouped_gemm_backward_weight(gemm_shape(s, F, D), h, dy, g.w2, false, stream));
  if (R > 0) PROPHET_RETURN_IF_FAILED(grouped_gemm_backward_input(gemm_shape(s, F, D), dy, w.w2, &dh.buffer, stream));
  // Step 2: through the activation (and gate).
  if (R > 0) {
    PROPHET_RETURN_IF_FAILED(by_dtype<LaunchActivationBackward>(s.dtype, st, pre->ptr, dh.buffer.ptr, R, F,
                                                                s.activation, s.gated, dpre.buffer.ptr));
  }
  // Step 3: first layer. db1 = sum dpre, dW1 = x^T dpre, dx = dpre W1^T.
  PROPHET_RETURN_IF_FAILED(by_dtype<LaunchBiasGrad>(s.dtype, st, dpre.buffer.ptr, offsets, E, P, g.b1->ptr));
  PROPHET_RETURN_IF_FAILED(grouped_gemm_backward_weight(gemm_shape(s, D, P), x, &dpre.buffer, g.w1, false, stream));
  if (R > 0) PROPHET_RETURN_IF_FAILED(grouped_gemm_backward_input(gemm_shape(s, D, P), &dpre.buffer, w.w1, dx, stream));
  return PROPHET_OK;
}

}  // namespace prophet::cuda
