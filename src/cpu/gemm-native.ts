/**
 * Types of the CPU GEMM's test and benchmark bindings (native/addon/gemm_binding.h). They are
 * synchronous and block the JS thread; models run GEMMs as stream-ordered kernels instead.
 */
import type {} from '../native.js';

/** Micro-kernels of the CPU GEMM, chosen at run time from cpuid. */
export type SgemmIsa = 'avx512' | 'avx2' | 'generic';

declare module '../native.js' {
  interface NativeAddon {
    /**
     * C = alpha · op(A) · op(B) + beta · C in place, row-major fp32.
     * op(A) is [m, k]: `a` holds [m, k] with row stride `lda`, or [k, m] when `transA`.
     * op(B) is [k, n]: `b` holds [k, n] with row stride `ldb`, or [n, k] when `transB`.
     * `c` holds [m, n] with row stride `ldc`; beta = 0 overwrites it (NaNs do not propagate).
     * `isa` forces that micro-kernel (and its packed path even for tiny shapes); a RangeError
     * names it when the processor lacks it. Bad arguments throw TypeError/RangeError naming
     * the argument; arrays too short for their shape and stride throw a RangeError.
     */
    sgemm(
      transA: boolean,
      transB: boolean,
      m: number,
      n: number,
      k: number,
      alpha: number,
      a: Float32Array,
      lda: number,
      b: Float32Array,
      ldb: number,
      beta: number,
      c: Float32Array,
      ldc: number,
      isa?: SgemmIsa,
    ): void;
    /** The micro-kernel sgemm picks on this processor. */
    sgemmIsa(): SgemmIsa;
    /**
     * Benchmark reference: the same call through OpenBLAS's cblas_sgemm, loaded at run time
     * (env PROPHET_OPENBLAS_LIBRARY, then libopenblas.so.0, libopenblas.so) on as many threads
     * as ours. Returns false, leaving `c` untouched, when OpenBLAS is absent.
     */
    openblasSgemm(
      transA: boolean,
      transB: boolean,
      m: number,
      n: number,
      k: number,
      alpha: number,
      a: Float32Array,
      lda: number,
      b: Float32Array,
      ldb: number,
      beta: number,
      c: Float32Array,
      ldc: number,
    ): boolean;
    /** OpenBLAS's configuration and the core it runs ("OpenBLAS 0.3.21 ... | SkylakeX"), '' when absent. */
    openblasConfig(): string;
  }
}
