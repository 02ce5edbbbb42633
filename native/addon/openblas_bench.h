// Bench-only: OpenBLAS's cblas_sgemm loaded at run time, the reference the GEMM benchmark
// measures ours against side by side. The product never links or needs OpenBLAS.
#pragma once

#include <cstdint>
#include <string>

namespace prophet::addon {

// C = alpha * op(A) * op(B) + beta * C (row-major, as prophet::cpu::sgemm) with OpenBLAS on
// omp_get_max_threads() threads. Returns false, touching nothing, when no OpenBLAS could be
// loaded (env PROPHET_OPENBLAS_LIBRARY, then libopenblas.so.0, then libopenblas.so).
bool openblas_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                    int64_t ldc);

// OpenBLAS's build configuration and the core it chose ("... | SkylakeX"), or "" when absent.
std::string openblas_config();

}  // namespace prophet::addon
