#include "event.h"

#include "args.h"
#include "errors.h"
#include "worker.h"

namespace prophet::addon {

Napi::Function Event::Define(Napi::Env env) {
  return DefineClass(env, "Event",
                     {
                         InstanceMethod<&Event::Record>("record"),
                         InstanceMethod<&Event::StreamWait>("streamWait"),
                         InstanceMethod<&Event::Synchronize>("synchronize"),
                         InstanceMethod<&Event::Query>("query"),
                         InstanceMethod<&Event::ElapsedMs>("elapsedMs"),
                         InstanceMethod<&Event::Dispose>("dispose"),
                         InstanceAccessor<&Event::Disposed>("disposed"),
                     });
}

Event::Event(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Event>(info) {
  Napi::Env env = info.Env();
  const prophet_backend_i *backend = backend_by_name(env, info[0], "backend");
  const int device = arg_int(info, 1, "device");
  if (!info[2].IsBoolean()) throw_type_error(env, "timing", "a boolean");
  const unsigned flags =
      info[2].As<Napi::Boolean>().Value() ? PROPHET_EVENT_TIMING : PROPHET_EVENT_DEFAULT;
  prophet_event_t event = nullptr;
  check(env, backend->event->create(device, flags, &event), backend, "event create");
  event_ = std::make_shared<EventHandle>(backend, event);
}

EventRef Event::ref(Napi::Env env) const {
  if (!event_) throw_disposed(env, "Event");
  return event_;
}

void Event::Record(const Napi::CallbackInfo &info) {
  EventRef event = ref(info.Env());
  StreamRef stream = arg_stream(info, 0, "stream");
  require_same_backend(info.Env(), event->backend, stream->backend, "stream");
  check(info.Env(), event->backend->event->record(event->event, stream->stream), event->backend,
        "event record");
}

void Event::StreamWait(const Napi::CallbackInfo &info) {
  EventRef event = ref(info.Env());
  StreamRef stream = arg_stream(info, 0, "stream");
  require_same_backend(info.Env(), event->backend, stream->backend, "stream");
  check(info.Env(), event->backend->event->stream_wait(stream->stream, event->event),
        event->backend, "stream wait event");
}

Napi::Value Event::Synchronize(const Napi::CallbackInfo &info) {
  EventRef event = ref(info.Env());
  return run_async(info.Env(), "event synchronize", event->backend,
                   [event] { return event->backend->event->synchronize(event->event); });
}

Napi::Value Event::Query(const Napi::CallbackInfo &info) {
  EventRef event = ref(info.Env());
  const prophet_status_t status = event->backend->event->query(event->event);
  if (status != PROPHET_ERR_NOT_READY) check(info.Env(), status, event->backend, "event query");
  return Napi::Boolean::New(info.Env(), status == PROPHET_OK);
}

Napi::Value Event::ElapsedMs(const Napi::CallbackInfo &info) {
  EventRef start = ref(info.Env());
  EventRef end = arg_event(info, 0, "end");
  require_same_backend(info.Env(), start->backend, end->backend, "end");
  double ms = 0;
  check(info.Env(), start->backend->event->elapsed_ms(start->event, end->event, &ms),
        start->backend, "event elapsed time");
  return Napi::Number::New(info.Env(), ms);
}

void Event::Dispose(const Napi::CallbackInfo &) { event_.reset(); }

Napi::Value Event::Disposed(const Napi::CallbackInfo &info) {
  return Napi::Boolean::New(info.Env(), !event_);
}

}  // namespace prophet::addon
