// Expert FFN forward/backward (expert_ffn.h): grouped cuBLAS GEMMs plus the epilogue kernels
// below, whose per-element math is native/kernels/activation.h (the CPU backend's). Each row's
// expert comes from a binary search in the row offsets (copied to the device once per call,
// stream-ordered); the bias gradients sum each column in row order in fp64 (as the CPU's chunked
// fp64 sums), so results are deterministic run to run.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include "../../native/core/kernels_ffn.h"
#include "../../native/kernels/activation.h"
#include "device_scratch.h"
#include "expert_ffn.h"
#include "kernel_common.cuh"

namespace prophet::cuda {
namespace {

using kernels::Activation;

__device__ __forceinline__ float load(const float *p) { return *p; }
__device__ __forceinline__ float load(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ float load(const __half *p) { return __half2float(*p); }
__device__ __forceinline__ void store(float *p, float v) { *p = v; }
__device__ __forceinline__ void store(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store(__half *p, float v) { *p = __float2half_rn(v); }

// The shared activations, picked by the ABI's runtime id.
__device__ __forceinline__ float activate(int32_t act, float x) {
  switch (act) {
    case PROPHET_ACTIVATION_RELU: return kernels::activate<Activation::kRelu>(x);
    case PROPHET_ACTIVATION_GELU: return kernels::activate<Activation::kGelu>(x);
    default: return kernels::activate<Activation::kSilu>(x);
  }
}

__device__ __forceinline__ float activate_grad(int32_t act, float x) {
  switch (act) {
    case PROPHET_ACTIVATION_RELU: return kernels::activate_grad<Activation::kRelu>(x);
    case PROPHET_ACTIVATION_GELU: return kernels::activate_grad<Activation::kGelu>(x);
    default: return kernels::activate_grad<Activation::kSilu>(x);
  }
}

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

// db[e, c] += sum over expert e's rows of d[row, c], in row order, in fp64.
template <typename T>
__global__ void bias_grad(const T *d, const int64_t *offsets, int64_t E, int64_t C, T *db) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < E * C;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t e = i / C, c = i % C;
    double sum = 0.0;
    // Unrolled so that several independent loads are in flight; the adds stay in row order.
#pragma unroll 8
    for (int64_t row = offsets[e]; row < offsets[e + 1]; ++row) sum += load(d + row * C + c);
    store(db + i, load(db + i) + static_cast<float>(sum));
  }
}

// The three element-wise epilogues are templates over W, the elements one thread moves with each
// access: W = kWide<T> (16 bytes) when rows are whole 16-byte packs on 16-byte aligned buffers
// (the usual case), W = 1 for any other row length or address (packs_fit decides). One thread per
// pack over a flat grid-stride loop: with one 2-byte bf16 access per thread these passes ran at
// 11-18% of HBM bandwidth on an H200 (ncu), 5-10x slower than they need. The per-element math and
// its roundings are written once for both widths, so the two give bitwise the same results
// (test_ffn.cpp checks it).
template <typename T, int W>
struct alignas(W * sizeof(T)) Pack {
  T v[W];
};

// The widest pack: 16 bytes of T.
template <typename T>
constexpr int kWide = 16 / static_cast<int>(sizeof(T));

template <int W, typename T>
__device__ __forceinline__ Pack<T, W> load_pack(const T *p) {
  return *reinterpret_cast<const Pack<T, W> *>(p);
}
template <typename T, int W>
__device__ __forceinline__ void store_pack(T *p, const Pack<T, W> &v) {
  *reinterpret_cast<Pack<T, W> *>(p) = v;
}
// a + b rounded to T, as store(p, load(a) + load(b)) does.
template <typename T>
__device__ __forceinline__ T add_rounded(const T &a, const T &b) {
  T out;
  store(&out, load(&a) + load(&b));
  return out;
}

// pre += b1[e]; act = f(pre) (gated: f(gate) * up), as the CPU's forward pass.
template <typename T, int W>
__global__ void bias_activation(T *pre, const T *b1, const int64_t *offsets, int64_t E, int64_t R,
                                int64_t F, int32_t act, int32_t gated, T *act_out) {
  const int64_t P = gated ? 2 * F : F, per_row = F / W, total = R * per_row;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / per_row, c = (i % per_row) * W;
    const T *bias = b1 + expert_of(row, offsets, E) * P;
    T *z = pre + row * P;
    Pack<T, W> gate = load_pack<W>(z + c), out;
    const Pack<T, W> gate_bias = load_pack<W>(bias + c);
    Pack<T, W> up{}, up_bias{};
    if (gated) {
      up = load_pack<W>(z + F + c);
      up_bias = load_pack<W>(bias + F + c);
    }
    for (int j = 0; j < W; ++j) {
      gate.v[j] = add_rounded(gate.v[j], gate_bias.v[j]);  // the stored value backward reads
      float value = activate(act, load(&gate.v[j]));
      if (gated) {
        up.v[j] = add_rounded(up.v[j], up_bias.v[j]);
        value = value * load(&up.v[j]);
      }
      store(&out.v[j], value);
    }
    store_pack(z + c, gate);
    if (gated) store_pack(z + F + c, up);
    store_pack(act_out + row * F + c, out);
  }
}

// y += b2[e].
template <typename T, int W>
__global__ void bias_add(T *y, const T *b2, const int64_t *offsets, int64_t E, int64_t R, int64_t D) {
  const int64_t per_row = D / W, total = R * per_row;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / per_row, c = (i % per_row) * W;
    Pack<T, W> value = load_pack<W>(y + row * D + c);
    const Pack<T, W> bias = load_pack<W>(b2 + expert_of(row, offsets, E) * D + c);
    for (int j = 0; j < W; ++j) value.v[j] = add_rounded(value.v[j], bias.v[j]);
    store_pack(y + row * D + c, value);
  }
}

