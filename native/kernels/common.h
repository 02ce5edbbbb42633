// Shared by every per-element math header in native/kernels/: the same inline functions compile
// for the CPU backend (plain C++) and for CUDA kernels (__host__ __device__), so CPU tests cover
// the math the GPU runs.
#pragma once

#if defined(__CUDACC__)
#define PROPHET_HD __host__ __device__ __forceinline__
#else
#define PROPHET_HD inline
#endif
