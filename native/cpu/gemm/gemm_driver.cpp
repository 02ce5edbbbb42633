// The GotoBLAS/BLIS loop nest around the micro-kernels. For many rows (row blocks of at least
// kMinUnitRowTiles tiles, several per thread, and shrinking ones at the end) the threads share
// one packed op(B) and take row blocks from a counter (sgemm_shared_b). Otherwise OpenMP
// threads split C into one rectangle each (along m or n, whichever balances better) and walk
// it with their own packed blocks of op(A) (mc x kc) and op(B) (kc x nc), in the order the
// kernel is blocked for (KernelInfo::a_panel_outer): OpenBLAS's (row blocks ic, kc slices pc,
// column blocks jc; each A micro-panel stays in L1 while the B block is swept from L2) or
// BLIS's (jc, pc, ic; each B micro-panel stays in L1 while the A block is swept from L2).
#include <omp.h>

#include <algorithm>
#include <atomic>

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

// Packed blocks start on a cache line (kFloatsPerLine, gemm_kernel.h) so that panels load
// aligned.

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

// A block of B to pull into L2 while the current one is computed (the shared-B path's next
// group of panels, which otherwise arrives from L3 during its first sweep): each tile's kernel
// requests its share, one line per depth step. Empty: nothing to pull.
struct Prefetch {
  const float *data = nullptr;
  int64_t floats = 0;
};

// C = alpha * A * B + beta * C over a tile smaller than mr x nr: the kernel writes a full tile
// into scratch, of which the valid part is merged.
void edge_tile(const KernelInfo &info, int64_t kc, const float *a_panel, const float *b_panel,
               int64_t ldb, int64_t rows, int64_t cols, float alpha, float beta, float *c,
               int64_t ldc, const float *l2_next, int64_t l2_lines) {
  alignas(64) float tile[kMaxTileFloats];
  info.kernel(kc, a_panel, b_panel, ldb, tile, info.nr, 1.0f, 0.0f, l2_next, l2_lines);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const float product = alpha * tile[i * info.nr + j];
      c[i * ldc + j] = beta == 0.0f ? product : product + beta * c[i * ldc + j];
    }
  }
}

// One register tile of C (rows x cols of at most mr x nr): the full kernel, the kernel for
// the first rows of a tile, or a full tile into scratch merged into C; each requests the
// l2_lines lines at l2_next (MicroKernel).
void compute_tile(const KernelInfo &info, int64_t kc, const float *a_panel, const float *b_panel,
                  int64_t ldb, int64_t rows, int64_t cols, float alpha, float beta, float *c,
                  int64_t ldc, const float *l2_next, int64_t l2_lines) {
  if (rows == info.mr && cols == info.nr) {
    info.kernel(kc, a_panel, b_panel, ldb, c, ldc, alpha, beta, l2_next, l2_lines);
  } else if (cols == info.nr && info.row_kernels != nullptr) {
    info.row_kernels[rows](kc, a_panel, b_panel, ldb, c, ldc, alpha, beta, l2_next, l2_lines);
  } else {
    edge_tile(info, kc, a_panel, b_panel, ldb, rows, cols, alpha, beta, c, ldc, l2_next,
              l2_lines);
  }
}

