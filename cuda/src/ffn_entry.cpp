// The CUDA backend's expert FFN family (kernels_ffn.h): the CPU's checks (kernel_checks.h), the
// int32 row counts widened for the grouped GEMMs, then expert_ffn.cu in f32, stream-ordered.
#include <string>
#include <vector>

#include "../../native/core/kernel_checks.h"
#include "expert_ffn.h"
#include "kernel_families.h"

namespace prophet::cuda {
namespace {

ExpertFfnShape internal_shape(const prophet_ffn_shape_t &shape, const std::vector<int64_t> &rows) {
  return ExpertFfnShape{shape.num_experts, rows.data(),      shape.d_model,   shape.hidden,
                        shape.activation,  shape.gated != 0, GemmDtype::kF32};
}

// Valid ABI shapes that cuBLAS's int arguments cannot take (row counts are int32 already).
prophet_status_t cuda_limits(const prophet_ffn_shape_t &shape, const char *op) {
  const int64_t h1 = shape.gated != 0 ? 2 * shape.hidden : shape.hidden;
  const std::string error = gemm_int_error(op, {shape.d_model, h1});
  return error.empty() ? PROPHET_OK : fail(PROPHET_ERR_UNSUPPORTED, error);
}

std::vector<int64_t> widened_rows(const prophet_ffn_shape_t &shape) {
  return std::vector<int64_t>(shape.rows_per_expert, shape.rows_per_expert + shape.num_experts);
}

prophet_status_t ffn_forward(prophet_stream_t stream, const prophet_ffn_shape_t *shape,
                             const float *x, const float *w1, const float *b1, const float *w2,
                             const float *b2, float *pre, float *act, float *y) {
  int64_t num_rows = 0;
  const std::string error = checks::ffn_forward_error(stream != nullptr, shape, x, w1, b1, w2, b2,
                                                      pre, act, y, &num_rows);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  PROPHET_RETURN_IF_FAILED(cuda_limits(*shape, "ffn forward"));
  const std::vector<int64_t> rows = widened_rows(*shape);
  return expert_ffn_forward(internal_shape(*shape, rows), ExpertFfnWeights{w1, b1, w2, b2}, x, pre,
                            act, y, stream);
}

prophet_status_t ffn_backward(prophet_stream_t stream, const prophet_ffn_shape_t *shape,
                              const float *dy, const float *x, const float *w1, const float *w2,
                              const float *pre, const float *act, float *dx, float *dpre,
                              float *dw1, float *db1, float *dw2, float *db2) {
  int64_t num_rows = 0;
  const std::string error =
      checks::ffn_backward_error(stream != nullptr, shape, dy, x, w1, w2, pre, act, dx, dpre, dw1,
                                 db1, dw2, db2, &num_rows);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  PROPHET_RETURN_IF_FAILED(cuda_limits(*shape, "ffn backward"));
  const std::vector<int64_t> rows = widened_rows(*shape);
  // b1, b2 are not read by backward.
  return expert_ffn_backward(internal_shape(*shape, rows), ExpertFfnWeights{w1, nullptr, w2, nullptr},
                             dy, x, pre, act, dx, dpre, ExpertFfnGrads{dw1, db1, dw2, db2}, stream);
}

}  // namespace

const prophet_ffn_i kFfn = {
    /* .forward  = */ ffn_forward,
    /* .backward = */ ffn_backward,
};

}  // namespace prophet::cuda
