// The element-wise passes of the CPU expert FFN: bias + activation fused into one pass over the
// hidden rows (forward), activation gradient + bias-gradient column sums fused into one pass
// (backward). Parallel over fixed row chunks; per-chunk fp64 partial sums reduced in chunk order,
// so results do not depend on the thread count. Math in native/kernels/activation.h.
#include <omp.h>

#include <vector>

#include "../../kernels/activation.h"
#include "ffn_internal.h"
#include "simd_clones.h"

namespace prophet::cpu::ffn {
namespace {

using kernels::Activation;
using kernels::activate;
using kernels::activate_grad;

// Step of the forward pass for `rows` rows of one expert.
template <Activation A, bool Gated>
PROPHET_CPU_INLINE void forward_rows(const float *b1, const float *b2, float *pre, float *act,
                                     float *y, int64_t rows, int64_t d, int64_t h) {
  const int64_t h1 = Gated ? 2 * h : h;
  for (int64_t r = 0; r < rows; ++r) {
    float *z = pre + r * h1;
    float *a = act + r * h;
    if constexpr (Gated) {
#pragma omp simd
      for (int64_t j = 0; j < h; ++j) {
        const float gate = z[j] + b1[j];
        const float up = z[h + j] + b1[h + j];
        z[j] = gate;
        z[h + j] = up;
        a[j] = activate<A>(gate) * up;
      }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < h; ++j) {
        const float v = z[j] + b1[j];
        z[j] = v;
        a[j] = activate<A>(v);
      }
    }
    float *y_row = y + r * d;
    for (int64_t j = 0; j < d; ++j) y_row[j] = b2[j];
  }
}

// Step of the backward pass for `rows` rows of one expert; partial1 [h1] and partial2 [d]
// receive the column sums of dpre and dy over these rows.
template <Activation A, bool Gated>
PROPHET_CPU_INLINE void backward_rows(const float *pre, const float *dy, float *dpre,
                                      double *partial1, double *partial2, int64_t rows,
                                      int64_t d, int64_t h) {
  const int64_t h1 = Gated ? 2 * h : h;
  for (int64_t r = 0; r < rows; ++r) {
    const float *z = pre + r * h1;
    float *g = dpre + r * h1;
    if constexpr (Gated) {
#pragma omp simd
      for (int64_t j = 0; j < h; ++j) {
        const float gate = z[j], up = z[h + j], dact = g[h + j];
        const float dgate = dact * up * activate_grad<A>(gate);
        const float dup = dact * activate<A>(gate);
        g[j] = dgate;
        g[h + j] = dup;
        partial1[j] += dgate;
        partial1[h + j] += dup;
      }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < h; ++j) {
        const float dz = g[j] * activate_grad<A>(z[j]);
        g[j] = dz;
        partial1[j] += dz;
      }
    }
    const float *dy_row = dy + r * d;
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) partial2[j] += dy_row[j];
  }
}

// One dispatch per chunk: picks the instantiation, compiled for the clone's ISA.
PROPHET_CPU_CLONES void forward_chunk(int activation, bool gated, const float *b1,
                                      const float *b2, float *pre, float *act, float *y,
                                      int64_t rows, int64_t d, int64_t h) {
  switch (activation * 2 + (gated ? 1 : 0)) {
    case 0: forward_rows<Activation::kRelu, false>(b1, b2, pre, act, y, rows, d, h); break;
    case 1: forward_rows<Activation::kRelu, true>(b1, b2, pre, act, y, rows, d, h); break;
    case 2: forward_rows<Activation::kGelu, false>(b1, b2, pre, act, y, rows, d, h); break;
    case 3: forward_rows<Activation::kGelu, true>(b1, b2, pre, act, y, rows, d, h); break;
    case 4: forward_rows<Activation::kSilu, false>(b1, b2, pre, act, y, rows, d, h); break;
    default: forward_rows<Activation::kSilu, true>(b1, b2, pre, act, y, rows, d, h); break;
  }
}

