// CPU events with cudaEvent semantics: record() marks the current end of a stream's queue;
// stream_wait() makes another stream's worker block until that mark is reached.
#include "cpu_internal.h"

namespace prophet::cpu {
namespace {

prophet_status_t event_create(int device, unsigned flags, prophet_event_t *out) {
  if (device != 0) return fail(PROPHET_ERR_INVALID, "cpu backend has one device (0)");
  auto *event = new prophet_event();
  event->state->timing = (flags & PROPHET_EVENT_TIMING) != 0;
  *out = event;
  return PROPHET_OK;
}

void event_destroy(prophet_event_t event) { delete event; }

prophet_status_t event_record(prophet_event_t event, prophet_stream_t stream) {
  std::shared_ptr<EventState> state = event->state;
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(state->mutex);
    generation = ++state->num_recorded;
  }
  stream->enqueue([state, generation] {
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      if (generation > state->num_completed) {
        state->num_completed = generation;
        state->completed_at = now;
      }
    }
    state->completed_cv.notify_all();
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

// Waits for the generation recorded before this call (later records do not extend the wait).
prophet_status_t event_stream_wait(prophet_stream_t stream, prophet_event_t event) {
  std::shared_ptr<EventState> state = event->state;
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(state->mutex);
    generation = state->num_recorded;
  }
  if (generation == 0) return PROPHET_OK;  // never recorded: nothing to wait for
  stream->enqueue([state, generation] {
    std::unique_lock<std::mutex> lock(state->mutex);
    state->completed_cv.wait(lock, [&] { return state->num_completed >= generation; });
    return PROPHET_OK;
  });
  return PROPHET_OK;
}

prophet_status_t event_synchronize(prophet_event_t event) {
  EventState &state = *event->state;
  std::unique_lock<std::mutex> lock(state.mutex);
  const uint64_t generation = state.num_recorded;
  state.completed_cv.wait(lock, [&] { return state.num_completed >= generation; });
  return PROPHET_OK;
}

prophet_status_t event_query(prophet_event_t event) {
  EventState &state = *event->state;
  std::lock_guard<std::mutex> lock(state.mutex);
  return state.num_completed >= state.num_recorded ? PROPHET_OK : PROPHET_ERR_NOT_READY;
}

prophet_status_t event_elapsed_ms(prophet_event_t start, prophet_event_t end, double *ms) {
  std::chrono::steady_clock::time_point t0, t1;
  struct Side {
    const char *name;
    prophet_event_t event;
    std::chrono::steady_clock::time_point *at;
  };
  for (const Side &side : {Side{"start", start, &t0}, Side{"end", end, &t1}}) {
    EventState &state = *side.event->state;
    std::lock_guard<std::mutex> lock(state.mutex);
    if (!state.timing) return fail(PROPHET_ERR_INVALID, "event was created without timing");
    if (state.num_recorded == 0) return fail(PROPHET_ERR_INVALID, "event was never recorded");
    if (state.num_completed < state.num_recorded) {
      // Like cudaErrorNotReady: the caller may retry, so say which event and how to wait.
      return fail(PROPHET_ERR_NOT_READY, std::string(side.name) +
                                             " event not yet complete (synchronize it first)");
    }
    *side.at = state.completed_at;
  }
  *ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
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

}  // namespace prophet::cpu
