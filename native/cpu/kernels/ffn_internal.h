// Private to the CPU expert FFN (ffn_*.cpp): the host-side plan of one call and the element-wise
// passes that run between its GEMMs.
#pragma once

#include <cstdint>
#include <vector>

#include "../../core/kernels_ffn.h"

namespace prophet::cpu::ffn {

// Rows of one work item of the element-wise passes: a fixed slice of one expert's rows. The
// slices depend only on rows_per_expert, never on the thread count, so per-chunk partial sums
// reduced in chunk order give bitwise-identical bias gradients on any machine of the same ISA.
constexpr int64_t kRowsPerChunk = 128;

struct RowChunk {
  int64_t expert;
  int64_t row_begin;  // global row index in x / pre / y
  int64_t row_end;
};

// Everything a queued call needs, copied from the caller's prophet_ffn_shape_t.
struct Plan {
  int64_t num_experts = 0;
  int64_t d_model = 0;
  int64_t hidden = 0;        // h, width of act
  int64_t hidden_in = 0;     // H1 = h, or 2h when gated: width of pre
  int activation = 0;        // prophet_activation_t
  bool gated = false;
  std::vector<int64_t> row_offsets;   // [E + 1], row_offsets[e] = first row of expert e
  std::vector<RowChunk> chunks;       // in expert order, then row order
  std::vector<int64_t> chunk_offsets;  // [E + 1], first chunk of expert e

  int64_t rows(int64_t e) const { return row_offsets[e + 1] - row_offsets[e]; }
  int64_t num_rows() const { return row_offsets.back(); }
};

// Fills `plan` from a shape already validated by checks::ffn_shape_error (kernel_checks.h).
void make_plan(const prophet_ffn_shape_t &shape, Plan *plan);

// Forward pass between the GEMMs, over every chunk in parallel: pre += b1[e];
// act = f(pre) (gated: f(gate)·up); y = b2[e] broadcast (the second GEMM then adds act·W2).
void bias_activation(const Plan &plan, const float *b1, const float *b2, float *pre, float *act,
                     float *y);

// Backward pass between the GEMMs: dpre holds dL/dact (plain: [N, h]; gated: in its up half);
// turns it into dL/dpre in place, and ACCUMULATES db1 += column sums of dpre and db2 += column
// sums of dy, per expert, in a fixed order.
void activation_backward(const Plan &plan, const float *pre, const float *dy, float *dpre,
                         float *db1, float *db2);

// The two stream operations, run on the stream's thread (GEMMs + the passes above).
void run_forward(const Plan &plan, const float *x, const float *w1, const float *b1,
                 const float *w2, const float *b2, float *pre, float *act, float *y);
void run_backward(const Plan &plan, const float *dy, const float *x, const float *w1,
                  const float *w2, const float *pre, const float *act, float *dx, float *dpre,
                  float *dw1, float *db1, float *dw2, float *db2);

}  // namespace prophet::cpu::ffn
