/**
 * The CPU GEMM (native/cpu/gemm.h) against a plain-JS float64 reference, through the test
 * binding: every transpose, edge tiles, zero sizes, padded strides, alpha/beta, NaN in C with
 * beta = 0, shapes spanning several cache blocks, every micro-kernel this processor supports,
 * two threads at once, and the binding's argument errors.
 */
import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import type { SgemmIsa } from '../../src/cpu/gemm-native.js';
import { addon, packageRoot } from '../../src/native.js';

const native = addon();

/** Every kernel that could exist; the ones this processor lacks are skipped. */
const ALL_ISAS: readonly SgemmIsa[] = ['avx512', 'avx2', 'generic'];

function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Float32Array of `length` values uniform in [-1, 1). */
function randomArray(length: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = 2 * next() - 1;
  return out;
}

interface Case {
  readonly transA: boolean;
  readonly transB: boolean;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly alpha: number;
  readonly beta: number;
}

/** Operands with every row stride padded beyond its row, and C's padding set to a sentinel. */
interface Operands {
  readonly a: Float32Array;
  readonly lda: number;
  readonly b: Float32Array;
  readonly ldb: number;
  readonly c: Float32Array;
  readonly ldc: number;
}

const SENTINEL = -777.25;

function makeOperands(c: Case, seed: number, cFill: 'random' | 'nan'): Operands {
  // Stored A is [m, k] or [k, m]; stored B is [k, n] or [n, k]; C is [m, n]. One spare
  // element after each matrix checks that nothing reads or writes past its last row.
  const [aRows, aCols] = c.transA ? [c.k, c.m] : [c.m, c.k];
  const [bRows, bCols] = c.transB ? [c.n, c.k] : [c.k, c.n];
  const lda = aCols + 3;
  const ldb = bCols + 2;
  const ldc = c.n + 5;
  const a = randomArray(aRows * lda + 1, seed);
  const b = randomArray(bRows * ldb + 1, seed + 1);
  const cArray = cFill === 'nan' ? new Float32Array(c.m * ldc + 1).fill(NaN) : randomArray(c.m * ldc + 1, seed + 2);
  for (let i = 0; i < c.m; i++) cArray.fill(SENTINEL, i * ldc + c.n, (i + 1) * ldc);
  cArray[c.m * ldc] = SENTINEL;
  return { a, lda, b, ldb, c: cArray, ldc };
}

interface Reference {
  /** Expected C, [m, n]. */
  readonly expected: Float64Array;
  /** Per element, the error scale |alpha| · Σ_p |op(A)_ip| |op(B)_pj| + |beta · C_ij|. */
  readonly scale: Float64Array;
}

/** op(X) as a dense float64 [rows, cols] matrix, where element (r, q) = x[r * strideR + q * strideQ]. */
function dense(x: Float32Array, rows: number, cols: number, strideR: number, strideQ: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let q = 0; q < cols; q++) out[r * cols + q] = x[r * strideR + q * strideQ] ?? NaN;
  }
  return out;
}

/** Float64 reference, by the textbook triple loop over op(A) [m, k] and op(B)ᵀ [n, k]. */
function reference(c: Case, ops: Operands): Reference {
  const opA = c.transA ? dense(ops.a, c.m, c.k, 1, ops.lda) : dense(ops.a, c.m, c.k, ops.lda, 1);
  const opBt = c.transB ? dense(ops.b, c.n, c.k, ops.ldb, 1) : dense(ops.b, c.n, c.k, 1, ops.ldb);
  const expected = new Float64Array(c.m * c.n);
  const scale = new Float64Array(c.m * c.n);
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < c.n; j++) {
      let sum = 0;
      let sumAbs = 0;
      for (let p = 0; p < c.k; p++) {
        const product = (opA[i * c.k + p] as number) * (opBt[j * c.k + p] as number);
        sum += product;
        sumAbs += Math.abs(product);
      }
      // beta = 0 must not read C (it may hold NaN): its term is absent, not 0 · C.
      const cTerm = c.beta === 0 ? 0 : c.beta * (ops.c[i * ops.ldc + j] ?? NaN);
      expected[i * c.n + j] = c.alpha * sum + cTerm;
      scale[i * c.n + j] = Math.abs(c.alpha) * sumAbs + Math.abs(cTerm);
    }
  }
  return { expected, scale };
}

