// Makes a CUDA device current on the calling thread through the driver API (libcuda.so.1,
// dlopen'ed), so that NCCL, which uses the thread's current device, initializes on the rank's
// own GPU. The addon does not link CUDA; without a driver there is nothing to select.
#pragma once

#include <string>

namespace prophet::comm {

enum class DeviceSelection {
  kSelected,  // the device's primary context is current on this thread
  kNoDriver,  // libcuda.so.1 is absent: no device can be used (callers report their own error)
  kFailed     // the driver refused (bad ordinal, no device...); `error` says why
};

// Retains `device`'s primary context (kept for the life of the process, as the CUDA runtime
// does) and makes it current on this thread.
DeviceSelection select_cuda_device(int device, std::string *error);

}  // namespace prophet::comm
