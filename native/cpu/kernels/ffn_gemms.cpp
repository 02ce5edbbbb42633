// The CPU expert FFN's two stream operations: per-expert GEMMs through prophet::cpu::sgemm (with
// transposes, never copying a weight) around one element-wise pass each (ffn_passes.cpp).
#include "../gemm.h"
#include "ffn_internal.h"

namespace prophet::cpu::ffn {

void run_forward(const Plan &plan, const float *x, const float *w1, const float *b1,
                 const float *w2, const float *b2, float *pre, float *act, float *y) {
  const int64_t d = plan.d_model, h = plan.hidden, h1 = plan.hidden_in;
  // Step 1: pre = x·W1[e] for every expert (bias added in step 2's pass).
  for (int64_t e = 0; e < plan.num_experts; ++e) {
    const int64_t rows = plan.rows(e), r0 = plan.row_offsets[e];
    if (rows == 0) continue;
    sgemm(false, false, rows, h1, d, 1.0f, x + r0 * d, d, w1 + e * d * h1, h1, 0.0f,
          pre + r0 * h1, h1);
  }
  // Step 2: one pass over the hidden rows: pre += b1, act = f(pre); y = b2 broadcast.
  bias_activation(plan, b1, b2, pre, act, y);
  // Step 3: y += act·W2[e].
  for (int64_t e = 0; e < plan.num_experts; ++e) {
    const int64_t rows = plan.rows(e), r0 = plan.row_offsets[e];
    if (rows == 0) continue;
    sgemm(false, false, rows, d, h, 1.0f, act + r0 * h, h, w2 + e * h * d, d, 1.0f, y + r0 * d,
          d);
  }
}

void run_backward(const Plan &plan, const float *dy, const float *x, const float *w1,
                  const float *w2, const float *pre, const float *act, float *dx, float *dpre,
                  float *dw1, float *db1, float *dw2, float *db2) {
  const int64_t d = plan.d_model, h = plan.hidden, h1 = plan.hidden_in;
  // dL/dact lands where the pass expects it: all of dpre (plain) or its up half (gated), so the
  // pass rewrites it into dL/dpre in place without another buffer.
  const int64_t dact_column = plan.gated ? h : 0;
  // Step 1: dW2[e] += actᵀ·dy and dact = dy·W2[e]ᵀ.
  for (int64_t e = 0; e < plan.num_experts; ++e) {
    const int64_t rows = plan.rows(e), r0 = plan.row_offsets[e];
    if (rows == 0) continue;
    sgemm(true, false, h, d, rows, 1.0f, act + r0 * h, h, dy + r0 * d, d, 1.0f, dw2 + e * h * d,
          d);
    sgemm(false, true, rows, h, d, 1.0f, dy + r0 * d, d, w2 + e * h * d, d, 0.0f,
          dpre + r0 * h1 + dact_column, h1);
  }
  // Step 2: one pass: dpre = dact ⊙ f'(pre) (gated: both halves); db1, db2 += column sums.
  activation_backward(plan, pre, dy, dpre, db1, db2);
  // Step 3: dW1[e] += xᵀ·dpre and dx = dpre·W1[e]ᵀ.
  for (int64_t e = 0; e < plan.num_experts; ++e) {
    const int64_t rows = plan.rows(e), r0 = plan.row_offsets[e];
    if (rows == 0) continue;
    sgemm(true, false, d, h1, rows, 1.0f, x + r0 * d, d, dpre + r0 * h1, h1, 1.0f,
          dw1 + e * d * h1, h1);
    sgemm(false, true, rows, d, h1, 1.0f, dpre + r0 * h1, h1, w1 + e * d * h1, h1, 0.0f,
          dx + r0 * d, d);
  }
}

}  // namespace prophet::cpu::ffn
