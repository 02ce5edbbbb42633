// CUDA dispatch/combine and their backward passes (CPU: native/cpu/kernels/permute.cpp).
//
// Every entry first validates the routing on the device, before anything is written: each kept
// slot's row (native/kernels/permute.h slot_row) must be in range, and no two slots may map to
// one row. Rows are claimed with atomicMin(slot), so a row's claimer is its lowest slot; a slot
// fails when its expert or row is out of range or its row was claimed by a lower slot. The lowest
// failing slot is reported, which is the slot the CPU's sequential check stops at.
//
// Then one block per token moves its rows (float4 when d % 4 == 0). Sums over j run in order
// 0..k-1 per feature, with multiply and add rounded separately (the library is built with
// --fmad=false), so dispatch, combine, dispatch_backward and d_y equal the CPU's bitwise;
// d_weight's dot product runs as a fixed tree (deterministic, not the CPU's sequential order).
#include "../../native/core/kernels_permute.h"
#include "../../native/kernels/permute.h"
#include "kernel_common.cuh"
#include "permute.cuh"

namespace prophet::cuda {
namespace {

enum PermuteOp : int32_t { kDispatch = 0, kCombine = 1, kDispatchBackward = 2, kCombineBackward = 3 };

const char *const kOpNames[] = {"dispatch", "combine", "dispatch backward", "combine backward"};

struct Routing {
  const int32_t *expert_index, *position, *row_offset;
  int64_t T, k, E, d, R;

  // Row of a slot; -1 dropped, -2 bad expert, -3 row outside [0, R).
  __device__ __forceinline__ int64_t row(int64_t slot) const {
    const int32_t pos = position[slot];
    if (pos < 0) return -1;
    const int32_t e = expert_index[slot];
    if (e < 0 || e >= E) return -2;
    const int64_t r = kernels::slot_row(row_offset, e, pos);
    return r < 0 || r >= R ? -3 : r;
  }
};

__global__ void claim_rows(Routing r, unsigned long long *claims, StreamScratch *scratch) {
  for (int64_t slot = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; slot < r.T * r.k;
       slot += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = r.row(slot);
    if (row >= 0) {
      atomicMin(&claims[row], static_cast<unsigned long long>(slot));
    } else if (row < -1) {
      flag_bad(scratch, static_cast<unsigned long long>(slot));
    }
  }
}

__global__ void find_shared_rows(Routing r, const unsigned long long *claims,
                                 StreamScratch *scratch) {
  for (int64_t slot = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; slot < r.T * r.k;
       slot += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = r.row(slot);
    if (row >= 0 && claims[row] != static_cast<unsigned long long>(slot)) {
      flag_bad(scratch, static_cast<unsigned long long>(slot));
    }
  }
}

// True (for the whole block) when validation failed; block 0 records why.
__device__ bool routing_failed(const Routing &r, int32_t op, StreamScratch *scratch) {
  if (!op_failed(scratch)) return false;
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    const int64_t slot = static_cast<int64_t>(op_key(scratch));
    const int64_t row = r.row(slot);
    const int32_t e = r.expert_index[slot];
    if (row == -2) {
      record_error(scratch, kPermuteBadExpert, op, slot, r.k, e, r.E);
    } else if (row == -3) {
      record_error(scratch, kPermuteRowOutOfRange, op, slot, r.k,
                   kernels::slot_row(r.row_offset, e, r.position[slot]), r.R);
    } else {
      record_error(scratch, kPermuteRowClaimed, op, slot, r.k, row, 0);
    }
  }
  return true;
}

// Vector of V floats (1 or 4) with the arithmetic the kernels need.
template <int V> struct Vec;
template <> struct Vec<1> {
  using type = float;
  __device__ static float zero() { return 0.0f; }
  __device__ static void axpy(float w, float y, float &acc) { acc += w * y; }
  __device__ static float scale(float w, float y) { return w * y; }
  __device__ static float dot(float a, float b) { return a * b; }
};
template <> struct Vec<4> {
  using type = float4;
  __device__ static float4 zero() { return make_float4(0.f, 0.f, 0.f, 0.f); }
  __device__ static void axpy(float w, float4 y, float4 &acc) {
    acc.x += w * y.x;
    acc.y += w * y.y;
    acc.z += w * y.z;
    acc.w += w * y.w;
  }
  __device__ static float4 scale(float w, float4 y) {
    return make_float4(w * y.x, w * y.y, w * y.z, w * y.w);
  }
  __device__ static float dot(float4 a, float4 b) {
    return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
  }
};

template <int V>
__global__ void dispatch_rows(Routing r, const float *x, float *out, StreamScratch *scratch) {
  if (routing_failed(r, kDispatch, scratch)) return;
  using T = typename Vec<V>::type;
  const int64_t n = r.d / V;
  for (int64_t t = blockIdx.x; t < r.T; t += gridDim.x) {
    const T *src = reinterpret_cast<const T *>(x + t * r.d);
    for (int64_t j = 0; j < r.k; ++j) {
      const int64_t row = r.row(t * r.k + j);
      if (row < 0) continue;
      T *dst = reinterpret_cast<T *>(out + row * r.d);
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) dst[i] = src[i];
    }
  }
}

