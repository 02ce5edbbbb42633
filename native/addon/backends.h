#pragma once

#include <napi.h>

#include "handles.h"

namespace prophet::addon {

// () -> { apiVersion, cpu: {available, devices, reason}, cuda: {available, devices, reason} }
Napi::Value backend_info(const Napi::CallbackInfo &info);
// (backend) -> { liveBuffers, liveBytes, totalAllocs } from the backend's own allocator
Napi::Value memory_stats(const Napi::CallbackInfo &info);

}  // namespace prophet::addon
