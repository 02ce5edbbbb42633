// CPU RMSNorm forward and backward: rows in parallel for y and dx; dGain by feature blocks
// (each block of 16 features owned by one thread, summing rows in order), so the reduction order
// never depends on the thread count.
#include <algorithm>

#include "../../kernels/norm.h"
#include "nn_cpu.h"

namespace prophet::cpu {
namespace {

// Features per dGain block: one 64-byte cache line of f32.
constexpr int64_t kGainBlock = 16;

prophet_status_t check_rows(const char *kernel, int64_t N, int64_t d) {
  return check_dims(kernel, {N, d}, {0, 1});
}

}  // namespace

prophet_status_t nn_rmsnorm_forward(int64_t N, int64_t d, float eps, prophet_buffer_t x,
                                    prophet_buffer_t gain, prophet_buffer_t y,
                                    prophet_buffer_t rstd, prophet_stream_t stream) {
  constexpr const char *kName = "rmsnorm forward";
  prophet_status_t s = check_rows(kName, N, d);
  if (s == PROPHET_OK && !(eps > 0.0f)) {
    s = fail(PROPHET_ERR_INVALID, std::string(kName) + ": eps must be > 0");
  }
  if (s == PROPHET_OK) s = require_buffer(kName, "x", x, N * d, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "gain", gain, d, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "y", y, N * d, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "rstd", rstd, N, 4);
  if (s != PROPHET_OK) return s;
  stream->enqueue([=] {
    const float *x_data = data_of<const float>(x);
    const float *gain_data = data_of<const float>(gain);
    float *y_data = data_of<float>(y);
    float *rstd_data = data_of<float>(rstd);
#pragma omp parallel for schedule(static) if (N * d > kNnParallelElements)
    for (int64_t n = 0; n < N; ++n) {
      rstd_data[n] = kernels::rmsnorm_row(x_data + n * d, gain_data, d, eps, y_data + n * d);
    }
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t nn_rmsnorm_backward(int64_t N, int64_t d, prophet_buffer_t d_y,
                                     prophet_buffer_t x, prophet_buffer_t gain,
                                     prophet_buffer_t rstd, prophet_buffer_t d_x,
                                     prophet_buffer_t d_gain, prophet_stream_t stream) {
  constexpr const char *kName = "rmsnorm backward";
  prophet_status_t s = check_rows(kName, N, d);
  if (s == PROPHET_OK) s = require_buffer(kName, "d_y", d_y, N * d, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "x", x, N * d, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "gain", gain, d, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "rstd", rstd, N, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "d_x", d_x, N * d, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "d_gain", d_gain, d, 4);
  if (s != PROPHET_OK) return s;
  stream->enqueue([=] {
    const float *dy = data_of<const float>(d_y);
    const float *x_data = data_of<const float>(x);
    const float *gain_data = data_of<const float>(gain);
    const float *rstd_data = data_of<const float>(rstd);
    float *dx = data_of<float>(d_x);
    float *gain_grad = data_of<float>(d_gain);
    const bool parallel = N * d > kNnParallelElements;
    // Step 1: dx, one row per iteration.
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t n = 0; n < N; ++n) {
      kernels::rmsnorm_backward_row(dy + n * d, x_data + n * d, gain_data, rstd_data[n], d, dx + n * d);
    }
    // Step 2: dGain[i] += sum_n dy[n, i] * x[n, i] * rstd[n], rows in order per feature block.
    const int64_t num_blocks = (d + kGainBlock - 1) / kGainBlock;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t block = 0; block < num_blocks; ++block) {
      const int64_t begin = block * kGainBlock, end = std::min(d, begin + kGainBlock);
      float acc[kGainBlock] = {};
      for (int64_t n = 0; n < N; ++n) {
        const float *dy_row = dy + n * d, *x_row = x_data + n * d;
        for (int64_t i = begin; i < end; ++i) acc[i - begin] += dy_row[i] * x_row[i] * rstd_data[n];
      }
      for (int64_t i = begin; i < end; ++i) gain_grad[i] += acc[i - begin];
    }
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

}  // namespace prophet::cpu
