#include "comm_communicator.h"

#include <algorithm>
#include <cmath>

#include "../comm/stream_ordered.h"
#include "args.h"
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
  HostBuffer buffer{arg_storage(info, index, name), nullptr};
  buffer.data = static_cast<uint8_t *>(buffer.ref->backend->buffer->host_ptr(buffer.ref->buffer));
  if (buffer.data == nullptr) {
    Napi::Error error = Napi::Error::New(
        env, std::string(name) + ": this communicator needs host memory, but the tensor is on '" +
                 buffer.ref->backend->name + "'");
    error.Set("code", Napi::String::New(env, "ENOTSUP"));
    throw error;
  }
  if (bytes_needed > buffer.ref->bytes) {
    throw_range_error(env, name,
                      "the collective needs " + std::to_string(bytes_needed) +
                          " bytes but the storage has " + std::to_string(buffer.ref->bytes));
  }
  return buffer;
}

// An all-to-all-v layout from a Float64Array of 4 * size byte counts: [sendOffsets, sendBytes,
// recvOffsets, recvBytes]. One typed array instead of four JS arrays keeps the call cheap.
std::shared_ptr<comm::AllToAllVLayout> arg_layout(const Napi::CallbackInfo &info, size_t index,
                                                  size_t size) {
  Napi::Env env = info.Env();
  if (!info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw_type_error(env, "layout", "a Float64Array");
  }
  Napi::Float64Array array = info[index].As<Napi::Float64Array>();
  if (array.ElementLength() != 4 * size) {
    throw_range_error(env, "layout", "expected " + std::to_string(4 * size) + " entries");
  }
  std::vector<size_t> values(4 * size);
  for (size_t i = 0; i < values.size(); ++i) {
    const double number = array[i];
    if (!(number >= 0) || number > 9007199254740991.0 || std::floor(number) != number) {
      throw_range_error(env, "layout", "entry " + std::to_string(i) + " is not a byte count");
    }
    values[i] = static_cast<size_t>(number);
  }
  auto layout = std::make_shared<comm::AllToAllVLayout>();
  auto part = [&](size_t k) {
    return std::vector<size_t>(values.begin() + k * size, values.begin() + (k + 1) * size);
  };
  layout->send_offsets = part(0);
  layout->send_bytes = part(1);
  layout->recv_offsets = part(2);
  layout->recv_bytes = part(3);
  return layout;
}

// root + a sorted, unique member list within [0, size) containing root.
comm::Subset arg_subset(const Napi::CallbackInfo &info, size_t root_index, size_t members_index,
                        int size) {
  Napi::Env env = info.Env();
  comm::Subset subset;
  subset.root = arg_int(info, root_index, "root");
  if (subset.root < 0 || subset.root >= size) throw_range_error(env, "root", "not a rank");
  if (!info[members_index].IsArray()) throw_type_error(env, "members", "an array of ranks");
  Napi::Array array = info[members_index].As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value v = array.Get(i);
    const double rank = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(rank >= 0 && rank < size) || rank != static_cast<int>(rank)) {
      throw_range_error(env, "members", "entry " + std::to_string(i) + " is not a rank");
    }
    subset.members.push_back(static_cast<int>(rank));
  }
  if (!std::is_sorted(subset.members.begin(), subset.members.end()) ||
      std::adjacent_find(subset.members.begin(), subset.members.end()) != subset.members.end()) {
    throw_range_error(env, "members", "expected ascending ranks without repeats");
  }
  if (!subset.contains(subset.root)) throw_range_error(env, "members", "must contain root");
  return subset;
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
  comm_ = *info[0].As<Napi::External<CommRef>>().Data();
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
  size_t send_end = 0, recv_end = 0;
  for (size_t p = 0; p < n; ++p) {
    send_end = std::max(send_end, layout->send_offsets[p] + layout->send_bytes[p]);
    recv_end = std::max(recv_end, layout->recv_offsets[p] + layout->recv_bytes[p]);
  }
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
