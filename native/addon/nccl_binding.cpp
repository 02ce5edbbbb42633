// NCCL bindings, registered by register_nccl() (one call in addon.cpp): ncclLoad, ncclUniqueId,
// ncclInitRank, the NcclComm handle and ncclCommunicator (an NcclComm turned into a communicator
// with collectives, nccl_communicator_binding.h). Bindings only: the search order is built by
// src/comm/nccl.ts; this file unwraps arguments, calls the loader and turns NCCL results into
// Errors with code ENCCL (ECUDA when the driver refuses the device).
#include <napi.h>

#include <cstring>
#include <string>
#include <vector>

#include "../comm/cuda_device.h"
#include "../comm/nccl_loader.h"
#include "errors.h"
#include "handles.h"
#include "nccl_communicator_binding.h"

namespace prophet::addon {
namespace {

using comm::NcclApi;

Napi::Error coded_error(Napi::Env env, const char *code, const std::string &message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::Error nccl_error(Napi::Env env, const std::string &message) {
  return coded_error(env, "ENCCL", message);
}

// The loaded library, or an ENCCL error telling the caller to load it first.
const NcclApi &loaded_api(Napi::Env env) {
  std::vector<std::string> unused;
  const NcclApi *api = comm::nccl_load({}, &unused);
  if (api == nullptr) throw nccl_error(env, "NCCL is not loaded: call loadNccl() first");
  return *api;
}

// ncclLoad(candidates: string[]) -> { loaded, path, version, failures }
Napi::Value nccl_load(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw_type_error(env, "candidates", "an array of strings");
  Napi::Array array = info[0].As<Napi::Array>();
  std::vector<std::string> candidates;
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) throw_type_error(env, "candidates[" + std::to_string(i) + "]", "a string");
    candidates.push_back(item.As<Napi::String>().Utf8Value());
  }
  std::vector<std::string> failures;
  const NcclApi *api = comm::nccl_load(candidates, &failures);
  Napi::Object result = Napi::Object::New(env);
  result.Set("loaded", Napi::Boolean::New(env, api != nullptr));
  result.Set("path", api != nullptr ? Napi::String::New(env, api->path) : env.Null());
  result.Set("version",
             api != nullptr ? Napi::String::New(env, comm::nccl_version_string(api->version_code))
                            : env.Null());
  result.Set("hasCommSplit", Napi::Boolean::New(env, api != nullptr && api->comm_split));
  Napi::Array list = Napi::Array::New(env, failures.size());
  for (uint32_t i = 0; i < failures.size(); i++) list.Set(i, failures[i]);
  result.Set("failures", list);
  return result;
}

// ncclUniqueId() -> Uint8Array(128). Needs no GPU: it only opens the bootstrap socket.
Napi::Value nccl_unique_id(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const NcclApi &api = loaded_api(env);
  comm::ncclUniqueId id{};
  const comm::ncclResult_t result = api.get_unique_id(&id);
  if (result != 0) throw nccl_error(env, "ncclGetUniqueId failed: " + comm::nccl_error_message(api, result));
  Napi::Uint8Array bytes = Napi::Uint8Array::New(env, comm::kNcclUniqueIdBytes);
  std::memcpy(bytes.Data(), id.internal, comm::kNcclUniqueIdBytes);
  return bytes;
}

// One NCCL communicator. destroy() is idempotent; the finalizer destroys a forgotten one.
class NcclComm : public Napi::ObjectWrap<NcclComm> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NcclComm",
                       {InstanceAccessor<&NcclComm::rank>("rank"),
                        InstanceAccessor<&NcclComm::size>("size"),
                        InstanceAccessor<&NcclComm::destroyed>("destroyed"),
                        InstanceMethod<&NcclComm::destroy>("destroy")});
  }

  // Constructed only by ncclInitRank: (External<ncclComm>, rank, size).
  explicit NcclComm(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NcclComm>(info) {
    if (info.Length() != 3 || !info[0].IsExternal()) {
      throw Napi::TypeError::New(info.Env(), "NcclComm is created by ncclInitRank()");
    }
    comm_ = info[0].As<Napi::External<comm::ncclComm>>().Data();
    rank_ = info[1].As<Napi::Number>().Int32Value();
    size_ = info[2].As<Napi::Number>().Int32Value();
  }
  ~NcclComm() override { release(); }

  comm::ncclComm_t peek() const { return comm_; }
  // Hands the NCCL communicator to a new owner; this handle then reads as destroyed.
  comm::ncclComm_t take() {
    comm::ncclComm_t comm = comm_;
    comm_ = nullptr;
    return comm;
  }
  int rank_of() const { return rank_; }
  int size_of() const { return size_; }

 private:
  Napi::Value rank(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), rank_); }
  Napi::Value size(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), size_); }
  Napi::Value destroyed(const Napi::CallbackInfo &info) {
    return Napi::Boolean::New(info.Env(), comm_ == nullptr);
  }
  Napi::Value destroy(const Napi::CallbackInfo &info) {
    release();
    return info.Env().Undefined();
  }
  void release() {
    if (comm_ == nullptr) return;
    std::vector<std::string> unused;
    const NcclApi *api = comm::nccl_load({}, &unused);
    if (api != nullptr) api->comm_destroy(comm_);
    comm_ = nullptr;
  }

  comm::ncclComm_t comm_ = nullptr;
  int rank_ = 0;
  int size_ = 0;
};

