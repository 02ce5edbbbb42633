// CUDA gating aux losses and backward (CPU: native/cpu/kernels/gating_backward.cpp). Both first
// count the slots routed to each expert (warp-aggregated atomics on integers, so exact) and refuse
// an expert index outside [0, E), naming the first bad slot, before writing anything.
#include "../../native/kernels/gating.h"
#include "gating.cuh"
#include "kernel_common.cuh"

namespace prophet::cuda {
namespace {

constexpr int kAuxThreads = 256;
constexpr int64_t kAuxChunk = 256;  // tokens summed by one thread in the column sums

__global__ void count_routed(const int32_t *expert_index, int64_t num_slots, int64_t E,
                             int *routed, StreamScratch *scratch) {
  // Every lane of a warp runs the same number of iterations (warp_histogram_add is collective).
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t start = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t warp_start = start - threadIdx.x % 32;
  for (int64_t base = warp_start; base < num_slots; base += stride) {
    const int64_t slot = base + threadIdx.x % 32;
    int bin = -1;
    if (slot < num_slots) {
      const int32_t e = expert_index[slot];
      if (e < 0 || e >= E) {
        flag_bad(scratch, static_cast<unsigned long long>(slot));
      } else {
        bin = e;
      }
    }
    warp_histogram_add(bin, routed);
  }
}

// The verdict of count_routed, recorded by the first block of the next kernel.
__device__ bool routing_failed(StreamScratch *scratch, int32_t kind, const int32_t *expert_index,
                               int64_t k, int64_t E) {
  if (!op_failed(scratch)) return false;
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    const long long slot = static_cast<long long>(op_key(scratch));
    record_error(scratch, kind, 0, slot, k, expert_index[slot], E);
  }
  return true;
}

// partial[c * E + e] = sum of probs[t, e] over the tokens t of chunk c, in token order (double).
__global__ void column_sums(const float *probs, int64_t T, int64_t E, int64_t num_chunks,
                            double *partial, StreamScratch *scratch) {
  if (op_failed(scratch)) return;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < num_chunks * E;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i / E, e = i % E;
    double sum = 0.0;
    const int64_t end = min(T, (c + 1) * kAuxChunk);
    for (int64_t t = c * kAuxChunk; t < end; ++t) sum += probs[t * E + e];
    partial[i] = sum;
  }
}

__device__ double block_sum(double value, double *shared) {
  shared[threadIdx.x] = value;
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {  // fixed tree: deterministic
    if (threadIdx.x < width) shared[threadIdx.x] += shared[threadIdx.x + width];
    __syncthreads();
  }
  const double total = shared[0];
  __syncthreads();
  return total;
}

// One block: L_aux = E * sum_e f_e * P_e and L_z = mean_t lse_t^2, in double.
__global__ void finish_aux_loss(const double *partial, const int *routed, const float *logsumexp,
                                const int32_t *expert_index, int64_t T, int64_t E, int64_t k,
                                int64_t num_chunks, float *losses, StreamScratch *scratch) {
  if (routing_failed(scratch, kGatingAuxBadExpert, expert_index, k, E)) return;
  __shared__ double shared[kAuxThreads];
  double balance = 0.0, z = 0.0;
  for (int64_t e = threadIdx.x; e < E && T > 0; e += blockDim.x) {
    double prob_sum = 0.0;
    for (int64_t c = 0; c < num_chunks; ++c) prob_sum += partial[c * E + e];
    balance += kernels::balance_term(routed[e], prob_sum, T, k);
  }
  for (int64_t t = threadIdx.x; t < T; t += blockDim.x) z += double(logsumexp[t]) * double(logsumexp[t]);
  balance = block_sum(balance, shared);
  z = block_sum(z, shared);
  if (threadIdx.x == 0) {
    losses[0] = static_cast<float>(double(E) * balance);
    losses[1] = T > 0 ? static_cast<float>(z / double(T)) : 0.0f;
  }
}

struct BackwardArgs {
  const float *probs, *logsumexp, *d_weight;
  const int32_t *expert_index, *position;
  const int *routed;
  float *d_logits;
  int64_t T, E, k;
  int32_t renormalize;
  float aux_coef, z_coef;
};

