#include "comm_communicator.h"

#include <algorithm>
#include <cmath>

#include "../comm/stream_ordered.h"
#include "args.h"
#include "comm_args.h"
#include "errors.h"

namespace prophet::addon {
namespace {

using CommRef = std::shared_ptr<comm::Communicator>;

// A storage argument as host memory; collectives of CPU backends need host-addressable buffers.
struct HostBuffer {
  BufferRef ref;
  uint8_t *data = nullptr;
};

HostBuffer arg_host_buffer(const Napi::CallbackInfo &info, size_t index, const char *name,
                           size_t bytes_needed) {
  Napi::Env env = info.Env();
  HostBuffer buffer{arg_collective_storage(info, index, name, bytes_needed), nullptr};
  buffer.data = static_cast<uint8_t *>(buffer.ref->backend->buffer->host_ptr(buffer.ref->buffer));
  if (buffer.data == nullptr) {
    Napi::Error error = Napi::Error::New(
        env, std::string(name) + ": this communicator needs host memory, but the tensor is on '" +
                 buffer.ref->backend->name + "'");
    error.Set("code", Napi::String::New(env, "ENOTSUP"));
    throw error;
  }
  return buffer;
}

comm::Call arg_call(const Napi::CallbackInfo &info, size_t timeout_index, comm::Communicator &c) {
  const int timeout_ms = arg_int(info, timeout_index, "timeoutMs");
  if (timeout_ms < 0) throw_range_error(info.Env(), "timeoutMs", "expected >= 0");
  return {c.next_sequence(), timeout_ms};
}

void enqueue(Napi::Env env, const StreamRef &stream, const char *op,
             std::function<comm::Status()> collective) {
  const comm::Status status =
      comm::enqueue_collective(stream->backend, stream->stream, std::move(collective));
  if (!status.ok()) throw status_error(env, status.code, stream->backend, op, status.message);
}

}  // namespace

Napi::Function CommunicatorWrap::Define(Napi::Env env) {
  return DefineClass(env, "Communicator",
                     {
                         InstanceAccessor<&CommunicatorWrap::Rank>("rank"),
                         InstanceAccessor<&CommunicatorWrap::Size>("size"),
                         InstanceAccessor<&CommunicatorWrap::Backend>("backend"),
                         InstanceAccessor<&CommunicatorWrap::Disposed>("disposed"),
                         InstanceMethod<&CommunicatorWrap::AllToAllV>("allToAllV"),
                         InstanceMethod<&CommunicatorWrap::AllGather>("allGather"),
                         InstanceMethod<&CommunicatorWrap::Broadcast>("broadcast"),
                         InstanceMethod<&CommunicatorWrap::Reduce>("reduce"),
                         InstanceMethod<&CommunicatorWrap::AllReduce>("allReduce"),
                         InstanceMethod<&CommunicatorWrap::Barrier>("barrier"),
                         InstanceMethod<&CommunicatorWrap::Dispose>("dispose"),
                     });
}

Napi::Object CommunicatorWrap::Wrap(Napi::Env env, const Napi::Function &ctor, CommRef comm) {
  auto external = Napi::External<CommRef>::New(
      env, new CommRef(std::move(comm)), [](Napi::Env, CommRef *owned) { delete owned; });
  return ctor.New({external});
}

CommunicatorWrap::CommunicatorWrap(const Napi::CallbackInfo &info)
    : Napi::ObjectWrap<CommunicatorWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "Communicator objects are made by createLocalWorld() "
                                           "or createProcessGroup()");
  }
  // Moved out, not copied: dispose() must drop the last reference, not wait for the GC to
  // collect the External.
  comm_ = std::move(*info[0].As<Napi::External<CommRef>>().Data());
  rank_ = comm_->rank();
  size_ = comm_->size();
  backend_ = comm_->backend_name();
}

CommRef CommunicatorWrap::ref(Napi::Env env) const {
  if (!comm_) throw_disposed(env, "Communicator");
  return comm_;
}

