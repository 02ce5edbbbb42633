#include "gemm_workspace.h"

#include <cstdlib>
#include <new>

namespace prophet::cpu::gemm {
namespace {

// 64 bytes: one cache line and one zmm register, so packed panels load aligned.
constexpr size_t kAlignment = 64;

struct Workspace {
  float *data = nullptr;
  size_t capacity = 0;  // floats
  ~Workspace() { std::free(data); }
};

thread_local Workspace workspace;

}  // namespace

float *thread_workspace(size_t num_floats) {
  if (workspace.capacity >= num_floats) return workspace.data;
  // Round up to whole cache lines: aligned_alloc requires a multiple of the alignment.
  const size_t bytes = (num_floats * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
  void *data = std::aligned_alloc(kAlignment, bytes);
  if (data == nullptr) throw std::bad_alloc();
  std::free(workspace.data);
  workspace.data = static_cast<float *>(data);
  workspace.capacity = bytes / sizeof(float);
  return workspace.data;
}

}  // namespace prophet::cpu::gemm