// out[t] = sum_j weight[t, j] * y[row(t, j)]; weight NULL means 1 (dispatch backward).
template <int V>
__global__ void gather_rows(Routing r, int32_t op, const float *y, const float *weight,
                            float *out, StreamScratch *scratch) {
  if (routing_failed(r, op, scratch)) return;
  using T = typename Vec<V>::type;
  const int64_t n = r.d / V;
  for (int64_t t = blockIdx.x; t < r.T; t += gridDim.x) {
    T *dst = reinterpret_cast<T *>(out + t * r.d);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      T acc = Vec<V>::zero();
      for (int64_t j = 0; j < r.k; ++j) {
        const int64_t row = r.row(t * r.k + j);
        if (row < 0) continue;
        const T value = reinterpret_cast<const T *>(y + row * r.d)[i];
        Vec<V>::axpy(weight != nullptr ? weight[t * r.k + j] : 1.0f, value, acc);
      }
      dst[i] = acc;
    }
  }
}

template <int V>
__global__ void combine_backward_rows(Routing r, const float *d_out, const float *y,
                                      const float *weight, float *d_y, float *d_weight,
                                      StreamScratch *scratch) {
  if (routing_failed(r, kCombineBackward, scratch)) return;
  using T = typename Vec<V>::type;
  __shared__ float partial[256];
  const int64_t n = r.d / V;
  for (int64_t t = blockIdx.x; t < r.T; t += gridDim.x) {
    const T *g = reinterpret_cast<const T *>(d_out + t * r.d);
    for (int64_t j = 0; j < r.k; ++j) {
      const int64_t slot = t * r.k + j;
      const int64_t row = r.row(slot);
      if (row < 0) {
        if (threadIdx.x == 0) d_weight[slot] = 0.0f;
        continue;  // uniform across the block: every thread sees the same row
      }
      const float w = weight[slot];
      const T *y_row = reinterpret_cast<const T *>(y + row * r.d);
      T *d_y_row = reinterpret_cast<T *>(d_y + row * r.d);
      float dot = 0.0f;
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const T g_i = g[i];
        d_y_row[i] = Vec<V>::scale(w, g_i);
        dot += Vec<V>::dot(g_i, y_row[i]);
      }
      partial[threadIdx.x] = dot;
      __syncthreads();
      for (int width = blockDim.x / 2; width > 0; width /= 2) {  // fixed tree
        if (threadIdx.x < width) partial[threadIdx.x] += partial[threadIdx.x + width];
        __syncthreads();
      }
      if (threadIdx.x == 0) d_weight[slot] = partial[0];
      __syncthreads();
    }
  }
}

prophet_status_t check_shape(const char *kernel, const prophet_permute_shape_t *shape,
                             const prophet_permute_routing_t *routing) {
  const std::string error = checks::permute_shape_error(kernel, shape, routing);
  return error.empty() ? PROPHET_OK : fail(PROPHET_ERR_INVALID, error);
}

struct BufferArg {
  const char *name;
  prophet_buffer_t buffer;
  int64_t num_elements;
};

