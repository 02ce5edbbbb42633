// CUDA streams with priorities, their validation scratch and host callbacks. synchronize() is
// where failures that kernels found in their inputs (recorded on the device, see
// cuda_internal.h) become the stream's sticky error, as the CPU backend reports them.
#include <utility>

#include "cuda_internal.h"
#if PROPHET_CUDA_HAVE_CUBLAS
#include "cublas.h"
#endif

namespace prophet::cuda {
namespace {

struct HostCall {
  prophet_host_fn fn;
  void *user_data;
};

// Runs on the CUDA runtime's callback thread, where CUDA calls are forbidden: the flag makes
// buffer_free defer its work.
void CUDART_CB run_host_call(void *arg) {
  auto *call = static_cast<HostCall *>(arg);
  set_in_host_callback(true);
  call->fn(call->user_data);
  set_in_host_callback(false);
  delete call;
}

void release_stream(prophet_stream *s) {
  if (s->stream != nullptr) {
    (void)PROPHET_CUDA_CHECK(cudaStreamSynchronize(s->stream));
    release_stream_cublas(s);
    if (s->scratch != nullptr) (void)PROPHET_CUDA_CHECK(cudaFree(s->scratch));
    (void)PROPHET_CUDA_CHECK(cudaStreamDestroy(s->stream));
  }
  if (s->host_error != nullptr) (void)PROPHET_CUDA_CHECK(cudaFreeHost(s->host_error));
  delete s;
}

void priority_range(int *least, int *greatest) {
  static const std::pair<int, int> range = [] {
    int lo = 0, hi = 0;
    if (cudaDeviceGetStreamPriorityRange(&lo, &hi) != cudaSuccess) {
      (void)cudaGetLastError();
      lo = hi = 0;
    }
    return std::pair<int, int>(lo, hi);
  }();
  *least = range.first;
  *greatest = range.second;
}

prophet_status_t stream_create(int device, int priority, prophet_stream_t *out) {
  PROPHET_RETURN_IF_FAILED(use_device(device));
  int least = 0, greatest = 0;
  priority_range(&least, &greatest);
  if (priority < greatest) priority = greatest;  // lower is more urgent
  if (priority > least) priority = least;
  auto *s = new prophet_stream();
  s->device = device;
  s->priority = priority;
  prophet_status_t st = PROPHET_CUDA_CHECK(
      cudaStreamCreateWithPriority(&s->stream, cudaStreamNonBlocking, priority));
  if (st == PROPHET_OK) st = PROPHET_CUDA_CHECK(cudaMalloc(&s->scratch, sizeof(StreamScratch)));
  if (st == PROPHET_OK) {
    st = PROPHET_CUDA_CHECK(cudaMemset(s->scratch, 0, sizeof(StreamScratch)));
  }
  if (st == PROPHET_OK) {
    st = PROPHET_CUDA_CHECK(cudaMallocHost(&s->host_error, sizeof(DeviceError)));
  }
  if (st != PROPHET_OK) {
    const std::string message = last_error();
    release_stream(s);
    return fail(st, message);
  }
  *out = s;
  return PROPHET_OK;
}

void stream_destroy(prophet_stream_t stream) {
  if (stream == nullptr) return;
  if (use_device(stream->device) == PROPHET_OK) drain_deferred_frees();
  release_stream(stream);
}

prophet_status_t stream_synchronize(prophet_stream_t stream) {
  drain_deferred_frees();
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(cudaMemcpyAsync(
      stream->host_error, &stream->scratch->error, sizeof(DeviceError), cudaMemcpyDeviceToHost,
      stream->stream)));
  PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(cudaStreamSynchronize(stream->stream)));
  drain_deferred_frees();  // callbacks that just ran may have deferred frees
  {
    // An out-of-band failure (a watchdog that aborted a hung collective) outranks what the
    // kernels recorded: it is why the work after it did not run as asked.
    std::lock_guard<std::mutex> lock(stream->failure_mutex);
    if (stream->failure != PROPHET_OK) {
      const prophet_status_t failure = stream->failure;
      std::string message = std::move(stream->failure_message);
      stream->failure = PROPHET_OK;
      stream->failure_message.clear();
      return fail(failure, message);
    }
  }
  if (stream->host_error->kind == kNoDeviceError) return PROPHET_OK;
  const std::string message = describe_device_error(*stream->host_error);
  stream->host_error->kind = kNoDeviceError;
  // Clear the sticky record; ordered before any later work on the stream.
  PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(
      cudaMemsetAsync(&stream->scratch->error, 0, sizeof(DeviceError), stream->stream)));
  return fail(PROPHET_ERR_INVALID, message);
}

prophet_status_t stream_query(prophet_stream_t stream) {
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  const cudaError_t error = cudaStreamQuery(stream->stream);
  if (error == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return PROPHET_ERR_NOT_READY;
  }
  return PROPHET_CUDA_CHECK(error);
}

prophet_status_t stream_launch_host_func(prophet_stream_t stream, prophet_host_fn fn,
                                         void *user_data) {
  if (fn == nullptr) return fail(PROPHET_ERR_INVALID, "launch_host_func: fn is NULL");
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  auto *call = new HostCall{fn, user_data};
  const prophet_status_t st =
      PROPHET_CUDA_CHECK(cudaLaunchHostFunc(stream->stream, run_host_call, call));
  if (st != PROPHET_OK) delete call;
  return st;
}

void *stream_native_handle(prophet_stream_t stream) { return stream->stream; }

void stream_report_failure(prophet_stream_t stream, prophet_status_t status,
                           const char *message) {
  if (status == PROPHET_OK) return;
  std::lock_guard<std::mutex> lock(stream->failure_mutex);
  if (stream->failure != PROPHET_OK) return;  // the first failure wins until reported
  stream->failure = status;
  stream->failure_message = message != nullptr ? message : "";
}

}  // namespace

void release_stream_cublas(prophet_stream_t stream) {
#if PROPHET_CUDA_HAVE_CUBLAS
  cublas_release(stream);
#else
  (void)stream;  // built without cuBLAS: no handle can exist
#endif
}

const prophet_stream_i kStream = {
    /* .create           = */ stream_create,
    /* .destroy          = */ stream_destroy,
    /* .synchronize      = */ stream_synchronize,
    /* .query            = */ stream_query,
    /* .priority_range   = */ priority_range,
    /* .launch_host_func = */ stream_launch_host_func,
    // NULL: CUDA runs every host function of a device on one runtime thread, so a host task that
    // blocks on another stream's host task (a CPU collective between in-process ranks) would
    // deadlock that thread. Callers report PROPHET_ERR_UNSUPPORTED naming the slot.
    /* .launch_host_task = */ nullptr,
    /* .native_handle    = */ stream_native_handle,
    /* .report_failure   = */ stream_report_failure,
};

}  // namespace prophet::cuda
