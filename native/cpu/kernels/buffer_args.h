// Argument checks shared by the CPU kernel entries: element counts without overflow and buffers
// large enough for them, each failure naming the kernel and the argument.
#pragma once

#include <cstdint>
#include <string>

#include "../cpu_internal.h"

namespace prophet::cpu {

// a * b into *out; false when it overflows or either factor is negative.
inline bool checked_mul(int64_t a, int64_t b, int64_t *out) {
  return a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, out);
}

// PROPHET_OK when `buffer` holds num_elements elements of element_bytes each.
inline prophet_status_t require_buffer(const char *kernel, const char *name,
                                       prophet_buffer_t buffer, int64_t num_elements,
                                       int64_t element_bytes) {
  int64_t bytes = 0;
  if (!checked_mul(num_elements, element_bytes, &bytes)) {
    return fail(PROPHET_ERR_INVALID, std::string(kernel) + ": size of " + name + " overflows");
  }
  if (buffer == nullptr) {
    return fail(PROPHET_ERR_INVALID, std::string(kernel) + ": " + name + " is NULL");
  }
  if (buffer->bytes < static_cast<uint64_t>(bytes)) {
    return fail(PROPHET_ERR_INVALID, std::string(kernel) + ": " + name + " holds " +
                                         std::to_string(buffer->bytes) + " bytes, needs " +
                                         std::to_string(bytes));
  }
  return PROPHET_OK;
}

template <typename T>
T *data_of(prophet_buffer_t buffer) {
  return static_cast<T *>(buffer->data);
}

}  // namespace prophet::cpu
