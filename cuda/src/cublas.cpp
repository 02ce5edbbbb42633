// dlopen-based cuBLAS loader and per-stream handles (see cublas.h).
#include "cublas.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace prophet::cuda {
namespace {

#ifndef PROPHET_CUBLAS_DIRS
#define PROPHET_CUBLAS_DIRS ""
#endif

std::vector<std::string> candidates() {
  std::vector<std::string> paths;
  if (const char *env = std::getenv("PROPHET_CUBLAS_LIBRARY"); env != nullptr && *env != '\0') {
    paths.emplace_back(env);
  }
  paths.emplace_back("libcublas.so.13");
  const std::string dirs = PROPHET_CUBLAS_DIRS;  // ':'-separated, from CMake
  size_t start = 0;
  while (start < dirs.size()) {
    const size_t end = dirs.find(':', start);
    const std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty()) paths.push_back(dir + "/libcublas.so.13");
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return paths;
}

template <typename Fn>
bool bind(void *library, const char *name, Fn *out) {
  *out = reinterpret_cast<Fn>(dlsym(library, name));
  return *out != nullptr;
}

struct Loaded {
  CublasApi api{};
  std::string error;  // empty when loaded
};

Loaded *load() {
  auto *loaded = new Loaded();  // never destroyed: cuBLAS stays loaded for the process
  std::string tried;
  for (const std::string &path : candidates()) {
    void *library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
      const char *why = dlerror();
      tried += "\n  " + path + ": " + (why != nullptr ? why : "dlopen failed");
      continue;
    }
    CublasApi &api = loaded->api;
    if (bind(library, "cublasCreate_v2", &api.create) && bind(library, "cublasDestroy_v2", &api.destroy) &&
        bind(library, "cublasSetStream_v2", &api.set_stream) && bind(library, "cublasGemmEx", &api.gemm_ex) &&
        bind(library, "cublasGetStatusString", &api.status_string)) {
      return loaded;
    }
    tried += "\n  " + path + ": missing cuBLAS entry points";
    dlclose(library);
  }
  loaded->error = "cuBLAS unavailable; tried:" + tried +
                  "\n  (install it with the CUDA toolkit or `pip install nvidia-cublas`, or set "
                  "PROPHET_CUBLAS_LIBRARY)";
  return loaded;
}

}  // namespace

prophet_status_t cublas_api(const CublasApi **out) {
  static Loaded *loaded = load();
  if (!loaded->error.empty()) return fail(PROPHET_ERR_UNSUPPORTED, loaded->error);
  *out = &loaded->api;
  return PROPHET_OK;
}

prophet_status_t check_cublas(cublasStatus_t status, const char *statement, const char *function,
                              const char *file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return PROPHET_OK;
  const CublasApi *api = nullptr;
  const char *text = cublas_api(&api) == PROPHET_OK ? api->status_string(status) : "?";
  std::string name = statement;
  const size_t dot = name.find("->");
  if (dot != std::string::npos) name = name.substr(dot + 2);
  name = name.substr(0, name.find('('));
  std::string path = file;
  const size_t at = path.rfind("cuda/src/");
  if (at != std::string::npos) path = path.substr(at);
  return fail(status == CUBLAS_STATUS_ALLOC_FAILED ? PROPHET_ERR_NOMEM : PROPHET_ERR_DEVICE,
              "cublas " + name + " failed: " + text + " at " + path + ":" + std::to_string(line) +
                  " in " + function + " (" + statement + ")");
}

prophet_status_t cublas_handle(prophet_stream_t stream, cublasHandle_t *out) {
  if (stream->cublas == nullptr) {
    const CublasApi *api = nullptr;
    PROPHET_RETURN_IF_FAILED(cublas_api(&api));
    cublasHandle_t handle = nullptr;
    PROPHET_RETURN_IF_FAILED(PROPHET_CUBLAS_CHECK(api->create(&handle)));
    if (prophet_status_t s = PROPHET_CUBLAS_CHECK(api->set_stream(handle, stream->stream));
        s != PROPHET_OK) {
      (void)api->destroy(handle);
      return s;
    }
    stream->cublas = handle;
  }
  *out = static_cast<cublasHandle_t>(stream->cublas);
  return PROPHET_OK;
}

void cublas_release(prophet_stream_t stream) {
  const CublasApi *api = nullptr;
  if (stream->cublas != nullptr && cublas_api(&api) == PROPHET_OK) {
    (void)api->destroy(static_cast<cublasHandle_t>(stream->cublas));
  }
  stream->cublas = nullptr;
}

}  // namespace prophet::cuda
