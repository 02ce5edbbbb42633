// JS handle of one rank's communicator (any backend). Every collective method unwraps and checks
// its arguments, pins the buffers in the queued task and enqueues the blocking collective on the
// given stream (native/comm/stream_ordered.h); failures surface at the stream's synchronize().
#pragma once

#include <napi.h>

#include <memory>

#include "../comm/communicator.h"

namespace prophet::addon {

class CommunicatorWrap : public Napi::ObjectWrap<CommunicatorWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Wraps `comm` in a new JS object made by `ctor` (the function Define returned).
  static Napi::Object Wrap(Napi::Env env, const Napi::Function &ctor,
                           std::shared_ptr<comm::Communicator> comm);
  explicit CommunicatorWrap(const Napi::CallbackInfo &info);  // (External<shared_ptr<...>>)

 private:
  std::shared_ptr<comm::Communicator> ref(Napi::Env env) const;

  Napi::Value Rank(const Napi::CallbackInfo &info);
  Napi::Value Size(const Napi::CallbackInfo &info);
  Napi::Value Backend(const Napi::CallbackInfo &info);
  Napi::Value Disposed(const Napi::CallbackInfo &info);
  // (send, recv, layout: Float64Array [sendOffsets, sendBytes, recvOffsets, recvBytes] x size,
  //  stream, timeoutMs)
  void AllToAllV(const Napi::CallbackInfo &info);
  // (send, bytes, recv, stream, timeoutMs); recv holds size * bytes
  void AllGather(const Napi::CallbackInfo &info);
  // (data, bytes, root, members[], stream, timeoutMs)
  void Broadcast(const Napi::CallbackInfo &info);
  // (data, count, root, members[], stream, timeoutMs); f32 sum at root
  void Reduce(const Napi::CallbackInfo &info);
  // (data, count, stream, timeoutMs); f32 sum in place
  void AllReduce(const Napi::CallbackInfo &info);
  // (stream, timeoutMs)
  void Barrier(const Napi::CallbackInfo &info);
  void Dispose(const Napi::CallbackInfo &info);

  std::shared_ptr<comm::Communicator> comm_;
  int rank_ = 0;
  int size_ = 0;
  std::string backend_;
};

}  // namespace prophet::addon
