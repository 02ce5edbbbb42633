#include "storage.h"

#include <condition_variable>
#include <cstring>
#include <mutex>

#include "args.h"
#include "errors.h"
#include "worker.h"

namespace prophet::addon {

Napi::Function Storage::Define(Napi::Env env) {
  return DefineClass(env, "Storage",
                     {
                         InstanceMethod<&Storage::Fill>("fill"),
                         InstanceMethod<&Storage::Write>("write"),
                         InstanceMethod<&Storage::Read>("read"),
                         InstanceMethod<&Storage::HostView>("hostView"),
                         InstanceMethod<&Storage::Dispose>("dispose"),
                         InstanceAccessor<&Storage::Disposed>("disposed"),
                         InstanceAccessor<&Storage::Bytes>("bytes"),
                         InstanceAccessor<&Storage::BackendName>("backend"),
                         InstanceAccessor<&Storage::Address>("address"),
                     });
}

Storage::Storage(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Storage>(info) {
  Napi::Env env = info.Env();
  const prophet_backend_i *backend = backend_by_name(env, info[0], "backend");
  const int device = arg_int(info, 1, "device");
  const size_t bytes = arg_size(info, 2, "bytes");
  prophet_buffer_t buffer = nullptr;
  check(env, backend->buffer->alloc(device, bytes, &buffer), backend, "alloc");
  buffer_ = std::make_shared<BufferHandle>(backend, buffer, bytes);
  bytes_ = bytes;
  backend_name_ = backend->name;
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(bytes));
}

void Storage::Finalize(Napi::Env env) { release(env); }

void Storage::release(Napi::Env env) {
  if (!buffer_) return;
  buffer_.reset();
  view_.Reset();
  Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(bytes_));
}

BufferRef Storage::ref(Napi::Env env) const {
  if (!buffer_) throw_disposed(env, "Tensor");
  return buffer_;
}

static void check_range(Napi::Env env, size_t offset, size_t bytes, size_t size,
                        const char *argument) {
  if (offset > size || bytes > size - offset) {
    throw_range_error(env, argument,
                      "range [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) +
                          ") exceeds the " + std::to_string(size) + "-byte storage");
  }
}

void Storage::Fill(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  BufferRef buffer = ref(env);
  const size_t offset = arg_size(info, 0, "offset");
  const size_t bytes = arg_size(info, 1, "bytes");
  const int value = arg_int(info, 2, "value");
  StreamRef stream = arg_stream(info, 3, "stream");
  check_range(env, offset, bytes, bytes_, "offset");
  require_same_backend(env, buffer->backend, stream->backend, "stream");
  check(env, buffer->backend->memory->memset_async(buffer->buffer, offset, value & 0xff, bytes,
                                                   stream->stream),
        buffer->backend, "memset");
  auto baton = std::make_unique<Baton>();
  baton->buffers.push_back(std::move(buffer));
  release_after(stream, std::move(baton));
}

void Storage::Write(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  BufferRef buffer = ref(env);
  if (!info[0].IsTypedArray() && !info[0].IsDataView()) {
    throw_type_error(env, "source", "a TypedArray or DataView");
  }
  const auto view = info[0].As<Napi::Object>();
  Napi::ArrayBuffer array_buffer = view.Get("buffer").As<Napi::ArrayBuffer>();
  const size_t view_offset = view.Get("byteOffset").As<Napi::Number>().Int64Value();
  const size_t view_bytes = view.Get("byteLength").As<Napi::Number>().Int64Value();
  const size_t dst_offset = arg_size(info, 1, "dstOffset");
  StreamRef stream = arg_stream(info, 2, "stream");
  check_range(env, dst_offset, view_bytes, bytes_, "dstOffset");
  require_same_backend(env, buffer->backend, stream->backend, "stream");
  auto baton = std::make_unique<Baton>();
  const auto *source = static_cast<const uint8_t *>(array_buffer.Data()) + view_offset;
  baton->staging.assign(source, source + view_bytes);
  check(env, buffer->backend->memory->copy_h2d_async(buffer->buffer, dst_offset,
                                                     baton->staging.data(), view_bytes,
                                                     stream->stream),
        buffer->backend, "copy host to device");
  baton->buffers.push_back(std::move(buffer));
  release_after(stream, std::move(baton));
}

// Completion flag set by a stream callback and awaited off the JS thread.
struct ReadState {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  std::vector<uint8_t> data;
  BufferRef buffer;
};

