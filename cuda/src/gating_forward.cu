// CUDA gating forward, results identical to the CPU backend's (native/cpu/kernels/
// gating_forward.cpp): the same per-token math (native/kernels/gating.h), one thread per token,
// and a capacity pass that gives each slot the position the CPU's running count gives it.
//
// Steps, all queued on the caller's stream (no host synchronization):
//  1. refuse non-finite logits: the first bad index (row-major) is kept in the stream's op_key,
//     and every later kernel of this call returns without writing (then synchronize() fails);
//  2. route: per token, top-k by logit, softmax, weights (tile of rows in shared memory so that
//     global reads and writes are coalesced);
//  3. capacity: the slots in claim order (choice rank j outer, tokens inner in token or seeded
//     random order) are cut into segments, one warp each. A slot's position is its rank among the
//     earlier slots of the same expert: (slots of that expert in earlier segments: a scan of
//     per-segment warp histograms) + (earlier in its segment: __match_any_sync). It keeps the
//     position when rank < capacity, otherwise it is dropped. Counts are min(total, capacity).
#include <algorithm>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include "../../native/kernels/gating.h"
#include "gating.cuh"
#include "kernel_common.cuh"

namespace prophet::cuda {
namespace {

constexpr const char *kName = "gating forward";

__global__ void find_non_finite(const float *logits, int64_t count, StreamScratch *scratch) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float value = logits[i];
    if (!isfinite(value)) flag_bad(scratch, (static_cast<unsigned long long>(i) << 1) | (isinf(value) ? 1 : 0));
  }
}

// Step 1's verdict, read by the first kernel that writes outputs.
__device__ bool forward_failed(StreamScratch *scratch, int64_t num_experts) {
  if (!op_failed(scratch)) return false;
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    const unsigned long long key = op_key(scratch);
    record_error(scratch, kGatingNonFinite, 0, static_cast<long long>(key >> 1), num_experts,
                 static_cast<long long>(key & 1), 0);
  }
  return true;
}

// Per-token work on a row that may be in shared or global memory. `row` holds the logits on
// entry and the probabilities on exit (when probs_out == row) or stays untouched.
__device__ __forceinline__ float route_row(float *row, float *probs_out, int64_t E, int64_t k,
                                           int32_t renormalize, int32_t *top_index,
                                           float *top_weight) {
  // Top-k first: with an in-place softmax the logits are gone afterwards.
  kernels::topk_row(row, E, k, top_index, top_weight);
  const float lse = kernels::softmax_row(row, E, probs_out);
  for (int64_t j = 0; j < k; ++j) top_weight[j] = probs_out[top_index[j]];
  if (renormalize != 0) kernels::renormalize_row(top_weight, k);
  return lse;
}

// Block = `rows` tokens. Shared memory: rows x stride logits (then probabilities), rows x k
// top indices, rows x k weights.
__global__ void route_tile(const float *logits, int64_t T, int64_t E, int64_t k,
                           int32_t renormalize, int64_t rows, int64_t stride, float *probs,
                           float *logsumexp, int32_t *expert_index, float *weight,
                           StreamScratch *scratch) {
  if (forward_failed(scratch, E)) return;
  extern __shared__ float smem[];
  float *tile = smem;
  int32_t *top_index = reinterpret_cast<int32_t *>(tile + rows * stride);
  float *top_weight = reinterpret_cast<float *>(top_index + rows * k);
  for (int64_t first = blockIdx.x * rows; first < T; first += int64_t(gridDim.x) * rows) {
    const int64_t here = min(rows, T - first);
    for (int64_t i = threadIdx.x; i < here * E; i += blockDim.x) {
      tile[(i / E) * stride + i % E] = logits[first * E + i];
    }
    __syncthreads();
    if (threadIdx.x < here) {
      const int64_t r = threadIdx.x;
      logsumexp[first + r] = route_row(tile + r * stride, tile + r * stride, E, k, renormalize,
                                       top_index + r * k, top_weight + r * k);
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < here * E; i += blockDim.x) {
      probs[first * E + i] = tile[(i / E) * stride + i % E];
    }
    for (int64_t i = threadIdx.x; i < here * k; i += blockDim.x) {
      expert_index[first * k + i] = top_index[i];
      weight[first * k + i] = top_weight[i];
    }
    __syncthreads();
  }
}