// Block = `rows` tokens. Shared memory: E aux gradients, then per row: probabilities and the
// gradient (stride each), then k kept weight gradients. One thread per token runs the shared
// per-row math of native/kernels/gating.h.
__global__ void backward_tile(BackwardArgs a, int64_t rows, int64_t stride,
                              StreamScratch *scratch) {
  if (routing_failed(scratch, kGatingBackBadExpert, a.expert_index, a.k, a.E)) return;
  extern __shared__ float smem[];
  const int64_t T = a.T, E = a.E, k = a.k;
  float *aux_grad = smem;
  float *prob_tile = aux_grad + E;
  float *grad_tile = prob_tile + rows * stride;
  float *kept_tile = grad_tile + rows * stride;
  // dL_aux/dp[t, e], the same for every token (the CPU's formula, shared in gating.h).
  for (int64_t e = threadIdx.x; e < E; e += blockDim.x) {
    aux_grad[e] = kernels::balance_prob_grad(a.aux_coef, E, a.routed[e], T, k);
  }
  __syncthreads();
  for (int64_t first = blockIdx.x * rows; first < T; first += int64_t(gridDim.x) * rows) {
    const int64_t here = min(rows, T - first);
    for (int64_t i = threadIdx.x; i < here * E; i += blockDim.x) {
      const int64_t r = i / E, e = i % E;
      prob_tile[r * stride + e] = a.probs[first * E + i];
      grad_tile[r * stride + e] = aux_grad[e];
    }
    __syncthreads();
    if (threadIdx.x < here) {
      const int64_t r = threadIdx.x, t = first + r;
      float *kept = kept_tile + r * k;
      for (int64_t j = 0; j < k; ++j) {
        const bool is_kept = a.position[t * k + j] >= 0 && a.d_weight != nullptr;
        kept[j] = is_kept ? a.d_weight[t * k + j] : 0.0f;
      }
      float *grad = grad_tile + r * stride;
      const float *prob = prob_tile + r * stride;
      kernels::weight_grad_to_prob_grad(prob, a.expert_index + t * k, kept, k,
                                        a.renormalize != 0, grad);
      const float z_scale = kernels::z_loss_scale(a.z_coef, a.logsumexp[t], T);
      kernels::softmax_backward_row(prob, E, z_scale, grad);
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < here * E; i += blockDim.x) {
      a.d_logits[first * E + i] = grad_tile[(i / E) * stride + i % E];
    }
    __syncthreads();
  }
}

// For rows too wide for shared memory: the gradient row is built in d_logits itself, and the
// kept weight gradients are read straight from d_weight (dropped slots need a zero, so k floats
// of per-thread scratch come from `kept_scratch`).
__global__ void backward_global(BackwardArgs a, float *kept_scratch, StreamScratch *scratch) {
  if (routing_failed(scratch, kGatingBackBadExpert, a.expert_index, a.k, a.E)) return;
  const int64_t T = a.T, E = a.E, k = a.k;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < T;
       t += int64_t(gridDim.x) * blockDim.x) {
    float *grad = a.d_logits + t * E;
    for (int64_t e = 0; e < E; ++e) {
      grad[e] = static_cast<float>(double(a.aux_coef) * double(E) *
                                   (double(a.routed[e]) / double(T * k)) / double(T));
    }
    float *kept = kept_scratch + t * k;
    for (int64_t j = 0; j < k; ++j) {
      const bool is_kept = a.position[t * k + j] >= 0 && a.d_weight != nullptr;
      kept[j] = is_kept ? a.d_weight[t * k + j] : 0.0f;
    }
    kernels::weight_grad_to_prob_grad(a.probs + t * E, a.expert_index + t * k, kept, k,
                                      a.renormalize != 0, grad);
    const float z_scale = kernels::z_loss_scale(a.z_coef, a.logsumexp[t], T);
    kernels::softmax_backward_row(a.probs + t * E, E, z_scale, grad);
  }
}

prophet_status_t check_sizes(const char *kernel, int64_t T, int64_t E, int64_t k) {
  int64_t num_logits = 0, num_slots = 0;
  if (T < 0 || E < 1 || k < 1 || k > E || !checked_mul(T, E, &num_logits) ||
      !checked_mul(T, k, &num_slots)) {
    return fail(PROPHET_ERR_INVALID, std::string(kernel) +
                                         ": need num_tokens >= 0, num_experts >= 1 and "
                                         "1 <= k <= num_experts");
  }
  return PROPHET_OK;
}

// Zeroed per-expert counters plus the routed-slot count kernel, on the stream.
prophet_status_t queue_count_routed(const int32_t *expert_index, int64_t num_slots, int64_t E,
                                    prophet_stream_t stream, int **routed) {
  void *mem = nullptr;
  PROPHET_RETURN_IF_FAILED(scratch_alloc(4 * E, stream->stream, &mem));
  *routed = static_cast<int *>(mem);
  PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(cudaMemsetAsync(mem, 0, 4 * E, stream->stream)));
  if (num_slots == 0) return PROPHET_OK;
  count_routed<<<grid_for(num_slots, 256), 256, 0, stream->stream>>>(expert_index, num_slots, E,
                                                                      *routed, stream->scratch);
  return PROPHET_CHECK_LAUNCH();
}

}  // namespace

