import { describe, expect, it } from 'vitest';

import { createLocalWorld } from '../../src/comm/local.js';
import type { Communicator } from '../../src/comm/communicator.js';
import type { Placement } from '../../src/balance/prophet/placement.js';
import { MoELayer } from '../../src/moe/layer.js';
import type { MoELayerOptions } from '../../src/moe/options.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { refForward, refGradient, refKept, type RefMoE } from './reference.js';

/** Deterministic pseudo-random values in [-1, 1). */
function values(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

interface RunResult {
  readonly y: Float32Array; // all ranks' outputs, rank-major
  readonly dx: Float32Array;
  readonly routerGrad: Float64Array; // summed over ranks
  /** Expert gradients gathered in expert order: w1 [E, d, h], b1 [E, h], w2 [E, h, d], b2 [E, d]. */
  readonly expertGrads: Record<ExpertParam, Float32Array>;
  readonly layers: MoELayer[];
  readonly worlds: Communicator[];
}

type ExpertParam = 'w1' | 'b1' | 'w2' | 'b2';
const EXPERT_PARAMS: readonly ExpertParam[] = ['w1', 'b1', 'w2', 'b2'];

/** Runs forward + backward of one layer on W in-process ranks over the rows of xAll [W·T, d]. */
async function run(numRanks: number, options: MoELayerOptions, xAll: Float32Array, dOutAll: Float32Array, placement?: Placement): Promise<RunResult> {
  const d = options.dModel;
  const world = createLocalWorld(numRanks, { timeoutMs: 20_000 });
  const layers = world.map((comm) => new MoELayer(comm, options));
  if (placement !== undefined) for (const layer of layers) layer.placement = placement;
  const rowsPerRank = xAll.length / d / numRanks;
  const slice = (a: Float32Array, r: number) => a.subarray(r * rowsPerRank * d, (r + 1) * rowsPerRank * d);
  const outputs = await Promise.all(
    layers.map(async (layer, r) => {
      const stream = layer.stream;
      const x = Tensor.from(slice(xAll, r), [rowsPerRank, d], { stream });
      const y = await layer.forward(x);
      const dx = await layer.backward(Tensor.from(slice(dOutAll, r), [rowsPerRank, d], { stream }));
      return {
        y: await y.toArray({ stream }),
        dx: await dx.toArray({ stream }),
        routerGrad: await layer.routerGrad.toArray({ stream }),
        grads: await Promise.all(EXPERT_PARAMS.map((p) => layer.expertGrads[p].toArray({ stream }))),
      };
    }),
  );
  const concat = (parts: Float32Array[]) => {
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) out.set(p, (at += p.length) - p.length);
    return out;
  };
  const routerGrad = new Float64Array(outputs[0]!.routerGrad.length);
  for (const o of outputs) o.routerGrad.forEach((v, i) => (routerGrad[i] = (routerGrad[i] ?? 0) + v));
  return {
    y: concat(outputs.map((o) => o.y)),
    dx: concat(outputs.map((o) => o.dx)),
    routerGrad,
    expertGrads: Object.fromEntries(EXPERT_PARAMS.map((p, i) => [p, concat(outputs.map((o) => o.grads[i]!))])) as Record<ExpertParam, Float32Array>,
    layers,
    worlds: world,
  };
}

function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 1e-3;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i] ?? 0));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs((actual[i] ?? 0) - (expected[i] ?? 0)) / scale);
  return worst;
}

/** The float64 reference of `layer`'s parameters and options (a W = 1 layer: it holds every
 * expert); with a capacity, decided over the tokens of one rank. */
