// The CUDA backend's table and its two exported entries. prophet_backend_score() only asks the
// runtime how many devices exist, so on a machine without a driver or device the library still
// loads and says why it cannot run (the addon then reports `available: false` with that reason).
#include <cstring>
#include <string>
#include <vector>

#include "../../native/core/kernels.h"
#include "cuda_internal.h"

namespace prophet::cuda {
namespace {

thread_local std::string t_last_error;

// Path from the repository root ("cuda/src/x.cpp") rather than the build machine's absolute path.
const char *short_path(const char *file) {
  const char *best = file;
  for (const char *p = std::strstr(file, "cuda/"); p != nullptr; p = std::strstr(p + 1, "cuda/")) {
    best = p;
  }
  return best;
}

// "cudaMallocAsync(&p, n, s)" -> "cudaMallocAsync".
std::string called_function(const char *statement) {
  std::string text = statement;
  const size_t paren = text.find('(');
  return paren == std::string::npos ? text : text.substr(0, paren);
}

struct DeviceFacts {
  std::vector<cudaDeviceProp> props;
};

// Filled once by the first successful prophet_backend_init(); never destroyed (CUDA's static
// runtime tears itself down at exit, and nothing here may run after it).
DeviceFacts *g_facts = nullptr;
std::once_flag g_init_once;
std::string *g_init_error = nullptr;

int device_count() { return g_facts == nullptr ? 0 : static_cast<int>(g_facts->props.size()); }

prophet_status_t device_info(int device, prophet_device_info_t *out) {
  if (device < 0 || device >= device_count()) {
    return fail(PROPHET_ERR_INVALID, "cuda device " + std::to_string(device) + " does not exist (" +
                                         std::to_string(device_count()) + " devices)");
  }
  const cudaDeviceProp &p = g_facts->props[device];
  out->name = p.name;
  out->compute_major = p.major;
  out->compute_minor = p.minor;
  out->total_memory = p.totalGlobalMem;
  out->num_cores = p.multiProcessorCount;
  return PROPHET_OK;
}

// Reads every device's properties and keeps freed memory cached in each device's default pool
// (the release threshold would otherwise return it to the driver at every synchronize).
void initialize() {
  auto *facts = new DeviceFacts();
  int count = 0;
  if (PROPHET_CUDA_CHECK(cudaGetDeviceCount(&count)) != PROPHET_OK) {
    g_init_error = new std::string(last_error());
    return;
  }
  facts->props.resize(static_cast<size_t>(count));
  for (int d = 0; d < count; ++d) {
    int pools = 0;
    cudaMemPool_t pool = nullptr;
    uint64_t keep_all = UINT64_MAX;
    prophet_status_t s = PROPHET_CUDA_CHECK(cudaGetDeviceProperties(&facts->props[d], d));
    if (s == PROPHET_OK) {
      s = PROPHET_CUDA_CHECK(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, d));
    }
    if (s == PROPHET_OK && pools == 0) {
      s = fail(PROPHET_ERR_UNSUPPORTED, "cuda device " + std::to_string(d) +
                                            " has no stream-ordered memory pools");
    }
    if (s == PROPHET_OK) s = PROPHET_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, d));
    if (s == PROPHET_OK) {
      s = PROPHET_CUDA_CHECK(
          cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all));
    }
    if (s != PROPHET_OK) {
      g_init_error = new std::string(last_error());
      return;
    }
  }
  g_facts = facts;
}

}  // namespace

prophet_status_t fail(prophet_status_t status, std::string message) {
  t_last_error = std::move(message);
  return status;
}

const char *last_error() { return t_last_error.c_str(); }

prophet_status_t check_cuda(cudaError_t error, const char *statement, const char *function,
                            const char *file, int line) {
  if (error == cudaSuccess) return PROPHET_OK;
  (void)cudaGetLastError();  // clear a non-sticky error so that it is reported once
  return fail(error == cudaErrorMemoryAllocation ? PROPHET_ERR_NOMEM : PROPHET_ERR_DEVICE,
              called_function(statement) + " failed: " + cudaGetErrorString(error) + " at " +
                  short_path(file) + ":" + std::to_string(line) + " in " + function + " (" +
                  statement + ")");
}

prophet_status_t use_device(int device) {
  if (device < 0 || device >= device_count()) {
    return fail(PROPHET_ERR_INVALID, "cuda device " + std::to_string(device) + " does not exist");
  }
  return PROPHET_CUDA_CHECK(cudaSetDevice(device));
}

const prophet_device_i kDevice = {
    /* .count = */ device_count,
    /* .info  = */ device_info,
};

extern const prophet_kernel_i kKernel;

}  // namespace prophet::cuda

extern "C" {

// > 0: the number of CUDA devices; 0 with *reason when the runtime finds none (no driver, no
// device, driver older than the runtime). Never fails otherwise: a missing GPU is not an error.
__attribute__((visibility("default"))) int prophet_backend_score(const char **reason) {
  static std::string *why = new std::string();  // outlives the call; never destroyed
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    (void)cudaGetLastError();
    *why = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(error) + " (" +
           cudaGetErrorName(error) + ")";
  } else if (count == 0) {
    *why = "cudaGetDeviceCount found no CUDA device";
  } else {
    why->clear();
  }
  if (reason != nullptr) *reason = why->c_str();
  return error == cudaSuccess ? count : 0;
}

__attribute__((visibility("default"))) const prophet_backend_i *prophet_backend_init(
    const char **reason) {
  using namespace prophet::cuda;
  std::call_once(g_init_once, initialize);
  if (g_facts == nullptr) {
    if (reason != nullptr) *reason = g_init_error != nullptr ? g_init_error->c_str() : "unknown";
    return nullptr;
  }
  static const prophet_backend_i backend = {
      /* .api_version  = */ PROPHET_BACKEND_API_VERSION,
      /* .name         = */ "cuda",
      /* .device       = */ &kDevice,
      /* .buffer       = */ &kBuffer,
      /* .stream       = */ &kStream,
      /* .event        = */ &kEvent,
      /* .memory       = */ &kMemory,
      /* .kernel       = */ &kKernel,
      /* .last_error   = */ last_error,
      /* .memory_stats = */ memory_stats,
  };
  return &backend;
}

}  // extern "C"
