// Argument checks shared by the CPU kernel entries: element counts without overflow and buffers
// large enough for them, each failure naming the kernel and the argument.
#pragma once

#include <cstdint>
#include <string>

#include "../../core/kernel_checks.h"
#include "../cpu_internal.h"

namespace prophet::cpu {

using checks::checked_mul;

// PROPHET_OK when `buffer` holds num_elements elements of element_bytes each.
inline prophet_status_t require_buffer(const char *kernel, const char *name,
                                       prophet_buffer_t buffer, int64_t num_elements,
                                       int64_t element_bytes) {
  const std::string error = checks::buffer_error(kernel, name, buffer != nullptr,
                                                 buffer == nullptr ? 0 : buffer->bytes,
                                                 num_elements, element_bytes);
  return error.empty() ? PROPHET_OK : fail(PROPHET_ERR_INVALID, error);
}

template <typename T>
T *data_of(prophet_buffer_t buffer) {
  return static_cast<T *>(buffer->data);
}

}  // namespace prophet::cpu
