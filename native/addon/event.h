// JS handle of a backend event.
#pragma once

#include <napi.h>

#include "handles.h"

namespace prophet::addon {

class Event : public Napi::ObjectWrap<Event> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Event(const Napi::CallbackInfo &info);  // (backend, device, timing)

  EventRef ref(Napi::Env env) const;

 private:
  void Record(const Napi::CallbackInfo &info);       // (stream)
  void StreamWait(const Napi::CallbackInfo &info);   // (stream): the stream waits, JS does not
  Napi::Value Synchronize(const Napi::CallbackInfo &info);  // -> Promise<void>
  Napi::Value Query(const Napi::CallbackInfo &info);        // -> boolean (complete)
  Napi::Value ElapsedMs(const Napi::CallbackInfo &info);    // (end) -> ms from this to end
  void Dispose(const Napi::CallbackInfo &info);
  Napi::Value Disposed(const Napi::CallbackInfo &info);

  EventRef event_;
};

}  // namespace prophet::addon