// For rows too wide for shared memory: each thread works on its row in global memory (the weight
// row is the top-k scratch first, as on the CPU).
__global__ void route_global(const float *logits, int64_t T, int64_t E, int64_t k,
                             int32_t renormalize, float *probs, float *logsumexp,
                             int32_t *expert_index, float *weight, StreamScratch *scratch) {
  if (forward_failed(scratch, E)) return;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < T;
       t += int64_t(gridDim.x) * blockDim.x) {
    kernels::topk_row(logits + t * E, E, k, expert_index + t * k, weight + t * k);
    logsumexp[t] = kernels::softmax_row(logits + t * E, E, probs + t * E);
    for (int64_t j = 0; j < k; ++j) weight[t * k + j] = probs[t * E + expert_index[t * k + j]];
    if (renormalize != 0) kernels::renormalize_row(weight + t * k, k);
  }
}

__global__ void random_keys(uint32_t seed, int64_t T, uint32_t *priority, int32_t *token) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < T;
       t += int64_t(gridDim.x) * blockDim.x) {
    priority[t] = kernels::random_priority(seed, t);
    token[t] = static_cast<int32_t>(t);
  }
}

// The claim order: element i is slot (order[i % T], i / T).
struct ClaimOrder {
  const int32_t *order;  // tokens by increasing priority; NULL = token order
  const int32_t *expert_index;
  int64_t T, k;

  __device__ __forceinline__ int64_t slot(int64_t i) const {
    const int64_t j = i / T, r = i - j * T;
    return (order != nullptr ? order[r] : r) * k + j;
  }
};

// One warp per segment of `segment` claim-order elements: hist[e * num_segments + s] = slots of
// expert e in segment s.
__global__ void segment_histogram(ClaimOrder claim, int64_t num_slots, int64_t segment,
                                  int64_t num_segments, int *hist, StreamScratch *scratch) {
  if (op_failed(scratch)) return;
  const int64_t s = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32;
  if (s >= num_segments) return;  // whole warps leave together
  const int lane = threadIdx.x % 32;
  const int64_t end = min(num_slots, (s + 1) * segment);
  for (int64_t base = s * segment; base < end; base += 32) {
    const int64_t i = base + lane;
    const int e = i < end ? claim.expert_index[claim.slot(i)] : -1;
    // Offsetting the bin by the segment turns the per-segment histogram into one counter array.
    const unsigned peers = __match_any_sync(0xffffffffu, e);
    if (e >= 0 && lane == __ffs(peers) - 1) atomicAdd(&hist[e * num_segments + s], __popc(peers));
  }
}

// counts[e] = min(total_e, capacity) and num_dropped = sum of the excess, from the exclusive scan
// of the histogram (prefix[e * num_segments] is the number of slots of experts before e).
__global__ void expert_counts(const int *prefix, int64_t E, int64_t num_segments, int64_t capacity,
                              int32_t *counts, int32_t *num_dropped, StreamScratch *scratch) {
  if (op_failed(scratch)) return;
  __shared__ int dropped;
  if (threadIdx.x == 0) dropped = 0;
  __syncthreads();
  int mine = 0;
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x) {
    const int total = prefix[(e + 1) * num_segments] - prefix[e * num_segments];
    const int kept = capacity < 0 || total <= capacity ? total : static_cast<int>(capacity);
    counts[e] = kept;
    mine += total - kept;
  }
  atomicAdd(&dropped, mine);  // integers: the order does not matter
  __syncthreads();
  if (threadIdx.x == 0) num_dropped[0] = dropped;
}

// Same segments as segment_histogram; `cursor` (zeroed) counts each expert's slots already
// placed inside the segment, updated by one lane per expert per step.
__global__ void assign_positions(ClaimOrder claim, int64_t num_slots, int64_t segment,
                                 int64_t num_segments, const int *prefix, int *cursor,
                                 int64_t capacity, int32_t *position, float *weight,
                                 StreamScratch *scratch) {
  if (op_failed(scratch)) return;
  const int64_t s = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32;
  if (s >= num_segments) return;
  const int lane = threadIdx.x % 32;
  const unsigned lower_lanes = (1u << lane) - 1u;
  const int64_t end = min(num_slots, (s + 1) * segment);
  volatile int *cursor_v = cursor;
  for (int64_t base = s * segment; base < end; base += 32) {
    const int64_t i = base + lane;
    const int64_t slot = i < end ? claim.slot(i) : -1;
    const int e = slot >= 0 ? claim.expert_index[slot] : -1;
    const unsigned peers = __match_any_sync(0xffffffffu, e);
    int rank = 0;
    if (e >= 0) {
      const int64_t at = e * num_segments + s;
      rank = prefix[at] - prefix[e * num_segments] + cursor_v[at] + __popc(peers & lower_lanes);
    }
    __syncwarp();
    if (e >= 0 && lane == __ffs(peers) - 1) cursor_v[e * num_segments + s] += __popc(peers);
    __syncwarp();
    if (e >= 0) {
      if (capacity < 0 || rank < capacity) {
        position[slot] = rank;
      } else {
        position[slot] = -1;
        weight[slot] = 0.0f;
      }
    }
  }
}