// One packed A block (rows x kc) times B panels (kc x cols) into C[rows, cols], in the
// kernel's loop order (KernelInfo::a_panel_outer): each A micro-panel stays in L1 while the B
// micro-panels stream from L2, or each B micro-panel stays in L1 while the A micro-panels
// stream from L2. A B read in place is always swept panel by panel, so that each of its
// strided panels is fetched from memory once. Each tile's kernel requests its share of `next`.
void macro_kernel(const KernelInfo &info, int64_t kc, int64_t rows, int64_t cols,
                  const float *a_block, const BBlock &b_block, float alpha, float beta, float *c,
                  int64_t ldc, const Prefetch &next = {}) {
  const bool in_place = b_block.scratch != nullptr;
  const int64_t next_lines = ceil_div(next.floats, kFloatsPerLine);
  const int64_t lines_per_tile =
      ceil_div(next_lines, ceil_div(rows, info.mr) * ceil_div(cols, info.nr));
  int64_t requested = 0;  // lines of `next`
  const auto tile = [&](int64_t ir, int64_t jr, const float *b_panel, int64_t ldb) {
    const int64_t lines = std::min(lines_per_tile, next_lines - requested);
    compute_tile(info, kc, a_block + ir * kc, b_panel, ldb, std::min<int64_t>(info.mr, rows - ir),
                 std::min<int64_t>(info.nr, cols - jr), alpha, beta, c + ir * ldc + jr, ldc,
                 next.data + requested * kFloatsPerLine, lines);
    requested += lines;
  };
  const auto b_panel = [&](int64_t jr) { return b_block.data + jr * b_block.column_scale; };
  if (info.a_panel_outer && !in_place) {
    for (int64_t ir = 0; ir < rows; ir += info.mr) {
      for (int64_t jr = 0; jr < cols; jr += info.nr) {
        tile(ir, jr, b_panel(jr), b_block.depth_stride);
      }
    }
    return;
  }
  for (int64_t jr = 0; jr < cols; jr += info.nr) {
    const float *panel = b_panel(jr);
    int64_t ldb = b_block.depth_stride;
    if (in_place && cols - jr < info.nr) {
      // In place, a partial panel would read past the end of B's rows: pack it, zero-padded.
      pack_panel(panel, 1, ldb, cols - jr, kc, info.nr, b_block.scratch, nullptr);
      panel = b_block.scratch;
      ldb = info.nr;
    }
    for (int64_t ir = 0; ir < rows; ir += info.mr) tile(ir, jr, panel, ldb);
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

// The five loops of GotoBLAS over one thread's rectangle of C, in the order the kernel is
// blocked for (KernelInfo::a_panel_outer), with its own buffers: no
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
  if (info.a_panel_outer && !in_place_b) {
    // OpenBLAS's order for a kernel that sweeps B from L2 under each A micro-panel: each mc x kc
    // block of A (mc large: it need not fit in L2) is packed once and swept against every
    // kc x nc block of B, so that A, whose packing transposes, is not packed again for every
    // nc columns; B's cheaper row copies are repeated per mc block instead.
    for (int64_t i0 = rect.i_begin; i0 < rect.i_end; i0 += mc) {
      const int64_t rows = std::min(mc, rect.i_end - i0);
      for (int64_t p0 = 0; p0 < pr.k; p0 += kc) {
        const int64_t depth = std::min(kc, pr.k - p0);
        const float beta = p0 == 0 ? pr.beta : 1.0f;  // later kc slices accumulate
        pack_a_block(info, pr, i0, rows, p0, depth, a_block);
        for (int64_t j0 = rect.j_begin; j0 < rect.j_end; j0 += nc) {
          const int64_t cols = std::min(nc, rect.j_end - j0);
          pack_b_block(info, pr, j0, cols, p0, depth, b_block);
          macro_kernel(info, depth, rows, cols, a_block, BBlock{b_block, depth, info.nr, nullptr},
                       pr.alpha, beta, pr.c + i0 * pr.ldc + j0, pr.ldc);
        }
      }
    }
    return;
  }
  // BLIS's order: each kc x nc block of B is packed once and swept by every mc x kc block of A.
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


// ---- Shared op(B): one packed copy per call, read by every thread ----
//
// With a fixed split of C each thread packs and streams its own copy of op(B); on the largest
// shapes the two copies cost a quarter of the time against OpenBLAS, which packs B once. Here
// all of op(B) is packed once, panel by panel, into one buffer of the call, and the threads take
// units of C (a row block by a column block, over the whole depth) from an atomic counter, so
// that a thread delayed by other work on these shared cores simply takes fewer units. Nothing
// waits: a B panel that another thread is packing right now is computed later, and if it is
// still not ready then, packed again privately (the same values, so results stay bitwise equal
// whoever packs). Each C tile sums its kc slices in the same order on any thread.
//
// The shared op(B) (up to 64 MiB) lives in L3, so the first sweep of each group of panels, under
// a unit's first A micro-panel, used to wait on L3: 2.1-2.5 times as long as the later sweeps
// from L2 (cycle counts at 4096 x 8192 x 2048, two threads), about 7% of the whole. Each group
// now prefetches the next one into L2 while it is computed, and that first sweep takes 1.1-1.5
// times a later one.

// Largest packed op(B) (floats) shared this way: 64 MiB (k x n = 2048 x 8192); beyond it the
// per-thread rectangles, whose kc x nc blocks stay small, are used.
constexpr int64_t kMaxSharedB = int64_t{1} << 24;
// Full units per thread the counter hands out: enough that a slowed thread catches up.
constexpr int64_t kUnitsPerThread = 8;
// Fewest register-tile rows of a unit: its B panels, loaded into L1, serve this many tiles
// (half of an mc block on AVX-512). With 4, m = 1024 took 16 units of 5 tiles, each B panel
// fetched from L3 for 70 rows only, and measured 3-15% slower than the rectangles (1024 x 2048
// x 4096 and 1024 x 4096 x 2048, four interleaved runs each, 2026-11-28); units of 18 or more
// tiles (m >= 4096 at two threads) measured 3-10% faster on the W2 shapes.
constexpr int64_t kMinUnitRowTiles = 18;

// Panel states in SharedB::state.
constexpr int kPanelFree = 0, kPanelPacking = 1, kPanelReady = 2;

// op(B) packed as kc slices, each slice a row of nr-column micro-panels.
struct SharedB {
  float *data;
  int64_t n_padded;                // columns rounded up to nr
  int64_t num_panels;              // nr-column panels per slice
  std::atomic<int> *state;         // [slice][panel]: kPanelFree, kPanelPacking or kPanelReady
  float *panel(int64_t p0, int64_t depth, int64_t jp, int nr) const {
    return data + p0 * n_padded + jp * nr * depth;
  }
};

// Fewest register-tile rows of the last, shrinking units (see UnitGrid).
constexpr int64_t kMinTailTiles = 4;

// The units, row blocks over all columns, handed out in order from a counter of register-tile
// rows: full units of unit_tiles while plenty remain, then (guided scheduling) a share of
// 1 / (2 * num_threads) of what remains, down to kMinTailTiles, so that the threads finish
// within a short unit of each other rather than a full one (with full units only, two threads
// at m = 4096 finished 12-39 ms apart in a 500 ms call, against 4-12 ms now; 2026-11-28).
// Unit boundaries are a function of the start alone, so every run cuts the same units
// whichever thread takes them.
struct UnitGrid {
  int64_t unit_tiles;  // tiles of a full unit
  int64_t row_tiles;   // tiles of all of C's rows
  int num_threads;

  // Tiles of the unit starting at tile `first` (< row_tiles).
  int64_t tiles_from(int64_t first) const {
    const int64_t remaining = row_tiles - first;
    const int64_t share = ceil_div(remaining, 2 * int64_t{num_threads});
    const int64_t guided = std::max(kMinTailTiles, share);
    return std::min({unit_tiles, guided, remaining});
  }

  // Claims the next unit: its first tile and tile count; false once every row is taken.
  bool take(std::atomic<int64_t> &next_tile, int64_t &first, int64_t &tiles) const {
    first = next_tile.load(std::memory_order_relaxed);
    do {
      if (first >= row_tiles) return false;
      tiles = tiles_from(first);
    } while (!next_tile.compare_exchange_weak(first, first + tiles, std::memory_order_relaxed));
    return true;
  }
};

// Full units of at most mc rows, and at least kUnitsPerThread per thread (a multiple of the
// thread count, so that equal speeds end together) while they keep kMinUnitRowTiles tiles.
UnitGrid unit_grid(const KernelInfo &info, const Problem &pr, int64_t mc, int num_threads) {
  const int64_t row_tiles = ceil_div(pr.m, info.mr);
  const int64_t most_blocks = std::max<int64_t>(1, row_tiles / kMinUnitRowTiles);
  const int64_t blocks =
      std::max(ceil_div(pr.m, mc),
               std::min(kUnitsPerThread * num_threads, round_up(most_blocks, num_threads)));
  return {ceil_div(row_tiles, std::min(blocks, row_tiles)), row_tiles, num_threads};
}

// One unit of C: rows [i0, i0 + rows), columns [j0, j0 + cols), over all kc slices. `skipped`
// has room for the unit's panels; `scratch` for one private kc x nr panel.
void run_unit(const KernelInfo &info, const Problem &pr, const SharedB &shared, int64_t kc,
              int64_t i0, int64_t rows, int64_t j0, int64_t cols, float *a_block,
              float *scratch, int64_t *skipped) {
  const int64_t first_panel = j0 / info.nr;
  const int64_t last_panel = ceil_div(j0 + cols, info.nr);
  // A kernel that sweeps B from L2 under each A micro-panel takes groups of half its kc x nc
  // block (fewer columns for a deeper slice), so that the group being computed and the next
  // one being prefetched fit in L2 together with the A block (with whole 1 MiB blocks the
  // prefetched group's first sweep still took 1.8-2.0 times a later one, against 1.1-1.5
  // times with 512 KiB groups).
  const int64_t group_panels =
      info.a_panel_outer ? std::max<int64_t>(1, info.kc * info.nc / 2 / (kc * info.nr)) : 1;
  // The group after panels [.., g1) of the kc slice at p0: the next one in the slice, or the
  // first of the next slice.
  const auto following_group = [&](int64_t p0, int64_t depth, int64_t g1) -> Prefetch {
    if (g1 < last_panel) {
      return {shared.panel(p0, depth, g1, info.nr),
              (std::min(g1 + group_panels, last_panel) - g1) * depth * info.nr};
    }
    if (p0 + kc >= pr.k) return {};
    const int64_t next_depth = std::min(kc, pr.k - p0 - kc);
    return {shared.panel(p0 + kc, next_depth, first_panel, info.nr),
            (std::min(first_panel + group_panels, last_panel) - first_panel) * next_depth *
                info.nr};
  };
  for (int64_t p0 = 0, slice = 0; p0 < pr.k; p0 += kc, ++slice) {
    const int64_t depth = std::min(kc, pr.k - p0);
    const float beta = p0 == 0 ? pr.beta : 1.0f;
    pack_a_block(info, pr, i0, rows, p0, depth, a_block);
    std::atomic<int> *state = shared.state + slice * shared.num_panels;
    const auto compute = [&](int64_t jp, const float *panel) {
      const int64_t j = jp * info.nr;
      macro_kernel(info, depth, rows, std::min<int64_t>(info.nr, pr.n - j), a_block,
                   BBlock{panel, depth, info.nr, nullptr}, pr.alpha, beta,
                   pr.c + i0 * pr.ldc + j, pr.ldc);
    };
    const auto pack_into = [&](int64_t jp, float *out) {
      const int64_t j = jp * info.nr;
      pack_b_block(info, pr, j, std::min<int64_t>(info.nr, pr.n - j), p0, depth, out);
    };
    // Step 1: groups of panels (a kc x nc block of B for a kernel that sweeps B from L2 under
    // each A micro-panel, else single panels): free ones are packed here, then the group is
    // computed; panels being packed elsewhere wait.
    int64_t num_skipped = 0;
    for (int64_t g0 = first_panel; g0 < last_panel; g0 += group_panels) {
      const int64_t g1 = std::min(g0 + group_panels, last_panel);
      const int64_t group_skipped_from = num_skipped;
      for (int64_t jp = g0; jp < g1; ++jp) {
        int s = state[jp].load(std::memory_order_acquire);
        if (s == kPanelFree &&
            state[jp].compare_exchange_strong(s, kPanelPacking, std::memory_order_acquire)) {
          pack_into(jp, shared.panel(p0, depth, jp, info.nr));
          state[jp].store(kPanelReady, std::memory_order_release);
          s = kPanelReady;
        }
        if (s != kPanelReady) skipped[num_skipped++] = jp;
      }
      if (num_skipped == group_skipped_from) {
        // The whole group is ready: its panels lie next to each other in the shared buffer.
        const int64_t j = g0 * info.nr;
        macro_kernel(info, depth, rows, std::min(g1 * info.nr, pr.n) - j, a_block,
                     BBlock{shared.panel(p0, depth, g0, info.nr), depth, info.nr, nullptr},
                     pr.alpha, beta, pr.c + i0 * pr.ldc + j, pr.ldc,
                     following_group(p0, depth, g1));
        continue;
      }
      // Some were skipped (listed in ascending order): the others one by one.
      for (int64_t jp = g0, q = group_skipped_from; jp < g1; ++jp) {
        if (q < num_skipped && skipped[q] == jp) {
          ++q;
        } else {
          compute(jp, shared.panel(p0, depth, jp, info.nr));
        }
      }
    }
    // Step 2: the skipped panels, shared if ready by now, else packed privately.
    for (int64_t q = 0; q < num_skipped; ++q) {
      const int64_t jp = skipped[q];
      if (state[jp].load(std::memory_order_acquire) == kPanelReady) {
        compute(jp, shared.panel(p0, depth, jp, info.nr));
      } else {
        pack_into(jp, scratch);
        compute(jp, scratch);
      }
    }
  }
}

// Whether a call takes the shared-B path: several threads, enough rows for kUnitsPerThread
// row blocks per thread (with fewer, blocks would have to split the columns too, and each
// would pack its rows of op(A) again: measured slower than the rectangles at m = 256) of
// kMinUnitRowTiles tiles each, and a packed op(B) within kMaxSharedB.
bool use_shared_b(const KernelInfo &info, const Problem &pr, int num_threads) {
  return num_threads > 1 &&
         ceil_div(pr.m, info.mr) >= kMinUnitRowTiles * kUnitsPerThread * num_threads &&
         pr.k * round_up(pr.n, info.nr) <= kMaxSharedB;
}

void sgemm_shared_b(const KernelInfo &info, const Problem &pr, int64_t mc, int64_t kc,
                    int num_threads) {
  const UnitGrid grid = unit_grid(info, pr, mc, num_threads);
  const int64_t num_slices = ceil_div(pr.k, kc);
  const int64_t n_padded = round_up(pr.n, info.nr);
  const int64_t num_panels = n_padded / info.nr;
  // Step 1: one buffer of the calling thread: the shared op(B), then per thread an A block, a
  // private B panel and the skipped-panel list; the panel states live in their own array.
  const int64_t b_floats = round_up(pr.k * n_padded, kFloatsPerLine);
  const int64_t a_floats = round_up(grid.unit_tiles * info.mr * kc, kFloatsPerLine);
  const int64_t scratch_floats = round_up(kc * info.nr, kFloatsPerLine);
  const int64_t list_floats = round_up(2 * num_panels, kFloatsPerLine);  // int64 entries
  const int64_t per_thread = a_floats + scratch_floats + list_floats;
  float *workspace = thread_workspace(static_cast<size_t>(b_floats + num_threads * per_thread));
  std::atomic<int> *state = thread_panel_states(static_cast<size_t>(num_slices * num_panels));
  const SharedB shared{workspace, n_padded, num_panels, state};
  std::atomic<int64_t> next_tile{0};

  // Step 2: threads take row blocks in order; concurrent ones read the same B panels.
#pragma omp parallel num_threads(num_threads)
  {
    float *mine = workspace + b_floats + omp_get_thread_num() * per_thread;
    float *a_block = mine;
    float *scratch = mine + a_floats;
    int64_t *skipped = reinterpret_cast<int64_t *>(mine + a_floats + scratch_floats);
    for (int64_t first = 0, tiles = 0; grid.take(next_tile, first, tiles);) {
      const int64_t i0 = first * info.mr;
      run_unit(info, pr, shared, kc, i0, std::min(tiles * info.mr, pr.m - i0), 0, pr.n, a_block,
               scratch, skipped);
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
  if (use_shared_b(info, pr, num_threads)) return sgemm_shared_b(info, pr, mc, kc, num_threads);

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
