// Argument checks of the kernel entries that do not depend on a backend: the scalar parameters,
// buffer sizes and pointers every backend validates the same way, with the same wording, before it
// queues work (and before it touches the stream, so a check never depends on the device). Each
// returns "" when the arguments are fine and the message of PROPHET_ERR_INVALID otherwise; the
// backends wrap the message in their own error reporting. `has_stream` is `stream != NULL`.
#pragma once

#include <array>
#include <climits>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "kernels_ffn.h"
#include "kernels_gating.h"
#include "kernels_gemm.h"
#include "kernels_optim.h"
#include "kernels_permute.h"

namespace prophet::checks {

// a * b into *out; false when it overflows or either factor is negative.
inline bool checked_mul(int64_t a, int64_t b, int64_t *out) {
  return a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, out);
}

// "" when a buffer (`present`, holding `have_bytes`) fits num_elements × element_bytes.
inline std::string buffer_error(const char *kernel, const char *name, bool present,
                                uint64_t have_bytes, int64_t num_elements,
                                int64_t element_bytes) {
  int64_t bytes = 0;
  if (!checked_mul(num_elements, element_bytes, &bytes)) {
    return std::string(kernel) + ": size of " + name + " overflows";
  }
  if (!present) return std::string(kernel) + ": " + name + " is NULL";
  if (have_bytes < static_cast<uint64_t>(bytes)) {
    return std::string(kernel) + ": " + name + " holds " + std::to_string(have_bytes) +
           " bytes, needs " + std::to_string(bytes);
  }
  return "";
}

// The scalar parameters of gating forward; on success sets T·E and T·k.
inline std::string gating_params_error(const char *kernel, const prophet_gating_params_t &p,
                                       int64_t *num_logits, int64_t *num_slots) {
  const std::string name = kernel;
  if (p.num_tokens < 0 || p.num_tokens > INT32_MAX) return name + ": num_tokens must be in [0, 2^31)";
  if (p.num_experts < 1 || p.num_experts > INT32_MAX) {
    return name + ": num_experts must be in [1, 2^31)";
  }
  if (p.k < 1 || p.k > p.num_experts) return name + ": k must be in [1, num_experts]";
  if (p.slot_order != PROPHET_SLOT_ORDER_TOKEN && p.slot_order != PROPHET_SLOT_ORDER_RANDOM) {
    return name + ": unknown slot_order " + std::to_string(p.slot_order);
  }
  if (!checked_mul(p.num_tokens, p.num_experts, num_logits) ||
      !checked_mul(p.num_tokens, p.k, num_slots)) {
    return name + ": T * E overflows";
  }
  return "";
}

// A buffer an entry needs and how many 4-byte elements it must hold.
struct BufferNeed {
  const char *name;
  prophet_buffer_t buffer;
  int64_t count;
};

// The buffers of gating forward, for counts from gating_params_error().
inline std::array<BufferNeed, 8> gating_forward_buffers(const prophet_gating_params_t &p,
                                                        prophet_buffer_t logits,
                                                        const prophet_gating_outputs_t &out,
                                                        int64_t num_logits, int64_t num_slots) {
  return {{
      {"logits", logits, num_logits},
      {"expert_index", out.expert_index, num_slots},
      {"weight", out.weight, num_slots},
      {"position", out.position, num_slots},
      {"counts_per_expert", out.counts_per_expert, p.num_experts},
      {"num_dropped", out.num_dropped, 1},
      {"probs", out.probs, num_logits},
      {"logsumexp", out.logsumexp, p.num_tokens},
  }};
}

