// Private to the CPU optimizer family (optim_*.cpp): the vector entries of prophet_optim_i, set
// into the table by optim_update.cpp.
#pragma once

#include "../../core/kernels_optim.h"

namespace prophet::cpu::optim {

prophet_status_t fill(prophet_stream_t stream, int64_t n, float *x, float value);
prophet_status_t scale(prophet_stream_t stream, int64_t n, float *x, float alpha);
prophet_status_t axpy(prophet_stream_t stream, int64_t n, float alpha, const float *x, float *y);
prophet_status_t sum_squares(prophet_stream_t stream, int64_t num_tensors,
                             const float *const *tensors, const int64_t *sizes, float *out);
prophet_status_t clip_by_norm(prophet_stream_t stream, int64_t num_tensors,
                              float *const *tensors, const int64_t *sizes,
                              const float *sum_squares, float max_norm);

}  // namespace prophet::cpu::optim
