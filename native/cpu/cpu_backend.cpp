// The CPU backend's table: device discovery, error reporting and the assembly of the per-object
// interfaces defined in the other cpu_*.cpp files.
#include <fstream>
#include <string>
#include <unistd.h>

#include "../core/kernels.h"
#include "cpu_internal.h"

namespace prophet::cpu {

namespace {
thread_local std::string t_last_error;

std::string read_cpu_model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "cpu";
}

int device_count() { return 1; }

prophet_status_t device_info(int device, prophet_device_info_t *out) {
  if (device != 0) return fail(PROPHET_ERR_INVALID, "cpu backend has one device (0)");
  static const std::string name = read_cpu_model_name();  // immutable after first use
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  out->name = name.c_str();
  out->compute_major = 0;
  out->compute_minor = 0;
  out->total_memory = pages > 0 && page_size > 0 ? uint64_t(pages) * uint64_t(page_size) : 0;
  out->num_cores = static_cast<int>(std::thread::hardware_concurrency());
  return PROPHET_OK;
}

}  // namespace

prophet_status_t fail(prophet_status_t status, std::string message) {
  t_last_error = std::move(message);
  return status;
}

const char *last_error() { return t_last_error.c_str(); }

void memory_stats(uint64_t *live_buffers, uint64_t *live_bytes, uint64_t *total_allocs);

const prophet_device_i kDevice = {
    /* .count = */ device_count,
    /* .info  = */ device_info,
};

}  // namespace prophet::cpu

namespace prophet::cpu {
extern const prophet_kernel_i kKernel;
}

extern "C" const prophet_backend_i *prophet_cpu_backend(void) {
  static const prophet_backend_i backend = {
      /* .api_version  = */ PROPHET_BACKEND_API_VERSION,
      /* .name         = */ "cpu",
      /* .device       = */ &prophet::cpu::kDevice,
      /* .buffer       = */ &prophet::cpu::kBuffer,
      /* .stream       = */ &prophet::cpu::kStream,
      /* .event        = */ &prophet::cpu::kEvent,
      /* .memory       = */ &prophet::cpu::kMemory,
      /* .kernel       = */ &prophet::cpu::kKernel,
      /* .last_error   = */ prophet::cpu::last_error,
      /* .memory_stats = */ prophet::cpu::memory_stats,
  };
  return &backend;
}