Napi::Value Storage::Read(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  BufferRef buffer = ref(env);
  const size_t src_offset = arg_size(info, 0, "srcOffset");
  const size_t bytes = arg_size(info, 1, "bytes");
  StreamRef stream = arg_stream(info, 2, "stream");
  check_range(env, src_offset, bytes, bytes_, "srcOffset");
  require_same_backend(env, buffer->backend, stream->backend, "stream");
  auto state = std::make_shared<ReadState>();
  state->data.resize(bytes);
  state->buffer = buffer;
  const prophet_backend_i *backend = buffer->backend;
  check(env, backend->memory->copy_d2h_async(state->data.data(), buffer->buffer, src_offset, bytes,
                                             stream->stream),
        backend, "copy device to host");
  // The callback owns one reference to the state until it has run.
  auto *callback_ref = new std::shared_ptr<ReadState>(state);
  check(env, backend->stream->launch_host_func(
                 stream->stream,
                 [](void *user) {
                   auto *ref = static_cast<std::shared_ptr<ReadState> *>(user);
                   {
                     std::lock_guard<std::mutex> lock((*ref)->mutex);
                     (*ref)->done = true;
                     (*ref)->buffer.reset();
                   }
                   (*ref)->cv.notify_all();
                   delete ref;
                 },
                 callback_ref),
        backend, "read completion");
  return run_async(
      env, "read", backend,
      [state] {
        std::unique_lock<std::mutex> lock(state->mutex);
        state->cv.wait(lock, [&] { return state->done; });
        return PROPHET_OK;
      },
      [state](Napi::Env result_env) -> Napi::Value {
        // An external buffer over a NULL pointer would be born detached.
        if (state->data.empty()) return Napi::ArrayBuffer::New(result_env, 0);
        auto *owned = new std::vector<uint8_t>(std::move(state->data));
        return Napi::ArrayBuffer::New(
            result_env, owned->data(), owned->size(),
            [](Napi::Env, void *, std::vector<uint8_t> *hint) { delete hint; }, owned);
      });
}

Napi::Value Storage::HostView(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  BufferRef buffer = ref(env);
  if (!view_.IsEmpty()) return view_.Value();
  void *host = buffer->backend->buffer->host_ptr(buffer->buffer);
  if (host == nullptr) {
    Napi::Error error = Napi::Error::New(
        env, std::string("memory of backend '") + buffer->backend->name +
                 "' is not host-addressable; copy it with read()/toArray()");
    error.Set("code", Napi::String::New(env, "ENOTSUP"));
    throw error;
  }
  auto *keep_alive = new BufferRef(buffer);
  Napi::ArrayBuffer view = Napi::ArrayBuffer::New(
      env, host, bytes_, [](Napi::Env, void *, BufferRef *hint) { delete hint; }, keep_alive);
  view_ = Napi::Persistent(view);
  return view;
}

void Storage::Dispose(const Napi::CallbackInfo &info) { release(info.Env()); }

Napi::Value Storage::Disposed(const Napi::CallbackInfo &info) {
  return Napi::Boolean::New(info.Env(), !buffer_);
}

Napi::Value Storage::Bytes(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), static_cast<double>(bytes_));
}

Napi::Value Storage::BackendName(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), backend_name_);
}

Napi::Value Storage::Address(const Napi::CallbackInfo &info) {
  BufferRef buffer = ref(info.Env());
  const auto address =
      reinterpret_cast<uintptr_t>(buffer->backend->buffer->device_ptr(buffer->buffer));
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(address));
}

void copy_storage(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  BufferRef dst = arg_storage(info, 0, "dst");
  const size_t dst_offset = arg_size(info, 1, "dstOffset");
  BufferRef src = arg_storage(info, 2, "src");
  const size_t src_offset = arg_size(info, 3, "srcOffset");
  const size_t bytes = arg_size(info, 4, "bytes");
  StreamRef stream = arg_stream(info, 5, "stream");
  require_same_backend(env, dst->backend, src->backend, "src");
  require_same_backend(env, dst->backend, stream->backend, "stream");
  check_range(env, dst_offset, bytes, dst->bytes, "dstOffset");
  check_range(env, src_offset, bytes, src->bytes, "srcOffset");
  check(env, dst->backend->memory->copy_d2d_async(dst->buffer, dst_offset, src->buffer, src_offset,
                                                  bytes, stream->stream),
        dst->backend, "copy device to device");
  auto baton = std::make_unique<Baton>();
  baton->buffers.push_back(std::move(dst));
  baton->buffers.push_back(std::move(src));
  release_after(stream, std::move(baton));
}

}  // namespace prophet::addon
