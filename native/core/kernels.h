/*
 * Kernel entries of the backend ABI, grouped by family. Each family is its own vtable, declared
 * in its own header (kernels_<family>.h) and implemented once per backend over the shared
 * per-element math in native/kernels/. All entries are stream-ordered: they validate, queue the
 * work on the given stream and return; failures of the work itself are sticky on the stream.
 *
 * A family pointer is NULL when the backend lacks that family; callers report
 * PROPHET_ERR_UNSUPPORTED naming it.
 */
#ifndef PROPHET_CORE_KERNELS_H
#define PROPHET_CORE_KERNELS_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

struct prophet_gemm_i;    /* kernels_gemm.h: dense GEMM */
struct prophet_gating_i;  /* kernels_gating.h: softmax + top-k routing, capacity, aux losses */
struct prophet_permute_i; /* kernels_permute.h: dispatch (permute) and combine (unpermute) */
struct prophet_ffn_i;     /* kernels_ffn.h: grouped expert FFN forward/backward */
struct prophet_optim_i;   /* kernels_optim.h: SGD, AdamW, zeroing, norms and clipping */
struct prophet_nn_i;      /* kernels_nn.h: embedding, RMSNorm, causal attention, cross-entropy */

typedef struct prophet_kernel_i {
  const struct prophet_gemm_i *gemm;
  const struct prophet_gating_i *gating;
  const struct prophet_permute_i *permute;
  const struct prophet_ffn_i *ffn;
  const struct prophet_optim_i *optim;
  const struct prophet_nn_i *nn;
} prophet_kernel_i;

#ifdef __cplusplus
}
#endif

#endif /* PROPHET_CORE_KERNELS_H */
