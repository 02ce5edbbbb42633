// Private to native/cpu/gemm: the micro-kernel contract shared by the driver and the per-ISA
// kernel files, after the BLIS/GotoBLAS design (Goto & van de Geijn 2008; Van Zee & van de Geijn
// 2015). Each ISA file compiles its own kernel with its own target flags and describes it here.
#pragma once

#include <cstdint>

namespace prophet::cpu::gemm {

// C[0:mr, 0:nr] = alpha * Ap * Bp + beta * C, for one register tile.
//   a: packed micro-panel of op(A), [kc][mr] (mr values of one column p, then the next p),
//      64-byte aligned and zero-padded.
//   b: micro-panel of op(B): nr values of each depth step p, step p at b + p * ldb. Packed
//      (ldb = nr), or read in place from a plain row-major B (ldb = its row stride).
//   c: row-major tile with row stride ldc; never read when beta == 0 (NaNs in C do not leak).
//   l2_next, l2_lines: cache lines of data the driver needs next (the next block of B), which
//      the kernel requests into L2 one per depth step, interleaved with its arithmetic: the
//      same requests issued back to back before the call stalled on the fill buffers, 3% of a
//      two-thread run (perf, 2026-11-28). Lines past the depth are requested at the end.
//      Only requests: any address is allowed, and l2_lines may be 0.
using MicroKernel = void (*)(int64_t kc, const float *a, const float *b, int64_t ldb, float *c,
                             int64_t ldc, float alpha, float beta, const float *l2_next,
                             int64_t l2_lines);

// Floats per 64-byte cache line: the step between the lines of l2_next.
constexpr int64_t kFloatsPerLine = 16;

// Optional ISA-specific packing of a micro-panel whose depth is contiguous in memory (the
// transposing case of pack_panel in gemm_pack.h: plain A, transposed B), for full panels of
// `width` rows (width = the kernel's mr or nr). Returns false to leave the panel to the
// portable code.
using TransposingPack = bool (*)(const float *src, int64_t stride_r, int64_t depth, int width,
                                 float *out);

// One register-blocked kernel and the cache blocking tuned for it.
struct KernelInfo {
  const char *isa;  // "avx512", "avx2" or "generic": what sgemm_isa() reports
  int mr;           // rows of C per register tile
  int nr;           // columns of C per register tile
  int64_t mc;       // rows of op(A) per packed block (mc x kc floats stay in L2)
  int64_t kc;       // depth per packed block (a kc x nr micro-panel of B stays in L1)
  int64_t nc;       // columns of op(B) per packed block (kc x nc floats, shared, in L3)
  MicroKernel kernel;
  // row_kernels[r] computes only the first r rows of a tile (r in 1..mr), for the last rows of
  // C; nullptr: such tiles are computed in full into scratch and their valid part merged.
  const MicroKernel *row_kernels;
  TransposingPack pack_transposed;  // nullptr: the portable packing does all panels
  // Which micro-panel the macro-kernel keeps in L1 while it sweeps the other (see
  // gemm_driver.cpp). false: the B panel (BLIS's order: each kc x nr panel of B serves every
  // A micro-panel of the mc x kc block in L2). true: the A panel (OpenBLAS's order: each
  // mr x kc panel of A serves every B micro-panel of the kc x nc block, which must then fit
  // in L2, so nc is sized for L2 rather than L3).
  bool a_panel_outer;
};

// The kernels this build has; a kernel's `kernel` runs only where its ISA is supported.
extern const KernelInfo kAvx512Kernel;
extern const KernelInfo kAvx2Kernel;
extern const KernelInfo kGenericKernel;

// The AVX-512 TransposingPack (pack_avx512.cpp), for any width; x86 builds only.
bool pack_transposed_avx512(const float *src, int64_t stride_r, int64_t depth, int width,
                            float *out);

// The fastest kernel this processor supports (cpuid, decided once).
const KernelInfo &best_kernel();

// The kernel named `isa` if this processor supports it, else nullptr.
const KernelInfo *kernel_for_isa(const char *isa);

// sgemm of native/cpu/gemm.h on a given kernel, skipping the small-problem path, so that tests
// and benchmarks can exercise every kernel the processor supports.
void sgemm_packed(const KernelInfo &info, bool trans_a, bool trans_b, int64_t m, int64_t n,
                  int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float beta, float *c, int64_t ldc);

}  // namespace prophet::cpu::gemm