/**
 * Checks C against the reference and that A, B and C's padding are untouched.
 *
 * Tolerance: whatever the order of summation (blocked over kc slices, FMAs, any split), a
 * length-k fp32 dot product of exact fp32 inputs satisfies |fl(s) − s| ≤ γ_k Σ|a_ip b_pj| with
 * γ_k = k·u/(1 − k·u), u = 2^-24 (Higham, Accuracy and Stability, §3.1). Scaling by alpha,
 * adding beta·C and the final rounding add at most 3 more roundings, so we allow
 * γ = (k + 3)·2^-23 — twice the first-order bound, which also covers the 1/(1 − k·u) factor —
 * times the scale |alpha|·Σ|a||b| + |beta·C|. The float64 reference's own error (k·2^-53
 * relative) is negligible against it. A tiny absolute floor allows exact zeros.
 */
function expectMatches(c: Case, before: Operands, ref: Reference, after: Operands, label: string): void {
  const { expected, scale } = ref;
  const gamma = (c.k + 3) * 2 ** -23;
  let worst = '';
  let numBad = 0;
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < c.n; j++) {
      const got = after.c[i * after.ldc + j] ?? NaN;
      const want = expected[i * c.n + j] ?? NaN;
      const bound = gamma * (scale[i * c.n + j] ?? NaN) + 1e-30;
      if (!(Math.abs(got - want) <= bound)) {
        if (numBad === 0) worst = `C[${i}, ${j}] = ${got}, expected ${want} ± ${bound}`;
        numBad++;
      }
    }
    for (let j = c.n; j < after.ldc; j++) {
      if (after.c[i * after.ldc + j] !== SENTINEL) {
        numBad++;
        worst ||= `padding C[${i}, ${j}] was written`;
      }
    }
  }
  if (after.c[c.m * after.ldc] !== SENTINEL) {
    numBad++;
    worst ||= 'the element after C was written';
  }
  expect(numBad === 0 ? 'ok' : `${label}: ${numBad} bad, first ${worst}`).toBe('ok');
  // A and B are inputs only (compared bitwise: toEqual is slow on large arrays).
  expect(sameBits(after.a, before.a) && sameBits(after.b, before.b)).toBe(true);
}

function sameBits(x: Float32Array, y: Float32Array): boolean {
  const xBits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const yBits = new Uint32Array(y.buffer, y.byteOffset, y.length);
  return xBits.length === yBits.length && xBits.every((bits, i) => bits === yBits[i]);
}

function clone(ops: Operands): Operands {
  return { ...ops, a: ops.a.slice(), b: ops.b.slice(), c: ops.c.slice() };
}

/** Runs `c` on every path (the public entry, then each supported kernel forced) and checks each. */
function checkAllPaths(c: Case, seed: number, cFill: 'random' | 'nan' = 'random'): void {
  const before = makeOperands(c, seed, cFill);
  const ref = reference(c, before);
  const paths: (SgemmIsa | undefined)[] = [undefined, ...supportedIsas];
  for (const isa of paths) {
    const ops = clone(before);
    native.sgemm(c.transA, c.transB, c.m, c.n, c.k, c.alpha, ops.a, ops.lda, ops.b, ops.ldb, c.beta, ops.c, ops.ldc, isa);
    expectMatches(c, before, ref, ops, `${isa ?? 'default'} ${JSON.stringify(c)}`);
  }
}

/** The kernels this processor runs: forcing one it lacks is a RangeError. */
const supportedIsas: SgemmIsa[] = ALL_ISAS.filter((isa) => {
  try {
    native.sgemm(false, false, 1, 1, 1, 1, new Float32Array(1), 1, new Float32Array(1), 1, 0, new Float32Array(1), 1, isa);
    return true;
  } catch {
    return false;
  }
});

const TRANSPOSES = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

const ALPHA_BETA = [
  [1, 0],
  [-0.5, 1],
  [1, 0.25],
  [-0.5, 0],
  [1, 1],
  [-0.5, 0.25],
] as const;

