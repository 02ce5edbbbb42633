// Private to native/cpu/gemm: the packing buffer of the calling thread, so that concurrent
// sgemm calls (two stream worker threads) never share one and no call pays for a fresh
// allocation (and its page faults) after the first.
#pragma once

#include <atomic>
#include <cstddef>

namespace prophet::cpu::gemm {

// A 64-byte aligned buffer of at least num_floats floats owned by the calling thread, valid
// until its next call (or the thread's exit). Throws std::bad_alloc.
float *thread_workspace(size_t num_floats);

// num_states atomics owned by the calling thread, all set to 0, valid until its next call (or
// the thread's exit): the panel states of a shared packed op(B). Throws std::bad_alloc.
std::atomic<int> *thread_panel_states(size_t num_states);

}  // namespace prophet::cpu::gemm
