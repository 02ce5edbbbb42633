#include "registry.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>

extern "C" const prophet_backend_i *prophet_cpu_backend(void);

namespace prophet {
namespace {

std::string addon_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void *>(&cpu_backend), &info) == 0 || info.dli_fname == nullptr) {
    return ".";
  }
  std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::vector<std::string> cuda_candidates() {
  std::vector<std::string> paths;
  if (const char *env = std::getenv("PROPHET_CUDA_LIBRARY"); env != nullptr && *env != '\0') {
    paths.emplace_back(env);
  }
  paths.push_back(addon_directory() + "/libprophet_cuda.so");
  return paths;
}

// Tries one library: dlopen, score (0 = no device, not an error), init, version check. Returns
// the backend or NULL with a one-line reason naming the failed step.
const prophet_backend_i *try_load(const std::string &path, std::string *reason) {
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char *err = dlerror();
    *reason = path + ": dlopen failed: " + (err ? err : "unknown error");
    return nullptr;
  }
  auto score = reinterpret_cast<prophet_backend_score_fn>(dlsym(handle, "prophet_backend_score"));
  auto init = reinterpret_cast<prophet_backend_init_fn>(dlsym(handle, "prophet_backend_init"));
  if (score == nullptr || init == nullptr) {
    *reason = path + ": not a pro-prophet backend (missing prophet_backend_score/init)";
    dlclose(handle);
    return nullptr;
  }
  const char *why = nullptr;
  if (score(&why) <= 0) {
    *reason = path + ": no usable device: " + (why ? why : "unknown");
    return nullptr;  // keep the library loaded: CUDA runtimes dislike being unloaded
  }
  const prophet_backend_i *backend = init(&why);
  if (backend == nullptr) {
    *reason = path + ": init failed: " + (why ? why : "unknown");
    return nullptr;
  }
  if (backend->api_version != PROPHET_BACKEND_API_VERSION) {
    *reason = path + ": incompatible API version (backend: " +
              std::to_string(backend->api_version) +
              ", addon: " + std::to_string(PROPHET_BACKEND_API_VERSION) + ")";
    return nullptr;
  }
  return backend;
}

BackendAvailability load_cuda() {
  BackendAvailability result;
  for (const std::string &path : cuda_candidates()) {
    std::string reason;
    if (const prophet_backend_i *backend = try_load(path, &reason)) {
      result.backend = backend;
      result.reason.clear();
      return result;
    }
    if (!result.reason.empty()) result.reason += "\n";
    result.reason += reason;
  }
  result.reason += "\nbuild the CUDA backend with `npm run build:cuda` on a machine with nvcc, or "
                   "set PROPHET_CUDA_LIBRARY to its path";
  return result;
}

}  // namespace

const prophet_backend_i *cpu_backend() { return prophet_cpu_backend(); }

const BackendAvailability &cuda_backend() {
  static std::once_flag once;
  static BackendAvailability availability;
  std::call_once(once, [] { availability = load_cuda(); });
  return availability;
}

}  // namespace prophet