// Every combination of the small sizes (zero, one, below and above a register tile), then
// mixed shapes up to 257 (several register tiles plus an edge; k = 257 spans two kc slices).
const SMALL = [0, 1, 5, 17];
const SMALL_SHAPES = SMALL.flatMap((m) => SMALL.flatMap((n) => SMALL.map((k) => [m, n, k] as const)));
const MIXED_SHAPES = [
  [33, 64, 100],
  [64, 33, 257],
  [100, 257, 33],
  [257, 100, 64],
  [1, 257, 100],
  [257, 1, 17],
  [17, 100, 257],
  [64, 64, 64],
  [100, 100, 1],
  [5, 257, 33],
] as const;

describe('sgemm', () => {
  it('reports the kernel it picked, one this processor supports', () => {
    const isa = native.sgemmIsa();
    expect(ALL_ISAS).toContain(isa);
    expect(supportedIsas).toContain(isa);
    expect(supportedIsas).toContain('generic');
  });

  describe.each(TRANSPOSES)('transA=%s transB=%s', (transA, transB) => {
    it('matches the reference on all small shapes, including zero sizes', () => {
      SMALL_SHAPES.forEach(([m, n, k], index) => {
        const [alpha, beta] = ALPHA_BETA[index % ALPHA_BETA.length] ?? [1, 0];
        checkAllPaths({ transA, transB, m, n, k, alpha, beta }, 100 + index);
      });
    });

    it('matches the reference on mixed shapes up to 257', () => {
      MIXED_SHAPES.forEach(([m, n, k], index) => {
        const [alpha, beta] = ALPHA_BETA[index % ALPHA_BETA.length] ?? [1, 0];
        checkAllPaths({ transA, transB, m, n, k, alpha, beta }, 200 + index);
      });
    });

    it('overwrites a NaN-filled C when beta = 0', () => {
      checkAllPaths({ transA, transB, m: 33, n: 100, k: 17, alpha: -0.5, beta: 0 }, 300, 'nan');
      checkAllPaths({ transA, transB, m: 5, n: 5, k: 5, alpha: 1, beta: 0 }, 301, 'nan');
    });
  });

  it('spans several cache blocks in every direction', () => {
    // k = 600 is two kc slices on AVX-512 (kc 512) and three on AVX2 and portable (kc 256);
    // later slices accumulate onto the first with beta = 1. Two threads split C. m = 1100
    // gives each thread more rows than one mc block on AVX2 (144 rows) and portable (128);
    // n = 3300 is several nc blocks (512 columns for AVX-512, 3072 for AVX2, 2048 portable).
    // AVX-512's mc is 2016 rows: m = 2030 with m·n·k below one thread's worth of work runs on
    // one thread, as two mc blocks of two kc slices each (k = 516).
    TRANSPOSES.forEach(([transA, transB], index) => {
      checkAllPaths({ transA, transB, m: 300, n: 700, k: 600, alpha: index % 2 ? -0.5 : 1, beta: 0.25 }, 400 + index);
      checkAllPaths({ transA, transB, m: 1100, n: 100, k: 300, alpha: 1, beta: 1 }, 405 + index);
    });
    checkAllPaths({ transA: false, transB: false, m: 20, n: 3300, k: 40, alpha: 1, beta: 1 }, 410);
    checkAllPaths({ transA: false, transB: false, m: 2030, n: 1, k: 516, alpha: -0.5, beta: 0.25 }, 411);
    checkAllPaths({ transA: true, transB: false, m: 2030, n: 1, k: 516, alpha: 1, beta: 0 }, 412, 'nan');
  });

  it('shares one packed B between threads for many rows, bitwise the same on every run', () => {
    // m = 4100 (293 tiles of 14 rows: full row blocks of 19 tiles, then shrinking ones down to
    // 4 tiles and a last partial tile) gives each of two threads several row blocks taken from
    // a shared counter, and k = 600 two kc slices (three on AVX2); n = 70 ends in a partial B
    // panel.
    // Whichever thread packs a B panel (or packs its own copy), and whichever takes a row
    // block, every C tile sums the same slices in the same order.
    TRANSPOSES.forEach(([transA, transB], index) => {
      const c: Case = { transA, transB, m: 4100, n: 70, k: 600, alpha: -0.5, beta: 0.25 };
      checkAllPaths(c, 440 + index);
      const ops = makeOperands(c, 450 + index, 'random');
      const run = (): Buffer => {
        const out = clone(ops);
        native.sgemm(transA, transB, c.m, c.n, c.k, c.alpha, out.a, out.lda, out.b, out.ldb, c.beta, out.c, out.ldc);
        return Buffer.from(out.c.buffer, out.c.byteOffset, out.c.byteLength);
      };
      const first = run();
      expect(first.equals(run())).toBe(true);
      expect(first.equals(run())).toBe(true);
    });
    // n = 2100 (one slice of 20) ends in a partial panel. On AVX-512 the shared panels are
    // swept in groups of 128 Ki floats, each under every A micro-panel of a row block while
    // the next group is prefetched: k = 601 is kc slices of 301 and 300, in groups of 13
    // panels (416 columns), so n = 600 is two groups a slice, and the group prefetched across
    // the slice boundary is shallower than the one computed.
    checkAllPaths({ transA: false, transB: false, m: 4100, n: 2100, k: 20, alpha: 1, beta: 0.5 }, 460);
    checkAllPaths({ transA: true, transB: true, m: 4100, n: 2100, k: 20, alpha: -1, beta: 0 }, 461);
    checkAllPaths({ transA: false, transB: true, m: 4100, n: 600, k: 601, alpha: 1, beta: 0.5 }, 462);
  });

  it('reads a plain B in place for few rows (an expert with few tokens), across kc slices', () => {
    // Up to 32 rows per thread, a plain B is not packed; its last partial column panel is.
    TRANSPOSES.forEach(([transA, transB], index) => {
      checkAllPaths({ transA, transB, m: 3, n: 1000, k: 600, alpha: -0.5, beta: 0.25 }, 420 + index);
      checkAllPaths({ transA, transB, m: 31, n: 77, k: 300, alpha: 1, beta: 0 }, 430 + index, 'nan');
    });
  });

  it('scales C by beta without reading A or B when k = 0 or alpha = 0', () => {
    checkAllPaths({ transA: false, transB: false, m: 7, n: 9, k: 0, alpha: 1, beta: 0.25 }, 500);
    checkAllPaths({ transA: false, transB: true, m: 7, n: 9, k: 0, alpha: 1, beta: 0 }, 501, 'nan');
    // alpha = 0: BLAS convention, C = beta · C even if A holds NaN.
    const a = new Float32Array(12).fill(NaN);
    const b = new Float32Array(12).fill(1);
    const c = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    native.sgemm(false, false, 3, 3, 4, 0, a, 4, b, 3, 0.5, c, 3);
    expect(Array.from(c)).toEqual([0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]);
  });

  it('reads strided views at an offset into a larger buffer', () => {
    // a Float32Array that starts part-way into its ArrayBuffer: the binding must honour the offset.
    const c: Case = { transA: false, transB: false, m: 40, n: 50, k: 60, alpha: 1, beta: 0 };
    const ops = makeOperands(c, 600, 'random');
    const shifted = new Float32Array(ops.a.length + 7);
    shifted.set(ops.a, 7);
    const aView = shifted.subarray(7);
    const out = clone(ops);
    native.sgemm(false, false, c.m, c.n, c.k, c.alpha, aView, ops.lda, ops.b, ops.ldb, c.beta, out.c, ops.ldc);
    expectMatches(c, ops, reference(c, ops), { ...out, a: aView }, 'offset view');
  });

  it('gives correct results when two threads call it at once', async () => {
    // Two worker threads (each with its own OpenMP team) multiply different matrices at the
    // same time, as two stream worker threads would: no packing buffer may be shared.
    const c: Case = { transA: false, transB: true, m: 200, n: 300, k: 400, alpha: 1, beta: 0 };
    const inputs = [makeOperands(c, 700, 'random'), makeOperands(c, 701, 'random')];
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const native = require('node-gyp-build')(workerData.root);
      const { c, ops } = workerData;
      for (let r = 0; r < 5; r++) {
        native.sgemm(c.transA, c.transB, c.m, c.n, c.k, c.alpha, ops.a, ops.lda, ops.b, ops.ldb, c.beta, ops.c, ops.ldc);
      }
      parentPort.postMessage(ops.c);`;
    const outputs = await Promise.all(
      inputs.map(
        (ops) =>
          new Promise<Float32Array>((resolve, reject) => {
            const worker = new Worker(source, { eval: true, workerData: { root: packageRoot, c, ops: clone(ops) } });
            worker.once('message', (out: Float32Array) => {
              resolve(out);
              void worker.terminate();
            });
            worker.once('error', reject);
          }),
      ),
    );
    outputs.forEach((out, index) => {
      const before = inputs[index];
      if (before === undefined) throw new Error('missing input');
      expectMatches(c, before, reference(c, before), { ...before, c: out }, `thread ${index}`);
    });
  });
});

describe('sgemm argument errors', () => {
  const a = new Float32Array(12); // [3, 4]
  const b = new Float32Array(20); // [4, 5]
  const c = new Float32Array(15); // [3, 5]
  type Args = Parameters<typeof native.sgemm>;
  const good: Args = [false, false, 3, 5, 4, 1, a, 4, b, 5, 0, c, 5];
  const withArg = (index: number, value: unknown): Args => {
    const args = [...good] as unknown[];
    args[index] = value;
    return args as Args;
  };

  it.each([
    ['transA', withArg(0, 1), TypeError, 'Expected a boolean for transA'],
    ['transB', withArg(1, 'no'), TypeError, 'Expected a boolean for transB'],
    ['m', withArg(2, -1), RangeError, 'Invalid m: expected a non-negative integer'],
    ['k', withArg(4, 2.5), RangeError, 'Invalid k: expected a non-negative integer'],
    ['alpha', withArg(5, '1'), TypeError, 'Expected a number for alpha'],
    ['a type', withArg(6, new Float64Array(12)), TypeError, 'Expected a Float32Array for a'],
    ['lda', withArg(7, 3), RangeError, 'Invalid lda: expected at least 4 (the row length of a) but received 3'],
    ['a length', withArg(6, new Float32Array(11)), RangeError, 'Invalid a: expected at least 12 elements for a [3, 4] matrix with row stride 4 but received 11'],
    ['b length', withArg(9, 6), RangeError, 'Invalid b: expected at least 23 elements for a [4, 5] matrix with row stride 6 but received 20'],
    ['beta', withArg(10, null), TypeError, 'Expected a number for beta'],
    ['c type', withArg(11, [0, 0]), TypeError, 'Expected a Float32Array for c'],
    ['ldc', withArg(12, 4), RangeError, 'Invalid ldc: expected at least 5 (the row length of c) but received 4'],
    ['isa', [...good, 'sse9'] as unknown as Args, RangeError, "Invalid isa: expected 'avx512', 'avx2' or 'generic' supported by this processor but received 'sse9'"],
  ] as const)('%s', (_name, args, type, message) => {
    expect(() => native.sgemm(...args)).toThrow(type);
    expect(() => native.sgemm(...args)).toThrow(message);
  });

  it('checks transposed shapes against the stored layout', () => {
    // transB: B is stored [n, k] = [5, 4], so ldb must cover k = 4 columns and 5 rows are needed.
    expect(() => native.sgemm(false, true, 3, 5, 4, 1, a, 4, new Float32Array(19), 4, 0, c, 5)).toThrow(
      'Invalid b: expected at least 20 elements for a [5, 4] matrix with row stride 4 but received 19',
    );
  });

  it('rejects strides whose extent overflows 64-bit arithmetic', () => {
    // (m - 1) · lda + k = 4095 · 2^52 + 1 would wrap around in int64; it must still read as
    // "too short". Printed as the double it rounds to, 4095 · 2^52 exactly.
    const huge = 2 ** 52;
    expect(() => native.sgemm(false, false, 4096, 1, 1, 1, a, huge, b, 5, 0, c, 1)).toThrow(
      'Invalid a: expected at least 18442240474082181120 elements for a [4096, 1] matrix with row stride 4503599627370496 but received 12',
    );
  });

  it('accepts empty arrays for empty shapes', () => {
    expect(() => native.sgemm(false, false, 0, 0, 0, 1, new Float32Array(0), 1, new Float32Array(0), 1, 0, new Float32Array(0), 1)).not.toThrow();
  });

  it('validates openblasSgemm the same way', () => {
    expect(() => native.openblasSgemm(...withArg(6, new Float32Array(11)))).toThrow(
      'Invalid a: expected at least 12 elements for a [3, 4] matrix with row stride 4 but received 11',
    );
  });
});
