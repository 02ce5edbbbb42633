// CPU dispatch/combine and their backward passes. Every op first resolves each slot's row (and
// refuses rows out of range or claimed twice, which would be races), then loops over tokens in
// parallel; each token writes only its own rows, so results are bitwise identical run to run.
#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "../../core/kernels_permute.h"
#include "../../kernels/permute.h"
#include "buffer_args.h"

namespace prophet::cpu {
namespace {

// Token-rows-times-features work below which OpenMP threads cost more than they save.
constexpr int64_t kParallelElements = int64_t(1) << 14;

struct BufferArg {
  const char *name;
  prophet_buffer_t buffer;
  int64_t num_elements;
};

// Shape sanity and overflow-free element counts; runs before any count below is formed.
prophet_status_t check_shape(const char *kernel, const prophet_permute_shape_t *shape,
                             const prophet_permute_routing_t *routing) {
  const std::string error = checks::permute_shape_error(kernel, shape, routing);
  return error.empty() ? PROPHET_OK : fail(PROPHET_ERR_INVALID, error);
}

// The routing buffers and `tensors` hold as many f32/i32 elements as the shape needs.
prophet_status_t check_buffers(const char *kernel, const prophet_permute_shape_t &s,
                               const prophet_permute_routing_t &routing,
                               std::initializer_list<BufferArg> tensors) {
  std::vector<BufferArg> all = {
      {"expert_index", routing.expert_index, s.num_tokens * s.k},
      {"position", routing.position, s.num_tokens * s.k},
      {"row_offset_per_expert", routing.row_offset_per_expert, s.num_experts}};
  all.insert(all.end(), tensors);
  for (const BufferArg &b : all) {
    if (prophet_status_t st = require_buffer(kernel, b.name, b.buffer, b.num_elements, 4);
        st != PROPHET_OK) {
      return st;
    }
  }
  return PROPHET_OK;
}

// rows[t * k + j] = row(t, j) or -1. Fails, before anything is written, on an expert outside
// [0, E), a row outside [0, R) or a row two slots map to.
prophet_status_t resolve_rows(const char *kernel, const prophet_permute_shape_t &s,
                              const prophet_permute_routing_t &routing,
                              std::vector<int64_t> *rows) {
  const auto *expert_index = data_of<const int32_t>(routing.expert_index);
  const auto *position = data_of<const int32_t>(routing.position);
  const auto *row_offset = data_of<const int32_t>(routing.row_offset_per_expert);
  std::vector<uint8_t> claimed(static_cast<size_t>(s.num_rows), 0);
  rows->resize(static_cast<size_t>(s.num_tokens * s.k));
  for (int64_t slot = 0; slot < s.num_tokens * s.k; ++slot) {
    const auto where = [&] {
      return std::string(kernel) + ": slot [" + std::to_string(slot / s.k) + ", " +
             std::to_string(slot % s.k) + "]";
    };
    const int32_t e = expert_index[slot];
    if (position[slot] < 0) {
      (*rows)[slot] = -1;
      continue;
    }
    if (e < 0 || e >= s.num_experts) {
      return fail(PROPHET_ERR_INVALID, where() + " has expert_index " + std::to_string(e) +
                                           " outside [0, " + std::to_string(s.num_experts) + ")");
    }
    const int64_t row = kernels::slot_row(row_offset, e, position[slot]);
    if (row < 0 || row >= s.num_rows) {
      return fail(PROPHET_ERR_INVALID, where() + " maps to row " + std::to_string(row) +
                                           " outside [0, " + std::to_string(s.num_rows) + ")");
    }
    if (claimed[row]++ != 0) {
      return fail(PROPHET_ERR_INVALID, where() + " maps to row " + std::to_string(row) +
                                           ", which an earlier slot maps to already");
    }
    (*rows)[slot] = row;
  }
  return PROPHET_OK;
}

// Runs body(t, rows of t) for every token once the rows are resolved.
template <typename Body>
prophet_status_t for_each_token(const char *kernel, const prophet_permute_shape_t &s,
                                const prophet_permute_routing_t &routing, Body body) {
  std::vector<int64_t> rows;
  if (prophet_status_t st = resolve_rows(kernel, s, routing, &rows); st != PROPHET_OK) return st;
  const int64_t *row_data = rows.data();
#pragma omp parallel for schedule(static) if (s.num_tokens * s.num_features * s.k > kParallelElements)
  for (int64_t t = 0; t < s.num_tokens; ++t) body(t, row_data + t * s.k);
  return PROPHET_OK;
}

prophet_status_t dispatch(const prophet_permute_shape_t *shape,
                          const prophet_permute_routing_t *routing, prophet_buffer_t x,
                          prophet_buffer_t out, prophet_stream_t stream) {
  constexpr const char *kName = "dispatch";
  if (prophet_status_t st = check_shape(kName, shape, routing); st != PROPHET_OK) return st;
  if (prophet_status_t st = check_buffers(kName, *shape, *routing,
                                          {
                                              {"x", x, shape->num_tokens * shape->num_features},
                                              {"out", out, shape->num_rows * shape->num_features}
                                          });
      st != PROPHET_OK) {
    return st;
  }
  stream->enqueue([s = *shape, r = *routing, x, out] {
    const int64_t d = s.num_features;
    const float *x_data = data_of<const float>(x);
    float *out_data = data_of<float>(out);
    return for_each_token(kName, s, r, [&](int64_t t, const int64_t *rows) {
      for (int64_t j = 0; j < s.k; ++j) {
        if (rows[j] >= 0) std::memcpy(out_data + rows[j] * d, x_data + t * d, d * sizeof(float));
      }
    });
  });
  return PROPHET_OK;
}

prophet_status_t combine(const prophet_permute_shape_t *shape,
                         const prophet_permute_routing_t *routing, prophet_buffer_t y,
                         prophet_buffer_t weight, prophet_buffer_t out, prophet_stream_t stream) {
  constexpr const char *kName = "combine";
  if (prophet_status_t st = check_shape(kName, shape, routing); st != PROPHET_OK) return st;
  if (prophet_status_t st = check_buffers(kName, *shape, *routing,
                                          {
                                              {"y", y, shape->num_rows * shape->num_features},
                                              {"weight", weight, shape->num_tokens * shape->k},
                                              {"out", out, shape->num_tokens * shape->num_features}
                                          });
      st != PROPHET_OK) {
    return st;
  }
  stream->enqueue([s = *shape, r = *routing, y, weight, out] {
    const int64_t d = s.num_features;
    const float *y_data = data_of<const float>(y);
    const float *weight_data = data_of<const float>(weight);
    float *out_data = data_of<float>(out);
    return for_each_token(kName, s, r, [&](int64_t t, const int64_t *rows) {
      float *out_row = out_data + t * d;
      std::fill(out_row, out_row + d, 0.0f);
      for (int64_t j = 0; j < s.k; ++j) {
        if (rows[j] >= 0) kernels::axpy_row(weight_data[t * s.k + j], y_data + rows[j] * d, d, out_row);
      }
    });
  });
  return PROPHET_OK;
}

prophet_status_t dispatch_backward(const prophet_permute_shape_t *shape,
                                   const prophet_permute_routing_t *routing,
                                   prophet_buffer_t d_out, prophet_buffer_t dx,
                                   prophet_stream_t stream) {
  constexpr const char *kName = "dispatch backward";
  if (prophet_status_t st = check_shape(kName, shape, routing); st != PROPHET_OK) return st;
  if (prophet_status_t st = check_buffers(kName, *shape, *routing,
                                          {
                                              {"d_out", d_out, shape->num_rows * shape->num_features},
                                              {"dx", dx, shape->num_tokens * shape->num_features}
                                          });
      st != PROPHET_OK) {
    return st;
  }
  stream->enqueue([s = *shape, r = *routing, d_out, dx] {
    const int64_t d = s.num_features;
    const float *d_out_data = data_of<const float>(d_out);
    float *dx_data = data_of<float>(dx);
    return for_each_token(kName, s, r, [&](int64_t t, const int64_t *rows) {
      float *dx_row = dx_data + t * d;
      std::fill(dx_row, dx_row + d, 0.0f);
      for (int64_t j = 0; j < s.k; ++j) {
        if (rows[j] >= 0) kernels::axpy_row(1.0f, d_out_data + rows[j] * d, d, dx_row);
      }
    });
  });
  return PROPHET_OK;
}

prophet_status_t combine_backward(const prophet_permute_shape_t *shape,
                                  const prophet_permute_routing_t *routing,
                                  prophet_buffer_t d_out, prophet_buffer_t y,
                                  prophet_buffer_t weight, prophet_buffer_t d_y,
                                  prophet_buffer_t d_weight, prophet_stream_t stream) {
  constexpr const char *kName = "combine backward";
  if (prophet_status_t st = check_shape(kName, shape, routing); st != PROPHET_OK) return st;
  if (prophet_status_t st = check_buffers(kName, *shape, *routing,
                                          {
                                              {"d_out", d_out, shape->num_tokens * shape->num_features},
                                              {"y", y, shape->num_rows * shape->num_features},
                                              {"weight", weight, shape->num_tokens * shape->k},
                                              {"d_y", d_y, shape->num_rows * shape->num_features},
                                              {"d_weight", d_weight, shape->num_tokens * shape->k}
                                          });
      st != PROPHET_OK) {
    return st;
  }
  stream->enqueue([s = *shape, r = *routing, d_out, y, weight, d_y, d_weight] {
    const int64_t d = s.num_features;
    const float *d_out_data = data_of<const float>(d_out);
    const float *y_data = data_of<const float>(y);
    const float *weight_data = data_of<const float>(weight);
    float *d_y_data = data_of<float>(d_y);
    float *d_weight_data = data_of<float>(d_weight);
    return for_each_token(kName, s, r, [&](int64_t t, const int64_t *rows) {
      const float *d_out_row = d_out_data + t * d;
      for (int64_t j = 0; j < s.k; ++j) {
        const int64_t slot = t * s.k + j;
        if (rows[j] < 0) {
          d_weight_data[slot] = 0.0f;
          continue;
        }
        d_weight_data[slot] = kernels::dot_row(d_out_row, y_data + rows[j] * d, d);
        float *d_y_row = d_y_data + rows[j] * d;
        for (int64_t i = 0; i < d; ++i) d_y_row[i] = weight_data[slot] * d_out_row[i];
      }
    });
  });
  return PROPHET_OK;
}

}  // namespace

extern const prophet_permute_i kPermute = {
    /* .dispatch          = */ dispatch,
    /* .combine           = */ combine,
    /* .dispatch_backward = */ dispatch_backward,
    /* .combine_backward  = */ combine_backward,
};

}  // namespace prophet::cpu
