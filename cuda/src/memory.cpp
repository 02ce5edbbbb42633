// CUDA device memory through the stream-ordered allocator (each device's default pool, which
// keeps freed memory cached), plus the stream-ordered memset and copies.
//
// Buffers are allocated on a per-device allocation stream and that stream is synchronized before
// alloc() returns, so a new buffer is usable from every stream at once. free() is called only
// when no queued work uses the buffer any more (the ABI's contract), so cudaFreeAsync on the same
// allocation stream is safe without waiting. A free requested from a launch_host_func callback,
// where CUDA calls are forbidden, goes to a list released by the next alloc, free or synchronize
// on an ordinary thread.
#include <atomic>
#include <vector>

#include "cuda_internal.h"

namespace prophet::cuda {
namespace {

std::atomic<uint64_t> g_live_buffers{0};
std::atomic<uint64_t> g_live_bytes{0};
std::atomic<uint64_t> g_total_allocs{0};

// Never destroyed: frees may arrive while the process exits.
std::mutex *g_mutex = new std::mutex();
std::vector<prophet_buffer *> *g_deferred = new std::vector<prophet_buffer *>();
std::vector<cudaStream_t> *g_alloc_streams = new std::vector<cudaStream_t>();

prophet_status_t alloc_stream(int device, cudaStream_t *out) {
  std::lock_guard<std::mutex> lock(*g_mutex);
  if (g_alloc_streams->size() <= static_cast<size_t>(device)) {
    g_alloc_streams->resize(static_cast<size_t>(device) + 1, nullptr);
  }
  cudaStream_t &stream = (*g_alloc_streams)[device];
  if (stream == nullptr) {
    PROPHET_RETURN_IF_FAILED(
        PROPHET_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)));
  }
  *out = stream;
  return PROPHET_OK;
}

// Releases one buffer now (ordinary thread only). Errors are dropped: free() cannot report them,
// and at process exit the runtime may already be gone (cudaErrorCudartUnloading).
void release(prophet_buffer *buffer) {
  cudaStream_t stream = nullptr;
  if (buffer->ptr != nullptr && use_device(buffer->device) == PROPHET_OK &&
      alloc_stream(buffer->device, &stream) == PROPHET_OK) {
    (void)PROPHET_CUDA_CHECK(cudaFreeAsync(buffer->ptr, stream));
  }
  delete buffer;
}

thread_local bool t_in_host_callback = false;

prophet_status_t buffer_alloc(int device, size_t bytes, prophet_buffer_t *out) {
  drain_deferred_frees();
  PROPHET_RETURN_IF_FAILED(use_device(device));
  cudaStream_t stream = nullptr;
  PROPHET_RETURN_IF_FAILED(alloc_stream(device, &stream));
  // Pool allocations are 256-byte aligned; a zero-byte buffer still gets a unique pointer.
  void *ptr = nullptr;
  PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(cudaMallocAsync(&ptr, bytes == 0 ? 1 : bytes, stream)));
  if (prophet_status_t s = PROPHET_CUDA_CHECK(cudaStreamSynchronize(stream)); s != PROPHET_OK) {
    (void)cudaFreeAsync(ptr, stream);
    return s;
  }
  *out = new prophet_buffer{ptr, bytes, device};
  g_live_buffers.fetch_add(1, std::memory_order_relaxed);
  g_live_bytes.fetch_add(bytes, std::memory_order_relaxed);
  g_total_allocs.fetch_add(1, std::memory_order_relaxed);
  return PROPHET_OK;
}

// Counted as freed at once; the memory returns to the pool now or, from a callback, at the next
// drain.
void buffer_free(prophet_buffer_t buffer) {
  if (buffer == nullptr) return;
  g_live_buffers.fetch_sub(1, std::memory_order_relaxed);
  g_live_bytes.fetch_sub(buffer->bytes, std::memory_order_relaxed);
  if (in_host_callback()) {
    std::lock_guard<std::mutex> lock(*g_mutex);
    g_deferred->push_back(buffer);
    return;
  }
  drain_deferred_frees();
  release(buffer);
}

void *buffer_device_ptr(prophet_buffer_t buffer) { return buffer->ptr; }
void *buffer_host_ptr(prophet_buffer_t) { return nullptr; }  // device memory is not host-visible
size_t buffer_size(prophet_buffer_t buffer) { return buffer->bytes; }

prophet_status_t check_range(prophet_buffer_t buffer, size_t offset, size_t bytes,
                             const char *what) {
  if (buffer == nullptr) return fail(PROPHET_ERR_INVALID, std::string(what) + ": buffer is NULL");
  if (offset > buffer->bytes || bytes > buffer->bytes - offset) {
    return fail(PROPHET_ERR_INVALID, std::string(what) + ": range [" + std::to_string(offset) +
                                         ", +" + std::to_string(bytes) + ") exceeds buffer of " +
                                         std::to_string(buffer->bytes) + " bytes");
  }
  return PROPHET_OK;
}

