// Helpers shared by the CUDA kernel families: argument checks that mirror the CPU backend's,
// the per-stream validation protocol (see StreamScratch in cuda_internal.h) and warp-level
// counting. Device parts compile only under nvcc.
#pragma once

#include <climits>
#include <cstdint>
#include <string>

#include "../../native/core/kernel_checks.h"
#include "cuda_internal.h"

namespace prophet::cuda {

constexpr unsigned long long kNoKey = ~0ull;

using checks::checked_mul;

// PROPHET_OK when `buffer` holds num_elements elements of element_bytes each (CPU wording).
prophet_status_t require_buffer(const char *kernel, const char *name, prophet_buffer_t buffer,
                                int64_t num_elements, int64_t element_bytes);

template <typename T>
T *data_of(prophet_buffer_t buffer) {
  return buffer == nullptr ? nullptr : static_cast<T *>(buffer->ptr);
}

// Starts an entry whose kernels validate their inputs on the device: makes the stream's device
// current and resets op_key, stream-ordered.
prophet_status_t begin_validated_op(prophet_stream_t stream);

// Reports a failed kernel launch (bad configuration, missing kernel image) at once.
#define PROPHET_CHECK_LAUNCH() PROPHET_CUDA_CHECK(cudaGetLastError())

// Blocks for a grid-stride loop over n items: enough to fill the device, never zero.
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65536 ? 65536 : blocks));
}

#if defined(__CUDACC__)

__device__ __forceinline__ bool op_failed(const StreamScratch *scratch) {
  return *reinterpret_cast<const volatile unsigned long long *>(&scratch->op_key) != kNoKey;
}

__device__ __forceinline__ unsigned long long op_key(const StreamScratch *scratch) {
  return *reinterpret_cast<const volatile unsigned long long *>(&scratch->op_key);
}

__device__ __forceinline__ void flag_bad(StreamScratch *scratch, unsigned long long key) {
  atomicMin(&scratch->op_key, key);
}

// Keeps the first failure since the last synchronize (later ones are dropped).
__device__ __forceinline__ void record_error(StreamScratch *scratch, int32_t kind, int32_t op,
                                             long long a, long long b, long long c, long long d) {
  if (atomicCAS(&scratch->error.kind, 0, kind) != 0) return;
  scratch->error.op = op;
  scratch->error.a = a;
  scratch->error.b = b;
  scratch->error.c = c;
  scratch->error.d = d;
}

// Warp-aggregated count: every active lane with bin >= 0 adds 1 to counters[bin]; lanes that
// share a bin are summed first (__match_any_sync), so a hot bin costs one atomic per warp.
// All 32 lanes must call it (pass bin = -1 for nothing).
__device__ __forceinline__ void warp_histogram_add(int bin, int *counters) {
  const unsigned peers = __match_any_sync(0xffffffffu, bin);
  const int leader = __ffs(peers) - 1;
  if (bin >= 0 && static_cast<int>(threadIdx.x % 32) == leader) {
    atomicAdd(&counters[bin], __popc(peers));
  }
}

#endif

}  // namespace prophet::cuda
