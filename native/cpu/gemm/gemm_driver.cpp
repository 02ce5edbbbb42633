// The GotoBLAS/BLIS loop nest around the micro-kernels. OpenMP threads split C into one
// rectangle each (along m or n, whichever balances better); on its rectangle a thread walks
// nc-wide column blocks (jc), kc-deep slices (pc) whose kc x nc block of op(B) it packs, and
// mc-row blocks (ic) whose mc x kc block of op(A) it packs, then sweeps its register tiles
// (jr, ir) with the micro-kernel.
#include <omp.h>

#include <algorithm>

#include "../gemm.h"
#include "gemm_kernel.h"
#include "gemm_pack.h"
#include "gemm_small.h"
#include "gemm_workspace.h"

namespace prophet::cpu::gemm {
namespace {

// Below this many multiply-adds the direct loops win: packing and thread start-up cost more.
constexpr int64_t kSmallWork = 16 * 16 * 16;
// Multiply-adds that pay for one more OpenMP thread (its start-up costs a few microseconds).
constexpr int64_t kWorkPerThread = int64_t{1} << 20;
// Rows of C (per thread) up to which a plain row-major B is read in place rather than packed.
constexpr int64_t kInPlaceRows = 32;
// Largest register tile any kernel uses, for the edge-tile scratch buffer.
constexpr int kMaxTileFloats = 16 * 64;

struct Problem {
  int64_t m, n, k;
  float alpha, beta;
  const float *a;
  int64_t a_stride_i, a_stride_p;  // op(A)(i, p) = a[i * a_stride_i + p * a_stride_p]
  const float *b;
  int64_t b_stride_p, b_stride_j;  // op(B)(p, j) = b[p * b_stride_p + j * b_stride_j]
  float *c;
  int64_t ldc;
};

// Floats per 64-byte cache line: packed blocks start on a line so that panels load aligned.
constexpr int64_t kFloatsPerLine = 16;

int64_t ceil_div(int64_t x, int64_t y) { return (x + y - 1) / y; }
int64_t round_up(int64_t x, int64_t multiple) { return ceil_div(x, multiple) * multiple; }

// Splits `size` into equal blocks of at most `max_block` (so that k = 300 with kc = 256 gives
// two slices of 150 rather than 256 + 44), rounded up to a multiple of `multiple`.
int64_t balanced_block(int64_t size, int64_t max_block, int64_t multiple) {
  const int64_t block = ceil_div(size, ceil_div(size, max_block));
  return round_up(block, multiple);
}

// A thread's share of C: rows [i_begin, i_end) and columns [j_begin, j_end).
struct Rectangle {
  int64_t i_begin, i_end, j_begin, j_end;
};

// Splits C's register tiles into a grid of num_threads rectangles, one per thread, choosing
// the grid (rows x columns of threads) that minimises the largest share. On ties it splits
// the dimension whose packing the threads then repeat the least: splitting columns makes every
// thread pack all of op(A) (m x k), splitting rows makes each pack all of op(B) (k x n).
Rectangle thread_rectangle(const KernelInfo &info, const Problem &pr, int thread,
                           int num_threads) {
  const int64_t num_row_tiles = ceil_div(pr.m, info.mr);
  const int64_t num_col_tiles = ceil_div(pr.n, info.nr);
  const bool prefer_row_split = pr.m >= pr.n;  // A (m x k) larger than B (k x n): repeat B
  int grid_rows = 1;
  int64_t best_share = INT64_MAX;
  for (int rows = 1; rows <= num_threads; ++rows) {
    if (num_threads % rows != 0) continue;
    const int64_t share =
        ceil_div(num_row_tiles, rows) * ceil_div(num_col_tiles, num_threads / rows);
    if (share < best_share || (share == best_share && prefer_row_split)) {
      grid_rows = rows;
      best_share = share;
    }
  }
  const int grid_cols = num_threads / grid_rows;
  const int row = thread % grid_rows, col = thread / grid_rows;
  return {std::min(num_row_tiles * row / grid_rows * info.mr, pr.m),
          std::min(num_row_tiles * (row + 1) / grid_rows * info.mr, pr.m),
          std::min(num_col_tiles * col / grid_cols * info.nr, pr.n),
          std::min(num_col_tiles * (col + 1) / grid_cols * info.nr, pr.n)};
}

// Where the micro-kernel finds the B micro-panel starting at column jr of a kc-deep block:
// packed (panel at data + jr * kc, depth steps nr apart) or read in place from a plain
// row-major op(B) (panel at data + jr, depth steps ldb apart).
struct BBlock {
  const float *data;
  int64_t column_scale;  // kc when packed, 1 in place
  int64_t depth_stride;  // nr when packed, ldb in place
  float *scratch;        // in place only: room for one packed panel (partial columns)
};

// C = alpha * A * B + beta * C over a tile smaller than mr x nr: the kernel writes a full tile
// into scratch, of which the valid part is merged.
void edge_tile(const KernelInfo &info, int64_t kc, const float *a_panel, const float *b_panel,
               int64_t ldb, int64_t rows, int64_t cols, float alpha, float beta, float *c,
               int64_t ldc) {
  alignas(64) float tile[kMaxTileFloats];
  info.kernel(kc, a_panel, b_panel, ldb, tile, info.nr, 1.0f, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const float product = alpha * tile[i * info.nr + j];
      c[i * ldc + j] = beta == 0.0f ? product : product + beta * c[i * ldc + j];
    }
  }
}

// One packed A block (rows x kc) times B panels (kc x cols) into C[rows, cols]: the B
// micro-panel stays in L1 while the A micro-panels stream from L2.
void macro_kernel(const KernelInfo &info, int64_t kc, int64_t rows, int64_t cols,
                  const float *a_block, const BBlock &b_block, float alpha, float beta, float *c,
                  int64_t ldc) {
  for (int64_t jr = 0; jr < cols; jr += info.nr) {
    const int64_t tile_cols = std::min<int64_t>(info.nr, cols - jr);
    const float *b_panel = b_block.data + jr * b_block.column_scale;
    int64_t ldb = b_block.depth_stride;
    if (tile_cols < info.nr && b_block.scratch != nullptr) {
      // In place, a partial panel would read past the end of B's rows: pack it, zero-padded.
      pack_panel(b_panel, 1, ldb, tile_cols, kc, info.nr, b_block.scratch, nullptr);
      b_panel = b_block.scratch;
      ldb = info.nr;
    }
    for (int64_t ir = 0; ir < rows; ir += info.mr) {
      const float *a_panel = a_block + ir * kc;
      const int64_t tile_rows = std::min<int64_t>(info.mr, rows - ir);
      float *c_tile = c + ir * ldc + jr;
      if (tile_rows == info.mr && tile_cols == info.nr) {
        info.kernel(kc, a_panel, b_panel, ldb, c_tile, ldc, alpha, beta);
      } else if (tile_cols == info.nr && info.row_kernels != nullptr) {
        info.row_kernels[tile_rows](kc, a_panel, b_panel, ldb, c_tile, ldc, alpha, beta);
      } else {
        edge_tile(info, kc, a_panel, b_panel, ldb, tile_rows, tile_cols, alpha, beta, c_tile,
                  ldc);
      }
    }
  }
}

// Packs op(A)[i0 : i0 + rows, p0 : p0 + kc] as mr-row micro-panels.
void pack_a_block(const KernelInfo &info, const Problem &pr, int64_t i0, int64_t rows, int64_t p0,
                  int64_t kc, float *a_block) {
  for (int64_t ir = 0; ir < rows; ir += info.mr) {
    const float *src = pr.a + (i0 + ir) * pr.a_stride_i + p0 * pr.a_stride_p;
    pack_panel(src, pr.a_stride_i, pr.a_stride_p, std::min<int64_t>(info.mr, rows - ir), kc,
               info.mr, a_block + ir * kc, info.pack_transposed);
  }
}

// Packs op(B)[p0 : p0 + kc, j0 : j0 + cols] as nr-column micro-panels.
void pack_b_block(const KernelInfo &info, const Problem &pr, int64_t j0, int64_t cols, int64_t p0,
                  int64_t kc, float *b_block) {
  for (int64_t jr = 0; jr < cols; jr += info.nr) {
    const float *src = pr.b + p0 * pr.b_stride_p + (j0 + jr) * pr.b_stride_j;
    pack_panel(src, pr.b_stride_j, pr.b_stride_p, std::min<int64_t>(info.nr, cols - jr), kc,
               info.nr, b_block + jr * kc, info.pack_transposed);
  }
}

// The five loops of GotoBLAS over one thread's rectangle of C, with its own buffers: no
// thread waits for another, so one descheduled thread (2 cores shared with other work) delays
// only its own share, never a barrier of every block.
void run_rectangle(const KernelInfo &info, const Problem &pr, const Rectangle &rect, int64_t mc,
                   int64_t kc, int64_t nc, float *a_block, float *b_block) {
  if (rect.i_begin >= rect.i_end) return;  // more threads than row tiles: nothing to pack
  // Equal row blocks (never more rows than the A buffer was sized for: mc is a multiple of mr).
  mc = balanced_block(rect.i_end - rect.i_begin, mc, info.mr);
  // Packing a kc x nc block of B pays off over many rows of A; for a few rows (an expert that
  // received few tokens) it would cost as much as the arithmetic, so a plain B is read in place.
  const bool in_place_b = pr.b_stride_j == 1 && rect.i_end - rect.i_begin <= kInPlaceRows;
  for (int64_t j0 = rect.j_begin; j0 < rect.j_end; j0 += nc) {
    const int64_t cols = std::min(nc, rect.j_end - j0);
    for (int64_t p0 = 0; p0 < pr.k; p0 += kc) {
      const int64_t depth = std::min(kc, pr.k - p0);
      BBlock block{b_block, depth, info.nr, nullptr};
      if (in_place_b) {
        block = {pr.b + p0 * pr.b_stride_p + j0, 1, pr.b_stride_p, b_block};
      } else {
        pack_b_block(info, pr, j0, cols, p0, depth, b_block);
      }
      // The first kc slice applies the caller's beta; later slices accumulate onto it.
      const float beta = p0 == 0 ? pr.beta : 1.0f;
      for (int64_t i0 = rect.i_begin; i0 < rect.i_end; i0 += mc) {
        const int64_t rows = std::min(mc, rect.i_end - i0);
        pack_a_block(info, pr, i0, rows, p0, depth, a_block);
        macro_kernel(info, depth, rows, cols, a_block, block, pr.alpha, beta,
                     pr.c + i0 * pr.ldc + j0, pr.ldc);
      }
    }
  }
}

}  // namespace

