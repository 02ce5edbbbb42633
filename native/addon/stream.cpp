#include "stream.h"

#include "args.h"
#include "errors.h"
#include "worker.h"

namespace prophet::addon {

Napi::Function Stream::Define(Napi::Env env) {
  return DefineClass(env, "Stream",
                     {
                         InstanceMethod<&Stream::Synchronize>("synchronize"),
                         InstanceMethod<&Stream::SynchronizeSync>("synchronizeSync"),
                         InstanceMethod<&Stream::Query>("query"),
                         InstanceMethod<&Stream::Dispose>("dispose"),
                         InstanceAccessor<&Stream::Disposed>("disposed"),
                         InstanceAccessor<&Stream::Priority>("priority"),
                     });
}

Stream::Stream(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Stream>(info) {
  Napi::Env env = info.Env();
  const prophet_backend_i *backend = backend_by_name(env, info[0], "backend");
  const int device = arg_int(info, 1, "device");
  const int priority = arg_int(info, 2, "priority");
  prophet_stream_t stream = nullptr;
  check(env, backend->stream->create(device, priority, &stream), backend, "stream create");
  stream_ = std::make_shared<StreamHandle>(backend, stream);
  int least = 0, greatest = 0;
  backend->stream->priority_range(&least, &greatest);
  priority_ = std::min(std::max(priority, greatest), least);
}

StreamRef Stream::ref(Napi::Env env) const {
  if (!stream_) throw_disposed(env, "Stream");
  return stream_;
}

Napi::Value Stream::Synchronize(const Napi::CallbackInfo &info) {
  StreamRef stream = ref(info.Env());
  return run_async(info.Env(), "stream synchronize", stream->backend,
                   [stream] { return stream->backend->stream->synchronize(stream->stream); });
}

void Stream::SynchronizeSync(const Napi::CallbackInfo &info) {
  StreamRef stream = ref(info.Env());
  check(info.Env(), stream->backend->stream->synchronize(stream->stream), stream->backend,
        "stream synchronize");
}

Napi::Value Stream::Query(const Napi::CallbackInfo &info) {
  StreamRef stream = ref(info.Env());
  const prophet_status_t status = stream->backend->stream->query(stream->stream);
  if (status != PROPHET_ERR_NOT_READY) check(info.Env(), status, stream->backend, "stream query");
  return Napi::Boolean::New(info.Env(), status == PROPHET_OK);
}

// Idempotent. The stream itself is destroyed (after draining) when the last queued operation
// that references it has released it.
void Stream::Dispose(const Napi::CallbackInfo &) { stream_.reset(); }

Napi::Value Stream::Disposed(const Napi::CallbackInfo &info) {
  return Napi::Boolean::New(info.Env(), !stream_);
}

Napi::Value Stream::Priority(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), priority_);
}

}  // namespace prophet::addon
