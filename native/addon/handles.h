// Reference-counted owners of native handles. A JS object owns one reference; every queued
// operation that touches the handle owns another until it has run, so dispose() or a finalizer
// never frees memory that queued work still uses ("inputs pinned while work runs").
#pragma once

#include <napi.h>

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

struct StreamHandle {
  StreamHandle(const prophet_backend_i *b, prophet_stream_t h) : backend(b), stream(h) {}
  StreamHandle(const StreamHandle &) = delete;
  StreamHandle &operator=(const StreamHandle &) = delete;
  ~StreamHandle() { backend->stream->destroy(stream); }
  const prophet_backend_i *const backend;
  const prophet_stream_t stream;
};
using StreamRef = std::shared_ptr<StreamHandle>;

struct EventHandle {
  EventHandle(const prophet_backend_i *b, prophet_event_t h) : backend(b), event(h) {}
  EventHandle(const EventHandle &) = delete;
  EventHandle &operator=(const EventHandle &) = delete;
  ~EventHandle() { backend->event->destroy(event); }
  const prophet_backend_i *const backend;
  const prophet_event_t event;
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