// Shape, buffer sizes (CPU wording), then the routing validation queued on the stream.
prophet_status_t begin(int32_t op, const prophet_permute_shape_t *shape,
                       const prophet_permute_routing_t *routing,
                       std::initializer_list<BufferArg> tensors, prophet_stream_t stream,
                       Routing *out) {
  const char *kernel = kOpNames[op];
  PROPHET_RETURN_IF_FAILED(check_shape(kernel, shape, routing));
  if (stream == nullptr) return fail(PROPHET_ERR_INVALID, std::string(kernel) + ": stream is NULL");
  const prophet_permute_shape_t &s = *shape;
  const BufferArg routing_args[] = {
      {"expert_index", routing->expert_index, s.num_tokens * s.k},
      {"position", routing->position, s.num_tokens * s.k},
      {"row_offset_per_expert", routing->row_offset_per_expert, s.num_experts}};
  for (const BufferArg &b : routing_args) {
    PROPHET_RETURN_IF_FAILED(require_buffer(kernel, b.name, b.buffer, b.num_elements, 4));
  }
  for (const BufferArg &b : tensors) {
    PROPHET_RETURN_IF_FAILED(require_buffer(kernel, b.name, b.buffer, b.num_elements, 4));
  }
  *out = Routing{data_of<const int32_t>(routing->expert_index),
                 data_of<const int32_t>(routing->position),
                 data_of<const int32_t>(routing->row_offset_per_expert),
                 s.num_tokens, s.k, s.num_experts, s.num_features, s.num_rows};
  const int64_t num_slots = s.num_tokens * s.k;
  if (num_slots == 0) return PROPHET_OK;  // nothing to check, nothing to move
  PROPHET_RETURN_IF_FAILED(begin_validated_op(stream));
  cudaStream_t st = stream->stream;
  void *claims = nullptr;
  PROPHET_RETURN_IF_FAILED(scratch_alloc(8 * s.num_rows, st, &claims));
  prophet_status_t status = PROPHET_CUDA_CHECK(cudaMemsetAsync(claims, 0xff, 8 * s.num_rows, st));
  if (status == PROPHET_OK) {
    claim_rows<<<grid_for(num_slots, 256), 256, 0, st>>>(
        *out, static_cast<unsigned long long *>(claims), stream->scratch);
    status = PROPHET_CHECK_LAUNCH();
  }
  if (status == PROPHET_OK) {
    find_shared_rows<<<grid_for(num_slots, 256), 256, 0, st>>>(
        *out, static_cast<const unsigned long long *>(claims), stream->scratch);
    status = PROPHET_CHECK_LAUNCH();
  }
  scratch_free(claims, st);
  return status;
}

// One block per token (grid-stride past 65536 tokens); threads cover the row's vectors.
struct Launch {
  unsigned grid;
  int threads;
  bool vector4;
};

Launch launch_for(const Routing &r, const void *const *pointers, size_t count) {
  bool aligned = r.d % 4 == 0;
  for (size_t i = 0; i < count; ++i) {
    aligned = aligned && reinterpret_cast<uintptr_t>(pointers[i]) % 16 == 0;
  }
  const int64_t vectors = aligned ? r.d / 4 : r.d;
  int threads = 32;
  while (threads < 256 && threads < vectors) threads *= 2;
  const int64_t blocks = r.T < 65536 ? r.T : 65536;
  return Launch{static_cast<unsigned>(blocks), threads, aligned};
}

prophet_status_t dispatch(const prophet_permute_shape_t *shape,
                          const prophet_permute_routing_t *routing, prophet_buffer_t x,
                          prophet_buffer_t out, prophet_stream_t stream) {
  Routing r{};
  PROPHET_RETURN_IF_FAILED(begin(kDispatch, shape, routing,
                                 {{"x", x, shape == nullptr ? 0 : shape->num_tokens * shape->num_features},
                                  {"out", out, shape == nullptr ? 0 : shape->num_rows * shape->num_features}},
                                 stream, &r));
  if (r.T * r.k == 0) return PROPHET_OK;
  const void *ptrs[] = {x->ptr, out->ptr};
  const Launch l = launch_for(r, ptrs, 2);
  if (l.vector4) {
    dispatch_rows<4><<<l.grid, l.threads, 0, stream->stream>>>(r, data_of<const float>(x), data_of<float>(out), stream->scratch);
  } else {
    dispatch_rows<1><<<l.grid, l.threads, 0, stream->stream>>>(r, data_of<const float>(x), data_of<float>(out), stream->scratch);
  }
  return PROPHET_CHECK_LAUNCH();
}