// Shape sanity and overflow-free element counts of a permute entry.
inline std::string permute_shape_error(const char *kernel, const prophet_permute_shape_t *shape,
                                       const prophet_permute_routing_t *routing) {
  if (shape == nullptr || routing == nullptr) {
    return std::string(kernel) + ": shape and routing are required";
  }
  const prophet_permute_shape_t &s = *shape;
  int64_t unused = 0;
  if (s.num_tokens < 0 || s.k < 1 || s.num_experts < 1 || s.num_features < 0 ||
      s.num_rows < 0 || !checked_mul(s.num_tokens, s.k, &unused) ||
      !checked_mul(s.num_tokens * s.k, s.num_features, &unused) ||
      !checked_mul(s.num_rows, s.num_features, &unused)) {
    return std::string(kernel) + ": invalid shape";
  }
  return "";
}

// --- gemm (kernels_gemm.h) ----------------------------------------------------------------------

// A matrix stored with `cols` values per row needs a leading dimension of at least that (and at
// least 1, as BLAS asks, so that an empty matrix still has a well-formed stride).
inline bool valid_ld(int64_t ld, int64_t cols) { return ld >= 1 && ld >= cols; }

inline std::string sgemm_error(bool has_stream, int trans_a, int trans_b, int64_t m, int64_t n,
                               int64_t k, const float *a, int64_t lda, const float *b,
                               int64_t ldb, const float *c, int64_t ldc) {
  if (!has_stream) return "gemm: stream is NULL";
  if (m < 0 || n < 0 || k < 0) {
    return "gemm: m, n, k must be >= 0 (got " + std::to_string(m) + ", " + std::to_string(n) +
           ", " + std::to_string(k) + ")";
  }
  if (!valid_ld(lda, trans_a ? m : k)) return "gemm: lda too small";
  if (!valid_ld(ldb, trans_b ? k : n)) return "gemm: ldb too small";
  if (!valid_ld(ldc, n)) return "gemm: ldc too small";
  if (m > 0 && n > 0 && (c == nullptr || (k > 0 && (a == nullptr || b == nullptr)))) {
    return "gemm: NULL matrix pointer";
  }
  return "";
}

// --- ffn (kernels_ffn.h) -------------------------------------------------------------------------

inline bool any_null(std::initializer_list<const void *> pointers) {
  for (const void *p : pointers) {
    if (p == nullptr) return true;
  }
  return false;
}

// The shape of an FFN call; on success sets the total row count N.
inline std::string ffn_shape_error(const prophet_ffn_shape_t *shape, const char *op,
                                   int64_t *num_rows) {
  const std::string where = std::string(op) + ": ";
  if (shape == nullptr) return where + "shape is NULL";
  if (shape->num_experts < 1) return where + "num_experts must be >= 1";
  if (shape->d_model < 1 || shape->hidden < 1) return where + "d_model and hidden must be >= 1";
  if (shape->activation < PROPHET_ACTIVATION_RELU || shape->activation > PROPHET_ACTIVATION_SILU) {
    return where + "unknown activation " + std::to_string(shape->activation);
  }
  if (shape->rows_per_expert == nullptr) return where + "rows_per_expert is NULL";
  int64_t rows = 0;
  for (int64_t e = 0; e < shape->num_experts; ++e) {
    if (shape->rows_per_expert[e] < 0) {
      return where + "rows_per_expert[" + std::to_string(e) + "] is negative (" +
             std::to_string(shape->rows_per_expert[e]) + ")";
    }
    rows += shape->rows_per_expert[e];  // int32 counts: no overflow before 2^32 experts
  }
  *num_rows = rows;
  return "";
}

inline std::string ffn_forward_error(bool has_stream, const prophet_ffn_shape_t *shape,
                                     const float *x, const float *w1, const float *b1,
                                     const float *w2, const float *b2, const float *pre,
                                     const float *act, const float *y, int64_t *num_rows) {
  if (!has_stream) return "ffn forward: stream is NULL";
  const std::string error = ffn_shape_error(shape, "ffn forward", num_rows);
  if (!error.empty()) return error;
  if (any_null({w1, b1, w2, b2}) || (*num_rows > 0 && any_null({x, pre, act, y}))) {
    return "ffn forward: NULL tensor pointer";
  }
  return "";
}

