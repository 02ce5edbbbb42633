#include "nccl_communicator_binding.h"

#include <string>
#include <tuple>

#include "args.h"
#include "comm_args.h"
#include "errors.h"

namespace prophet::addon {
namespace {

using CommRef = std::shared_ptr<comm::NcclCommunicator>;

Napi::Error not_cuda(Napi::Env env, const std::string &name, const char *backend_name) {
  Napi::Error error = Napi::Error::New(
      env, name + ": the NCCL communicator needs CUDA memory and streams, but this one is on '" +
               backend_name + "'");
  error.Set("code", Napi::String::New(env, "ENOTSUP"));
  return error;
}

// A storage argument as a CUDA device pointer with room for `bytes_needed`.
std::pair<BufferRef, void *> arg_device_buffer(const Napi::CallbackInfo &info, size_t index,
                                               const char *name, size_t bytes_needed) {
  BufferRef ref = arg_collective_storage(info, index, name, bytes_needed);
  if (std::string(ref->backend->name) != "cuda") throw not_cuda(info.Env(), name, ref->backend->name);
  return {ref, ref->backend->buffer->device_ptr(ref->buffer)};
}

StreamRef arg_cuda_stream(const Napi::CallbackInfo &info, size_t index) {
  StreamRef stream = arg_stream(info, index, "stream");
  if (std::string(stream->backend->name) != "cuda") {
    throw not_cuda(info.Env(), "stream", stream->backend->name);
  }
  return stream;
}

// The stream, the call's number and timeout, and what must outlive the queued work.
template <typename... Held>
comm::NcclLaunch launch_of(const Napi::CallbackInfo &info, size_t timeout_index,
                           comm::NcclCommunicator &comm, const StreamRef &stream, Held... held) {
  const int timeout_ms = arg_int(info, timeout_index, "timeoutMs");
  if (timeout_ms < 0) throw_range_error(info.Env(), "timeoutMs", "expected >= 0");
  comm::NcclLaunch launch;
  launch.stream = stream->stream;
  launch.keepalive = std::make_shared<std::tuple<StreamRef, Held...>>(stream, held...);
  launch.call = {comm.next_sequence(), timeout_ms};
  return launch;
}

void check_queued(Napi::Env env, const comm::Status &status, const StreamRef &stream,
                  const char *op) {
  if (!status.ok()) throw status_error(env, status.code, stream->backend, op, status.message);
}

}  // namespace

Napi::Function NcclCommunicatorWrap::Define(Napi::Env env) {
  return DefineClass(env, "NcclCommunicator",
                     {
                         InstanceAccessor<&NcclCommunicatorWrap::Rank>("rank"),
                         InstanceAccessor<&NcclCommunicatorWrap::Size>("size"),
                         InstanceAccessor<&NcclCommunicatorWrap::Backend>("backend"),
                         InstanceAccessor<&NcclCommunicatorWrap::Disposed>("disposed"),
                         InstanceMethod<&NcclCommunicatorWrap::AllToAllV>("allToAllV"),
                         InstanceMethod<&NcclCommunicatorWrap::AllGather>("allGather"),
                         InstanceMethod<&NcclCommunicatorWrap::Broadcast>("broadcast"),
                         InstanceMethod<&NcclCommunicatorWrap::Reduce>("reduce"),
                         InstanceMethod<&NcclCommunicatorWrap::AllReduce>("allReduce"),
                         InstanceMethod<&NcclCommunicatorWrap::Barrier>("barrier"),
                         InstanceMethod<&NcclCommunicatorWrap::Dispose>("dispose"),
                     });
}

Napi::Object NcclCommunicatorWrap::Wrap(Napi::Env env, const Napi::Function &ctor, CommRef comm) {
  auto external = Napi::External<CommRef>::New(
      env, new CommRef(std::move(comm)), [](Napi::Env, CommRef *owned) { delete owned; });
  return ctor.New({external});
}

NcclCommunicatorWrap::NcclCommunicatorWrap(const Napi::CallbackInfo &info)
    : Napi::ObjectWrap<NcclCommunicatorWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "NcclCommunicator objects are made by ncclCommunicator()");
  }
  // Moved out, not copied: dispose() must drop the last reference, not wait for the GC to
  // collect the External.
  comm_ = std::move(*info[0].As<Napi::External<CommRef>>().Data());
  rank_ = comm_->rank();
  size_ = comm_->size();
}

