// Run-time choice of the micro-kernel from cpuid: binding.gyp compiles every file for the
// baseline ISA, and each kernel file enables its own, so the choice must be made here.
#include <cstring>

#include "gemm_kernel.h"

namespace prophet::cpu::gemm {
namespace {

bool supported(const KernelInfo &info) {
#if defined(__x86_64__) || defined(__i386__)
  if (&info == &kAvx512Kernel) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("fma");
  }
  if (&info == &kAvx2Kernel) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
#endif
  return &info == &kGenericKernel;
}

const KernelInfo *const kByPreference[] = {&kAvx512Kernel, &kAvx2Kernel, &kGenericKernel};

}  // namespace

const KernelInfo &best_kernel() {
  // A function-local static: decided once, thread-safe initialisation.
  static const KernelInfo *const best = [] {
    for (const KernelInfo *info : kByPreference) {
      if (supported(*info)) return info;
    }
    return &kGenericKernel;
  }();
  return *best;
}

const KernelInfo *kernel_for_isa(const char *isa) {
  for (const KernelInfo *info : kByPreference) {
    if (std::strcmp(info->isa, isa) == 0) return supported(*info) ? info : nullptr;
  }
  return nullptr;
}

}  // namespace prophet::cpu::gemm