inline std::string ffn_backward_error(bool has_stream, const prophet_ffn_shape_t *shape,
                                      const float *dy, const float *x, const float *w1,
                                      const float *w2, const float *pre, const float *act,
                                      const float *dx, const float *dpre, const float *dw1,
                                      const float *db1, const float *dw2, const float *db2,
                                      int64_t *num_rows) {
  if (!has_stream) return "ffn backward: stream is NULL";
  const std::string error = ffn_shape_error(shape, "ffn backward", num_rows);
  if (!error.empty()) return error;
  if (any_null({w1, w2, dw1, db1, dw2, db2}) ||
      (*num_rows > 0 && any_null({dy, x, pre, act, dx, dpre}))) {
    return "ffn backward: NULL tensor pointer";
  }
  return "";
}

// --- optim (kernels_optim.h) ---------------------------------------------------------------------

inline std::string sgd_error(bool has_stream, int64_t n, const float *param, const float *grad,
                             const float *momentum_buf, const prophet_sgd_params_t *params) {
  if (!has_stream || params == nullptr) return "sgd: NULL stream or params";
  if (n < 0) return "sgd: n must be >= 0";
  const bool momentum = params->momentum != 0.0f;
  if (n > 0 && (param == nullptr || grad == nullptr || (momentum && momentum_buf == nullptr))) {
    return "sgd: NULL tensor pointer";
  }
  if (params->nesterov && (params->momentum <= 0.0f || params->dampening != 0.0f)) {
    return "sgd: nesterov needs momentum > 0 and dampening 0";
  }
  return "";
}

inline std::string adamw_error(bool has_stream, int64_t n, const float *param, const float *grad,
                               const float *m, const float *v,
                               const prophet_adamw_params_t *params) {
  if (!has_stream || params == nullptr) return "adamw: NULL stream or params";
  if (n < 0) return "adamw: n must be >= 0";
  if (params->step < 1) {
    return "adamw: step must be >= 1 (got " + std::to_string(params->step) + ")";
  }
  if (n > 0 && (param == nullptr || grad == nullptr || m == nullptr || v == nullptr)) {
    return "adamw: NULL tensor pointer";
  }
  return "";
}

// fill, scale, axpy: one or two vectors of n elements.
inline std::string vector_error(bool has_stream, int64_t n, const void *x, const void *y,
                                const char *op) {
  if (!has_stream) return std::string(op) + ": stream is NULL";
  if (n < 0) return std::string(op) + ": n must be >= 0";
  if (n > 0 && (x == nullptr || y == nullptr)) return std::string(op) + ": NULL tensor pointer";
  return "";
}

// The host list of (pointer, size) pairs of sum_squares and clip_by_norm.
inline std::string tensor_list_error(int64_t num_tensors, const float *const *tensors,
                                     const int64_t *sizes, const char *op) {
  if (num_tensors < 0 || (num_tensors > 0 && (tensors == nullptr || sizes == nullptr))) {
    return std::string(op) + ": bad tensor list";
  }
  for (int64_t t = 0; t < num_tensors; ++t) {
    if (sizes[t] < 0 || (sizes[t] > 0 && tensors[t] == nullptr)) {
      return std::string(op) + ": bad entry " + std::to_string(t) + " of the tensor list";
    }
  }
  return "";
}

inline std::string sum_squares_error(bool has_stream, int64_t num_tensors,
                                     const float *const *tensors, const int64_t *sizes,
                                     const float *out) {
  if (!has_stream || out == nullptr) return "sum_squares: NULL stream or output";
  return tensor_list_error(num_tensors, tensors, sizes, "sum_squares");
}

inline std::string clip_by_norm_error(bool has_stream, int64_t num_tensors,
                                      const float *const *tensors, const int64_t *sizes,
                                      const float *sum_squares) {
  if (!has_stream || sum_squares == nullptr) {
    return "clip_by_norm: NULL stream or sum of squares";
  }
  return tensor_list_error(num_tensors, tensors, sizes, "clip_by_norm");
}

}  // namespace prophet::checks
