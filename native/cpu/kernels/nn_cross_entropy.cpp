// CPU softmax cross-entropy forward and backward, parallel over rows; the mean loss is summed in
// double in row order after the parallel loop, so it is the same on every run.
#include "../../kernels/loss.h"
#include "nn_cpu.h"

namespace prophet::cpu {
namespace {

prophet_status_t check_common(const char *kernel, int64_t N, int64_t C, prophet_buffer_t logits,
                              prophet_buffer_t targets, prophet_buffer_t lse) {
  prophet_status_t s = check_dims(kernel, {N, C}, {0, 1});
  if (s == PROPHET_OK && C > INT32_MAX) {
    s = fail(PROPHET_ERR_INVALID, std::string(kernel) + ": num_classes must be below 2^31");
  }
  if (s == PROPHET_OK) s = require_buffer(kernel, "logits", logits, N * C, 4);
  if (s == PROPHET_OK) s = require_buffer(kernel, "targets", targets, N, 4);
  if (s == PROPHET_OK) s = require_buffer(kernel, "lse", lse, N, 4);
  return s;
}

prophet_status_t bad_target(const char *kernel, const int32_t *targets, int64_t n, int64_t C) {
  return fail(PROPHET_ERR_INVALID, std::string(kernel) + ": targets[" + std::to_string(n) +
                                       "] = " + std::to_string(targets[n]) + " is outside [0, " +
                                       std::to_string(C) + ")");
}

}  // namespace

prophet_status_t nn_cross_entropy_forward(int64_t N, int64_t C, prophet_buffer_t logits,
                                          prophet_buffer_t targets, prophet_buffer_t loss,
                                          prophet_buffer_t lse, prophet_buffer_t mean_loss,
                                          prophet_stream_t stream) {
  constexpr const char *kName = "cross_entropy forward";
  prophet_status_t s = check_common(kName, N, C, logits, targets, lse);
  if (s == PROPHET_OK) s = require_buffer(kName, "loss", loss, N, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "mean_loss", mean_loss, 1, 4);
  if (s != PROPHET_OK) return s;
  stream->enqueue([=] {
    const auto *target = data_of<const int32_t>(targets);
    // Step 1: refuse targets out of range before writing anything.
    if (const int64_t bad = first_out_of_range(target, N, C); bad >= 0) {
      return bad_target(kName, target, bad, C);
    }
    // Step 2: per-row logsumexp and loss.
    const float *x = data_of<const float>(logits);
    float *loss_data = data_of<float>(loss);
    float *lse_data = data_of<float>(lse);
#pragma omp parallel for schedule(static) if (N * C > kNnParallelElements)
    for (int64_t n = 0; n < N; ++n) {
      lse_data[n] = kernels::logsumexp_row(x + n * C, C);
      loss_data[n] = lse_data[n] - x[n * C + target[n]];
    }
    // Step 3: the mean, in double and row order.
    double sum = 0.0;
    for (int64_t n = 0; n < N; ++n) sum += loss_data[n];
    *data_of<float>(mean_loss) = N > 0 ? static_cast<float>(sum / static_cast<double>(N)) : 0.0f;
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t nn_cross_entropy_backward(int64_t N, int64_t C, float scale,
                                           prophet_buffer_t logits, prophet_buffer_t targets,
                                           prophet_buffer_t lse, prophet_buffer_t d_logits,
                                           prophet_stream_t stream) {
  constexpr const char *kName = "cross_entropy backward";
  prophet_status_t s = check_common(kName, N, C, logits, targets, lse);
  if (s == PROPHET_OK) s = require_buffer(kName, "d_logits", d_logits, N * C, 4);
  if (s != PROPHET_OK) return s;
  stream->enqueue([=] {
    const auto *target = data_of<const int32_t>(targets);
    if (const int64_t bad = first_out_of_range(target, N, C); bad >= 0) {
      return bad_target(kName, target, bad, C);
    }
    const float *x = data_of<const float>(logits);
    const float *lse_data = data_of<const float>(lse);
    float *grad = data_of<float>(d_logits);
#pragma omp parallel for schedule(static) if (N * C > kNnParallelElements)
    for (int64_t n = 0; n < N; ++n) {
      kernels::cross_entropy_backward_row(x + n * C, target[n], lse_data[n], C, scale,
                                          grad + n * C);
    }
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

}  // namespace prophet::cpu
