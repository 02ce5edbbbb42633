// The optimizer family's vector entries on CUDA (kernels_optim.h): fill, scale, axpy, and
// global-norm clipping as a deterministic sum of squares followed by a scale that reads that sum
// on the device when it runs (so the sum can be all-reduced in between, with no host sync).
// Arguments are checked by the checks shared with the CPU backend (kernel_checks.h).
//
// Sum of squares: the ABI fixes 4096-element chunks per tensor, in list order. Each chunk's fp64
// partial is a fixed tree over its elements, and the partials are added by one block in a fixed
// order, so the result is bitwise reproducible on every run and launch; it equals the CPU's
// (whose in-chunk order is its SIMD lanes') within fp64 rounding, i.e. almost always bitwise once
// rounded to the float output.
#include <string>
#include <vector>

#include "../../native/core/kernel_checks.h"
#include "device_scratch.h"
#include "kernel_common.cuh"
#include "optim.cuh"

namespace prophet::cuda {
namespace {

constexpr int64_t kSumChunk = 4096;  // the ABI's chunk
constexpr int kChunkThreads = 256;
constexpr int kFinalThreads = 1024;

// One tensor of a list, with the index of its first chunk among all the list's chunks.
struct ListEntry {
  float *data;
  int64_t size;
  int64_t first_chunk;
};

__global__ void fill_kernel(int64_t n, float *x, float value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    x[i] = value;
  }
}

__global__ void scale_kernel(int64_t n, float *x, float alpha) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    x[i] *= alpha;
  }
}

__global__ void axpy_kernel(int64_t n, float alpha, const float *x, float *y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    y[i] += alpha * x[i];
  }
}

// The entry holding chunk c: the last one whose first_chunk <= c (entries are non-empty).
__device__ const ListEntry &entry_of(const ListEntry *list, int64_t count, int64_t c) {
  int64_t lo = 0, hi = count;
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    if (list[mid].first_chunk <= c) lo = mid; else hi = mid;
  }
  return list[lo];
}

// Fixed-shape tree sum of one value per thread of the block; the result in thread 0.
template <int Threads>
__device__ double block_sum(double value) {
  __shared__ double sums[Threads];
  sums[threadIdx.x] = value;
  __syncthreads();
  for (int half = Threads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) sums[threadIdx.x] += sums[threadIdx.x + half];
    __syncthreads();
  }
  return sums[0];
}

// partials[c] = sum of squares of chunk c, one block per chunk (grid-stride).
__global__ void chunk_squares(const ListEntry *list, int64_t count, int64_t num_chunks,
                              double *partials) {
  for (int64_t c = blockIdx.x; c < num_chunks; c += gridDim.x) {
    const ListEntry &t = entry_of(list, count, c);
    const int64_t begin = (c - t.first_chunk) * kSumChunk;
    const int64_t end = begin + kSumChunk < t.size ? begin + kSumChunk : t.size;
    double sum = 0.0;
    for (int64_t i = begin + threadIdx.x; i < end; i += kChunkThreads) {
      sum += static_cast<double>(t.data[i]) * static_cast<double>(t.data[i]);
    }
    sum = block_sum<kChunkThreads>(sum);
    if (threadIdx.x == 0) partials[c] = sum;
    __syncthreads();  // the shared sums are reused by the next chunk
  }
}

// *out = sum of partials: each thread a contiguous run in index order, then the fixed tree.
__global__ void final_sum(const double *partials, int64_t num_chunks, float *out) {
  const int64_t begin = num_chunks * threadIdx.x / kFinalThreads;
  const int64_t end = num_chunks * (threadIdx.x + 1) / kFinalThreads;
  double sum = 0.0;
  for (int64_t c = begin; c < end; ++c) sum += partials[c];
  sum = block_sum<kFinalThreads>(sum);
  if (threadIdx.x == 0) *out = static_cast<float>(sum);
}

// Every element of every listed tensor *= clip_coefficient(*sum_squares, max_norm).
__global__ void clip_chunks(const ListEntry *list, int64_t count, int64_t num_chunks,
                            const float *sum_squares, float max_norm) {
  const float coef = kernels::clip_coefficient(*sum_squares, max_norm);
  for (int64_t c = blockIdx.x; c < num_chunks; c += gridDim.x) {
    const ListEntry &t = entry_of(list, count, c);
    const int64_t begin = (c - t.first_chunk) * kSumChunk;
    const int64_t end = begin + kSumChunk < t.size ? begin + kSumChunk : t.size;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) t.data[i] *= coef;
  }
}

