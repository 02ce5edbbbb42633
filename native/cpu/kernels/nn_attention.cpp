// CPU fused causal multi-head attention over a packed qkv buffer [B, S, 3, H, dh]. Forward: one
// flash-style pass per query row (parallel over batch x head x query), no S x S scores stored.
// Backward recomputes the probabilities from lse in two passes, each output row owned by one
// thread: dq by query rows, then dk and dv by key rows (summing over the queries that see the
// key, in query order). No atomics, so re-runs are bitwise identical; the cost is O(B·H·S²·dh).
#include <cmath>
#include <utility>
#include <vector>

#include "../../kernels/attention.h"
#include "nn_cpu.h"

namespace prophet::cpu {
namespace {

// Offsets of the packed layouts, in floats.
struct Layout {
  int64_t B, S, H, dh;
  int64_t qkv_stride() const { return 3 * H * dh; }  // token to token in qkv
  int64_t out_stride() const { return H * dh; }      // token to token in out / d_out
  // Part 0 (q), 1 (k) or 2 (v) of head h of token s in batch b.
  int64_t qkv(int64_t b, int64_t s, int64_t part, int64_t h) const {
    return ((b * S + s) * 3 + part) * H * dh + h * dh;
  }
  int64_t out(int64_t b, int64_t s, int64_t h) const { return (b * S + s) * H * dh + h * dh; }
  int64_t lse(int64_t b, int64_t h, int64_t s) const { return (b * H + h) * S + s; }
  int64_t num_rows() const { return B * H * S; }
  float scale() const { return 1.0f / std::sqrt(static_cast<float>(dh)); }
};

// Splits a flat row index over (b, h, s) with s fastest.
struct Row {
  int64_t b, h, s;
  Row(const Layout &L, int64_t row) : b(row / (L.H * L.S)), h(row / L.S % L.H), s(row % L.S) {}
};

using NamedBuffers = std::initializer_list<std::pair<const char *, prophet_buffer_t>>;

// Shape sanity, then buffers of the qkv layout, of the out layout and lse; fills *layout.
prophet_status_t check_attention(const char *kernel, const prophet_attention_shape_t *shape,
                                 NamedBuffers qkv_like, NamedBuffers out_like,
                                 prophet_buffer_t lse, Layout *layout) {
  if (shape == nullptr) {
    return fail(PROPHET_ERR_INVALID, std::string(kernel) + ": shape is required");
  }
  const prophet_attention_shape_t &p = *shape;
  prophet_status_t s =
      check_dims(kernel, {p.batch, p.seq, 3, p.heads, p.head_dim}, {0, 0, 3, 1, 1});
  if (s != PROPHET_OK) return s;
  *layout = {p.batch, p.seq, p.heads, p.head_dim};
  const int64_t num_qkv = layout->B * layout->S * layout->qkv_stride();
  const int64_t num_out = layout->B * layout->S * layout->out_stride();
  for (const auto &[name, buffer] : qkv_like) {
    if ((s = require_buffer(kernel, name, buffer, num_qkv, 4)) != PROPHET_OK) return s;
  }
  for (const auto &[name, buffer] : out_like) {
    if ((s = require_buffer(kernel, name, buffer, num_out, 4)) != PROPHET_OK) return s;
  }
  return require_buffer(kernel, "lse", lse, layout->num_rows(), 4);
}

// Parallel only when the O(S²·dh) work pays for the threads (in double: the product is an
// estimate and must not overflow for long sequences).
bool worth_parallel(const Layout &L) {
  return double(L.num_rows()) * double(L.S) * double(L.dh) > double(kNnParallelElements);
}

void run_forward(const Layout &L, const float *qkv, float *out, float *lse) {
  const float scale = L.scale();
#pragma omp parallel for schedule(dynamic, 8) if (worth_parallel(L))
  for (int64_t row = 0; row < L.num_rows(); ++row) {
    const Row r(L, row);
    lse[L.lse(r.b, r.h, r.s)] = kernels::attention_row(
        qkv + L.qkv(r.b, r.s, 0, r.h), qkv + L.qkv(r.b, 0, 1, r.h), qkv + L.qkv(r.b, 0, 2, r.h),
        L.qkv_stride(), r.s + 1, L.dh, scale, out + L.out(r.b, r.s, r.h));
  }
}

void run_backward(const Layout &L, const float *qkv, const float *out, const float *lse,
                  const float *d_out, float *d_qkv) {
  const float scale = L.scale();
  const bool parallel = worth_parallel(L);
  // Step 1: delta = dO . O per query row (the softmax-backward row sum), laid out like lse.
  std::vector<float> delta(static_cast<size_t>(L.num_rows()));
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t row = 0; row < L.num_rows(); ++row) {
    const Row r(L, row);
    const int64_t at = L.out(r.b, r.s, r.h);
    delta[L.lse(r.b, r.h, r.s)] = kernels::dot_dh(d_out + at, out + at, L.dh);
  }
  // Step 2: dq, one query row each.
#pragma omp parallel for schedule(dynamic, 8) if (parallel)
  for (int64_t row = 0; row < L.num_rows(); ++row) {
    const Row r(L, row);
    const int64_t at = L.lse(r.b, r.h, r.s);
    kernels::attention_dq_row(qkv + L.qkv(r.b, r.s, 0, r.h), qkv + L.qkv(r.b, 0, 1, r.h),
                              qkv + L.qkv(r.b, 0, 2, r.h), L.qkv_stride(), r.s + 1, L.dh, scale,
                              lse[at], d_out + L.out(r.b, r.s, r.h), delta[at],
                              d_qkv + L.qkv(r.b, r.s, 0, r.h));
  }
  // Step 3: dk and dv, one key row each, over the queries s..S-1 that see it.
#pragma omp parallel for schedule(dynamic, 8) if (parallel)
  for (int64_t row = 0; row < L.num_rows(); ++row) {
    const Row r(L, row);
    const int64_t at = L.lse(r.b, r.h, r.s);
    kernels::attention_dkv_row(qkv + L.qkv(r.b, r.s, 1, r.h), qkv + L.qkv(r.b, r.s, 2, r.h),
                               qkv + L.qkv(r.b, r.s, 0, r.h), L.qkv_stride(),
                               d_out + L.out(r.b, r.s, r.h), L.out_stride(), lse + at,
                               delta.data() + at, L.S - r.s, L.dh, scale,
                               d_qkv + L.qkv(r.b, r.s, 1, r.h), d_qkv + L.qkv(r.b, r.s, 2, r.h));
  }
}

}  // namespace