// In place, as the CPU's backward pass: dpre holds dL/dact (plain: all of it; gated: its up half)
// and becomes dL/dpre. Each thread reads and writes only its own columns c (and F + c).
template <typename T, int W>
__global__ void activation_backward(const T *pre, int64_t R, int64_t F, int32_t act,
                                    int32_t gated, T *dpre) {
  const int64_t P = gated ? 2 * F : F, per_row = F / W, total = R * per_row;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / per_row, c = (i % per_row) * W;
    const T *z = pre + row * P;
    T *g = dpre + row * P;
    const Pack<T, W> gate = load_pack<W>(z + c);
    if (gated) {
      const Pack<T, W> up = load_pack<W>(z + F + c), dact = load_pack<W>(g + F + c);
      Pack<T, W> dgate, dup;
      for (int j = 0; j < W; ++j) {
        const float x = load(&gate.v[j]), u = load(&up.v[j]), d = load(&dact.v[j]);
        store(&dgate.v[j], d * u * activate_grad(act, x));
        store(&dup.v[j], d * activate(act, x));
      }
      store_pack(g + c, dgate);
      store_pack(g + F + c, dup);
    } else {
      Pack<T, W> grad = load_pack<W>(g + c);
      for (int j = 0; j < W; ++j) {
        store(&grad.v[j], load(&grad.v[j]) * activate_grad(act, load(&gate.v[j])));
      }
      store_pack(g + c, grad);
    }
  }
}

// Whether the 16-byte epilogues apply: row lengths (`cols`, and the bias stride) whole packs, and
// every base address 16-byte aligned.
template <typename T>
bool packs_fit(int64_t cols, std::initializer_list<const void *> bases) {
  if (cols % kWide<T> != 0) return false;
  for (const void *base : bases) {
    if (reinterpret_cast<uintptr_t>(base) % 16 != 0) return false;
  }
  return true;
}

// Calls launch(std::integral_constant<int, W>{}) with the widest W the buffers allow: kWide<T>
// where packs_fit, else 1. The one place that picks an epilogue's width.
template <typename T, typename Launch>
void with_pack_width(int64_t cols, std::initializer_list<const void *> bases,
                     const Launch &launch) {
  if (packs_fit<T>(cols, bases)) {
    launch(std::integral_constant<int, kWide<T>>{});
  } else {
    launch(std::integral_constant<int, 1>{});
  }
}

// Blocks of 256 threads for one thread per pack of W over rows x cols (grid_for caps the count;
// the kernels' grid-stride loops cover the rest).
unsigned pack_blocks(int64_t rows, int64_t cols, int W) { return grid_for(rows * (cols / W), 256); }

