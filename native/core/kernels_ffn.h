/*
 * Expert FFN family of the kernel table: a group of E local experts, each a two-layer MLP, run
 * over one token buffer whose rows are grouped by expert (expert 0's rows first, then expert 1's,
 * ...; rows_per_expert[e] rows each, any of them may be 0).
 *
 *   plain:  pre = x·W1[e] + b1[e]                     [n_e, h]
 *           act = f(pre)                              [n_e, h]
 *   gated:  pre = x·W1[e] + b1[e]                     [n_e, 2h] = [gate | up]
 *           act = f(pre[:, :h]) ⊙ pre[:, h:]           [n_e, h]   (SwiGLU when f = silu)
 *   both:   y   = act·W2[e] + b2[e]                   [n_e, d]
 *
 * Layouts (row-major fp32, N = sum of rows_per_expert, H1 = h or 2h when gated):
 *   x, y, dx [N, d]; W1, dW1 [E, d, H1]; b1, db1 [E, H1]; W2, dW2 [E, h, d]; b2, db2 [E, d];
 *   pre, dpre [N, H1]; act [N, h]. In the gated layout columns [0, h) of W1, b1 and pre are the
 *   gate half (activated) and columns [h, 2h) the up half (linear).
 *
 * Activations (native/kernels/activation.h): relu, gelu with the tanh approximation
 * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (PyTorch's approximate='tanh'), silu x·σ(x).
 *
 * Entries are stream-ordered (validate, queue, return). rows_per_expert is a host array copied at
 * call time. Pointers are device pointers that stay valid until the work has run; outputs must
 * not overlap inputs or each other.
 */
#ifndef PROPHET_CORE_KERNELS_FFN_H
#define PROPHET_CORE_KERNELS_FFN_H

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum prophet_activation {
  PROPHET_ACTIVATION_RELU = 0,
  PROPHET_ACTIVATION_GELU = 1, /* tanh approximation */
  PROPHET_ACTIVATION_SILU = 2
} prophet_activation_t;

/* The shape of one grouped FFN call. */
typedef struct prophet_ffn_shape {
  int64_t num_experts;            /* E >= 1 */
  const int32_t *rows_per_expert; /* host [E], each >= 0; copied at call time */
  int64_t d_model;                /* d >= 1 */
  int64_t hidden;                 /* h >= 1: width of act */
  int activation;                 /* prophet_activation_t */
  int gated;                      /* nonzero: W1, b1 and pre hold [gate | up], 2h columns */
} prophet_ffn_shape_t;

typedef struct prophet_ffn_i {
  /* Writes pre (saved for backward), act (saved for backward) and y. */
  prophet_status_t (*forward)(prophet_stream_t stream, const prophet_ffn_shape_t *shape,
                              const float *x, const float *w1, const float *b1, const float *w2,
                              const float *b2, float *pre, float *act, float *y);
  /* Given dy and the forward's x, W1, W2, pre and act: overwrites dx and dpre (the gradient of
     pre, also the entry's scratch) and ACCUMULATES into dw1, db1, dw2, db2 (+=), so replicas and
     accumulation steps add up; zero them first for a plain gradient. */
  prophet_status_t (*backward)(prophet_stream_t stream, const prophet_ffn_shape_t *shape,
                               const float *dy, const float *x, const float *w1, const float *w2,
                               const float *pre, const float *act, float *dx, float *dpre,
                               float *dw1, float *db1, float *dw2, float *db2);
} prophet_ffn_i;

#ifdef __cplusplus
}
#endif

#endif /* PROPHET_CORE_KERNELS_FFN_H */
