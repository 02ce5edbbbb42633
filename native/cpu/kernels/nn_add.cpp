// CPU elementwise add (residual connections): out = a + b, parallel over elements.
#include "nn_cpu.h"

namespace prophet::cpu {

prophet_status_t nn_add(int64_t num_elements, prophet_buffer_t a, prophet_buffer_t b,
                        prophet_buffer_t out, prophet_stream_t stream) {
  constexpr const char *kName = "add";
  prophet_status_t s = check_dims(kName, {num_elements}, {0});
  if (s == PROPHET_OK) s = require_buffer(kName, "a", a, num_elements, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "b", b, num_elements, 4);
  if (s == PROPHET_OK) s = require_buffer(kName, "out", out, num_elements, 4);
  if (s != PROPHET_OK) return s;
  stream->enqueue([=] {
    const float *a_data = data_of<const float>(a);
    const float *b_data = data_of<const float>(b);
    float *out_data = data_of<float>(out);
#pragma omp parallel for schedule(static) if (num_elements > 4 * kNnParallelElements)
    for (int64_t i = 0; i < num_elements; ++i) out_data[i] = a_data[i] + b_data[i];
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

}  // namespace prophet::cpu
