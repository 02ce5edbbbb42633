// The CUDA backend's optimizer family (kernels_optim.h): SGD and AdamW adapters (the CPU's checks
// from kernel_checks.h and coefficients from native/kernels/optim.h, then the fused kernels of
// optim.cu on f32 gradients) and the family's table.
#include <string>

#include "../../native/core/kernel_checks.h"
#include "optim.cuh"
#include "kernel_families.h"

namespace prophet::cuda {
namespace {

prophet_status_t sgd(prophet_stream_t stream, int64_t n, float *param, const float *grad,
                     float *momentum_buf, const prophet_sgd_params_t *params) {
  const std::string error =
      checks::sgd_error(stream != nullptr, n, param, grad, momentum_buf, params);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  const kernels::SgdCoeffs c{params->lr,           params->momentum,      params->dampening,
                             params->weight_decay, params->nesterov != 0, params->first_step != 0};
  return launch_sgd(stream, n, param, grad, GemmDtype::kF32, momentum_buf, c);
}

prophet_status_t adamw(prophet_stream_t stream, int64_t n, float *param, const float *grad,
                       float *m, float *v, const prophet_adamw_params_t *params) {
  const std::string error = checks::adamw_error(stream != nullptr, n, param, grad, m, v, params);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  const kernels::AdamwCoeffs c = kernels::adamw_coeffs(
      params->lr, params->beta1, params->beta2, params->eps, params->weight_decay, params->step);
  return launch_adamw(stream, n, param, grad, GemmDtype::kF32, m, v, c);
}

}  // namespace

const prophet_optim_i kOptim = {
    /* .sgd          = */ sgd,
    /* .adamw        = */ adamw,
    /* .fill         = */ optim_fill,
    /* .scale        = */ optim_scale,
    /* .axpy         = */ optim_axpy,
    /* .sum_squares  = */ optim_sum_squares,
    /* .clip_by_norm = */ optim_clip_by_norm,
};

}  // namespace prophet::cuda
