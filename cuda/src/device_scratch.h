// Stream-ordered device scratch owned by one entry call: allocated from the pool on the caller's
// stream and released with cudaFreeAsync on that stream when the object goes out of scope, i.e.
// after the work queued so far has used it. No host synchronization either way.
#pragma once

#include <cstddef>

#include "cuda_internal.h"

namespace prophet::cuda {

class DeviceScratch {
 public:
  DeviceScratch() = default;
  DeviceScratch(const DeviceScratch &) = delete;
  DeviceScratch &operator=(const DeviceScratch &) = delete;
  ~DeviceScratch() {
    if (ptr_ != nullptr) scratch_free(ptr_, stream_);
  }

  prophet_status_t alloc(size_t bytes, cudaStream_t stream) {
    stream_ = stream;
    return scratch_alloc(bytes, stream, &ptr_);
  }

  // Allocates `bytes` and copies them from host memory. A pageable source is staged before
  // cudaMemcpyAsync returns, so it may be freed at once (the ABI copies host arrays at call time).
  prophet_status_t upload(const void *host, size_t bytes, cudaStream_t stream) {
    PROPHET_RETURN_IF_FAILED(alloc(bytes, stream));
    return PROPHET_CUDA_CHECK(cudaMemcpyAsync(ptr_, host, bytes, cudaMemcpyHostToDevice, stream));
  }

  template <typename T>
  T *as() const {
    return static_cast<T *>(ptr_);
  }

 private:
  void *ptr_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace prophet::cuda
