/**
 * MoE layer forward+backward throughput with W in-process ranks, and its ratio to the expert FFN
 * compute alone on the same tokens.
 *
 * For each shape, the run alternates two measurements, all W ranks at once on their own streams
 * (as in training): the whole layer (router, gating, count all-gather, dispatch, two
 * all-to-all-v exchanges each way, regrouping, FFN, combine, and all backward steps), and the
 * same ranks' ffnForward + ffnBackward alone on exactly the rows each rank's experts computed in
 * the layer (taken from its count matrix). ratio_to_ffn = FFN-alone time / layer time: 1 means
 * routing and exchange are free. Figures are the best of the repetitions (load from other
 * processes only adds time).
 *
 * Arguments: --quick (a tiny grid), --ranks W (default 2), --reps N (default 8: on 2 shared cores a
 * pass is disturbed often enough that the best of 3 moved the ratio by up to 0.2 between runs),
 * --tokens 1024,4096 (per rank), --d-model 256,512.
 */
import { createLocalWorld } from '../src/comm/local.js';
import { ffnBackward, ffnForward } from '../src/kernels/ffn.js';
import { MoELayer } from '../src/moe/layer.js';
import { Tensor } from '../src/runtime/tensor.js';
import type { Benchmark, BenchmarkResult } from './types.js';

function option(args: readonly string[], name: string, fallback: number[]): number[] {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const values = (args[i + 1] ?? '').split(',').map(Number);
  if (values.some((v) => !Number.isInteger(v) || v < 1)) throw new RangeError(`Expected positive integers for ${name} but received ${args[i + 1]}`);
  return values;
}

function random(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

async function measure(ranks: number, dModel: number, tokens: number, reps: number) {
  const hidden = 2 * dModel;
  const world = createLocalWorld(ranks, { timeoutMs: 120_000 });
  const layers = world.map((comm) => new MoELayer(comm, { dModel, hidden, numExperts: 2 * ranks, topK: 2, renormalize: true, initSeed: 1 }));
  const inputs = layers.map((l, r) => Tensor.from(random(tokens * dModel, r + 1), [tokens, dModel], { stream: l.stream }));
  const grads = layers.map((l, r) => Tensor.from(random(tokens * dModel, r + 11), [tokens, dModel], { stream: l.stream }));
  const layerPass = async () => {
    const t0 = performance.now();
    await Promise.all(
      layers.map(async (l, r) => {
        const y = await l.forward(inputs[r]!);
        const dx = await l.backward(grads[r]!);
        await l.stream.synchronize();
        y.dispose();
        dx.dispose();
      }),
    );
    return performance.now() - t0;
  };
  await layerPass(); // warm-up, and the routing the FFN-alone pass reproduces
  const rowsPerRank = layers.map((l) => {
    const counts = l.lastCountMatrix!;
    const e = l.options.numExperts;
    return Array.from({ length: l.expertsPerRank }, (_, j) =>
      Array.from({ length: ranks }, (_, p) => counts[p * e + l.comm.rank * l.expertsPerRank + j] ?? 0).reduce((a, b) => a + b, 0),
    );
  });
  const ffnInputs = layers.map((l, r) => {
    const n = rowsPerRank[r]!.reduce((a, b) => a + b, 0);
    return { x: Tensor.from(random(n * dModel, r + 21), [n, dModel], { stream: l.stream }), dy: Tensor.from(random(n * dModel, r + 31), [n, dModel], { stream: l.stream }) };
  });
  const ffnPass = async () => {
    const t0 = performance.now();
    await Promise.all(
      layers.map(async (l, r) => {
        const { x, dy } = ffnInputs[r]!;
        const stream = l.stream;
        const f = ffnForward(x, rowsPerRank[r]!, l.expertParams, { stream });
        const b = ffnBackward(dy, x, rowsPerRank[r]!, l.expertParams, { pre: f.pre, act: f.act }, l.expertGrads, { stream });
        await stream.synchronize();
        for (const t of [f.y, f.pre, f.act, b.dx, b.dpre]) t.dispose();
      }),
    );
    return performance.now() - t0;
  };
  let bestLayer = Infinity;
  let bestFfn = Infinity;
  for (let i = 0; i < reps; i++) {
    bestFfn = Math.min(bestFfn, await ffnPass());
    bestLayer = Math.min(bestLayer, await layerPass());
  }
  for (const l of layers) l.dispose();
  for (const c of world) c.dispose();
  return { layerMs: bestLayer, ffnMs: bestFfn };
}

const benchmark: Benchmark = {
  name: 'layer',
  description: 'MoE layer forward+backward tokens/s vs the expert FFN alone',
  async run(args): Promise<BenchmarkResult> {
    const quick = args.includes('--quick');
    const [ranks = 2] = option(args, '--ranks', [2]);
    const [reps = 8] = option(args, '--reps', [quick ? 2 : 8]);
    const tokensList = option(args, '--tokens', quick ? [256] : [1024, 4096]);
    const dModels = option(args, '--d-model', quick ? [128] : [256, 512]);
    const rows = [];
    for (const dModel of dModels) {
      for (const tokens of tokensList) {
        const { layerMs, ffnMs } = await measure(ranks, dModel, tokens, reps);
        const row = { ranks, tokens, d_model: dModel, hidden: 2 * dModel, tokens_per_s: (ranks * tokens) / (layerMs / 1000), ratio_to_ffn: ffnMs / layerMs };
        console.error(`layer W=${ranks} d=${dModel} tokens/rank=${tokens}: ${layerMs.toFixed(1)} ms (FFN alone ${ffnMs.toFixed(1)} ms), ratio ${row.ratio_to_ffn.toFixed(3)}`);
        rows.push(row);
      }
    }
    return { bench: 'layer', rows };
  },
};

export default benchmark;
