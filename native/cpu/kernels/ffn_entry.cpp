// The CPU backend's expert FFN family: validates a call, copies its shape into a Plan and queues
// the work (ffn_gemms.cpp) on the stream.
#include <algorithm>
#include <memory>
#include <string>

#include "../cpu_internal.h"
#include "ffn_internal.h"

namespace prophet::cpu {
namespace ffn {

prophet_status_t make_plan(const prophet_ffn_shape_t *shape, const char *op, Plan *plan) {
  const std::string where = std::string(op) + ": ";
  if (shape == nullptr) return fail(PROPHET_ERR_INVALID, where + "shape is NULL");
  if (shape->num_experts < 1) return fail(PROPHET_ERR_INVALID, where + "num_experts must be >= 1");
  if (shape->d_model < 1 || shape->hidden < 1) {
    return fail(PROPHET_ERR_INVALID, where + "d_model and hidden must be >= 1");
  }
  if (shape->activation < PROPHET_ACTIVATION_RELU || shape->activation > PROPHET_ACTIVATION_SILU) {
    return fail(PROPHET_ERR_INVALID,
                where + "unknown activation " + std::to_string(shape->activation));
  }
  if (shape->rows_per_expert == nullptr) {
    return fail(PROPHET_ERR_INVALID, where + "rows_per_expert is NULL");
  }
  // Step 1: the scalar shape.
  plan->num_experts = shape->num_experts;
  plan->d_model = shape->d_model;
  plan->hidden = shape->hidden;
  plan->gated = shape->gated != 0;
  plan->hidden_in = plan->gated ? 2 * shape->hidden : shape->hidden;
  plan->activation = shape->activation;
  // Step 2: row offsets per expert and fixed-size row chunks inside each expert.
  plan->row_offsets.assign(1, 0);
  plan->chunk_offsets.assign(1, 0);
  plan->chunks.clear();
  for (int64_t e = 0; e < shape->num_experts; ++e) {
    const int64_t rows = shape->rows_per_expert[e];
    if (rows < 0) {
      return fail(PROPHET_ERR_INVALID, where + "rows_per_expert[" + std::to_string(e) +
                                           "] is negative (" + std::to_string(rows) + ")");
    }
    const int64_t begin = plan->row_offsets.back();
    for (int64_t r = begin; r < begin + rows; r += kRowsPerChunk) {
      plan->chunks.push_back({e, r, std::min(r + kRowsPerChunk, begin + rows)});
    }
    plan->row_offsets.push_back(begin + rows);
    plan->chunk_offsets.push_back(static_cast<int64_t>(plan->chunks.size()));
  }
  return PROPHET_OK;
}

}  // namespace ffn

namespace {

bool any_null(std::initializer_list<const void *> pointers) {
  for (const void *p : pointers) {
    if (p == nullptr) return true;
  }
  return false;
}

prophet_status_t ffn_forward(prophet_stream_t stream, const prophet_ffn_shape_t *shape,
                             const float *x, const float *w1, const float *b1, const float *w2,
                             const float *b2, float *pre, float *act, float *y) {
  auto plan = std::make_shared<ffn::Plan>();
  if (stream == nullptr) return fail(PROPHET_ERR_INVALID, "ffn forward: stream is NULL");
  const prophet_status_t status = ffn::make_plan(shape, "ffn forward", plan.get());
  if (status != PROPHET_OK) return status;
  if (any_null({w1, b1, w2, b2}) || (plan->num_rows() > 0 && any_null({x, pre, act, y}))) {
    return fail(PROPHET_ERR_INVALID, "ffn forward: NULL tensor pointer");
  }
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
  auto plan = std::make_shared<ffn::Plan>();
  if (stream == nullptr) return fail(PROPHET_ERR_INVALID, "ffn backward: stream is NULL");
  const prophet_status_t status = ffn::make_plan(shape, "ffn backward", plan.get());
  if (status != PROPHET_OK) return status;
  if (any_null({w1, w2, dw1, db1, dw2, db2}) ||
      (plan->num_rows() > 0 && any_null({dy, x, pre, act, dx, dpre}))) {
    return fail(PROPHET_ERR_INVALID, "ffn backward: NULL tensor pointer");
  }
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
