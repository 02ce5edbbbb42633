#include "gemm_workspace.h"

#include <cstdlib>
#include <memory>
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

struct PanelStates {
  std::unique_ptr<std::atomic<int>[]> data;
  size_t capacity = 0;
};

thread_local PanelStates panel_states;

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

std::atomic<int> *thread_panel_states(size_t num_states) {
  if (panel_states.capacity < num_states) {
    panel_states.data = std::make_unique<std::atomic<int>[]>(num_states);
    panel_states.capacity = num_states;
  }
  for (size_t i = 0; i < num_states; ++i) {
    panel_states.data[i].store(0, std::memory_order_relaxed);
  }
  return panel_states.data.get();
}

}  // namespace prophet::cpu::gemm