char *at(prophet_buffer_t buffer, size_t offset) { return static_cast<char *>(buffer->ptr) + offset; }

prophet_status_t memset_async(prophet_buffer_t dst, size_t offset, int value, size_t bytes,
                              prophet_stream_t stream) {
  PROPHET_RETURN_IF_FAILED(check_range(dst, offset, bytes, "memset"));
  if (bytes == 0) return PROPHET_OK;
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  return PROPHET_CUDA_CHECK(cudaMemsetAsync(at(dst, offset), value, bytes, stream->stream));
}

// From pageable host memory the runtime stages the copy and returns once the source was read.
prophet_status_t copy_h2d_async(prophet_buffer_t dst, size_t dst_offset, const void *src,
                                size_t bytes, prophet_stream_t stream) {
  PROPHET_RETURN_IF_FAILED(check_range(dst, dst_offset, bytes, "copy_h2d"));
  if (bytes == 0) return PROPHET_OK;
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  return PROPHET_CUDA_CHECK(
      cudaMemcpyAsync(at(dst, dst_offset), src, bytes, cudaMemcpyHostToDevice, stream->stream));
}

// Into pageable host memory the runtime completes the copy before returning (it blocks).
prophet_status_t copy_d2h_async(void *dst, prophet_buffer_t src, size_t src_offset, size_t bytes,
                                prophet_stream_t stream) {
  PROPHET_RETURN_IF_FAILED(check_range(src, src_offset, bytes, "copy_d2h"));
  if (bytes == 0) return PROPHET_OK;
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  return PROPHET_CUDA_CHECK(
      cudaMemcpyAsync(dst, at(src, src_offset), bytes, cudaMemcpyDeviceToHost, stream->stream));
}

prophet_status_t copy_d2d_async(prophet_buffer_t dst, size_t dst_offset, prophet_buffer_t src,
                                size_t src_offset, size_t bytes, prophet_stream_t stream) {
  PROPHET_RETURN_IF_FAILED(check_range(dst, dst_offset, bytes, "copy_d2d dst"));
  PROPHET_RETURN_IF_FAILED(check_range(src, src_offset, bytes, "copy_d2d src"));
  if (bytes == 0) return PROPHET_OK;
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  // cudaMemcpyAsync requires disjoint ranges; an overlapping copy inside one buffer goes through
  // a stream-ordered scratch copy, keeping memmove semantics (as the CPU backend).
  char *d = at(dst, dst_offset);
  const char *s = at(src, src_offset);
  if (d < s + bytes && s < d + bytes && d != s) {
    void *tmp = nullptr;
    PROPHET_RETURN_IF_FAILED(scratch_alloc(bytes, stream->stream, &tmp));
    prophet_status_t st = PROPHET_CUDA_CHECK(
        cudaMemcpyAsync(tmp, s, bytes, cudaMemcpyDeviceToDevice, stream->stream));
    if (st == PROPHET_OK) {
      st = PROPHET_CUDA_CHECK(
          cudaMemcpyAsync(d, tmp, bytes, cudaMemcpyDeviceToDevice, stream->stream));
    }
    scratch_free(tmp, stream->stream);
    return st;
  }
  if (d == s) return PROPHET_OK;
  return PROPHET_CUDA_CHECK(cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, stream->stream));
}

}  // namespace

bool in_host_callback() { return t_in_host_callback; }

// Marks the calling thread as a callback thread for the duration of a host function.
void set_in_host_callback(bool value) { t_in_host_callback = value; }

void drain_deferred_frees() {
  if (in_host_callback()) return;
  std::vector<prophet_buffer *> pending;
  {
    std::lock_guard<std::mutex> lock(*g_mutex);
    if (g_deferred->empty()) return;
    pending.swap(*g_deferred);
  }
  for (prophet_buffer *buffer : pending) release(buffer);
}

prophet_status_t scratch_alloc(size_t bytes, cudaStream_t stream, void **out) {
  return PROPHET_CUDA_CHECK(cudaMallocAsync(out, bytes == 0 ? 1 : bytes, stream));
}

void scratch_free(void *ptr, cudaStream_t stream) {
  if (ptr != nullptr) (void)PROPHET_CUDA_CHECK(cudaFreeAsync(ptr, stream));
}

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

const prophet_memory_i kMemory = {
    /* .memset_async   = */ memset_async,
    /* .copy_h2d_async = */ copy_h2d_async,
    /* .copy_d2h_async = */ copy_d2h_async,
    /* .copy_d2d_async = */ copy_d2d_async,
};

}  // namespace prophet::cuda
