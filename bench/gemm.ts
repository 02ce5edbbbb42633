/**
 * GEMM benchmark: our CPU sgemm against OpenBLAS's cblas_sgemm on the expert FFN's forward
 * shapes, measured side by side in the same run.
 *
 *   npm run bench -- gemm [--json] [--quick | --shape D_MODEL,HIDDEN,TOKENS] [--reps N]
 *
 * For each (d_model, hidden, tokens) it times the two forward GEMMs of one expert:
 * x[T, d]·W1[d, h] (m = T, n = h, k = d) and h[T, h]·W2[h, d] (m = T, n = d, k = h). Ours and
 * OpenBLAS run alternately and each keeps its best repetition, because other processes share
 * the cores: the best time is the least disturbed one, and alternating exposes both to the
 * same load. GFLOP/s counts 2·m·n·k flops; ratio = ours / OpenBLAS (above 1: ours is faster).
 *
 * --reps N: the pairs per GEMM (default 11; 3 with --quick). On this shared 2-core machine a
 * repetition is disturbed often enough that with 5 pairs some rows of every full run had all of
 * one library's repetitions disturbed: their ratios scattered to 0.75-0.85 and 1.15-1.2 in equal
 * numbers, on different rows from run to run (2026-11-28, docs/benchmarks.md).
 */
import { performance } from 'node:perf_hooks';

import '../src/cpu/gemm-native.js';
import { addon } from '../src/native.js';
import type { Benchmark, BenchmarkResult } from './types.js';
import { integerOption } from './util-args.js';

interface Shape {
  readonly dModel: number;
  readonly hidden: number;
  readonly tokens: number;
}

interface Row extends Record<string, number | null> {
  m: number;
  n: number;
  k: number;
  gflops: number;
  openblas_gflops: number | null;
  ratio: number | null;
}

/**
 * The grid, d_model 512/1024/2048 × hidden 2·d/4·d × tokens 256..8192: ≈ 1.8 TFLOP per
 * repetition per library (the two d_model = 2048, 8192-token shapes are half of it), about
 * 4 minutes on 2 cores.
 */
function fullGrid(): Shape[] {
  const shapes: Shape[] = [];
  for (const dModel of [512, 1024, 2048]) {
    for (const hidden of [2 * dModel, 4 * dModel]) {
      for (const tokens of [256, 1024, 4096, 8192]) shapes.push({ dModel, hidden, tokens });
    }
  }
  return shapes;
}

function quickGrid(): Shape[] {
  return [
    { dModel: 512, hidden: 1024, tokens: 256 },
    { dModel: 1024, hidden: 2048, tokens: 1024 },
  ];
}

/** `--shape D_MODEL,HIDDEN,TOKENS`: one shape (e.g. a row to re-measure), or undefined. */
function shapeOption(args: readonly string[]): Shape | undefined {
  const i = args.indexOf('--shape');
  if (i < 0) return undefined;
  const dims = (args[i + 1] ?? '').split(',').map(Number);
  const [dModel, hidden, tokens] = dims;
  if (dims.length !== 3 || !dims.every((v) => Number.isInteger(v) && v >= 1) || dModel === undefined || hidden === undefined || tokens === undefined) {
    throw new RangeError(`Expected three positive integers D_MODEL,HIDDEN,TOKENS for --shape but received ${args[i + 1]}`);
  }
  return { dModel, hidden, tokens };
}

/** Uniform values in [-1, 1) from a fixed-seed LCG: reproducible inputs, no denormals. */
function filled(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2147483648 - 1;
  }
  return out;
}

type Gemm = () => boolean;

/** Seconds of one call, or null when the library is absent. */
function timeOnce(gemm: Gemm): number | null {
  const start = performance.now();
  const ran = gemm();
  return ran ? (performance.now() - start) / 1000 : null;
}

/** Blocks the thread for `ms` milliseconds without spinning. */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * After a call, each library's idle worker threads spin before they sleep: OpenBLAS's for
 * 2^28 TSC ticks (~0.13 s, THREAD_TIMEOUT), libgomp's for well under a millisecond. On 2 cores
 * a spinning thread steals half the machine from the other library's next call, so each
 * library's timed call starts after a pause long enough for the other's threads to sleep.
 */
const PAUSE_AFTER_OPENBLAS_MS = 200;
const PAUSE_AFTER_OURS_MS = 20;

