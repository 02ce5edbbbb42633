#include "cuda_device.h"

#include <dlfcn.h>

#include <map>
#include <mutex>

namespace prophet::comm {
namespace {

typedef int CUresult;  // CUDA_SUCCESS = 0
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;

struct DriverApi {
  CUresult (*init)(unsigned int flags);
  CUresult (*device_get)(CUdevice *device, int ordinal);
  CUresult (*primary_ctx_retain)(CUcontext *context, CUdevice device);
  CUresult (*ctx_set_current)(CUcontext context);
  CUresult (*ctx_get_current)(CUcontext *context);
  CUresult (*get_error_string)(CUresult result, const char **text);
};

// Loaded once; NULL when the driver library or one of its symbols is missing.
const DriverApi *driver() {
  static const DriverApi *api = []() -> const DriverApi * {
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) return nullptr;
    static DriverApi loaded{};
    loaded.init = reinterpret_cast<decltype(loaded.init)>(dlsym(library, "cuInit"));
    loaded.device_get = reinterpret_cast<decltype(loaded.device_get)>(dlsym(library, "cuDeviceGet"));
    loaded.primary_ctx_retain = reinterpret_cast<decltype(loaded.primary_ctx_retain)>(
        dlsym(library, "cuDevicePrimaryCtxRetain"));
    loaded.ctx_set_current =
        reinterpret_cast<decltype(loaded.ctx_set_current)>(dlsym(library, "cuCtxSetCurrent"));
    loaded.ctx_get_current =
        reinterpret_cast<decltype(loaded.ctx_get_current)>(dlsym(library, "cuCtxGetCurrent"));
    loaded.get_error_string =
        reinterpret_cast<decltype(loaded.get_error_string)>(dlsym(library, "cuGetErrorString"));
    const bool complete = loaded.init && loaded.device_get && loaded.primary_ctx_retain &&
                          loaded.ctx_set_current && loaded.ctx_get_current &&
                          loaded.get_error_string;
    return complete ? &loaded : nullptr;
  }();
  return api;
}

std::string describe(const DriverApi &api, const char *call, CUresult result) {
  const char *text = nullptr;
  api.get_error_string(result, &text);
  return std::string(call) + " failed: " + (text != nullptr ? text : "unknown CUDA error") +
         " (CUresult " + std::to_string(result) + ")";
}

}  // namespace

DeviceSelection select_cuda_device(int device, std::string *error) {
  const DriverApi *api = driver();
  if (api == nullptr) return DeviceSelection::kNoDriver;
  // The primary context of each device, retained once per process (callers select per
  // collective); then selecting is a compare, and a set only when another is current.
  static std::mutex mutex;
  static std::map<int, CUcontext> retained;
  CUcontext known = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto found = retained.find(device);
    if (found != retained.end()) known = found->second;
  }
  if (known != nullptr) {
    CUcontext current = nullptr;
    if (api->ctx_get_current(&current) == 0 && current == known) return DeviceSelection::kSelected;
    const CUresult set = api->ctx_set_current(known);
    if (set == 0) return DeviceSelection::kSelected;
    *error = describe(*api, "cuCtxSetCurrent", set);
    return DeviceSelection::kFailed;
  }
  CUresult result = api->init(0);
  if (result != 0) {
    *error = describe(*api, "cuInit", result);
    return DeviceSelection::kFailed;
  }
  CUdevice handle = 0;
  result = api->device_get(&handle, device);
  if (result != 0) {
    *error = describe(*api, "cuDeviceGet", result);
    return DeviceSelection::kFailed;
  }
  CUcontext context = nullptr;
  result = api->primary_ctx_retain(&context, handle);
  if (result == 0) result = api->ctx_set_current(context);
  if (result != 0) {
    *error = describe(*api, "cuDevicePrimaryCtxRetain/cuCtxSetCurrent", result);
    return DeviceSelection::kFailed;
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    retained.emplace(device, context);
  }
  return DeviceSelection::kSelected;
}

}  // namespace prophet::comm
