// Reference-counted owners of native handles. A JS object owns one reference; every queued
// operation that touches the handle owns another until it has run, so dispose() or a finalizer
// never frees memory that queued work still uses ("inputs pinned while work runs").
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/backend.h"

namespace prophet::addon {

// Owners are neither copyable nor movable: a copy would free the handle twice.
struct BufferHandle {
  BufferHandle(const prophet_backend_i *b, prophet_buffer_t h, size_t n)
      : backend(b), buffer(h), bytes(n) {}
  BufferHandle(const BufferHandle &) = delete;
  BufferHandle &operator=(const BufferHandle &) = delete;
  ~BufferHandle() { backend->buffer->free(buffer); }
  const prophet_backend_i *const backend;
  const prophet_buffer_t buffer;
  const size_t bytes;
};
using BufferRef = std::shared_ptr<BufferHandle>;

// Live stream and event owners of one backend. The ABI counts buffers only (memory_stats), so
// the owners count themselves; memoryStats() reports these so that tests can show finalizers
// free streams and events. Atomic: queued work may drop the last reference on a stream thread.
struct HandleCounts {
  std::atomic<int64_t> streams{0};
  std::atomic<int64_t> events{0};
};
HandleCounts &handle_counts(const prophet_backend_i *backend);

struct StreamHandle {
  StreamHandle(const prophet_backend_i *b, prophet_stream_t h)
      : backend(b), stream(h), counts_(handle_counts(b)) {
    ++counts_.streams;
  }
  StreamHandle(const StreamHandle &) = delete;
  StreamHandle &operator=(const StreamHandle &) = delete;
  ~StreamHandle() {
    backend->stream->destroy(stream);
    --counts_.streams;
  }
  const prophet_backend_i *const backend;
  const prophet_stream_t stream;

 private:
  HandleCounts &counts_;
};
using StreamRef = std::shared_ptr<StreamHandle>;

struct EventHandle {
  EventHandle(const prophet_backend_i *b, prophet_event_t h)
      : backend(b), event(h), counts_(handle_counts(b)) {
    ++counts_.events;
  }
  EventHandle(const EventHandle &) = delete;
  EventHandle &operator=(const EventHandle &) = delete;
  ~EventHandle() {
    backend->event->destroy(event);
    --counts_.events;
  }
  const prophet_backend_i *const backend;
  const prophet_event_t event;

 private:
  HandleCounts &counts_;
};
using EventRef = std::shared_ptr<EventHandle>;

// What one queued operation keeps alive: buffers it reads or writes and host staging memory.
struct Baton {
  std::vector<BufferRef> buffers;
  std::vector<uint8_t> staging;
};

// Hands `baton` to `stream`: it is deleted on the stream after the work queued before this call
// has run. If the hand-off itself fails the stream is synchronized first, then the baton freed.
void release_after(const StreamRef &stream, std::unique_ptr<Baton> baton);

// Throws TypeError naming `argument` unless both handles belong to one backend.
void require_same_backend(Napi::Env env, const prophet_backend_i *a, const prophet_backend_i *b,
                          const char *argument);

// "cpu" or "cuda" -> the backend; throws TypeError for a non-string, RangeError for any other
// name, and Error ECUDA with the loader's reason when CUDA is unavailable.
const prophet_backend_i *backend_by_name(Napi::Env env, const Napi::Value &name,
                                         const char *argument);

}  // namespace prophet::addon