// Segments of the claim order, one warp each, at least E long so that the histogram
// (E x segments) stays below slots + E entries.
struct CapacityLayout {
  int64_t segment, num_segments;
};

CapacityLayout capacity_layout(int64_t E, int64_t num_slots) {
  const int64_t segment = std::max<int64_t>(256, (E + 31) / 32 * 32);
  return CapacityLayout{segment, std::max<int64_t>(1, (num_slots + segment - 1) / segment)};
}

prophet_status_t check_forward(const prophet_gating_params_t &p, prophet_buffer_t logits,
                               const prophet_gating_outputs_t &out) {
  const std::string name = kName;
  int64_t num_logits = 0, num_slots = 0;
  if (std::string e = checks::gating_params_error(kName, p, &num_logits, &num_slots); !e.empty()) {
    return fail(PROPHET_ERR_INVALID, e);
  }
  // The capacity pass counts slots in int32 (positions are int32 anyway).
  if (num_slots > INT32_MAX) {
    return fail(PROPHET_ERR_INVALID, name + ": num_tokens * k must be below 2^31 on CUDA");
  }
  if (p.num_experts * capacity_layout(p.num_experts, num_slots).num_segments >= INT32_MAX) {
    return fail(PROPHET_ERR_INVALID, name + ": num_experts * slot segments must be below 2^31 on CUDA");
  }
  const auto buffers = checks::gating_forward_buffers(p, logits, out, num_logits, num_slots);
  for (const auto &b : buffers) PROPHET_RETURN_IF_FAILED(require_buffer(kName, b.name, b.buffer, b.count, 4));
  return PROPHET_OK;
}

prophet_status_t queue_route(const prophet_gating_params_t &p, const float *logits,
                             const prophet_gating_outputs_t &out, prophet_stream_t stream) {
  const int64_t T = p.num_tokens, E = p.num_experts, k = p.k;
  StreamScratch *scratch = stream->scratch;
  if (T * E > 0) {
    find_non_finite<<<grid_for(T * E, 256), 256, 0, stream->stream>>>(logits, T * E, scratch);
    PROPHET_RETURN_IF_FAILED(PROPHET_CHECK_LAUNCH());
  }
  if (T == 0) return PROPHET_OK;
  const int64_t stride = tile_stride(E);
  const int64_t rows = tile_rows(4 * (stride + 2 * k), 0);
  if (rows > 0) {
    const int threads = static_cast<int>((rows + 31) / 32 * 32);
    const size_t smem = static_cast<size_t>(4 * rows * (stride + 2 * k));
    route_tile<<<grid_for(T, static_cast<int>(rows)), threads, smem, stream->stream>>>(
        logits, T, E, k, p.renormalize, rows, stride, data_of<float>(out.probs),
        data_of<float>(out.logsumexp), data_of<int32_t>(out.expert_index),
        data_of<float>(out.weight), scratch);
  } else {
    route_global<<<grid_for(T, 128), 128, 0, stream->stream>>>(
        logits, T, E, k, p.renormalize, data_of<float>(out.probs), data_of<float>(out.logsumexp),
        data_of<int32_t>(out.expert_index), data_of<float>(out.weight), scratch);
  }
  return PROPHET_CHECK_LAUNCH();
}

// Scratch of one capacity pass, released stream-ordered whatever happens.
struct CapacityScratch {
  cudaStream_t stream;
  void *blocks[4] = {nullptr, nullptr, nullptr, nullptr};
  ~CapacityScratch() {
    for (void *b : blocks) scratch_free(b, stream);
  }
};

