// Stream-ordered memset and copies for the CPU backend.
#include <cstring>

#include "cpu_internal.h"

namespace prophet::cpu {
namespace {

prophet_status_t check_range(prophet_buffer_t buffer, size_t offset, size_t bytes,
                             const char *what) {
  if (offset > buffer->bytes || bytes > buffer->bytes - offset) {
    return fail(PROPHET_ERR_INVALID, std::string(what) + ": range [" + std::to_string(offset) +
                                         ", +" + std::to_string(bytes) + ") exceeds buffer of " +
                                         std::to_string(buffer->bytes) + " bytes");
  }
  return PROPHET_OK;
}

char *at(prophet_buffer_t buffer, size_t offset) {
  return static_cast<char *>(buffer->data) + offset;
}

prophet_status_t memset_async(prophet_buffer_t dst, size_t offset, int value, size_t bytes,
                              prophet_stream_t stream) {
  if (prophet_status_t s = check_range(dst, offset, bytes, "memset"); s != PROPHET_OK) return s;
  stream->enqueue([dst, offset, value, bytes] {
    std::memset(at(dst, offset), value, bytes);
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t copy_h2d_async(prophet_buffer_t dst, size_t dst_offset, const void *src,
                                size_t bytes, prophet_stream_t stream) {
  if (prophet_status_t s = check_range(dst, dst_offset, bytes, "copy_h2d"); s != PROPHET_OK) {
    return s;
  }
  stream->enqueue([dst, dst_offset, src, bytes] {
    if (bytes != 0) std::memcpy(at(dst, dst_offset), src, bytes);
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t copy_d2h_async(void *dst, prophet_buffer_t src, size_t src_offset, size_t bytes,
                                prophet_stream_t stream) {
  if (prophet_status_t s = check_range(src, src_offset, bytes, "copy_d2h"); s != PROPHET_OK) {
    return s;
  }
  stream->enqueue([dst, src, src_offset, bytes] {
    if (bytes != 0) std::memcpy(dst, at(src, src_offset), bytes);
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t copy_d2d_async(prophet_buffer_t dst, size_t dst_offset, prophet_buffer_t src,
                                size_t src_offset, size_t bytes, prophet_stream_t stream) {
  if (prophet_status_t s = check_range(dst, dst_offset, bytes, "copy_d2d dst"); s != PROPHET_OK) {
    return s;
  }
  if (prophet_status_t s = check_range(src, src_offset, bytes, "copy_d2d src"); s != PROPHET_OK) {
    return s;
  }
  stream->enqueue([dst, dst_offset, src, src_offset, bytes] {
    // memmove: a copy within one buffer may overlap.
    if (bytes != 0) std::memmove(at(dst, dst_offset), at(src, src_offset), bytes);
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

}  // namespace

const prophet_memory_i kMemory = {
    /* .memset_async   = */ memset_async,
    /* .copy_h2d_async = */ copy_h2d_async,
    /* .copy_d2h_async = */ copy_d2h_async,
    /* .copy_d2d_async = */ copy_d2d_async,
};

}  // namespace prophet::cpu