// Runs Launch<T>::run(args...) with the storage type of `dtype`.
template <template <typename> class Launch, typename... Args>
prophet_status_t by_dtype(GemmDtype dtype, Args &&...args) {
  switch (dtype) {
    case GemmDtype::kBF16: Launch<__nv_bfloat16>::run(args...); break;
    case GemmDtype::kF16: Launch<__half>::run(args...); break;
    default: Launch<float>::run(args...); break;
  }
  return PROPHET_CHECK_LAUNCH();
}

template <typename T> T *typed(void *p) { return static_cast<T *>(p); }
template <typename T> const T *typed(const void *p) { return static_cast<const T *>(p); }

template <typename T> struct LaunchBiasActivation {
  static void run(cudaStream_t s, void *pre, const void *b1, const int64_t *off, int64_t E,
                  int64_t R, int64_t F, int32_t act, int32_t gated, void *act_out) {
    with_pack_width<T>(F, {pre, b1, act_out}, [&](auto width) {
      constexpr int W = decltype(width)::value;
      bias_activation<T, W><<<pack_blocks(R, F, W), 256, 0, s>>>(
          typed<T>(pre), typed<T>(b1), off, E, R, F, act, gated, typed<T>(act_out));
    });
  }
};
template <typename T> struct LaunchBiasAdd {
  static void run(cudaStream_t s, void *y, const void *b2, const int64_t *off, int64_t E, int64_t R,
                  int64_t D) {
    with_pack_width<T>(D, {y, b2}, [&](auto width) {
      constexpr int W = decltype(width)::value;
      bias_add<T, W><<<pack_blocks(R, D, W), 256, 0, s>>>(typed<T>(y), typed<T>(b2), off, E, R, D);
    });
  }
};
template <typename T> struct LaunchActivationBackward {
  static void run(cudaStream_t s, const void *pre, int64_t R, int64_t F, int32_t act,
                  int32_t gated, void *dpre) {
    with_pack_width<T>(F, {pre, dpre}, [&](auto width) {
      constexpr int W = decltype(width)::value;
      activation_backward<T, W><<<pack_blocks(R, F, W), 256, 0, s>>>(typed<T>(pre), R, F, act,
                                                                     gated, typed<T>(dpre));
    });
  }
};
template <typename T> struct LaunchBiasGrad {
  static void run(cudaStream_t s, const void *d, const int64_t *off, int64_t E, int64_t C,
                  void *db) {
    bias_grad<T><<<grid_for(E * C, 256), 256, 0, s>>>(typed<T>(d), off, E, C, typed<T>(db));
  }
};

// Row offsets [E + 1] of the shape, on the device for this call.
prophet_status_t upload_offsets(const ExpertFfnShape &s, prophet_stream_t stream,
                                DeviceScratch *out) {
  std::vector<int64_t> offsets(static_cast<size_t>(s.num_experts) + 1, 0);
  for (int64_t e = 0; e < s.num_experts; ++e) offsets[e + 1] = offsets[e] + s.rows_per_expert[e];
  return out->upload(offsets.data(), 8 * offsets.size(), stream->stream);
}

GroupedGemmShape gemm_shape(const ExpertFfnShape &s, int64_t k, int64_t n) {
  return GroupedGemmShape{s.num_experts, s.rows_per_expert, k, n, s.dtype};
}

char *at(void *base, int64_t byte_offset) { return static_cast<char *>(base) + byte_offset; }

}  // namespace

prophet_status_t expert_ffn_check(const char *kernel, const ExpertFfnShape &s,
                                  prophet_stream_t stream, int64_t *total_rows) {
  if (s.activation < PROPHET_ACTIVATION_RELU || s.activation > PROPHET_ACTIVATION_SILU) {
    return fail(PROPHET_ERR_INVALID, std::string(kernel) + ": unknown activation " +
                                         std::to_string(s.activation));
  }
  const int64_t P = s.gated ? 2 * s.hidden : s.hidden;
  PROPHET_RETURN_IF_FAILED(grouped_gemm_check(kernel, gemm_shape(s, s.d_model, P), stream, total_rows));
  return grouped_gemm_check(kernel, gemm_shape(s, s.hidden, s.d_model), stream, total_rows);
}

