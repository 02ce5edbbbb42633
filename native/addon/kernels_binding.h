// Helpers shared by the kernel bindings: the backend's kernel family for a stream (or an ENOTSUP
// Error naming it), plain scalar arguments, and pinning the buffers a queued kernel touches.
#pragma once

#include <napi.h>

#include <initializer_list>
#include <memory>
#include <string>

#include "../core/kernels.h"
#include "errors.h"
#include "handles.h"

namespace prophet::addon {

// The family table of the stream's backend; throws Error ENOTSUP when the backend lacks it.
template <typename Family>
const Family &kernel_family(Napi::Env env, const StreamRef &stream,
                            const Family *prophet_kernel_i::*member, const char *family) {
  const prophet_backend_i *backend = stream->backend;
  const Family *table = backend->kernel != nullptr ? backend->kernel->*member : nullptr;
  if (table == nullptr) {
    throw status_error(env, PROPHET_ERR_UNSUPPORTED, backend, family,
                       std::string("backend '") + backend->name + "' has no " + family +
                           " kernels");
  }
  return *table;
}

inline float arg_float(const Napi::CallbackInfo &info, size_t index, const char *name) {
  if (!info[index].IsNumber()) throw_type_error(info.Env(), name, "a number");
  return info[index].As<Napi::Number>().FloatValue();
}

inline bool arg_bool(const Napi::CallbackInfo &info, size_t index, const char *name) {
  if (!info[index].IsBoolean()) throw_type_error(info.Env(), name, "a boolean");
  return info[index].As<Napi::Boolean>().Value();
}

// A kernel's buffer arguments by name; an empty BufferRef stands for an optional NULL buffer.
using NamedBuffers = std::initializer_list<std::pair<const char *, BufferRef>>;

// Throws TypeError naming the first buffer that does not live on the stream's backend.
inline void require_backend(Napi::Env env, const StreamRef &stream, NamedBuffers buffers) {
  for (const auto &[name, buffer] : buffers) {
    if (buffer) require_same_backend(env, stream->backend, buffer->backend, name);
  }
}

// Keeps the buffers alive until the work queued so far on the stream has run.
inline void pin_until_done(const StreamRef &stream, NamedBuffers buffers) {
  auto baton = std::make_unique<Baton>();
  for (const auto &[name, buffer] : buffers) {
    if (buffer) baton->buffers.push_back(buffer);
  }
  release_after(stream, std::move(baton));
}

inline prophet_buffer_t raw(const BufferRef &buffer) {
  return buffer ? buffer->buffer : nullptr;
}

}  // namespace prophet::addon
