// The CPU backend's optimizer family: SGD with momentum and AdamW over one parameter tensor per
// call (math in native/kernels/optim.h), and the family's table.
#include <omp.h>

#include <string>

#include "../../core/kernel_checks.h"
#include "../../kernels/optim.h"
#include "../cpu_internal.h"
#include "optim_internal.h"
#include "simd_clones.h"

namespace prophet::cpu {
namespace {

// Below this many elements the loop runs on the stream thread alone (a parallel region costs
// more than it saves).
constexpr int64_t kParallelElements = 1 << 15;

PROPHET_CPU_CLONES void sgd_block(int64_t n, float *param, const float *grad, float *buf,
                                  kernels::SgdCoeffs c) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) kernels::sgd_update(&param[i], grad[i], &buf[i], c);
}

PROPHET_CPU_CLONES void sgd_block_plain(int64_t n, float *param, const float *grad,
                                        kernels::SgdCoeffs c) {
  float unused = 0.0f;  // no momentum: sgd_update never touches the buffer
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) kernels::sgd_update(&param[i], grad[i], &unused, c);
}

PROPHET_CPU_CLONES void adamw_block(int64_t n, float *param, const float *grad, float *m,
                                    float *v, kernels::AdamwCoeffs c) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) kernels::adamw_update(&param[i], grad[i], &m[i], &v[i], c);
}

// Splits [0, n) into one contiguous block per OpenMP thread and runs `block(begin, count)`.
template <typename Block>
void parallel_blocks(int64_t n, Block block) {
#pragma omp parallel if (n >= kParallelElements)
  {
    const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t begin = n * t / threads, end = n * (t + 1) / threads;
    if (end > begin) block(begin, end - begin);
  }
}

prophet_status_t sgd(prophet_stream_t stream, int64_t n, float *param, const float *grad,
                     float *momentum_buf, const prophet_sgd_params_t *params) {
  const std::string error =
      checks::sgd_error(stream != nullptr, n, param, grad, momentum_buf, params);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  const bool momentum = params->momentum != 0.0f;
  const kernels::SgdCoeffs c{params->lr,           params->momentum,      params->dampening,
                             params->weight_decay, params->nesterov != 0, params->first_step != 0};
  stream->enqueue([=] {
    parallel_blocks(n, [&](int64_t begin, int64_t count) {
      if (momentum) sgd_block(count, param + begin, grad + begin, momentum_buf + begin, c);
      else sgd_block_plain(count, param + begin, grad + begin, c);
    });
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t adamw(prophet_stream_t stream, int64_t n, float *param, const float *grad,
                       float *m, float *v, const prophet_adamw_params_t *params) {
  const std::string error = checks::adamw_error(stream != nullptr, n, param, grad, m, v, params);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  const kernels::AdamwCoeffs c = kernels::adamw_coeffs(
      params->lr, params->beta1, params->beta2, params->eps, params->weight_decay, params->step);
  stream->enqueue([=] {
    parallel_blocks(n, [&](int64_t begin, int64_t count) {
      adamw_block(count, param + begin, grad + begin, m + begin, v + begin, c);
    });
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

}  // namespace

extern const prophet_optim_i kOptim = {
    /* .sgd          = */ sgd,
    /* .adamw        = */ adamw,
    /* .fill         = */ optim::fill,
    /* .scale        = */ optim::scale,
    /* .axpy         = */ optim::axpy,
    /* .sum_squares  = */ optim::sum_squares,
    /* .clip_by_norm = */ optim::clip_by_norm,
};

}  // namespace prophet::cpu