prophet_status_t expert_ffn_forward(const ExpertFfnShape &s, const ExpertFfnWeights &w,
                                    const void *x, void *pre, void *act, void *y,
                                    prophet_stream_t stream) {
  int64_t R = 0;
  PROPHET_RETURN_IF_FAILED(expert_ffn_check("ffn forward", s, stream, &R));
  if (R == 0) return PROPHET_OK;
  const int64_t E = s.num_experts, D = s.d_model, F = s.hidden, P = s.gated ? 2 * F : F;
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  DeviceScratch offsets_mem;
  PROPHET_RETURN_IF_FAILED(upload_offsets(s, stream, &offsets_mem));
  const int64_t *offsets = offsets_mem.as<const int64_t>();
  cudaStream_t st = stream->stream;
  // Step 1: pre = x W1 + b1, act = f(pre) (gated: f(gate) * up).
  PROPHET_RETURN_IF_FAILED(grouped_gemm_forward(gemm_shape(s, D, P), x, w.w1, pre, stream));
  PROPHET_RETURN_IF_FAILED(by_dtype<LaunchBiasActivation>(s.dtype, st, pre, w.b1, offsets, E,
                                                          R, F, s.activation, s.gated, act));
  // Step 2: y = act W2 + b2.
  PROPHET_RETURN_IF_FAILED(grouped_gemm_forward(gemm_shape(s, F, D), act, w.w2, y, stream));
  return by_dtype<LaunchBiasAdd>(s.dtype, st, y, w.b2, offsets, E, R, D);
}

prophet_status_t expert_ffn_backward(const ExpertFfnShape &s, const ExpertFfnWeights &w,
                                     const void *dy, const void *x, const void *pre,
                                     const void *act, void *dx, void *dpre,
                                     const ExpertFfnGrads &g, prophet_stream_t stream) {
  int64_t R = 0;
  PROPHET_RETURN_IF_FAILED(expert_ffn_check("ffn backward", s, stream, &R));
  if (R == 0) return PROPHET_OK;  // every gradient accumulates zero
  const int64_t E = s.num_experts, D = s.d_model, F = s.hidden, P = s.gated ? 2 * F : F;
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  DeviceScratch offsets_mem;
  PROPHET_RETURN_IF_FAILED(upload_offsets(s, stream, &offsets_mem));
  const int64_t *offsets = offsets_mem.as<const int64_t>();
  cudaStream_t st = stream->stream;
  // dL/dact lands where step 2 expects it: all of dpre (plain) or its up half (gated), so the
  // pass rewrites it into dL/dpre in place without another buffer (as the CPU does).
  void *dact = at(dpre, (s.gated ? F : 0) * dtype_bytes(s.dtype));
  // Step 1: second layer. db2 += sum dy, dW2 += act^T dy, dact = dy W2^T.
  PROPHET_RETURN_IF_FAILED(by_dtype<LaunchBiasGrad>(s.dtype, st, dy, offsets, E, D, g.b2));
  PROPHET_RETURN_IF_FAILED(grouped_gemm_backward_weight(gemm_shape(s, F, D), act, dy, g.w2, true, stream));
  PROPHET_RETURN_IF_FAILED(grouped_gemm_backward_input(gemm_shape(s, F, D), dy, w.w2, dact, P, stream));
  // Step 2: through the activation (and the gate), in place.
  PROPHET_RETURN_IF_FAILED(by_dtype<LaunchActivationBackward>(s.dtype, st, pre, R, F, s.activation,
                                                              s.gated, dpre));
  // Step 3: first layer. db1 += sum dpre, dW1 += x^T dpre, dx = dpre W1^T.
  PROPHET_RETURN_IF_FAILED(by_dtype<LaunchBiasGrad>(s.dtype, st, dpre, offsets, E, P, g.b1));
  PROPHET_RETURN_IF_FAILED(grouped_gemm_backward_weight(gemm_shape(s, D, P), x, dpre, g.w1, true, stream));
  return grouped_gemm_backward_input(gemm_shape(s, D, P), dpre, w.w1, dx, D, stream);
}

}  // namespace prophet::cuda
