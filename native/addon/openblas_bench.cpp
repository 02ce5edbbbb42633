#include "openblas_bench.h"

#include <dlfcn.h>
#include <omp.h>

#include <cstdlib>

namespace prophet::addon {
namespace {

// The few CBLAS/OpenBLAS symbols the benchmark calls, with their C signatures (cblas.h):
// enums are ints, CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112.
using SgemmFn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc);
using SetThreadsFn = void (*)(int num_threads);
using GetStringFn = char *(*)();
constexpr int kRowMajor = 101;
constexpr int kNoTrans = 111;
constexpr int kTrans = 112;

struct OpenBlas {
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_num_threads = nullptr;
  GetStringFn get_config = nullptr;
  GetStringFn get_corename = nullptr;
};

// Tries each candidate once per process; the library stays loaded (never dlclose'd, since its
// thread pool outlives any one call).
const OpenBlas &openblas() {
  static const OpenBlas loaded = [] {
    OpenBlas lib;
    const char *candidates[] = {std::getenv("PROPHET_OPENBLAS_LIBRARY"), "libopenblas.so.0",
                                "libopenblas.so"};
    for (const char *path : candidates) {
      if (path == nullptr || *path == '\0') continue;
      void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
      if (handle == nullptr) continue;
      lib.sgemm = reinterpret_cast<SgemmFn>(dlsym(handle, "cblas_sgemm"));
      lib.set_num_threads = reinterpret_cast<SetThreadsFn>(dlsym(handle, "openblas_set_num_threads"));
      lib.get_config = reinterpret_cast<GetStringFn>(dlsym(handle, "openblas_get_config"));
      lib.get_corename = reinterpret_cast<GetStringFn>(dlsym(handle, "openblas_get_corename"));
      if (lib.sgemm != nullptr) return lib;
      dlclose(handle);
      lib = OpenBlas{};
    }
    return lib;
  }();
  return loaded;
}

}  // namespace

bool openblas_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                    int64_t ldc) {
  const OpenBlas &lib = openblas();
  if (lib.sgemm == nullptr) return false;
  // The same thread count as ours, so that the comparison is core for core.
  if (lib.set_num_threads != nullptr) lib.set_num_threads(omp_get_max_threads());
  lib.sgemm(kRowMajor, trans_a ? kTrans : kNoTrans, trans_b ? kTrans : kNoTrans,
            static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
            static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
  return true;
}

std::string openblas_config() {
  const OpenBlas &lib = openblas();
  if (lib.sgemm == nullptr) return "";
  std::string config = lib.get_config != nullptr ? lib.get_config() : "OpenBLAS";
  if (lib.get_corename != nullptr) config += std::string(" | ") + lib.get_corename();
  return config;
}

}  // namespace prophet::addon
