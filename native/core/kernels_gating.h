/*
 * Gating kernels of the backend ABI: softmax + top-k routing with capacity, the auxiliary losses
 * and the backward pass to the router logits. Semantics (tie rules, slot order, dropping) are
 * written down in docs/kernels.md; the per-element math is native/kernels/gating.h.
 *
 * Shapes use T = num_tokens, E = num_experts, k = slots per token. All tensors are dense,
 * row-major; f32 is IEEE single, i32 is int32_t. Every entry is stream-ordered: it checks the
 * arguments and buffer sizes (PROPHET_ERR_INVALID at once), queues the work and returns.
 */
#ifndef PROPHET_CORE_KERNELS_GATING_H
#define PROPHET_CORE_KERNELS_GATING_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Order in which the slots of one choice rank claim capacity inside their expert. */
typedef enum prophet_slot_order {
  PROPHET_SLOT_ORDER_TOKEN = 0, /* token 0, 1, ..., T-1 */
  PROPHET_SLOT_ORDER_RANDOM = 1 /* tokens sorted by the seeded hash of gating.h (random_priority) */
} prophet_slot_order_t;

typedef struct prophet_gating_params {
  int64_t num_tokens;  /* T >= 0 */
  int64_t num_experts; /* E >= 1 */
  int64_t k;           /* 1 <= k <= E */
  int32_t renormalize; /* nonzero: weights are the k probabilities divided by their sum */
  int32_t slot_order;  /* prophet_slot_order_t */
  int64_t capacity;    /* slots each expert keeps; < 0 means unlimited (dropless) */
  uint32_t seed;       /* PROPHET_SLOT_ORDER_RANDOM only */
} prophet_gating_params_t;

/* Outputs of the forward pass, all written by it. */
typedef struct prophet_gating_outputs {
  prophet_buffer_t expert_index;      /* [T, k] i32, kept and dropped slots alike */
  prophet_buffer_t weight;            /* [T, k] f32, 0 for dropped slots */
  prophet_buffer_t position;          /* [T, k] i32, row inside the expert; -1 if dropped */
  prophet_buffer_t counts_per_expert; /* [E] i32, kept slots per expert */
  prophet_buffer_t num_dropped;       /* [1] i32 */
  prophet_buffer_t probs;             /* [T, E] f32, softmax of the logits (kept for backward) */
  prophet_buffer_t logsumexp;         /* [T] f32, log sum exp of each logit row (for the z-loss) */
} prophet_gating_outputs_t;

typedef struct prophet_gating_backward_params {
  int64_t num_tokens;
  int64_t num_experts;
  int64_t k;
  int32_t renormalize; /* as in the forward pass */
  float aux_coef;      /* coefficient of the load-balancing loss */
  float z_coef;        /* coefficient of the router z-loss */
} prophet_gating_backward_params_t;

typedef struct prophet_gating_i {
  /* logits [T, E] f32 -> outputs. Non-finite logits fail the work (sticky PROPHET_ERR_INVALID
     naming the first bad element) before any output is written. */
  prophet_status_t (*forward)(const prophet_gating_params_t *params, prophet_buffer_t logits,
                              const prophet_gating_outputs_t *outputs, prophet_stream_t stream);
  /* losses [2] f32 <- { L_aux = E * sum_e f_e * P_e, L_z = mean_t logsumexp_t^2 }, unscaled.
     f_e counts every selected slot (kept or dropped) over T*k; P_e = mean_t probs[t, e]. Both
     are 0 when T == 0. */
  prophet_status_t (*aux_loss)(int64_t num_tokens, int64_t num_experts, int64_t k,
                               prophet_buffer_t probs, prophet_buffer_t logsumexp,
                               prophet_buffer_t expert_index, prophet_buffer_t losses,
                               prophet_stream_t stream);
  /* d_logits [T, E] f32 = d/dlogits of (sum_{t,j} d_weight[t,j] * weight[t,j]
     + aux_coef * L_aux + z_coef * L_z). d_weight [T, k] may be NULL (treated as zeros); dropped
     slots (position < 0) contribute nothing. Overwrites d_logits. */
  prophet_status_t (*backward)(const prophet_gating_backward_params_t *params,
                               prophet_buffer_t probs, prophet_buffer_t logsumexp,
                               prophet_buffer_t expert_index, prophet_buffer_t position,
                               prophet_buffer_t d_weight, prophet_buffer_t d_logits,
                               prophet_stream_t stream);
} prophet_gating_i;

#ifdef __cplusplus
}
#endif

#endif /* PROPHET_CORE_KERNELS_GATING_H */