// Runs ncclCommInitRank off the JS thread (it blocks until every rank has joined), after
// making `device` current on that thread when device >= 0 (NCCL uses the current device).
class InitWorker : public Napi::AsyncWorker {
 public:
  InitWorker(Napi::Env env, const NcclApi &api, Napi::FunctionReference *ctor,
             const comm::ncclUniqueId &id, int rank, int size, int device)
      : Napi::AsyncWorker(env, "prophet:nccl-init"),
        deferred_(Napi::Promise::Deferred::New(env)),
        api_(api), ctor_(ctor), id_(id), rank_(rank), size_(size), device_(device) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    // Without a driver NCCL's own init reports the problem, in NCCL's words.
    if (device_ >= 0 && comm::select_cuda_device(device_, &device_error_) ==
                            comm::DeviceSelection::kFailed) {
      return;
    }
    result_ = api_.comm_init_rank(&comm_, size_, id_, rank_);
    if (result_ != 0) message_ = comm::nccl_error_message(api_, result_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    const std::string where = " (rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ")";
    if (!device_error_.empty()) {
      const std::string message = "cannot use CUDA device " + std::to_string(device_) + where + ": " + device_error_;
      deferred_.Reject(coded_error(env, "ECUDA", message).Value());
      return;
    }
    if (result_ != 0) {
      deferred_.Reject(nccl_error(env, "ncclCommInitRank failed" + where + ": " + message_).Value());
      return;
    }
    Napi::Object comm = ctor_->New({Napi::External<comm::ncclComm>::New(env, comm_),
                                    Napi::Number::New(env, rank_), Napi::Number::New(env, size_)});
    deferred_.Resolve(comm);
  }

  void OnError(const Napi::Error &error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  const NcclApi &api_;
  Napi::FunctionReference *ctor_;
  comm::ncclUniqueId id_;
  int rank_;
  int size_;
  int device_;
  std::string device_error_;
  comm::ncclComm_t comm_ = nullptr;
  comm::ncclResult_t result_ = 0;
  std::string message_;
};

