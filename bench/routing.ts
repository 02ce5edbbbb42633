/**
 * Routing kernels: gating (forward + backward) and dispatch/combine (forward + backward), each
 * timed against a plain device copy of the same bytes measured side by side, so the ratio says
 * how close the kernel runs to memory bandwidth. `npm run bench -- routing [--json]`.
 */
import { dispatchLayout } from '../src/kernels/dispatch_layout.js';
import { gating, gatingBackward } from '../src/kernels/gating.js';
import { combine, combineBackward, dispatch, dispatchBackward } from '../src/kernels/permute.js';
import { Device } from '../src/runtime/device.js';
import { Tensor } from '../src/runtime/tensor.js';
import type { Benchmark } from './types.js';

const NUM_EXPERTS = 64;
const K = 2;
const D_MODEL = 1024;
const REPEATS = 5;

/** Median wall time of `work` (queued on the default stream) in seconds. */
async function time(work: () => void): Promise<number> {
  const stream = Device.cpu().defaultStream;
  work(); // warm-up: page faults, thread pool
  await stream.synchronize();
  const samples: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const start = process.hrtime.bigint();
    work();
    await stream.synchronize();
    samples.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? NaN;
}

function random(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(i * 12.9898) * 2;
  return out;
}

async function row(numTokens: number): Promise<Record<string, number>> {
  const logits = Tensor.from(random(numTokens * NUM_EXPERTS), [numTokens, NUM_EXPERTS]);
  const x = Tensor.from(random(numTokens * D_MODEL), [numTokens, D_MODEL]);
  const dWeight = Tensor.from(random(numTokens * K), [numTokens, K]);
  const g = gating(logits, { k: K, renormalize: true });
  const counts = await g.countsPerExpert.toArray();
  const layout = dispatchLayout(counts);
  const routing = {
    expertIndex: g.expertIndex,
    position: g.position,
    rowOffsetPerExpert: Tensor.from(layout.rowOffsetPerExpert, [NUM_EXPERTS], { dtype: 'i32' }),
  };
  const rows = Tensor.empty([layout.numRows, D_MODEL]);
  const rowsCopy = Tensor.empty([layout.numRows, D_MODEL]);
  const logitsCopy = Tensor.empty([numTokens, NUM_EXPERTS]);
  const gatingSeconds = await time(() => gatingBackward(gating(logits, { k: K, renormalize: true }), dWeight, { auxCoef: 0.01 }));
  // gating reads the logits and writes probs, then reads probs and writes dLogits: ~2 copies.
  const gatingCopySeconds = 2 * (await time(() => logitsCopy.copyFrom(logits)));
  const permuteSeconds = await time(() => {
    dispatch(x, routing, layout.numRows, { out: rows });
    combine(rows, g.weight, routing);
    combineBackward(x, rows, g.weight, routing, { out: rowsCopy });
    dispatchBackward(rowsCopy, routing);
  });
  // Each of the four ops moves k·T rows of d floats once: the same bytes as four row copies.
  const permuteCopySeconds = 4 * (await time(() => rowsCopy.copyFrom(rows)));
  return {
    tokens: numTokens,
    experts: NUM_EXPERTS,
    k: K,
    d_model: D_MODEL,
    gating_tokens_per_s: numTokens / gatingSeconds,
    gating_ratio_to_copy: gatingCopySeconds / gatingSeconds,
    permute_tokens_per_s: numTokens / permuteSeconds,
    permute_ratio_to_copy: permuteCopySeconds / permuteSeconds,
  };
}

const benchmark: Benchmark = {
  name: 'routing',
  description: 'gating and dispatch/combine (forward + backward) against device copies of the same bytes',
  async run() {
    const rows = [];
    for (const numTokens of [1024, 8192]) rows.push(await row(numTokens));
    return { bench: 'routing', rows };
  },
};

export default benchmark;
