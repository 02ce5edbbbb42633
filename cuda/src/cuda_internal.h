// Private types of the CUDA backend, shared by its files (host code and .cu alike). Nothing
// outside cuda/src includes this. The library exports only prophet_backend_score/init.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <string>

#include "../../native/core/backend.h"

namespace prophet::cuda {

// Records a failure message for last_error() on this thread and returns the status.
prophet_status_t fail(prophet_status_t status, std::string message);
const char *last_error();

// The one CUDA check: turns a cudaError_t into a status, recording
// "cudaXxx failed: <cudaGetErrorString> at file:line in function (statement)" on failure.
// Never aborts. cudaErrorMemoryAllocation maps to PROPHET_ERR_NOMEM, every other error to
// PROPHET_ERR_DEVICE (ECUDA in JavaScript).
prophet_status_t check_cuda(cudaError_t error, const char *statement, const char *function,
                            const char *file, int line);

}  // namespace prophet::cuda

// Evaluates to a prophet_status_t: PROPHET_OK, or the failure recorded by check_cuda().
#define PROPHET_CUDA_CHECK(statement) \
  ::prophet::cuda::check_cuda((statement), #statement, __func__, __FILE__, __LINE__)

// Returns from the enclosing function when a status expression is not PROPHET_OK.
#define PROPHET_RETURN_IF_FAILED(expression)                          \
  do {                                                                \
    const prophet_status_t prophet_status_ = (expression);            \
    if (prophet_status_ != PROPHET_OK) return prophet_status_;        \
  } while (0)

namespace prophet::cuda {

// What a kernel found wrong with its inputs. Written on the device (first failure since the last
// stream_synchronize wins) and turned into a message on the host by describe_device_error().
enum DeviceErrorKind : int32_t {
  kNoDeviceError = 0,
  kGatingNonFinite = 1,       // a = flat logit index, b = num_experts, c = 1 if infinite
  kGatingAuxBadExpert = 2,    // a = slot, b = k, c = expert, d = num_experts
  kGatingBackBadExpert = 3,   // as kGatingAuxBadExpert
  kPermuteBadExpert = 4,      // op = permute op, a = slot, b = k, c = expert, d = num_experts
  kPermuteRowOutOfRange = 5,  // a = slot, b = k, c = row, d = num_rows
  kPermuteRowClaimed = 6,     // a = slot, b = k, c = row
};

struct DeviceError {
  int32_t kind;  // DeviceErrorKind; 0 = none
  int32_t op;    // which entry (permute: PermuteOp)
  long long a, b, c, d;
};

// Per-stream device scratch used by validating kernels. `op_key` is reset by every validating
// entry and lowered (atomicMin) to the key of the first bad element; the entry's later kernels
// skip their work while it is not ~0. `error` keeps the first failure until synchronize().
struct StreamScratch {
  unsigned long long op_key;
  DeviceError error;
};

}  // namespace prophet::cuda

// A CUDA stream with its validation scratch. Ops on one stream never overlap, so one scratch per
// stream is enough.
struct prophet_stream {
  cudaStream_t stream = nullptr;
  int device = 0;
  int priority = 0;
  prophet::cuda::StreamScratch *scratch = nullptr;       // device memory
  prophet::cuda::DeviceError *host_error = nullptr;      // pinned host copy, read after sync
  void *cublas = nullptr;  // cublasHandle_t bound to this stream, created on first GEMM
  // A failure reported from outside the stream's work (report_failure: a communicator's
  // watchdog), returned by the next synchronize(). Guarded: the watchdog runs on its own thread.
  std::mutex failure_mutex;
  prophet_status_t failure = PROPHET_OK;
  std::string failure_message;
};

struct prophet_buffer {
  void *ptr = nullptr;
  size_t bytes = 0;
  int device = 0;
};

struct prophet_event {
  cudaEvent_t event = nullptr;
  int device = 0;
  bool timing = false;
  bool recorded = false;
};

namespace prophet::cuda {

extern const prophet_device_i kDevice;
extern const prophet_buffer_i kBuffer;
extern const prophet_stream_i kStream;
extern const prophet_event_i kEvent;
extern const prophet_memory_i kMemory;

// Makes `device` current on the calling thread.
prophet_status_t use_device(int device);

// Frees requested from stream callbacks (where CUDA calls are forbidden) wait in a list; this
// releases them. Called on ordinary threads: alloc, free, stream and event synchronize.
void drain_deferred_frees();

// True while the calling thread runs a launch_host_func callback (set by the stream's
// trampoline around the user's function).
bool in_host_callback();
void set_in_host_callback(bool value);

// Stream-ordered scratch for kernels (from the same pool as buffers; no host sync).
prophet_status_t scratch_alloc(size_t bytes, cudaStream_t stream, void **out);
void scratch_free(void *ptr, cudaStream_t stream);

// Releases the stream's cuBLAS handle when the library was built with cuBLAS (stream.cpp).
void release_stream_cublas(prophet_stream_t stream);

void memory_stats(uint64_t *live_buffers, uint64_t *live_bytes, uint64_t *total_allocs);

// Message for a failure a kernel recorded on the device.
std::string describe_device_error(const DeviceError &error);

}  // namespace prophet::cuda
