// CPU device memory: 64-byte aligned host allocations, large ones recycled through the block
// cache (cpu_block_cache.h), with the counters memory_stats() reports (tests use them to prove
// that disposed and finalized tensors free their memory: a cached block is not live).
#include <cstring>

#include "cpu_block_cache.h"
#include "cpu_internal.h"

namespace prophet::cpu {
namespace {

constexpr size_t kAlignment = 64;  // one cache line; also what AVX-512 loads like

// The block a buffer of `bytes` takes: at least one line, so that a zero-byte buffer still has a
// unique, valid pointer. Allocation and release must ask the cache for the same size.
size_t block_bytes(size_t bytes) { return bytes == 0 ? kAlignment : bytes; }

std::atomic<uint64_t> g_live_buffers{0};
std::atomic<uint64_t> g_live_bytes{0};
std::atomic<uint64_t> g_total_allocs{0};

prophet_status_t buffer_alloc(int device, size_t bytes, prophet_buffer_t *out) {
  if (device != 0) return fail(PROPHET_ERR_INVALID, "cpu backend has one device (0)");
  void *data = buffer_block_cache().allocate(block_bytes(bytes), kAlignment);
  if (data == nullptr) {
    return fail(PROPHET_ERR_NOMEM, "cannot allocate " + std::to_string(bytes) + " bytes");
  }
  *out = new prophet_buffer{data, bytes};
  g_live_buffers.fetch_add(1, std::memory_order_relaxed);
  g_live_bytes.fetch_add(bytes, std::memory_order_relaxed);
  g_total_allocs.fetch_add(1, std::memory_order_relaxed);
  return PROPHET_OK;
}

void buffer_free(prophet_buffer_t buffer) {
  if (buffer == nullptr) return;
  g_live_buffers.fetch_sub(1, std::memory_order_relaxed);
  g_live_bytes.fetch_sub(buffer->bytes, std::memory_order_relaxed);
  buffer_block_cache().release(buffer->data, block_bytes(buffer->bytes));
  delete buffer;
}

void *buffer_device_ptr(prophet_buffer_t buffer) { return buffer->data; }
void *buffer_host_ptr(prophet_buffer_t buffer) { return buffer->data; }
size_t buffer_size(prophet_buffer_t buffer) { return buffer->bytes; }

}  // namespace

void memory_stats(uint64_t *live_buffers, uint64_t *live_bytes, uint64_t *total_allocs) {
  *live_buffers = g_live_buffers.load();
  *live_bytes = g_live_bytes.load();
  *total_allocs = g_total_allocs.load();
}

const prophet_buffer_i kBuffer = {
    /* .alloc      = */ buffer_alloc,
    /* .free       = */ buffer_free,
    /* .device_ptr = */ buffer_device_ptr,
    /* .host_ptr   = */ buffer_host_ptr,
    /* .size       = */ buffer_size,
};

}  // namespace prophet::cpu
