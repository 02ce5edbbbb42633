// The CPU backend's expert FFN family: validates a call (the checks shared with the CUDA backend,
// kernel_checks.h), copies its shape into a Plan and queues the work (ffn_gemms.cpp) on the stream.
#include <algorithm>
#include <memory>
#include <string>

#include "../../core/kernel_checks.h"
#include "../cpu_internal.h"
#include "ffn_internal.h"

namespace prophet::cpu {
namespace ffn {

void make_plan(const prophet_ffn_shape_t &shape, Plan *plan) {
  // Step 1: the scalar shape.
  plan->num_experts = shape.num_experts;
  plan->d_model = shape.d_model;
  plan->hidden = shape.hidden;
  plan->gated = shape.gated != 0;
  plan->hidden_in = plan->gated ? 2 * shape.hidden : shape.hidden;
  plan->activation = shape.activation;
  // Step 2: row offsets per expert and fixed-size row chunks inside each expert.
  plan->row_offsets.assign(1, 0);
  plan->chunk_offsets.assign(1, 0);
  plan->chunks.clear();
  for (int64_t e = 0; e < shape.num_experts; ++e) {
    const int64_t rows = shape.rows_per_expert[e];
    const int64_t begin = plan->row_offsets.back();
    for (int64_t r = begin; r < begin + rows; r += kRowsPerChunk) {
      plan->chunks.push_back({e, r, std::min(r + kRowsPerChunk, begin + rows)});
    }
    plan->row_offsets.push_back(begin + rows);
    plan->chunk_offsets.push_back(static_cast<int64_t>(plan->chunks.size()));
  }
}

}  // namespace ffn

namespace {

prophet_status_t ffn_forward(prophet_stream_t stream, const prophet_ffn_shape_t *shape,
                             const float *x, const float *w1, const float *b1, const float *w2,
                             const float *b2, float *pre, float *act, float *y) {
  int64_t num_rows = 0;
  const std::string error = checks::ffn_forward_error(stream != nullptr, shape, x, w1, b1, w2, b2,
                                                      pre, act, y, &num_rows);
  if (!error.empty()) return fail(PROPHET_ERR_INVALID, error);
  auto plan = std::make_shared<ffn::Plan>();
  ffn::make_plan(*shape, plan.get());
  stream->enqueue([=] {
    ffn::run_forward(*plan, x, w1, b1, w2, b2, pre, act, y);
    return PROPHET_OK;
  });
  return PROPHET_OK;
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
  auto plan = std::make_shared<ffn::Plan>();
  ffn::make_plan(*shape, plan.get());
  stream->enqueue([=] {
    ffn::run_backward(*plan, dy, x, w1, w2, pre, act, dx, dpre, dw1, db1, dw2, db2);
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

}  // namespace

extern const prophet_ffn_i kFfn = {
    /* .forward  = */ ffn_forward,
    /* .backward = */ ffn_backward,
};

}  // namespace prophet::cpu