prophet_status_t nn_attention_forward(const prophet_attention_shape_t *shape,
                                      prophet_buffer_t qkv, prophet_buffer_t out,
                                      prophet_buffer_t lse, prophet_stream_t stream) {
  Layout L{};
  if (prophet_status_t s = check_attention("attention forward", shape, {{"qkv", qkv}},
                                           {{"out", out}}, lse, &L);
      s != PROPHET_OK) {
    return s;
  }
  stream->enqueue([=] {
    run_forward(L, data_of<const float>(qkv), data_of<float>(out), data_of<float>(lse));
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t nn_attention_backward(const prophet_attention_shape_t *shape,
                                       prophet_buffer_t qkv, prophet_buffer_t out,
                                       prophet_buffer_t lse, prophet_buffer_t d_out,
                                       prophet_buffer_t d_qkv, prophet_stream_t stream) {
  Layout L{};
  if (prophet_status_t s = check_attention("attention backward", shape,
                                           {{"qkv", qkv}, {"d_qkv", d_qkv}},
                                           {{"out", out}, {"d_out", d_out}}, lse, &L);
      s != PROPHET_OK) {
    return s;
  }
  stream->enqueue([=] {
    run_backward(L, data_of<const float>(qkv), data_of<const float>(out),
                 data_of<const float>(lse), data_of<const float>(d_out), data_of<float>(d_qkv));
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

}  // namespace prophet::cpu
