// JS handle of one rank's NCCL communicator: the NativeCommunicator interface of
// src/comm/native-comm.ts (the same methods and arguments as CommunicatorWrap) on CUDA memory and
// CUDA streams. Each method unwraps and checks its arguments, then queues NCCL's work on the
// stream (native/comm/nccl_communicator.h); a call that cannot be queued throws at once, a
// timeout or NCCL failure while running surfaces at the stream's synchronize().
#pragma once

#include <napi.h>

#include <memory>

#include "../comm/nccl_communicator.h"

namespace prophet::addon {

class NcclCommunicatorWrap : public Napi::ObjectWrap<NcclCommunicatorWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Wraps `comm` in a new JS object made by `ctor` (the function Define returned).
  static Napi::Object Wrap(Napi::Env env, const Napi::Function &ctor,
                           std::shared_ptr<comm::NcclCommunicator> comm);
  explicit NcclCommunicatorWrap(const Napi::CallbackInfo &info);  // (External<shared_ptr<...>>)

 private:
  std::shared_ptr<comm::NcclCommunicator> ref(Napi::Env env) const;

  Napi::Value Rank(const Napi::CallbackInfo &info);
  Napi::Value Size(const Napi::CallbackInfo &info);
  Napi::Value Backend(const Napi::CallbackInfo &info);
  Napi::Value Disposed(const Napi::CallbackInfo &info);
  void AllToAllV(const Napi::CallbackInfo &info);  // (send, recv, layout, stream, timeoutMs)
  void AllGather(const Napi::CallbackInfo &info);  // (send, bytes, recv, stream, timeoutMs)
  void Broadcast(const Napi::CallbackInfo &info);  // (data, bytes, root, members, stream, timeoutMs)
  void Reduce(const Napi::CallbackInfo &info);     // (data, count, root, members, stream, timeoutMs)
  void AllReduce(const Napi::CallbackInfo &info);  // (data, count, stream, timeoutMs)
  void Barrier(const Napi::CallbackInfo &info);    // (stream, timeoutMs)
  // Idempotent. Drops this handle; the communicator is destroyed once queued calls finished.
  void Dispose(const Napi::CallbackInfo &info);

  std::shared_ptr<comm::NcclCommunicator> comm_;
  int rank_ = 0;
  int size_ = 0;
};

}  // namespace prophet::addon