// The non-empty tensors of a (validated) host list, uploaded for this call; *num_chunks = total.
prophet_status_t upload_list(int64_t num_tensors, const float *const *tensors,
                             const int64_t *sizes, prophet_stream_t stream, DeviceScratch *out,
                             int64_t *count, int64_t *num_chunks) {
  std::vector<ListEntry> list;
  int64_t chunks = 0;
  for (int64_t t = 0; t < num_tensors; ++t) {
    if (sizes[t] == 0) continue;
    list.push_back({const_cast<float *>(tensors[t]), sizes[t], chunks});
    chunks += (sizes[t] + kSumChunk - 1) / kSumChunk;
  }
  *count = static_cast<int64_t>(list.size());
  *num_chunks = chunks;
  if (list.empty()) return PROPHET_OK;
  return out->upload(list.data(), sizeof(ListEntry) * list.size(), stream->stream);
}

// Checks a vector entry and, when there is work (n > 0), makes the stream's device current.
prophet_status_t begin_vector(prophet_stream_t stream, int64_t n, const void *x, const void *y,
                              const char *op) {
  const std::string error = checks::vector_error(stream != nullptr, n, x, y, op);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  return n == 0 ? PROPHET_OK : use_device(stream->device);
}

}  // namespace

prophet_status_t optim_fill(prophet_stream_t stream, int64_t n, float *x, float value) {
  PROPHET_RETURN_IF_FAILED(begin_vector(stream, n, x, x, "fill"));
  if (n == 0) return PROPHET_OK;
  fill_kernel<<<grid_for(n, 256), 256, 0, stream->stream>>>(n, x, value);
  return PROPHET_CHECK_LAUNCH();
}

prophet_status_t optim_scale(prophet_stream_t stream, int64_t n, float *x, float alpha) {
  PROPHET_RETURN_IF_FAILED(begin_vector(stream, n, x, x, "scale"));
  if (n == 0) return PROPHET_OK;
  scale_kernel<<<grid_for(n, 256), 256, 0, stream->stream>>>(n, x, alpha);
  return PROPHET_CHECK_LAUNCH();
}

prophet_status_t optim_axpy(prophet_stream_t stream, int64_t n, float alpha, const float *x,
                            float *y) {
  PROPHET_RETURN_IF_FAILED(begin_vector(stream, n, x, y, "axpy"));
  if (n == 0) return PROPHET_OK;
  axpy_kernel<<<grid_for(n, 256), 256, 0, stream->stream>>>(n, alpha, x, y);
  return PROPHET_CHECK_LAUNCH();
}

prophet_status_t optim_sum_squares(prophet_stream_t stream, int64_t num_tensors,
                                   const float *const *tensors, const int64_t *sizes, float *out) {
  const std::string error =
      checks::sum_squares_error(stream != nullptr, num_tensors, tensors, sizes, out);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  DeviceScratch list, partials;
  int64_t count = 0, num_chunks = 0;
  PROPHET_RETURN_IF_FAILED(upload_list(num_tensors, tensors, sizes, stream, &list, &count, &num_chunks));
  if (num_chunks == 0) return PROPHET_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float), stream->stream));
  PROPHET_RETURN_IF_FAILED(partials.alloc(sizeof(double) * num_chunks, stream->stream));
  chunk_squares<<<grid_for(num_chunks, 1), kChunkThreads, 0, stream->stream>>>(
      list.as<const ListEntry>(), count, num_chunks, partials.as<double>());
  PROPHET_RETURN_IF_FAILED(PROPHET_CHECK_LAUNCH());
  final_sum<<<1, kFinalThreads, 0, stream->stream>>>(partials.as<const double>(), num_chunks, out);
  return PROPHET_CHECK_LAUNCH();
}

prophet_status_t optim_clip_by_norm(prophet_stream_t stream, int64_t num_tensors,
                                    float *const *tensors, const int64_t *sizes,
                                    const float *sum_squares, float max_norm) {
  const std::string error =
      checks::clip_by_norm_error(stream != nullptr, num_tensors, tensors, sizes, sum_squares);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  DeviceScratch list;
  int64_t count = 0, num_chunks = 0;
  PROPHET_RETURN_IF_FAILED(upload_list(num_tensors, tensors, sizes, stream, &list, &count, &num_chunks));
  if (num_chunks == 0) return PROPHET_OK;
  clip_chunks<<<grid_for(num_chunks, 1), kChunkThreads, 0, stream->stream>>>(
      list.as<const ListEntry>(), count, num_chunks, sum_squares, max_norm);
  return PROPHET_CHECK_LAUNCH();
}

}  // namespace prophet::cuda