/**
 * Best seconds of ours and OpenBLAS, alternating: a warm-up each (first-touch page faults,
 * thread pools), then `minReps` pairs, and up to twice as many while ours has run under `minSeconds`
 * in total (tiny shapes, whose single calls are noisiest).
 */
function bestTimes(ours: Gemm, openblas: Gemm, minReps: number, minSeconds: number): [number, number | null] {
  timeOnce(ours);
  sleep(PAUSE_AFTER_OURS_MS);
  const present = timeOnce(openblas) !== null;
  let bestOurs = Infinity;
  let bestOpenblas: number | null = null;
  let total = 0;
  for (let rep = 0; rep < minReps || (total < minSeconds && rep < 2 * minReps); rep++) {
    if (present) sleep(PAUSE_AFTER_OPENBLAS_MS);
    const t = timeOnce(ours) ?? Infinity;
    bestOurs = Math.min(bestOurs, t);
    total += t;
    if (!present) continue;
    sleep(PAUSE_AFTER_OURS_MS);
    const u = timeOnce(openblas) ?? Infinity;
    bestOpenblas = Math.min(bestOpenblas ?? Infinity, u);
  }
  return [bestOurs, bestOpenblas];
}

/** One row: C[m, n] = A[m, k]·B[k, n], row-major, no transposes, beta = 0. */
function measure(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number, minReps: number): Row {
  const native = addon();
  const ours = () => (native.sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n), true);
  const openblas = () => native.openblasSgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n);
  const [seconds, openblasSeconds] = bestTimes(ours, openblas, minReps, 0.02);
  const gflop = (2 * m * n * k) / 1e9;
  const gflops = gflop / seconds;
  const openblasGflops = openblasSeconds === null ? null : gflop / openblasSeconds;
  return {
    m,
    n,
    k,
    gflops: round(gflops),
    openblas_gflops: openblasGflops === null ? null : round(openblasGflops),
    ratio: openblasGflops === null ? null : Math.round((gflops / openblasGflops) * 1000) / 1000,
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

/**
 * OpenBLAS 0.3.21 (Debian 12) does not know Sapphire/Emerald Rapids and falls back to its SSE3
 * "Prescott" kernels, which would make the comparison meaningless. Unless the user chose a core,
 * give it the best core of the ISA ours runs, before the library is first loaded.
 */
function chooseOpenblasCore(isa: string): void {
  if (process.env.OPENBLAS_CORETYPE !== undefined) return;
  if (isa === 'avx512') process.env.OPENBLAS_CORETYPE = 'SkylakeX';
  else if (isa === 'avx2') process.env.OPENBLAS_CORETYPE = 'Haswell';
}

const benchmark: Benchmark = {
  name: 'gemm',
  description: 'sgemm GFLOP/s on expert FFN shapes, ours vs OpenBLAS side by side',
  async run(args: readonly string[]): Promise<BenchmarkResult> {
    const native = addon();
    const isa = native.sgemmIsa();
    chooseOpenblasCore(isa);
    const config = native.openblasConfig();
    console.error(`gemm: ours ${isa}; OpenBLAS ${config === '' ? 'absent' : config}`);
    const quick = args.includes('--quick');
    const shape = shapeOption(args);
    const grid = shape !== undefined ? [shape] : quick ? quickGrid() : fullGrid();
    const minReps = integerOption(args, '--reps', quick ? 3 : 11);
    const rows: Row[] = [];
    for (const { dModel, hidden, tokens } of grid) {
      // Step 1: the expert's operands; the hidden activation is W1's output and W2's input.
      const x = filled(tokens * dModel, 1);
      const w1 = filled(dModel * hidden, 2);
      const w2 = filled(hidden * dModel, 3);
      const h = new Float32Array(tokens * hidden);
      const y = new Float32Array(tokens * dModel);
      // Step 2: both GEMMs, each ours and OpenBLAS alternately.
      for (const row of [
        measure(x, w1, h, tokens, hidden, dModel, minReps),
        measure(h, w2, y, tokens, dModel, hidden, minReps),
      ]) {
        console.error(
          `  d_model ${dModel} hidden ${hidden} tokens ${tokens}: [${row.m} x ${row.k}]·[${row.k} x ${row.n}] ` +
            `${row.gflops} GFLOP/s, OpenBLAS ${row.openblas_gflops ?? '-'}, ratio ${row.ratio ?? '-'}`,
        );
        rows.push(row);
      }
    }
    return { bench: 'gemm', isa, rows };
  },
};

export default benchmark;
