// Finds the backends this process can use: the CPU backend compiled into the addon, and the CUDA
// backend loaded at run time from a shared library when one is present and a device exists.
#pragma once

#include <string>
#include <vector>

#include "backend.h"

namespace prophet {

struct BackendAvailability {
  const prophet_backend_i *backend = nullptr;  // NULL when unavailable
  std::string reason;                          // why it is unavailable ("" when available)
};

const prophet_backend_i *cpu_backend();

// Loads the CUDA backend once per process (thread-safe). Candidates, in order: the path in
// PROPHET_CUDA_LIBRARY, then libprophet_cuda.so next to the addon. Every failed step is named in
// `reason`, one line per candidate, so a user sees what was tried and why it failed.
const BackendAvailability &cuda_backend();

}  // namespace prophet