prophet_status_t gating_aux_loss(int64_t num_tokens, int64_t num_experts, int64_t k,
                                 prophet_buffer_t probs, prophet_buffer_t logsumexp,
                                 prophet_buffer_t expert_index, prophet_buffer_t losses,
                                 prophet_stream_t stream) {
  constexpr const char *kName = "gating aux_loss";
  const int64_t T = num_tokens, E = num_experts;
  if (stream == nullptr) return fail(PROPHET_ERR_INVALID, std::string(kName) + ": stream is NULL");
  PROPHET_RETURN_IF_FAILED(check_sizes(kName, T, E, k));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "probs", probs, T * E, 4));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "logsumexp", logsumexp, T, 4));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "expert_index", expert_index, T * k, 4));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "losses", losses, 2, 4));
  PROPHET_RETURN_IF_FAILED(begin_validated_op(stream));
  cudaStream_t s = stream->stream;
  int *routed = nullptr;
  void *partial = nullptr;
  const int64_t num_chunks = (T + kAuxChunk - 1) / kAuxChunk;
  prophet_status_t st =
      queue_count_routed(data_of<const int32_t>(expert_index), T * k, E, stream, &routed);
  if (st == PROPHET_OK) st = scratch_alloc(8 * num_chunks * E, s, &partial);
  if (st == PROPHET_OK && num_chunks > 0) {
    column_sums<<<grid_for(num_chunks * E, 256), 256, 0, s>>>(
        data_of<const float>(probs), T, E, num_chunks, static_cast<double *>(partial),
        stream->scratch);
    st = PROPHET_CHECK_LAUNCH();
  }
  if (st == PROPHET_OK) {
    finish_aux_loss<<<1, kAuxThreads, 0, s>>>(
        static_cast<const double *>(partial), routed, data_of<const float>(logsumexp),
        data_of<const int32_t>(expert_index), T, E, k, num_chunks, data_of<float>(losses),
        stream->scratch);
    st = PROPHET_CHECK_LAUNCH();
  }
  scratch_free(partial, s);
  scratch_free(routed, s);
  return st;
}

prophet_status_t gating_backward(const prophet_gating_backward_params_t *params,
                                 prophet_buffer_t probs, prophet_buffer_t logsumexp,
                                 prophet_buffer_t expert_index, prophet_buffer_t position,
                                 prophet_buffer_t d_weight, prophet_buffer_t d_logits,
                                 prophet_stream_t stream) {
  constexpr const char *kName = "gating backward";
  if (params == nullptr) return fail(PROPHET_ERR_INVALID, std::string(kName) + ": no params");
  if (stream == nullptr) return fail(PROPHET_ERR_INVALID, std::string(kName) + ": stream is NULL");
  const prophet_gating_backward_params_t p = *params;
  const int64_t T = p.num_tokens, E = p.num_experts, k = p.k;
  PROPHET_RETURN_IF_FAILED(check_sizes(kName, T, E, k));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "probs", probs, T * E, 4));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "logsumexp", logsumexp, T, 4));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "expert_index", expert_index, T * k, 4));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "position", position, T * k, 4));
  if (d_weight != nullptr) PROPHET_RETURN_IF_FAILED(require_buffer(kName, "d_weight", d_weight, T * k, 4));
  PROPHET_RETURN_IF_FAILED(require_buffer(kName, "d_logits", d_logits, T * E, 4));
  if (T == 0) return PROPHET_OK;
  PROPHET_RETURN_IF_FAILED(begin_validated_op(stream));
  cudaStream_t s = stream->stream;
  int *routed = nullptr;
  void *kept_scratch = nullptr;
  prophet_status_t st =
      queue_count_routed(data_of<const int32_t>(expert_index), T * k, E, stream, &routed);
  const BackwardArgs args{data_of<const float>(probs),     data_of<const float>(logsumexp),
                          data_of<const float>(d_weight),  data_of<const int32_t>(expert_index),
                          data_of<const int32_t>(position), routed,
                          data_of<float>(d_logits),        T,
                          E,                               k,
                          p.renormalize,                   p.aux_coef,
                          p.z_coef};
  const int64_t stride = tile_stride(E);
  const int64_t rows = tile_rows(4 * (2 * stride + k), 4 * E);
  if (st == PROPHET_OK && rows > 0) {
    const int threads = static_cast<int>((rows + 31) / 32 * 32);
    const size_t smem = static_cast<size_t>(4 * (E + rows * (2 * stride + k)));
    backward_tile<<<grid_for(T, static_cast<int>(rows)), threads, smem, s>>>(args, rows, stride,
                                                                            stream->scratch);
    st = PROPHET_CHECK_LAUNCH();
  } else if (st == PROPHET_OK) {
    st = scratch_alloc(4 * T * k, s, &kept_scratch);
    if (st == PROPHET_OK) {
      backward_global<<<grid_for(T, 128), 128, 0, s>>>(args, static_cast<float *>(kept_scratch),
                                                        stream->scratch);
      st = PROPHET_CHECK_LAUNCH();
    }
  }
  scratch_free(kept_scratch, s);
  scratch_free(routed, s);
  return st;
}

}  // namespace prophet::cuda