async function referenceOf(layer: MoELayer): Promise<RefMoE> {
  const o = layer.options;
  const stream = layer.stream;
  const [w1, b1, w2, b2, wg] = await Promise.all(
    [layer.expertParams.w1, layer.expertParams.b1, layer.expertParams.w2, layer.expertParams.b2, layer.routerWeight].map((t) => t.toArray({ stream })),
  );
  const { dModel: d, hidden: h } = o;
  const experts = Array.from({ length: o.numExperts }, (_, e) => ({
    w1: Float64Array.from(w1!.subarray(e * d * h, (e + 1) * d * h)),
    b1: Float64Array.from(b1!.subarray(e * h, (e + 1) * h)),
    w2: Float64Array.from(w2!.subarray(e * h * d, (e + 1) * h * d)),
    b2: Float64Array.from(b2!.subarray(e * d, (e + 1) * d)),
  }));
  if (o.activation !== 'silu' && o.activation !== 'gelu') throw new Error(`no reference for activation ${o.activation}`);
  if (o.capacityMode === 'random' || o.gated) throw new Error('no reference for random capacity or gated experts');
  return {
    d,
    h,
    numExperts: o.numExperts,
    k: o.topK,
    renormalize: o.renormalize,
    routerWeight: Float64Array.from(wg!),
    experts,
    activation: o.activation,
    ...(o.capacityMode === 'capacity' ? { capacity: { factor: o.capacityFactor, minCapacity: o.minCapacity, ranks: 1 } } : {}),
  };
}

const base: MoELayerOptions = { dModel: 16, hidden: 24, numExperts: 8, topK: 2, renormalize: true, activation: 'silu', initSeed: 7 };

