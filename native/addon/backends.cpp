// backends() and memoryStats(): what the process can run on, the allocators' counters and the
// number of live stream and event handles.
#include "backends.h"

#include "../core/registry.h"
#include "errors.h"

namespace prophet::addon {
namespace {

Napi::Array device_list(Napi::Env env, const prophet_backend_i *backend) {
  Napi::Array devices = Napi::Array::New(env);
  const int count = backend->device->count();
  for (int i = 0; i < count; ++i) {
    prophet_device_info_t info{};
    check(env, backend->device->info(i, &info), backend, "device info");
    Napi::Object device = Napi::Object::New(env);
    device.Set("index", i);
    device.Set("name", info.name != nullptr ? info.name : "");
    device.Set("computeCapability",
               std::to_string(info.compute_major) + "." + std::to_string(info.compute_minor));
    device.Set("totalMemory", static_cast<double>(info.total_memory));
    device.Set("cores", info.num_cores);
    devices.Set(i, device);
  }
  return devices;
}

Napi::Object describe(Napi::Env env, const prophet_backend_i *backend, const std::string &reason) {
  Napi::Object entry = Napi::Object::New(env);
  entry.Set("available", backend != nullptr);
  entry.Set("devices", backend != nullptr ? device_list(env, backend) : Napi::Array::New(env));
  entry.Set("reason", reason);
  return entry;
}

}  // namespace

Napi::Value backend_info(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("apiVersion", PROPHET_BACKEND_API_VERSION);
  result.Set("cpu", describe(env, prophet::cpu_backend(), ""));
  const BackendAvailability &cuda = prophet::cuda_backend();
  result.Set("cuda", describe(env, cuda.backend, cuda.reason));
  return result;
}

Napi::Value memory_stats(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const prophet_backend_i *backend = backend_by_name(env, info[0], "backend");
  uint64_t live_buffers = 0, live_bytes = 0, total_allocs = 0;
  backend->memory_stats(&live_buffers, &live_bytes, &total_allocs);
  Napi::Object stats = Napi::Object::New(env);
  stats.Set("liveBuffers", static_cast<double>(live_buffers));
  stats.Set("liveBytes", static_cast<double>(live_bytes));
  stats.Set("totalAllocs", static_cast<double>(total_allocs));
  const HandleCounts &handles = handle_counts(backend);
  stats.Set("liveStreams", static_cast<double>(handles.streams.load()));
  stats.Set("liveEvents", static_cast<double>(handles.events.load()));
  return stats;
}

}  // namespace prophet::addon
