// AVX-512 packing of transposing micro-panels (plain A, transposed B): 16 x 16 blocks are
// transposed in registers, so that packing op(A) for the FFN's plain row-major activations
// costs a fraction of the portable element-by-element loop (which, repeated for every mc x kc
// block, cost several percent of the whole GEMM at n = 1024). Compiled for AVX-512 in this file
// only; reached only through kAvx512Kernel.
#include <cstdint>

#include "gemm_kernel.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,fma")
// GCC 12's unmasked AVX-512 shuffles start from _mm512_undefined_ps(), which its flow
// analysis reports as "may be used uninitialized" (a false positive: every lane is written).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace prophet::cpu::gemm {
namespace {

// Transposes the 16 x 16 matrix held in rows[0..15] (rows[r] lane c = element (r, c)).
inline void transpose_16x16(__m512 rows[16]) {
  __m512 t[16];
  // Step 1: interleave row pairs within 128-bit lanes.
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
  }
  // Step 2: rows[4i + j], lane L now holds rows 4i..4i+3 of column 4L + j.
  for (int i = 0; i < 4; ++i) {
    rows[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    rows[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    rows[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    rows[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // Step 3: for each j, a 4 x 4 transpose of 128-bit lanes across rows[j], [4+j], [8+j], [12+j].
  for (int j = 0; j < 4; ++j) {
    const __m512 t0 = _mm512_shuffle_f32x4(rows[j], rows[4 + j], 0x88);
    const __m512 t1 = _mm512_shuffle_f32x4(rows[j], rows[4 + j], 0xdd);
    const __m512 t2 = _mm512_shuffle_f32x4(rows[8 + j], rows[12 + j], 0x88);
    const __m512 t3 = _mm512_shuffle_f32x4(rows[8 + j], rows[12 + j], 0xdd);
    t[j] = _mm512_shuffle_f32x4(t0, t2, 0x88);       // column j
    t[4 + j] = _mm512_shuffle_f32x4(t1, t3, 0x88);   // column 4 + j
    t[8 + j] = _mm512_shuffle_f32x4(t0, t2, 0xdd);   // column 8 + j
    t[12 + j] = _mm512_shuffle_f32x4(t1, t3, 0xdd);  // column 12 + j
  }
  for (int c = 0; c < 16; ++c) rows[c] = t[c];
}

}  // namespace

bool pack_transposed_avx512(const float *src, int64_t stride_r, int64_t depth, int width,
                            float *out) {
  // Step 1: whole 16-deep blocks, 16 rows of the panel at a time (the last group masked).
  int64_t p0 = 0;
  for (; p0 + 16 <= depth; p0 += 16) {
    for (int r0 = 0; r0 < width; r0 += 16) {
      const int rows = width - r0 < 16 ? width - r0 : 16;
      __m512 block[16];
      for (int r = 0; r < 16; ++r) {
        block[r] = r < rows ? _mm512_loadu_ps(src + (r0 + r) * stride_r + p0) : _mm512_setzero_ps();
      }
      transpose_16x16(block);
      const __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1u);
      for (int q = 0; q < 16; ++q) {
        _mm512_mask_storeu_ps(out + (p0 + q) * width + r0, mask, block[q]);
      }
    }
  }
  // Step 2: the remaining depth, element by element.
  for (; p0 < depth; ++p0) {
    for (int r = 0; r < width; ++r) out[p0 * width + r] = src[r * stride_r + p0];
  }
  return true;
}

}  // namespace prophet::cpu::gemm

#pragma GCC diagnostic pop
#pragma GCC pop_options

#endif
