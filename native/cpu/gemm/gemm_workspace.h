// Private to native/cpu/gemm: the packing buffer of the calling thread, so that concurrent
// sgemm calls (two stream worker threads) never share one and no call pays for a fresh
// allocation (and its page faults) after the first.
#pragma once

#include <cstddef>

namespace prophet::cpu::gemm {

// A 64-byte aligned buffer of at least num_floats floats owned by the calling thread, valid
// until its next call (or the thread's exit). Throws std::bad_alloc.
float *thread_workspace(size_t num_floats);

}  // namespace prophet::cpu::gemm