describe('MoELayer', () => {
  it('computes the plain float64 MoE function, and W = 4 equals W = 1', async () => {
    const tokens = 4 * 12;
    const x = values(tokens * 16, 1);
    const dOut = values(tokens * 16, 2);
    const one = await run(1, base, x, dOut);
    const four = await run(4, base, x, dOut);
    // Forward against the float64 reference (fp32 GEMMs of length ≤ 24: errors ~1e-6 relative).
    const reference = refForward(await referenceOf(one.layers[0]!), Float64Array.from(x));
    expect(maxRelativeError(one.y, reference)).toBeLessThan(1e-4);
    // W = 4 routes the same tokens to the same experts: identical values up to fp32 reduction order.
    expect(maxRelativeError(four.y, one.y)).toBeLessThan(1e-5);
    expect(maxRelativeError(four.dx, one.dx)).toBeLessThan(1e-5);
    for (const p of EXPERT_PARAMS) expect(maxRelativeError(four.expertGrads[p], one.expertGrads[p]), p).toBeLessThan(1e-5);
    // Router gradient: per-rank shares summed (the data-parallel all-reduce) equal W = 1's.
    expect(maxRelativeError(four.routerGrad, one.routerGrad)).toBeLessThan(1e-5);
    for (const l of [...one.layers, ...four.layers]) l.dispose();
  });

  it('gives the gradients of L = Σ dOut·y (finite differences of the float64 reference)', async () => {
    const tokens = 2 * 6;
    const options: MoELayerOptions = { ...base, numExperts: 4, hidden: 8, dModel: 6 };
    const x = values(tokens * 6, 3);
    const dOut = values(tokens * 6, 4);
    const two = await run(2, options, x, dOut);
    const one = await run(1, options, x, dOut);
    const model = await referenceOf(one.layers[0]!);
    const x64 = Float64Array.from(x);
    const d64 = Float64Array.from(dOut);
    expect(maxRelativeError(two.y, refForward(model, x64))).toBeLessThan(1e-4);
    // Analytic fp32 gradients vs float64 central differences: agreement to ~1e-4 relative.
    for (const at of [0, 7, 19, 40, 71]) {
      expect(two.dx[at]).toBeCloseTo(refGradient(model, x64, d64, x64, at), 3);
    }
    for (const at of [0, 5, 13, 22]) {
      expect(two.routerGrad[at]).toBeCloseTo(refGradient(model, x64, d64, model.routerWeight as Float64Array, at), 3);
    }
    // Per expert parameter: [expert, coordinate] pairs and the size of one expert's block.
    const coordinates: Record<ExpertParam, { size: number; at: (readonly [number, number])[] }> = {
      w1: { size: 6 * 8, at: [[0, 3], [1, 10], [3, 47]] },
      b1: { size: 8, at: [[0, 0], [2, 5], [3, 7]] },
      w2: { size: 8 * 6, at: [[0, 1], [1, 20], [3, 47]] },
      b2: { size: 6, at: [[0, 2], [2, 0], [3, 5]] },
    };
    for (const p of EXPERT_PARAMS) {
      for (const [e, at] of coordinates[p].at) {
        const grad = two.expertGrads[p][e * coordinates[p].size + at];
        expect(grad, `${p}[${e}][${at}]`).toBeCloseTo(refGradient(model, x64, d64, model.experts[e]![p] as Float64Array, at), 3);
      }
    }
    for (const l of [...one.layers, ...two.layers]) l.dispose();
  });

  it('computes the same function under any placement: outputs, input and home gradients', async () => {
    const tokens = 4 * 10;
    const x = values(tokens * 16, 8);
    const dOut = values(tokens * 16, 9);
    const plain = await run(4, base, x, dOut);
    // Replicas everywhere, on some ranks, and on every rank for one hot expert.
    const placements: Placement[] = [
      { numRanks: 4, numExperts: 8, replicas: [[1, 2, 3], [], [0], [0, 3], [], [1], [0, 1, 2], []] },
      { numRanks: 4, numExperts: 8, replicas: Array.from({ length: 8 }, (_, e) => [0, 1, 2, 3].filter((r) => r !== Math.floor(e / 2))) },
      { numRanks: 4, numExperts: 8, replicas: [[], [], [], [], [], [], [], [0, 1, 2]] },
    ];
    for (const placement of placements) {
      const placed = await run(4, base, x, dOut, placement);
      // Same slots, same experts and parameters; only where they run and the fp32 order of the
      // replica-gradient sums (Agg) differ.
      expect(maxRelativeError(placed.y, plain.y)).toBeLessThan(1e-6);
      expect(maxRelativeError(placed.dx, plain.dx)).toBeLessThan(1e-6);
      for (const p of EXPERT_PARAMS) expect(maxRelativeError(placed.expertGrads[p], plain.expertGrads[p]), p).toBeLessThan(1e-5);
      expect(maxRelativeError(placed.routerGrad, plain.routerGrad)).toBeLessThan(1e-6);
      expect(Array.from(placed.layers[0]!.lastCountMatrix!)).toEqual(Array.from(plain.layers[0]!.lastCountMatrix!));
      // Computed rows follow the placement (reference: each slot on its rank if hosted, else home).
      const counts = plain.layers[0]!.lastCountMatrix!;
      const expected = new Array<number>(4).fill(0);
      counts.forEach((c, i) => {
        const [src, e] = [Math.floor(i / 8), i % 8];
        const at = placement.replicas[e]!.includes(src) || Math.floor(e / 2) === src ? src : Math.floor(e / 2);
        expected[at] = (expected[at] ?? 0) + c;
      });
      expect(Array.from(placed.layers[2]!.computedRowsPerRank()!)).toEqual(expected);
      for (const l of placed.layers) l.dispose();
    }
    for (const l of plain.layers) l.dispose();
  });

  it('reports the count matrix and the computed rows per rank', async () => {
    const x = values(2 * 10 * 16, 5);
    const two = await run(2, base, x, values(x.length, 6));
    const counts = two.layers[0]!.lastCountMatrix!;
    expect(Array.from(two.layers[1]!.lastCountMatrix!)).toEqual(Array.from(counts));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(2 * 10 * 2); // k slots per token, dropless
    const rows = two.layers[0]!.computedRowsPerRank()!;
    const expected = [0, 1].map((r) => [0, 1].reduce((s, p) => s + counts.slice(p * 8 + r * 4, p * 8 + r * 4 + 4).reduce((a, b) => a + b, 0), 0));
    expect(Array.from(rows)).toEqual(expected);
  });

  it('top-1 GELU experts with a per-rank capacity: W = 1 and W = 2 each match the reference', async () => {
    // Capacity is decided per rank (C = ceil(k·T/E·cf) over the rank's own T tokens, first come
    // first served), so W = 1 and W = 2 drop different slots and compute different functions;
    // each is checked against the reference with its own rank count rather than against the
    // other.
    const options: MoELayerOptions = { ...base, numExperts: 4, hidden: 8, dModel: 6, topK: 1, renormalize: false, activation: 'gelu', capacityMode: 'capacity', capacityFactor: 0.75 };
    const tokens = 2 * 16;
    const x = values(tokens * 6, 11);
    const dOut = values(tokens * 6, 12);
    const x64 = Float64Array.from(x);
    const d64 = Float64Array.from(dOut);
    const one = await run(1, options, x, dOut);
    // Parameters from W = 1, whose one layer holds every expert (they do not depend on W).
    const parameters = await referenceOf(one.layers[0]!);
    for (const ranks of [1, 2]) {
      const result = ranks === 1 ? one : await run(ranks, options, x, dOut);
      const model: RefMoE = { ...parameters, capacity: { ...parameters.capacity!, ranks } };
      // The setup drops slots (else this would be the dropless case again).
      const kept = refKept(model, x64).flat().filter(Boolean).length;
      expect(kept).toBeLessThan(tokens);
      expect(maxRelativeError(result.y, refForward(model, x64)), `W = ${ranks}`).toBeLessThan(1e-4);
      // A dropped token's output is zero, so is its input gradient through the experts; the
      // router and expert gradients see only kept slots.
      for (const at of [0, 13, 50, 101, 150, 191]) {
        expect(result.dx[at], `dx[${at}], W = ${ranks}`).toBeCloseTo(refGradient(model, x64, d64, x64, at), 3);
      }
      for (const at of [0, 9, 23]) {
        expect(result.routerGrad[at], `router[${at}], W = ${ranks}`).toBeCloseTo(refGradient(model, x64, d64, model.routerWeight as Float64Array, at), 3);
      }
      for (const [e, at] of [[0, 4], [3, 30]] as const) {
        expect(result.expertGrads.w1[e * 48 + at], `w1[${e}][${at}], W = ${ranks}`).toBeCloseTo(refGradient(model, x64, d64, model.experts[e]!.w1 as Float64Array, at), 3);
        expect(result.expertGrads.b2[e * 6 + (at % 6)], `b2[${e}], W = ${ranks}`).toBeCloseTo(refGradient(model, x64, d64, model.experts[e]!.b2 as Float64Array, at % 6), 3);
      }
      for (const l of result.layers) l.dispose();
    }
  });

  it('refuses an unsupported dtype, and names it', () => {
    const [single] = createLocalWorld(1);
    expect(() => new MoELayer(single!, { ...base, dtype: 'bf16' as never })).toThrow(RangeError);
    expect(() => new MoELayer(single!, { ...base, dtype: 'bf16' as never })).toThrow(/options\.dtype but received "bf16"/);
    single!.dispose();
  });

  it('refuses experts that do not split over the ranks, and names the option', () => {
    const [a, b, c] = createLocalWorld(3);
    expect(() => new MoELayer(a!, base)).toThrow(
      new RangeError('Expected a multiple of the number of ranks (3) for options.numExperts but received 8 of type number'),
    );
    expect(() => new MoELayer(a!, { ...base, numExperts: 3, topK: 4 })).toThrow(RangeError);
    expect(() => new MoELayer({} as never, base)).toThrow(TypeError);
    const [single] = createLocalWorld(1);
    const layer = new MoELayer(single!, { ...base, numExperts: 2 });
    layer.startTrans();
    expect(() => (layer.placement = { numRanks: 1, numExperts: 2, replicas: [[], []] })).toThrow(
      new RangeError('Expected no change between startTrans() and forward() for placement but received "a new placement" of type string'),
    );
    layer.dispose();
    single!.dispose();
    for (const comm of [a, b, c]) comm!.dispose();
  });

  it('refuses a block schedule whose parts do not cover the replicated experts, and names it', () => {
    const [single] = createLocalWorld(1);
    const layer = new MoELayer(single!, { ...base, numExperts: 2 });
    // One rank: no replicas are possible, so any expert named in a part is one too many.
    layer.transferSchedule = { trans: { inline: false, a: [0], b: [] }, agg: { inline: false, a: [], b: [] } };
    expect(() => layer.startTrans('a')).toThrow(
      new RangeError('Expected parts a, b covering the replicated experts [] in order for transferSchedule.trans but received "[0], []" of type string'),
    );
    layer.transferSchedule = null;
    layer.startTrans('a'); // the default: one part, nothing to move
    layer.dispose();
    single!.dispose();
  });
});
