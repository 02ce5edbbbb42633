/*
 * GEMM family of the kernel table: one stream-ordered fp32 GEMM over device pointers, with the
 * transposes the expert FFN needs (cuBLAS-style, but row-major).
 */
#ifndef PROPHET_CORE_KERNELS_GEMM_H
#define PROPHET_CORE_KERNELS_GEMM_H

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct prophet_gemm_i {
  /* C = alpha * op(A) * op(B) + beta * C, row-major, fp32.
       op(A) is [m, k]: A is [m, k] with row stride lda, or [k, m] when trans_a != 0.
       op(B) is [k, n]: B is [k, n] with row stride ldb, or [n, k] when trans_b != 0.
       C is [m, n] with row stride ldc. beta == 0 overwrites C (NaNs in C do not propagate).
     m, n, k >= 0 (k == 0 gives C = beta * C); each leading dimension >= the stored row length
     (and >= 1). Pointers are device pointers (buffer device_ptr + offset) that must stay valid
     until the work has run; C must not overlap A or B. Stream-ordered: validates, queues,
     returns. */
  prophet_status_t (*sgemm)(prophet_stream_t stream, int trans_a, int trans_b, int64_t m,
                            int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                            const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
} prophet_gemm_i;

#ifdef __cplusplus
}
#endif

#endif /* PROPHET_CORE_KERNELS_GEMM_H */