prophet_status_t queue_capacity(const prophet_gating_params_t &p,
                                const prophet_gating_outputs_t &out, prophet_stream_t stream) {
  const int64_t T = p.num_tokens, E = p.num_experts, k = p.k, num_slots = T * k;
  const int64_t capacity = p.capacity < 0 ? -1 : p.capacity;
  cudaStream_t s = stream->stream;
  StreamScratch *scratch = stream->scratch;
  CapacityScratch mem{s};
  const CapacityLayout layout = capacity_layout(E, num_slots);
  const int64_t segment = layout.segment, num_segments = layout.num_segments;
  const int64_t hist_len = E * num_segments + 1;  // the extra 0 makes the scan's last entry the total
  int *hist = nullptr, *prefix = nullptr;
  PROPHET_RETURN_IF_FAILED(scratch_alloc(4 * hist_len, s, &mem.blocks[0]));
  PROPHET_RETURN_IF_FAILED(scratch_alloc(4 * hist_len, s, &mem.blocks[1]));
  hist = static_cast<int *>(mem.blocks[0]);
  prefix = static_cast<int *>(mem.blocks[1]);
  PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(cudaMemsetAsync(hist, 0, 4 * hist_len, s)));

  // Claim order of the tokens: identity, or sorted by the seeded priority (a stable radix sort,
  // so equal priorities, impossible below 2^32 tokens, would keep token order as on the CPU).
  const int32_t *order = nullptr;
  if (p.slot_order == PROPHET_SLOT_ORDER_RANDOM && T > 0) {
    PROPHET_RETURN_IF_FAILED(scratch_alloc(16 * T, s, &mem.blocks[2]));
    auto *keys_in = static_cast<uint32_t *>(mem.blocks[2]);
    auto *keys_out = keys_in + T;
    auto *tokens_in = reinterpret_cast<int32_t *>(keys_out + T);
    auto *tokens_out = tokens_in + T;
    random_keys<<<grid_for(T, 256), 256, 0, s>>>(p.seed, T, keys_in, tokens_in);
    PROPHET_RETURN_IF_FAILED(PROPHET_CHECK_LAUNCH());
    size_t temp_bytes = 0;
    PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
        nullptr, temp_bytes, keys_in, keys_out, tokens_in, tokens_out, static_cast<int>(T), 0, 32, s)));
    PROPHET_RETURN_IF_FAILED(scratch_alloc(temp_bytes, s, &mem.blocks[3]));
    PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
        mem.blocks[3], temp_bytes, keys_in, keys_out, tokens_in, tokens_out, static_cast<int>(T),
        0, 32, s)));
    scratch_free(mem.blocks[3], s);
    mem.blocks[3] = nullptr;
    order = tokens_out;
  }
  const ClaimOrder claim{order, data_of<const int32_t>(out.expert_index), T, k};
  const unsigned warp_blocks = static_cast<unsigned>((num_segments + 3) / 4);  // 4 warps a block
  if (num_slots > 0) {
    segment_histogram<<<warp_blocks, 128, 0, s>>>(claim, num_slots, segment, num_segments, hist,
                                                  scratch);
    PROPHET_RETURN_IF_FAILED(PROPHET_CHECK_LAUNCH());
  }
  size_t temp_bytes = 0;
  PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(
      cub::DeviceScan::ExclusiveSum(nullptr, temp_bytes, hist, prefix, static_cast<int>(hist_len), s)));
  PROPHET_RETURN_IF_FAILED(scratch_alloc(temp_bytes, s, &mem.blocks[3]));
  PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(
      mem.blocks[3], temp_bytes, hist, prefix, static_cast<int>(hist_len), s)));
  expert_counts<<<1, 256, 0, s>>>(prefix, E, num_segments, capacity,
                                  data_of<int32_t>(out.counts_per_expert),
                                  data_of<int32_t>(out.num_dropped), scratch);
  PROPHET_RETURN_IF_FAILED(PROPHET_CHECK_LAUNCH());
  if (num_slots == 0) return PROPHET_OK;
  PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(cudaMemsetAsync(hist, 0, 4 * hist_len, s)));
  assign_positions<<<warp_blocks, 128, 0, s>>>(claim, num_slots, segment, num_segments, prefix,
                                               hist, capacity, data_of<int32_t>(out.position),
                                               data_of<float>(out.weight), scratch);
  return PROPHET_CHECK_LAUNCH();
}

}  // namespace

prophet_status_t gating_forward(const prophet_gating_params_t *params, prophet_buffer_t logits,
                                const prophet_gating_outputs_t *outputs, prophet_stream_t stream) {
  if (params == nullptr || outputs == nullptr) {
    return fail(PROPHET_ERR_INVALID, std::string(kName) + ": params and outputs are required");
  }
  if (stream == nullptr) return fail(PROPHET_ERR_INVALID, std::string(kName) + ": stream is NULL");
  PROPHET_RETURN_IF_FAILED(check_forward(*params, logits, *outputs));
  PROPHET_RETURN_IF_FAILED(begin_validated_op(stream));
  PROPHET_RETURN_IF_FAILED(queue_route(*params, data_of<const float>(logits), *outputs, stream));
  return queue_capacity(*params, *outputs, stream);
}

}  // namespace prophet::cuda
