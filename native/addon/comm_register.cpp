// Registration of the communicator bindings: the Communicator class and the functions that make
// communicators (createLocalWorld; createProcessGroupNative when a multi-process backend is built).
#include <napi.h>

#include "../comm/local.h"
#include "comm_communicator.h"
#include "comm_process_group.h"
#include "errors.h"

namespace prophet::addon {
namespace {

// createLocalWorld(size) -> Communicator[] (rank order), all in one new world.
Napi::Value create_local_world(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto *ctor = static_cast<Napi::FunctionReference *>(info.Data());
  if (!info[0].IsNumber()) throw_type_error(env, "size", "a number");
  const double size = info[0].As<Napi::Number>().DoubleValue();
  if (!(size >= 1 && size <= 1024) || size != static_cast<int>(size)) {
    throw_range_error(env, "size", "expected an integer in [1, 1024]");
  }
  Napi::Array ranks = Napi::Array::New(env);
  uint32_t index = 0;
  for (auto &comm : comm::create_local_world(static_cast<int>(size))) {
    ranks.Set(index++, CommunicatorWrap::Wrap(env, ctor->Value(), std::move(comm)));
  }
  return ranks;
}

}  // namespace

void register_comm(Napi::Env env, Napi::Object exports) {
  // The constructor lives as long as the environment; functions that wrap communicators get it
  // as their data.
  auto *ctor = new Napi::FunctionReference(Napi::Persistent(CommunicatorWrap::Define(env)));
  env.AddCleanupHook([ctor] { delete ctor; });
  exports.Set("createLocalWorld",
              Napi::Function::New(env, create_local_world, "createLocalWorld", ctor));
  register_process_group(env, exports, ctor);
}

}  // namespace prophet::addon