void sgemm_packed(const KernelInfo &info, bool trans_a, bool trans_b, int64_t m, int64_t n,
                  int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float beta, float *c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) return scale_matrix(m, n, beta, c, ldc);
  const Problem pr{m, n, k, alpha, beta,
                   a, trans_a ? 1 : lda, trans_a ? lda : 1,
                   b, trans_b ? 1 : ldb, trans_b ? ldb : 1,
                   c, ldc};

  // Step 1: block sizes for this shape, and how many threads its work pays for.
  const int64_t kc = balanced_block(k, info.kc, 1);
  const int64_t nc = balanced_block(n, info.nc, info.nr);
  const int64_t mc = std::min(info.mc, round_up(m, info.mr));
  const int num_threads = static_cast<int>(
      std::min<int64_t>(omp_get_max_threads(), ceil_div(m * n * k, kWorkPerThread)));

  // Step 2: one buffer of the calling thread (allocated here, outside the parallel region, so
  // that a failure throws to the caller), holding an A block and a B block per thread.
  const int64_t a_floats = round_up(mc * kc, kFloatsPerLine);
  const int64_t b_floats = round_up(kc * nc, kFloatsPerLine);
  float *workspace =
      thread_workspace(static_cast<size_t>(num_threads * (a_floats + b_floats)));

  // Step 3: each thread computes its own rectangle of C.
#pragma omp parallel num_threads(num_threads)
  {
    const int thread = omp_get_thread_num();
    float *a_block = workspace + thread * (a_floats + b_floats);
    const Rectangle rect = thread_rectangle(info, pr, thread, omp_get_num_threads());
    run_rectangle(info, pr, rect, mc, kc, nc, a_block, a_block + a_floats);
  }
}

}  // namespace prophet::cpu::gemm

namespace prophet::cpu {

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
           int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) return gemm::scale_matrix(m, n, beta, c, ldc);
  if (m * n * k <= gemm::kSmallWork) {
    return gemm::sgemm_small(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  gemm::sgemm_packed(gemm::best_kernel(), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta,
                     c, ldc);
}

const char *sgemm_isa() { return gemm::best_kernel().isa; }

}  // namespace prophet::cpu
