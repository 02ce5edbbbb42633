// CUDA events. Timing events keep the runtime's timestamps; the others are created with
// cudaEventDisableTiming, which makes record and wait cheaper.
#include "cuda_internal.h"

namespace prophet::cuda {
namespace {

prophet_status_t event_create(int device, unsigned flags, prophet_event_t *out) {
  PROPHET_RETURN_IF_FAILED(use_device(device));
  auto *event = new prophet_event();
  event->device = device;
  event->timing = (flags & PROPHET_EVENT_TIMING) != 0;
  const unsigned cuda_flags = event->timing ? cudaEventDefault : cudaEventDisableTiming;
  if (prophet_status_t s = PROPHET_CUDA_CHECK(cudaEventCreateWithFlags(&event->event, cuda_flags));
      s != PROPHET_OK) {
    delete event;
    return s;
  }
  *out = event;
  return PROPHET_OK;
}

void event_destroy(prophet_event_t event) {
  if (event == nullptr) return;
  if (use_device(event->device) == PROPHET_OK) (void)PROPHET_CUDA_CHECK(cudaEventDestroy(event->event));
  delete event;
}

prophet_status_t event_record(prophet_event_t event, prophet_stream_t stream) {
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(cudaEventRecord(event->event, stream->stream)));
  event->recorded = true;
  return PROPHET_OK;
}

// A never-recorded event completes at once (cudaStreamWaitEvent agrees; checked for clarity).
prophet_status_t event_stream_wait(prophet_stream_t stream, prophet_event_t event) {
  if (!event->recorded) return PROPHET_OK;
  PROPHET_RETURN_IF_FAILED(use_device(stream->device));
  return PROPHET_CUDA_CHECK(cudaStreamWaitEvent(stream->stream, event->event, 0));
}

prophet_status_t event_synchronize(prophet_event_t event) {
  drain_deferred_frees();
  PROPHET_RETURN_IF_FAILED(use_device(event->device));
  PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(cudaEventSynchronize(event->event)));
  drain_deferred_frees();
  return PROPHET_OK;
}

prophet_status_t event_query(prophet_event_t event) {
  PROPHET_RETURN_IF_FAILED(use_device(event->device));
  const cudaError_t error = cudaEventQuery(event->event);
  if (error == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return PROPHET_ERR_NOT_READY;
  }
  return PROPHET_CUDA_CHECK(error);
}

prophet_status_t event_elapsed_ms(prophet_event_t start, prophet_event_t end, double *ms) {
  for (prophet_event_t event : {start, end}) {
    if (!event->timing) return fail(PROPHET_ERR_INVALID, "event was created without timing");
    if (!event->recorded) return fail(PROPHET_ERR_INVALID, "event was never recorded");
  }
  PROPHET_RETURN_IF_FAILED(use_device(start->device));
  float elapsed = 0.0f;
  const cudaError_t error = cudaEventElapsedTime(&elapsed, start->event, end->event);
  if (error == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return PROPHET_ERR_NOT_READY;
  }
  PROPHET_RETURN_IF_FAILED(PROPHET_CUDA_CHECK(error));
  *ms = elapsed;
  return PROPHET_OK;
}

}  // namespace

const prophet_event_i kEvent = {
    /* .create      = */ event_create,
    /* .destroy     = */ event_destroy,
    /* .record      = */ event_record,
    /* .stream_wait = */ event_stream_wait,
    /* .synchronize = */ event_synchronize,
    /* .query       = */ event_query,
    /* .elapsed_ms  = */ event_elapsed_ms,
};

}  // namespace prophet::cuda
