// Registration of the prophet addon: one class per native resource, a few module functions.
// Bindings only: argument checks and hand-off to the backend ABI, no math or policy here.
#include <napi.h>

#include "args.h"
#include "backends.h"
#include "event.h"
#include "storage.h"
#include "stream.h"

namespace prophet::addon {

void register_gating(Napi::Env env, Napi::Object exports);   // kernels_gating_binding.cpp
void register_permute(Napi::Env env, Napi::Object exports);  // kernels_permute_binding.cpp
void register_comm(Napi::Env env, Napi::Object exports);  // comm_register.cpp
void register_nn(Napi::Env env, Napi::Object exports);       // kernels_nn_binding.cpp
void register_nccl(Napi::Env env, Napi::Object exports);  // nccl_binding.cpp
void register_matmul(Napi::Env env, Napi::Object exports);
void register_ffn(Napi::Env env, Napi::Object exports);
void register_optim(Napi::Env env, Napi::Object exports);
void register_gemm(Napi::Env env, Napi::Object exports);  // gemm_binding.cpp

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto *data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // deleted by node at environment teardown

  Napi::Function storage = Storage::Define(env);
  Napi::Function stream = Stream::Define(env);
  Napi::Function event = Event::Define(env);
  data->storage_ctor = Napi::Persistent(storage);
  data->stream_ctor = Napi::Persistent(stream);
  data->event_ctor = Napi::Persistent(event);

  exports.Set("Storage", storage);
  exports.Set("Stream", stream);
  exports.Set("Event", event);
  exports.Set("backendInfo", Napi::Function::New<backend_info>(env, "backendInfo"));
  exports.Set("memoryStats", Napi::Function::New<memory_stats>(env, "memoryStats"));
  exports.Set("copy", Napi::Function::New<copy_storage>(env, "copy"));
  register_gating(env, exports);
  register_permute(env, exports);
  register_comm(env, exports);
  register_nn(env, exports);
  register_nccl(env, exports);
  register_matmul(env, exports);
  register_ffn(env, exports);
  register_optim(env, exports);
  register_gemm(env, exports);
  return exports;
}

}  // namespace prophet::addon

static Napi::Object InitProphet(Napi::Env env, Napi::Object exports) {
  return prophet::addon::Init(env, exports);
}

NODE_API_MODULE(prophet, InitProphet)
