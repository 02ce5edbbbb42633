/*
 * Permute kernels of the backend ABI: dispatch (token rows -> an expert-contiguous buffer, the
 * layout all-to-all-v sends) and combine (the weighted un-permute back), each with its backward.
 * Semantics are written down in docs/kernels.md; the index arithmetic is
 * native/kernels/permute.h.
 *
 * A slot (t, j) with position[t, j] >= 0 maps to row
 *   row(t, j) = row_offset_per_expert[expert_index[t, j]] + position[t, j]
 * of the permuted buffer; a slot with position < 0 was dropped and maps to nothing. Every mapped
 * row must lie in [0, num_rows) and no two slots may map to the same row; otherwise the work
 * fails (sticky PROPHET_ERR_INVALID) before anything is written. Rows that no slot maps to are
 * left unchanged by dispatch and combine_backward.
 *
 * Shapes: T tokens, k slots per token, E experts, d features, R = num_rows. All entries are
 * stream-ordered and deterministic (fixed summation order over j and over features).
 */
#ifndef PROPHET_CORE_KERNELS_PERMUTE_H
#define PROPHET_CORE_KERNELS_PERMUTE_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct prophet_permute_shape {
  int64_t num_tokens;   /* T >= 0 */
  int64_t k;            /* >= 1 */
  int64_t num_experts;  /* E >= 1 */
  int64_t num_features; /* d >= 0 */
  int64_t num_rows;     /* R >= 0 */
} prophet_permute_shape_t;

/* The routing every entry reads. */
typedef struct prophet_permute_routing {
  prophet_buffer_t expert_index;          /* [T, k] i32 */
  prophet_buffer_t position;              /* [T, k] i32, -1 for a dropped slot */
  prophet_buffer_t row_offset_per_expert; /* [E] i32 */
} prophet_permute_routing_t;

typedef struct prophet_permute_i {
  /* out[row(t, j)] = x[t]. x [T, d] f32, out [R, d] f32. */
  prophet_status_t (*dispatch)(const prophet_permute_shape_t *shape,
                               const prophet_permute_routing_t *routing, prophet_buffer_t x,
                               prophet_buffer_t out, prophet_stream_t stream);
  /* out[t] = sum_{j = 0..k-1, kept} weight[t, j] * y[row(t, j)]. y [R, d], weight [T, k],
     out [T, d] (overwritten; a token with no kept slot gets zeros). */
  prophet_status_t (*combine)(const prophet_permute_shape_t *shape,
                              const prophet_permute_routing_t *routing, prophet_buffer_t y,
                              prophet_buffer_t weight, prophet_buffer_t out,
                              prophet_stream_t stream);
  /* dx[t] = sum_{j kept} d_out[row(t, j)]. d_out [R, d], dx [T, d] (overwritten). */
  prophet_status_t (*dispatch_backward)(const prophet_permute_shape_t *shape,
                                        const prophet_permute_routing_t *routing,
                                        prophet_buffer_t d_out, prophet_buffer_t dx,
                                        prophet_stream_t stream);
  /* d_y[row(t, j)] = weight[t, j] * d_out[t]; d_weight[t, j] = <d_out[t], y[row(t, j)]>, 0 for a
     dropped slot. d_out [T, d], y [R, d], weight [T, k], d_y [R, d], d_weight [T, k]. */
  prophet_status_t (*combine_backward)(const prophet_permute_shape_t *shape,
                                       const prophet_permute_routing_t *routing,
                                       prophet_buffer_t d_out, prophet_buffer_t y,
                                       prophet_buffer_t weight, prophet_buffer_t d_y,
                                       prophet_buffer_t d_weight, prophet_stream_t stream);
} prophet_permute_i;

#ifdef __cplusplus
}
#endif

#endif /* PROPHET_CORE_KERNELS_PERMUTE_H */
