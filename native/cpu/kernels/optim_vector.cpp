// The CPU backend's vector utilities for optimizers: fill, scale, axpy, and global-norm clipping
// as a deterministic sum of squares followed by a scale that reads that sum when it runs.
#include <omp.h>

#include <memory>
#include <string>
#include <vector>

#include "../../core/kernel_checks.h"
#include "../../kernels/optim.h"
#include "../cpu_internal.h"
#include "optim_internal.h"
#include "simd_clones.h"

namespace prophet::cpu::optim {
namespace {

constexpr int64_t kParallelElements = 1 << 15;
// The fixed unit of the sum of squares: partial sums over these chunks are added in index order,
// so the result is the same whatever the thread count.
constexpr int64_t kSumChunk = 4096;

PROPHET_CPU_CLONES void fill_block(int64_t n, float *x, float value) {
  for (int64_t i = 0; i < n; ++i) x[i] = value;
}

PROPHET_CPU_CLONES void scale_block(int64_t n, float *x, float alpha) {
  for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
}

PROPHET_CPU_CLONES void axpy_block(int64_t n, float alpha, const float *x, float *y) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

PROPHET_CPU_CLONES double sum_squares_block(int64_t n, const float *x) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return sum;
}

template <typename Block>
void parallel_blocks(int64_t n, Block block) {
#pragma omp parallel if (n >= kParallelElements)
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t begin = n * t / threads, end = n * (t + 1) / threads;
    if (end > begin) block(begin, end - begin);
  }
}

prophet_status_t check_vector(prophet_stream_t stream, int64_t n, const void *x, const void *y,
                              const char *op) {
  const std::string error = checks::vector_error(stream != nullptr, n, x, y, op);
  return error.empty() ? PROPHET_OK : fail(PROPHET_ERR_INVALID, error);
}

// A copy of a host list of (pointer, size) pairs, validated.
struct TensorList {
  std::vector<float *> tensors;
  std::vector<int64_t> sizes;
};

// Copies a list already validated by checks::tensor_list_error (kernel_checks.h).
void copy_list(int64_t num_tensors, const float *const *tensors, const int64_t *sizes,
               TensorList *out) {
  for (int64_t t = 0; t < num_tensors; ++t) {
    out->tensors.push_back(const_cast<float *>(tensors[t]));
    out->sizes.push_back(sizes[t]);
  }
}

}  // namespace

prophet_status_t fill(prophet_stream_t stream, int64_t n, float *x, float value) {
  const prophet_status_t status = check_vector(stream, n, x, x, "fill");
  if (status != PROPHET_OK) return status;
  stream->enqueue([=] {
    parallel_blocks(n, [&](int64_t begin, int64_t count) { fill_block(count, x + begin, value); });
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t scale(prophet_stream_t stream, int64_t n, float *x, float alpha) {
  const prophet_status_t status = check_vector(stream, n, x, x, "scale");
  if (status != PROPHET_OK) return status;
  stream->enqueue([=] {
    parallel_blocks(n, [&](int64_t begin, int64_t count) { scale_block(count, x + begin, alpha); });
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t axpy(prophet_stream_t stream, int64_t n, float alpha, const float *x, float *y) {
  const prophet_status_t status = check_vector(stream, n, x, y, "axpy");
  if (status != PROPHET_OK) return status;
  stream->enqueue([=] {
    parallel_blocks(n, [&](int64_t begin, int64_t count) {
      axpy_block(count, alpha, x + begin, y + begin);
    });
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t sum_squares(prophet_stream_t stream, int64_t num_tensors,
                             const float *const *tensors, const int64_t *sizes, float *out) {
  const std::string error =
      checks::sum_squares_error(stream != nullptr, num_tensors, tensors, sizes, out);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  auto list = std::make_shared<TensorList>();
  copy_list(num_tensors, tensors, sizes, list.get());
  stream->enqueue([list, out] {
    // Step 1: the chunks of every tensor, in list order.
    std::vector<std::pair<const float *, int64_t>> chunks;
    for (size_t t = 0; t < list->tensors.size(); ++t) {
      for (int64_t i = 0; i < list->sizes[t]; i += kSumChunk) {
        chunks.emplace_back(list->tensors[t] + i, std::min(kSumChunk, list->sizes[t] - i));
      }
    }
    // Step 2: one fp64 partial per chunk, in parallel; then their sum in chunk order.
    const int64_t num_chunks = static_cast<int64_t>(chunks.size());
    std::vector<double> partials(chunks.size());
#pragma omp parallel for schedule(static) if (num_chunks > 8)
    for (int64_t c = 0; c < num_chunks; ++c) {
      partials[c] = sum_squares_block(chunks[c].second, chunks[c].first);
    }
    double total = 0.0;
    for (double partial : partials) total += partial;
    *out = static_cast<float>(total);
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t clip_by_norm(prophet_stream_t stream, int64_t num_tensors,
                              float *const *tensors, const int64_t *sizes,
                              const float *sum_squares_in, float max_norm) {
  const std::string error =
      checks::clip_by_norm_error(stream != nullptr, num_tensors, tensors, sizes, sum_squares_in);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  auto list = std::make_shared<TensorList>();
  copy_list(num_tensors, tensors, sizes, list.get());
  stream->enqueue([list, sum_squares_in, max_norm] {
    const float coef = kernels::clip_coefficient(*sum_squares_in, max_norm);
    for (size_t t = 0; t < list->tensors.size(); ++t) {
      float *x = list->tensors[t];
      parallel_blocks(list->sizes[t], [&](int64_t begin, int64_t count) {
        scale_block(count, x + begin, coef);
      });
    }
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

}  // namespace prophet::cpu::optim