PROPHET_CPU_CLONES void backward_chunk(int activation, bool gated, const float *pre,
                                       const float *dy, float *dpre, double *sum1,
                                       double *sum2, int64_t rows, int64_t d, int64_t h) {
  switch (activation * 2 + (gated ? 1 : 0)) {
    case 0: backward_rows<Activation::kRelu, false>(pre, dy, dpre, sum1, sum2, rows, d, h); break;
    case 1: backward_rows<Activation::kRelu, true>(pre, dy, dpre, sum1, sum2, rows, d, h); break;
    case 2: backward_rows<Activation::kGelu, false>(pre, dy, dpre, sum1, sum2, rows, d, h); break;
    case 3: backward_rows<Activation::kGelu, true>(pre, dy, dpre, sum1, sum2, rows, d, h); break;
    case 4: backward_rows<Activation::kSilu, false>(pre, dy, dpre, sum1, sum2, rows, d, h); break;
    default: backward_rows<Activation::kSilu, true>(pre, dy, dpre, sum1, sum2, rows, d, h); break;
  }
}

// out[e, j] += sum of partials[c, j] over the chunks c of expert e, in chunk order.
void reduce_partials(const Plan &plan, const double *partials, int64_t cols, float *out) {
  const int64_t total = plan.num_experts * cols;
#pragma omp parallel for schedule(static) if (total * 8 > 65536)
  for (int64_t index = 0; index < total; ++index) {
    const int64_t e = index / cols, j = index % cols;
    double sum = 0.0;
    for (int64_t c = plan.chunk_offsets[e]; c < plan.chunk_offsets[e + 1]; ++c) {
      sum += partials[c * cols + j];
    }
    out[index] += static_cast<float>(sum);
  }
}

}  // namespace

void bias_activation(const Plan &plan, const float *b1, const float *b2, float *pre, float *act,
                     float *y) {
  const int64_t d = plan.d_model, h = plan.hidden, h1 = plan.hidden_in;
  const int64_t num_chunks = static_cast<int64_t>(plan.chunks.size());
#pragma omp parallel for schedule(dynamic, 1) if (num_chunks > 1)
  for (int64_t c = 0; c < num_chunks; ++c) {
    const RowChunk &chunk = plan.chunks[c];
    const int64_t r0 = chunk.row_begin;
    forward_chunk(plan.activation, plan.gated, b1 + chunk.expert * h1, b2 + chunk.expert * d,
                  pre + r0 * h1, act + r0 * h, y + r0 * d, chunk.row_end - r0, d, h);
  }
}

void activation_backward(const Plan &plan, const float *pre, const float *dy, float *dpre,
                         float *db1, float *db2) {
  const int64_t d = plan.d_model, h = plan.hidden, h1 = plan.hidden_in;
  const int64_t num_chunks = static_cast<int64_t>(plan.chunks.size());
  // Scratch kept per stream thread, so steady-state calls do not allocate.
  thread_local std::vector<double> partials1, partials2;
  partials1.assign(static_cast<size_t>(num_chunks * h1), 0.0);
  partials2.assign(static_cast<size_t>(num_chunks * d), 0.0);
  double *p1 = partials1.data(), *p2 = partials2.data();
  // Step 1: per chunk, dpre in place and the chunk's column sums.
#pragma omp parallel for schedule(dynamic, 1) if (num_chunks > 1)
  for (int64_t c = 0; c < num_chunks; ++c) {
    const RowChunk &chunk = plan.chunks[c];
    const int64_t r0 = chunk.row_begin;
    backward_chunk(plan.activation, plan.gated, pre + r0 * h1, dy + r0 * d, dpre + r0 * h1,
                   p1 + c * h1, p2 + c * d, chunk.row_end - r0, d, h);
  }
  // Step 2: fold the chunks of each expert into the accumulated bias gradients.
  reduce_partials(plan, p1, h1, db1);
  reduce_partials(plan, p2, d, db2);
}

}  // namespace prophet::cpu::ffn
