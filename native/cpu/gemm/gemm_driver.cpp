// The GotoBLAS/BLIS loop nest around the micro-kernels: for each nc-wide block of columns
// (jc) and kc-deep slice (pc), the threads pack the kc x nc block of op(B) together into a
// shared buffer; each thread then packs mc x kc blocks of op(A) for its own rows (ic) and
// sweeps its register tiles (jr, ir). OpenMP splits the work of each block between threads
// along m or n, whichever balances better.
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

// The half-open range of `num_items` that part `index` of `num_parts` gets.
void split(int64_t num_items, int index, int num_parts, int64_t &begin, int64_t &end) {
  begin = num_items * index / num_parts;
  end = num_items * (index + 1) / num_parts;
}

// How many thread rows (the rest are thread columns) minimise the largest share of register
// tiles; ties go to more rows, whose threads then share every packed B panel.
int thread_rows(int num_threads, int64_t num_row_panels, int64_t num_col_panels) {
  int best_rows = 1;
  int64_t best_share = INT64_MAX;
  for (int rows = num_threads; rows >= 1; --rows) {
    if (num_threads % rows != 0) continue;
    const int64_t share =
        ceil_div(num_row_panels, rows) * ceil_div(num_col_panels, num_threads / rows);
    if (share < best_share) best_rows = rows, best_share = share;
  }
  return best_rows;
}

// C = alpha * A * B + beta * C over a tile smaller than mr x nr: the kernel writes a full tile
// into scratch, of which the valid part is merged.
void edge_tile(const KernelInfo &info, int64_t kc, const float *a_panel, const float *b_panel,
               int64_t rows, int64_t cols, float alpha, float beta, float *c, int64_t ldc) {
  alignas(64) float tile[kMaxTileFloats];
  info.kernel(kc, a_panel, b_panel, tile, info.nr, 1.0f, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const float product = alpha * tile[i * info.nr + j];
      c[i * ldc + j] = beta == 0.0f ? product : product + beta * c[i * ldc + j];
    }
  }
}

// One packed A block (rows x kc) times packed B panels (kc x cols) into C[rows, cols].
void macro_kernel(const KernelInfo &info, int64_t kc, int64_t rows, int64_t cols,
                  const float *a_block, const float *b_block, float alpha, float beta, float *c,
                  int64_t ldc) {
  for (int64_t jr = 0; jr < cols; jr += info.nr) {
    const float *b_panel = b_block + jr * kc;
    const int64_t tile_cols = std::min<int64_t>(info.nr, cols - jr);
    for (int64_t ir = 0; ir < rows; ir += info.mr) {
      const float *a_panel = a_block + ir * kc;
      const int64_t tile_rows = std::min<int64_t>(info.mr, rows - ir);
      float *c_tile = c + ir * ldc + jr;
      if (tile_rows == info.mr && tile_cols == info.nr) {
        info.kernel(kc, a_panel, b_panel, c_tile, ldc, alpha, beta);
      } else {
        edge_tile(info, kc, a_panel, b_panel, tile_rows, tile_cols, alpha, beta, c_tile, ldc);
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
               info.mr, a_block + ir * kc);
  }
}

// The threads' share of one (jc, pc) step: pack B together, then each its own rows and columns.
void block_step(const KernelInfo &info, const Problem &pr, int64_t j0, int64_t nc, int64_t p0,
                int64_t kc, int64_t mc, float *b_block, float *a_block) {
  const int thread = omp_get_thread_num();
  const int num_threads = omp_get_num_threads();

  // Step 1: pack op(B)[p0 : p0 + kc, j0 : j0 + nc] as nr-column micro-panels, shared.
  const int64_t num_col_panels = ceil_div(nc, info.nr);
#pragma omp for schedule(static)
  for (int64_t panel = 0; panel < num_col_panels; ++panel) {
    const int64_t jr = panel * info.nr;
    const float *src = pr.b + p0 * pr.b_stride_p + (j0 + jr) * pr.b_stride_j;
    pack_panel(src, pr.b_stride_j, pr.b_stride_p, std::min<int64_t>(info.nr, nc - jr), kc,
               info.nr, b_block + jr * kc);
  }  // implicit barrier: B is packed before anyone reads it

  // Step 2: this thread's rectangle of register tiles.
  const int64_t num_row_panels = ceil_div(pr.m, info.mr);
  const int rows_of_threads = thread_rows(num_threads, num_row_panels, num_col_panels);
  int64_t row_begin, row_end, col_begin, col_end;
  split(num_row_panels, thread % rows_of_threads, rows_of_threads, row_begin, row_end);
  split(num_col_panels, thread / rows_of_threads, num_threads / rows_of_threads, col_begin,
        col_end);
  const int64_t i_begin = row_begin * info.mr, i_end = std::min(row_end * info.mr, pr.m);
  const int64_t j_begin = col_begin * info.nr, j_end = std::min(col_end * info.nr, nc);

  // Step 3: for each mc-row block, pack A and run the register tiles. The first kc slice
  // applies the caller's beta, later slices accumulate.
  const float beta = p0 == 0 ? pr.beta : 1.0f;
  for (int64_t i0 = i_begin; i0 < i_end; i0 += mc) {
    const int64_t rows = std::min(mc, i_end - i0);
    pack_a_block(info, pr, i0, rows, p0, kc, a_block);
    if (j_end > j_begin) {
      macro_kernel(info, kc, rows, j_end - j_begin, a_block, b_block + j_begin * kc, pr.alpha,
                   beta, pr.c + i0 * pr.ldc + j0 + j_begin, pr.ldc);
    }
  }
#pragma omp barrier  // everyone is done with b_block before the next step repacks it
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

  // Step 1: block sizes for this shape and thread count.
  const int64_t kc = balanced_block(k, info.kc, 1);
  const int64_t nc = balanced_block(n, info.nc, info.nr);
  const int64_t mc = std::min(info.mc, ceil_div(m, info.mr) * info.mr);
  const int num_threads = static_cast<int>(
      std::min<int64_t>(omp_get_max_threads(), ceil_div(m * n * k, kWorkPerThread)));

  // Step 2: one buffer of the calling thread (allocated here, outside the parallel region, so
  // that a failure throws to the caller): the shared B block, then one A block per thread.
  const int64_t b_floats = round_up(kc * nc, kFloatsPerLine);
  const int64_t a_floats = round_up(mc * kc, kFloatsPerLine);
  float *workspace = thread_workspace(static_cast<size_t>(b_floats + num_threads * a_floats));

  // Step 3: the jc and pc loops, every thread walking them in step.
#pragma omp parallel num_threads(num_threads)
  {
    float *b_block = workspace;
    float *a_block = workspace + b_floats + omp_get_thread_num() * a_floats;
    for (int64_t j0 = 0; j0 < n; j0 += nc) {
      for (int64_t p0 = 0; p0 < k; p0 += kc) {
        block_step(info, pr, j0, std::min(nc, n - j0), p0, std::min(kc, k - p0), mc, b_block,
                   a_block);
      }
    }
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
