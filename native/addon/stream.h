// JS handle of a backend stream.
#pragma once

#include <napi.h>

#include "handles.h"

namespace prophet::addon {

class Stream : public Napi::ObjectWrap<Stream> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Stream(const Napi::CallbackInfo &info);  // (backend, device, priority)

  // The live handle; throws EDISPOSED after dispose().
  StreamRef ref(Napi::Env env) const;

 private:
  Napi::Value Synchronize(const Napi::CallbackInfo &info);  // -> Promise<void>
  void SynchronizeSync(const Napi::CallbackInfo &info);
  Napi::Value Query(const Napi::CallbackInfo &info);        // -> boolean (idle)
  void Dispose(const Napi::CallbackInfo &info);
  Napi::Value Disposed(const Napi::CallbackInfo &info);
  Napi::Value Priority(const Napi::CallbackInfo &info);

  StreamRef stream_;
  int priority_ = 0;
};

}  // namespace prophet::addon
