/*
 * Dense-layer kernels of the backend ABI: the non-MoE parts of the example language model
 * (token + position embedding, RMSNorm, fused causal multi-head attention, cross-entropy and an
 * elementwise add for residuals), each with its backward pass. Semantics are written down in
 * docs/model.md ("Kernels"); the per-row math is native/kernels/{embedding,norm,attention,loss}.h.
 *
 * All tensors are dense, row-major; f32 is IEEE single, i32 is int32_t. Every entry is
 * stream-ordered: it checks sizes and buffers (PROPHET_ERR_INVALID at once), queues the work and
 * returns. Every entry is deterministic: each output element is produced by one thread in a fixed
 * summation order, so re-runs are bitwise identical whatever the thread count.
 * "Accumulates" means the result is added to what the buffer holds (gradients of parameters, so
 * that micro-batches can accumulate); "overwrites" means the old contents are ignored.
 */
#ifndef PROPHET_CORE_KERNELS_NN_H
#define PROPHET_CORE_KERNELS_NN_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Shape of causal self-attention over packed projections. */
typedef struct prophet_attention_shape {
  int64_t batch;     /* B >= 0 */
  int64_t seq;       /* S >= 0 */
  int64_t heads;     /* H >= 1 */
  int64_t head_dim;  /* dh >= 1; scores are scaled by 1/sqrt(dh) */
} prophet_attention_shape_t;

typedef struct prophet_nn_i {
  /* out[n] = table[ids[n]] (+ pos_table[n mod P] when num_positions P > 0).
     ids [N] i32 in [0, V), table [V, d], pos_table [P, d] or NULL when P == 0, out [N, d]
     (overwritten). An id outside [0, V) fails the work (sticky PROPHET_ERR_INVALID naming the
     first one) before anything is written. */
  prophet_status_t (*embedding_forward)(int64_t num_tokens, int64_t vocab, int64_t dim,
                                        int64_t num_positions, prophet_buffer_t ids,
                                        prophet_buffer_t table, prophet_buffer_t pos_table,
                                        prophet_buffer_t out, prophet_stream_t stream);
  /* d_table[v] += sum_{n: ids[n] = v} d_out[n] in token order; d_pos[p] += sum_{n mod P = p}
     d_out[n] in token order (skipped when d_pos is NULL or P == 0). Accumulates. */
  prophet_status_t (*embedding_backward)(int64_t num_tokens, int64_t vocab, int64_t dim,
                                         int64_t num_positions, prophet_buffer_t ids,
                                         prophet_buffer_t d_out, prophet_buffer_t d_table,
                                         prophet_buffer_t d_pos, prophet_stream_t stream);
  /* y[n] = x[n] * rstd[n] * gain, rstd[n] = 1 / sqrt(mean_i x[n, i]^2 + eps).
     x [N, d], gain [d], y [N, d] and rstd [N] overwritten. eps > 0. */
  prophet_status_t (*rmsnorm_forward)(int64_t num_rows, int64_t dim, float eps,
                                      prophet_buffer_t x, prophet_buffer_t gain,
                                      prophet_buffer_t y, prophet_buffer_t rstd,
                                      prophet_stream_t stream);
  /* d_x [N, d] overwritten; d_gain [d] accumulates sum_n d_y[n] * x[n] * rstd[n] (row order). */
  prophet_status_t (*rmsnorm_backward)(int64_t num_rows, int64_t dim, prophet_buffer_t d_y,
                                       prophet_buffer_t x, prophet_buffer_t gain,
                                       prophet_buffer_t rstd, prophet_buffer_t d_x,
                                       prophet_buffer_t d_gain, prophet_stream_t stream);
  /* Causal softmax(q k^T / sqrt(dh)) v per batch and head. qkv [B, S, 3, H, dh] (q, k, v of each
     token side by side, as one [d, 3d] projection writes them), out [B, S, H, dh] and
     lse [B, H, S] (log-sum-exp of each query's scaled scores) overwritten. */
  prophet_status_t (*attention_forward)(const prophet_attention_shape_t *shape,
                                        prophet_buffer_t qkv, prophet_buffer_t out,
                                        prophet_buffer_t lse, prophet_stream_t stream);
  /* d_qkv [B, S, 3, H, dh] overwritten from d_out [B, S, H, dh], recomputing the probabilities
     from qkv and lse; out is the forward output. */
  prophet_status_t (*attention_backward)(const prophet_attention_shape_t *shape,
                                         prophet_buffer_t qkv, prophet_buffer_t out,
                                         prophet_buffer_t lse, prophet_buffer_t d_out,
                                         prophet_buffer_t d_qkv, prophet_stream_t stream);
  /* loss[n] = lse[n] - logits[n, targets[n]], lse[n] = log sum_c exp(logits[n, c]);
     mean_loss [1] = sum_n loss[n] / N summed in double in row order (0 when N == 0).
     logits [N, C], targets [N] i32 in [0, C); loss, lse, mean_loss overwritten. A target
     outside [0, C) fails the work (sticky PROPHET_ERR_INVALID) before anything is written. */
  prophet_status_t (*cross_entropy_forward)(int64_t num_rows, int64_t num_classes,
                                            prophet_buffer_t logits, prophet_buffer_t targets,
                                            prophet_buffer_t loss, prophet_buffer_t lse,
                                            prophet_buffer_t mean_loss, prophet_stream_t stream);
  /* d_logits [N, C] = (softmax(logits[n]) - onehot(targets[n])) * scale, overwritten. */
  prophet_status_t (*cross_entropy_backward)(int64_t num_rows, int64_t num_classes, float scale,
                                             prophet_buffer_t logits, prophet_buffer_t targets,
                                             prophet_buffer_t lse, prophet_buffer_t d_logits,
                                             prophet_stream_t stream);
  /* out[i] = a[i] + b[i] for i < num_elements (f32). out may be a or b. */
  prophet_status_t (*add)(int64_t num_elements, prophet_buffer_t a, prophet_buffer_t b,
                          prophet_buffer_t out, prophet_stream_t stream);
} prophet_nn_i;

#ifdef __cplusplus
}
#endif

#endif /* PROPHET_CORE_KERNELS_NN_H */
