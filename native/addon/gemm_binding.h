// Test and benchmark bindings of the CPU GEMM (native/cpu/gemm.h): synchronous calls on typed
// arrays, blocking the JS thread. Models run GEMMs through stream-ordered kernels instead.
#pragma once

#include <napi.h>

namespace prophet::addon {

// Adds to exports:
//   sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, isa?) -> undefined
//     C = alpha * op(A) * op(B) + beta * C in place on Float32Arrays (row-major); `isa`
//     ('avx512' | 'avx2' | 'generic') forces that micro-kernel and its packed path.
//   sgemmIsa() -> 'avx512' | 'avx2' | 'generic', the kernel sgemm picks on this processor
//   openblasSgemm(same first 13 arguments) -> boolean, false when OpenBLAS is absent (bench only)
//   openblasConfig() -> string, OpenBLAS's configuration and core, '' when absent (bench only)
void register_gemm(Napi::Env env, Napi::Object exports);

}  // namespace prophet::addon
