// JS handle of backend memory: the storage under a TypeScript Tensor.
#pragma once

#include <napi.h>

#include "handles.h"

namespace prophet::addon {

class Storage : public Napi::ObjectWrap<Storage> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Storage(const Napi::CallbackInfo &info);  // (backend, device, bytes)
  void Finalize(Napi::Env env) override;

  BufferRef ref(Napi::Env env) const;

 private:
  // (offset, bytes, value, stream): stream-ordered memset of bytes to `value & 0xff`.
  void Fill(const Napi::CallbackInfo &info);
  // (source: ArrayBufferView, dstOffset, stream): the bytes are staged at call time, so the
  // caller may reuse `source` at once.
  void Write(const Napi::CallbackInfo &info);
  // (srcOffset, bytes, stream) -> Promise<ArrayBuffer> once the copy has run.
  Napi::Value Read(const Napi::CallbackInfo &info);
  // () -> ArrayBuffer over the memory itself (host-addressable backends only). The view keeps
  // the memory alive after dispose(); reads race with queued work unless the stream is synced.
  Napi::Value HostView(const Napi::CallbackInfo &info);
  void Dispose(const Napi::CallbackInfo &info);
  Napi::Value Disposed(const Napi::CallbackInfo &info);
  Napi::Value Bytes(const Napi::CallbackInfo &info);
  Napi::Value BackendName(const Napi::CallbackInfo &info);
  Napi::Value Address(const Napi::CallbackInfo &info);  // device address as a BigInt

  void release(Napi::Env env);

  BufferRef buffer_;
  size_t bytes_ = 0;
  const char *backend_name_ = "";
  Napi::Reference<Napi::ArrayBuffer> view_;  // at most one external view per allocation
};

// copy(dst, dstOffset, src, srcOffset, bytes, stream): device-to-device, stream-ordered.
void copy_storage(const Napi::CallbackInfo &info);

}  // namespace prophet::addon
