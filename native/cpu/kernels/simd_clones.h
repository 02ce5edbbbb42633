// Per-processor clones of element-wise CPU loops. The addon is built for baseline x86-64 (no
// -march), so a loop marked PROPHET_CPU_CLONES is compiled three times (AVX-512, AVX2+FMA,
// baseline) and the loader picks the best one for the processor once (GCC/Clang ifunc).
// Call sites pass through the dispatcher, so mark functions that each do a whole block of work.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#define PROPHET_CPU_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PROPHET_CPU_CLONES
#endif

// Forces a helper into its (cloned) caller, so that the helper is compiled for the clone's ISA.
#define PROPHET_CPU_INLINE inline __attribute__((always_inline))