prophet_status_t gather(int32_t op, const Routing &r, prophet_buffer_t y, prophet_buffer_t weight,
                        prophet_buffer_t out, prophet_stream_t stream) {
  if (r.T == 0) return PROPHET_OK;
  const void *ptrs[] = {y->ptr, out->ptr};
  const Launch l = launch_for(r, ptrs, 2);
  const float *w = data_of<const float>(weight);
  if (l.vector4) {
    gather_rows<4><<<l.grid, l.threads, 0, stream->stream>>>(r, op, data_of<const float>(y), w, data_of<float>(out), stream->scratch);
  } else {
    gather_rows<1><<<l.grid, l.threads, 0, stream->stream>>>(r, op, data_of<const float>(y), w, data_of<float>(out), stream->scratch);
  }
  return PROPHET_CHECK_LAUNCH();
}

prophet_status_t combine(const prophet_permute_shape_t *shape,
                         const prophet_permute_routing_t *routing, prophet_buffer_t y,
                         prophet_buffer_t weight, prophet_buffer_t out, prophet_stream_t stream) {
  Routing r{};
  const int64_t T = shape == nullptr ? 0 : shape->num_tokens;
  PROPHET_RETURN_IF_FAILED(begin(kCombine, shape, routing,
                                 {{"y", y, shape == nullptr ? 0 : shape->num_rows * shape->num_features},
                                  {"weight", weight, shape == nullptr ? 0 : T * shape->k},
                                  {"out", out, shape == nullptr ? 0 : T * shape->num_features}},
                                 stream, &r));
  return gather(kCombine, r, y, weight, out, stream);
}

prophet_status_t dispatch_backward(const prophet_permute_shape_t *shape,
                                   const prophet_permute_routing_t *routing,
                                   prophet_buffer_t d_out, prophet_buffer_t dx,
                                   prophet_stream_t stream) {
  Routing r{};
  PROPHET_RETURN_IF_FAILED(begin(kDispatchBackward, shape, routing,
                                 {{"d_out", d_out, shape == nullptr ? 0 : shape->num_rows * shape->num_features},
                                  {"dx", dx, shape == nullptr ? 0 : shape->num_tokens * shape->num_features}},
                                 stream, &r));
  return gather(kDispatchBackward, r, d_out, nullptr, dx, stream);
}

prophet_status_t combine_backward(const prophet_permute_shape_t *shape,
                                  const prophet_permute_routing_t *routing,
                                  prophet_buffer_t d_out, prophet_buffer_t y,
                                  prophet_buffer_t weight, prophet_buffer_t d_y,
                                  prophet_buffer_t d_weight, prophet_stream_t stream) {
  Routing r{};
  const int64_t T = shape == nullptr ? 0 : shape->num_tokens;
  const int64_t Rd = shape == nullptr ? 0 : shape->num_rows * shape->num_features;
  PROPHET_RETURN_IF_FAILED(begin(kCombineBackward, shape, routing,
                                 {{"d_out", d_out, shape == nullptr ? 0 : T * shape->num_features},
                                  {"y", y, Rd},
                                  {"weight", weight, shape == nullptr ? 0 : T * shape->k},
                                  {"d_y", d_y, Rd},
                                  {"d_weight", d_weight, shape == nullptr ? 0 : T * shape->k}},
                                 stream, &r));
  if (r.T == 0) return PROPHET_OK;
  const void *ptrs[] = {d_out->ptr, y->ptr, d_y->ptr};
  Launch l = launch_for(r, ptrs, 3);
  l.threads = 256;  // the tree reduction below assumes the full shared array
  const float *g = data_of<const float>(d_out), *yv = data_of<const float>(y),
              *w = data_of<const float>(weight);
  float *dy = data_of<float>(d_y), *dw = data_of<float>(d_weight);
  if (l.vector4) {
    combine_backward_rows<4><<<l.grid, l.threads, 0, stream->stream>>>(r, g, yv, w, dy, dw, stream->scratch);
  } else {
    combine_backward_rows<1><<<l.grid, l.threads, 0, stream->stream>>>(r, g, yv, w, dy, dw, stream->scratch);
  }
  return PROPHET_CHECK_LAUNCH();
}

}  // namespace

extern const prophet_permute_i kPermute = {
    /* .dispatch          = */ dispatch,
    /* .combine           = */ combine,
    /* .dispatch_backward = */ dispatch_backward,
    /* .combine_backward  = */ combine_backward,
};

}  // namespace prophet::cuda