// ncclInitRank(uniqueId: Uint8Array(128), rank, size, device) -> Promise<NcclComm>;
// device -1 keeps the thread's current device.
Napi::Value nccl_init_rank(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto *ctor = static_cast<Napi::FunctionReference *>(info.Data());
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[0].As<Napi::Uint8Array>().ElementLength() != comm::kNcclUniqueIdBytes) {
    throw_type_error(env, "uniqueId", "a Uint8Array of 128 bytes");
  }
  if (!info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
    throw_type_error(env, "rank, size, device", "numbers");
  }
  const int rank = info[1].As<Napi::Number>().Int32Value();
  const int size = info[2].As<Napi::Number>().Int32Value();
  const int device = info[3].As<Napi::Number>().Int32Value();
  if (size < 1 || rank < 0 || rank >= size) throw_range_error(env, "rank", "expected 0 <= rank < size");
  if (device < -1) throw_range_error(env, "device", "expected -1 or a device index");
  const NcclApi &api = loaded_api(env);
  comm::ncclUniqueId id{};
  std::memcpy(id.internal, info[0].As<Napi::Uint8Array>().Data(), comm::kNcclUniqueIdBytes);
  auto *worker = new InitWorker(env, api, ctor, id, rank, size, device);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

// The constructors register_nccl makes, reached through each binding's data pointer.
struct NcclConstructors {
  Napi::FunctionReference comm;
  Napi::FunctionReference communicator;
};

// ncclCommunicator(comm: NcclComm, device: number) -> NcclCommunicator. Takes ownership of the
// communicator: `comm` reads as destroyed afterwards.
Napi::Value nccl_communicator(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto *ctors = static_cast<NcclConstructors *>(info.Data());
  if (!info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(ctors->comm.Value())) {
    throw_type_error(env, "comm", "an NcclComm from ncclInitRank()");
  }
  if (!info[1].IsNumber()) throw_type_error(env, "device", "a CUDA device index");
  const int device = info[1].As<Napi::Number>().Int32Value();
  if (device < 0) throw_range_error(env, "device", "expected a CUDA device index >= 0");
  NcclComm *handle = NcclComm::Unwrap(info[0].As<Napi::Object>());
  const NcclApi &api = loaded_api(env);
  // Throws ECUDA with the loader's reason when the CUDA backend is unavailable.
  const prophet_backend_i *cuda = backend_by_name(env, Napi::String::New(env, "cuda"), "device");
  if (cuda->stream->native_handle == nullptr || cuda->stream->report_failure == nullptr) {
    throw coded_error(env, "ENOTSUP", "the CUDA backend has no native stream handles");
  }
  const int rank = handle->rank_of(), size = handle->size_of();
  comm::ncclComm_t raw = handle->peek();
  if (raw == nullptr) throw_disposed(env, "NcclComm");
  int comm_device = device;
  if (api.comm_cu_device != nullptr && api.comm_cu_device(raw, &comm_device) == 0 &&
      comm_device != device) {
    throw_range_error(env, "device",
                      "the communicator was created on CUDA device " + std::to_string(comm_device) +
                          ", not " + std::to_string(device));
  }
  auto communicator = std::make_shared<comm::NcclCommunicator>(api, cuda, raw, rank, size, device);
  handle->take();  // only now: had the construction thrown, the handle would still own it
  return NcclCommunicatorWrap::Wrap(env, ctors->communicator.Value(), std::move(communicator));
}

}  // namespace

// Declared in addon.cpp, which calls it once per environment.
void register_nccl(Napi::Env env, Napi::Object exports);

void register_nccl(Napi::Env env, Napi::Object exports) {
  // The constructor references live as long as the environment.
  auto *ctors = new NcclConstructors{Napi::Persistent(NcclComm::Define(env)),
                                     Napi::Persistent(NcclCommunicatorWrap::Define(env))};
  env.AddCleanupHook([ctors]() { delete ctors; });
  Napi::FunctionReference *ctor = &ctors->comm;
  exports.Set("ncclLoad", Napi::Function::New<nccl_load>(env, "ncclLoad"));
  exports.Set("ncclUniqueId", Napi::Function::New<nccl_unique_id>(env, "ncclUniqueId"));
  exports.Set("ncclInitRank", Napi::Function::New(env, nccl_init_rank, "ncclInitRank", ctor));
  exports.Set("ncclCommunicator",
              Napi::Function::New(env, nccl_communicator, "ncclCommunicator", ctors));
}

}  // namespace prophet::addon
