#include "gemm_pack.h"

#include <cstring>

namespace prophet::cpu::gemm {
namespace {

// The rows of the panel are contiguous in memory (stride_r == 1): one short copy per depth
// step. `Width` is a compile-time constant for the kernels' widths, so the copy is a few
// vector moves.
template <int Width>
void pack_contiguous_rows(const float *src, int64_t stride_p, int64_t rows, int64_t depth,
                          float *out) {
  if (rows == Width) {
    for (int64_t p = 0; p < depth; ++p) std::memcpy(out + p * Width, src + p * stride_p,
                                                    sizeof(float) * Width);
    return;
  }
  for (int64_t p = 0; p < depth; ++p) {
    float *dst = out + p * Width;
    for (int64_t r = 0; r < rows; ++r) dst[r] = src[p * stride_p + r];
    for (int64_t r = rows; r < Width; ++r) dst[r] = 0.0f;
  }
}

// The depth is contiguous in memory (stride_p == 1), a transpose: read each row along the
// depth, write it with stride Width; the panel (depth x Width floats) stays in L1 meanwhile.
template <int Width>
void pack_contiguous_depth(const float *src, int64_t stride_r, int64_t rows, int64_t depth,
                           float *out) {
  // Blocks of 8 depth steps keep 8 consecutive output lines in flight per row.
  constexpr int64_t kBlock = 8;
  int64_t p0 = 0;
  for (; p0 + kBlock <= depth; p0 += kBlock) {
    for (int64_t r = 0; r < rows; ++r) {
      const float *row = src + r * stride_r + p0;
      for (int64_t q = 0; q < kBlock; ++q) out[(p0 + q) * Width + r] = row[q];
    }
    for (int64_t r = rows; r < Width; ++r) {
      for (int64_t q = 0; q < kBlock; ++q) out[(p0 + q) * Width + r] = 0.0f;
    }
  }
  for (int64_t p = p0; p < depth; ++p) {
    for (int64_t r = 0; r < rows; ++r) out[p * Width + r] = src[r * stride_r + p];
    for (int64_t r = rows; r < Width; ++r) out[p * Width + r] = 0.0f;
  }
}

// Any other stride pattern (both strides > 1 cannot come from a row-major matrix, but width
// values outside the kernels' set can): element by element.
void pack_any(const float *src, int64_t stride_r, int64_t stride_p, int64_t rows, int64_t depth,
              int width, float *out) {
  for (int64_t p = 0; p < depth; ++p) {
    for (int64_t r = 0; r < rows; ++r) out[p * width + r] = src[r * stride_r + p * stride_p];
    for (int64_t r = rows; r < width; ++r) out[p * width + r] = 0.0f;
  }
}

template <int Width>
bool pack_fixed(const float *src, int64_t stride_r, int64_t stride_p, int64_t rows,
                int64_t depth, float *out) {
  if (stride_r == 1) {
    pack_contiguous_rows<Width>(src, stride_p, rows, depth, out);
  } else if (stride_p == 1) {
    pack_contiguous_depth<Width>(src, stride_r, rows, depth, out);
  } else {
    return false;
  }
  return true;
}

}  // namespace

void pack_panel(const float *src, int64_t stride_r, int64_t stride_p, int64_t rows,
                int64_t depth, int width, float *out, TransposingPack transposing) {
  if (transposing != nullptr && stride_p == 1 && stride_r != 1 && rows == width &&
      transposing(src, stride_r, depth, width, out)) {
    return;
  }
  bool done = false;
  switch (width) {
    case 4: done = pack_fixed<4>(src, stride_r, stride_p, rows, depth, out); break;
    case 6: done = pack_fixed<6>(src, stride_r, stride_p, rows, depth, out); break;
    case 8: done = pack_fixed<8>(src, stride_r, stride_p, rows, depth, out); break;
    case 14: done = pack_fixed<14>(src, stride_r, stride_p, rows, depth, out); break;
    case 16: done = pack_fixed<16>(src, stride_r, stride_p, rows, depth, out); break;
    case 32: done = pack_fixed<32>(src, stride_r, stride_p, rows, depth, out); break;
    default: break;
  }
  if (!done) pack_any(src, stride_r, stride_p, rows, depth, width, out);
}

}  // namespace prophet::cpu::gemm