CommRef NcclCommunicatorWrap::ref(Napi::Env env) const {
  if (!comm_) throw_disposed(env, "NcclCommunicator");
  return comm_;
}

Napi::Value NcclCommunicatorWrap::Rank(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), rank_);
}
Napi::Value NcclCommunicatorWrap::Size(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), size_);
}
Napi::Value NcclCommunicatorWrap::Backend(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), "nccl");
}
Napi::Value NcclCommunicatorWrap::Disposed(const Napi::CallbackInfo &info) {
  return Napi::Boolean::New(info.Env(), !comm_);
}

void NcclCommunicatorWrap::AllToAllV(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CommRef comm = ref(env);
  std::shared_ptr<comm::AllToAllVLayout> layout = arg_layout(info, 2, static_cast<size_t>(size_));
  const auto [send_end, recv_end] = layout_extent(*layout);
  auto [send, send_ptr] = arg_device_buffer(info, 0, "send", send_end);
  auto [recv, recv_ptr] = arg_device_buffer(info, 1, "recv", recv_end);
  StreamRef stream = arg_cuda_stream(info, 3);
  const comm::NcclLaunch launch = launch_of(info, 4, *comm, stream, send, recv);
  check_queued(env, comm->all_to_all_v(launch, send_ptr, recv_ptr, *layout), stream, "allToAllV");
}

void NcclCommunicatorWrap::AllGather(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CommRef comm = ref(env);
  const size_t bytes = arg_size(info, 1, "bytes");
  auto [send, send_ptr] = arg_device_buffer(info, 0, "send", bytes);
  auto [recv, recv_ptr] = arg_device_buffer(info, 2, "recv", bytes * static_cast<size_t>(size_));
  StreamRef stream = arg_cuda_stream(info, 3);
  const comm::NcclLaunch launch = launch_of(info, 4, *comm, stream, send, recv);
  check_queued(env, comm->all_gather(launch, send_ptr, bytes, recv_ptr), stream, "allGather");
}

void NcclCommunicatorWrap::Broadcast(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CommRef comm = ref(env);
  const size_t bytes = arg_size(info, 1, "bytes");
  auto [data, data_ptr] = arg_device_buffer(info, 0, "data", bytes);
  const comm::Subset subset = arg_subset(info, 2, 3, size_);
  StreamRef stream = arg_cuda_stream(info, 4);
  // Non-members call through too: the first use of a member list is a collective split.
  const comm::NcclLaunch launch = launch_of(info, 5, *comm, stream, data);
  check_queued(env, comm->broadcast(launch, data_ptr, bytes, subset), stream, "broadcast");
}

void NcclCommunicatorWrap::Reduce(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CommRef comm = ref(env);
  const size_t count = arg_size(info, 1, "count");
  auto [data, data_ptr] = arg_device_buffer(info, 0, "data", count * sizeof(float));
  const comm::Subset subset = arg_subset(info, 2, 3, size_);
  StreamRef stream = arg_cuda_stream(info, 4);
  const comm::NcclLaunch launch = launch_of(info, 5, *comm, stream, data);
  check_queued(env,
               comm->reduce_sum_f32(launch, static_cast<float *>(data_ptr), count, subset),
               stream, "reduce");
}

void NcclCommunicatorWrap::AllReduce(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CommRef comm = ref(env);
  const size_t count = arg_size(info, 1, "count");
  auto [data, data_ptr] = arg_device_buffer(info, 0, "data", count * sizeof(float));
  StreamRef stream = arg_cuda_stream(info, 2);
  const comm::NcclLaunch launch = launch_of(info, 3, *comm, stream, data);
  check_queued(env, comm->all_reduce_sum_f32(launch, static_cast<float *>(data_ptr), count),
               stream, "allReduce");
}

void NcclCommunicatorWrap::Barrier(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  CommRef comm = ref(env);
  StreamRef stream = arg_cuda_stream(info, 0);
  const comm::NcclLaunch launch = launch_of(info, 1, *comm, stream);
  check_queued(env, comm->barrier(launch), stream, "barrier");
}

void NcclCommunicatorWrap::Dispose(const Napi::CallbackInfo &) { comm_.reset(); }

}  // namespace prophet::addon
