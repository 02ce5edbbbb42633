// Private to native/cpu/gemm: packing of op(A) and op(B) into the micro-panel layout the
// micro-kernels read (gemm_kernel.h).
#pragma once

#include <cstdint>

#include "gemm_kernel.h"

namespace prophet::cpu::gemm {

// Packs one micro-panel: `rows` (<= width) rows by `depth` of a strided matrix whose element
// (r, p) is src[r * stride_r + p * stride_p], into out[p * width + r], zero-filling rows
// [rows, width) so that the kernel may compute a full tile.
//   op(A) panel: rows are rows i of op(A); A plain: (lda, 1); A transposed: (1, lda).
//   op(B) panel: rows are columns j of op(B); B plain: (1, ldb); B transposed: (ldb, 1).
// Every transpose combination is one of these two stride patterns, each with its fast loop.
// `transposing`, when not null, packs full panels whose depth is contiguous (see KernelInfo).
void pack_panel(const float *src, int64_t stride_r, int64_t stride_p, int64_t rows,
                int64_t depth, int width, float *out, TransposingPack transposing);

}  // namespace prophet::cpu::gemm