Napi::Value CommunicatorWrap::Rank(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), rank_);
}
Napi::Value CommunicatorWrap::Size(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), size_);
}
Napi::Value CommunicatorWrap::Backend(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), backend_);
}
Napi::Value CommunicatorWrap::Disposed(const Napi::CallbackInfo &info) {
  return Napi::Boolean::New(info.Env(), !comm_);
}

void CommunicatorWrap::AllToAllV(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CommRef comm = ref(env);
  const size_t n = static_cast<size_t>(size_);
  std::shared_ptr<comm::AllToAllVLayout> layout = arg_layout(info, 2, n);
  const auto [send_end, recv_end] = layout_extent(*layout);
  HostBuffer send = arg_host_buffer(info, 0, "send", send_end);
  HostBuffer recv = arg_host_buffer(info, 1, "recv", recv_end);
  StreamRef stream = arg_stream(info, 3, "stream");
  const comm::Call call = arg_call(info, 4, *comm);
  enqueue(env, stream, "allToAllV", [comm, call, send, recv, layout] {
    return comm->all_to_all_v(call, send.data, recv.data, *layout);
  });
}

void CommunicatorWrap::AllGather(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CommRef comm = ref(env);
  const size_t bytes = arg_size(info, 1, "bytes");
  HostBuffer send = arg_host_buffer(info, 0, "send", bytes);
  HostBuffer recv = arg_host_buffer(info, 2, "recv", bytes * static_cast<size_t>(size_));
  StreamRef stream = arg_stream(info, 3, "stream");
  const comm::Call call = arg_call(info, 4, *comm);
  enqueue(env, stream, "allGather", [comm, call, send, recv, bytes] {
    return comm->all_gather(call, send.data, bytes, recv.data);
  });
}

void CommunicatorWrap::Broadcast(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CommRef comm = ref(env);
  const size_t bytes = arg_size(info, 1, "bytes");
  HostBuffer data = arg_host_buffer(info, 0, "data", bytes);
  auto subset = std::make_shared<comm::Subset>(arg_subset(info, 2, 3, size_));
  StreamRef stream = arg_stream(info, 4, "stream");
  const comm::Call call = arg_call(info, 5, *comm);
  if (!subset->contains(rank_)) return;  // non-members only consume the sequence number
  enqueue(env, stream, "broadcast", [comm, call, data, bytes, subset] {
    return comm->broadcast(call, data.data, bytes, *subset);
  });
}

void CommunicatorWrap::Reduce(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CommRef comm = ref(env);
  const size_t count = arg_size(info, 1, "count");
  HostBuffer data = arg_host_buffer(info, 0, "data", count * sizeof(float));
  auto subset = std::make_shared<comm::Subset>(arg_subset(info, 2, 3, size_));
  StreamRef stream = arg_stream(info, 4, "stream");
  const comm::Call call = arg_call(info, 5, *comm);
  if (!subset->contains(rank_)) return;
  enqueue(env, stream, "reduce", [comm, call, data, count, subset] {
    return comm->reduce_sum_f32(call, reinterpret_cast<float *>(data.data), count, *subset);
  });
}

void CommunicatorWrap::AllReduce(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CommRef comm = ref(env);
  const size_t count = arg_size(info, 1, "count");
  HostBuffer data = arg_host_buffer(info, 0, "data", count * sizeof(float));
  StreamRef stream = arg_stream(info, 2, "stream");
  const comm::Call call = arg_call(info, 3, *comm);
  enqueue(env, stream, "allReduce", [comm, call, data, count] {
    return comm->all_reduce_sum_f32(call, reinterpret_cast<float *>(data.data), count);
  });
}

void CommunicatorWrap::Barrier(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CommRef comm = ref(env);
  StreamRef stream = arg_stream(info, 0, "stream");
  const comm::Call call = arg_call(info, 1, *comm);
  enqueue(env, stream, "barrier", [comm, call] { return comm->barrier(call); });
}

// Idempotent. Queued collectives keep the communicator alive until they ran.
void CommunicatorWrap::Dispose(const Napi::CallbackInfo &) { comm_.reset(); }

}  // namespace prophet::addon
