/*
 * Optimizer family of the kernel table: parameter updates with PyTorch's semantics (SGD with
 * momentum, AdamW), small vector utilities (fill, scale, axpy) and global-norm gradient clipping
 * as two kernels, so that the sum of squares can be all-reduced across ranks in between.
 *
 * Entries are stream-ordered (validate, queue, return). Parameter structs and host pointer arrays
 * are copied at call time; device pointers must stay valid until the work has run. Math in
 * native/kernels/optim.h.
 */
#ifndef PROPHET_CORE_KERNELS_OPTIM_H
#define PROPHET_CORE_KERNELS_OPTIM_H

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* torch.optim.SGD: g = grad + weight_decay·p; with momentum: buf = g on the first step, else
   buf = momentum·buf + (1 - dampening)·g; g = nesterov ? g + momentum·buf : buf; p -= lr·g. */
typedef struct prophet_sgd_params {
  float lr;
  float momentum;     /* 0 disables the buffer (it may then be NULL) */
  float dampening;
  float weight_decay;
  int nesterov;       /* requires momentum > 0 and dampening == 0 */
  int first_step;     /* nonzero on the buffer's first update: buf = g */
} prophet_sgd_params_t;

/* torch.optim.AdamW (amsgrad off): p *= 1 - lr·wd; m = lerp(m, g, 1 - beta1);
   v = beta2·v + (1 - beta2)·g²;
   p -= lr / (1 - beta1^t) · m / (sqrt(v) / sqrt(1 - beta2^t) + eps). */
typedef struct prophet_adamw_params {
  float lr;
  float beta1;
  float beta2;
  float eps;
  float weight_decay;
  int64_t step; /* t >= 1, the step being taken (1 on the first update) */
} prophet_adamw_params_t;

typedef struct prophet_optim_i {
  /* In place on param [n] (and momentum_buf [n]); grad is read only. */
  prophet_status_t (*sgd)(prophet_stream_t stream, int64_t n, float *param, const float *grad,
                          float *momentum_buf, const prophet_sgd_params_t *params);
  /* In place on param, m, v [n] (fp32 states); grad is read only. */
  prophet_status_t (*adamw)(prophet_stream_t stream, int64_t n, float *param, const float *grad,
                            float *m, float *v, const prophet_adamw_params_t *params);
  /* x[i] = value. */
  prophet_status_t (*fill)(prophet_stream_t stream, int64_t n, float *x, float value);
  /* x[i] *= alpha. */
  prophet_status_t (*scale)(prophet_stream_t stream, int64_t n, float *x, float alpha);
  /* y[i] += alpha · x[i]. */
  prophet_status_t (*axpy)(prophet_stream_t stream, int64_t n, float alpha, const float *x,
                           float *y);
  /* *out = sum over tensors t and i of tensors[t][i]², accumulated in fp64 in a fixed order
     (fixed 4096-element chunks summed in index order), so results are bitwise reproducible
     whatever the thread count. tensors and sizes are host arrays of num_tensors entries. */
  prophet_status_t (*sum_squares)(prophet_stream_t stream, int64_t num_tensors,
                                  const float *const *tensors, const int64_t *sizes, float *out);
  /* Scales every tensor by min(1, max_norm / (sqrt(*sum_squares) + 1e-6)) (torch's
     clip_grad_norm_); *sum_squares is a device value read when the work runs. A NaN or Inf norm
     propagates into the tensors, as in torch with error_if_nonfinite=False. */
  prophet_status_t (*clip_by_norm)(prophet_stream_t stream, int64_t num_tensors,
                                   float *const *tensors, const int64_t *sizes,
                                   const float *sum_squares, float max_norm);
} prophet_optim_i;

#ifdef __cplusplus
}
#endif

#endif /* PROPHET_CORE_KERNELS_OPTIM_H */
