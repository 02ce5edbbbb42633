import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ProphetError } from '../../src/errors.js';
import { dispatchLayout } from '../../src/kernels/dispatch_layout.js';
import { combine, combineBackward, dispatch, dispatchBackward, type PermuteRouting } from '../../src/kernels/permute.js';
import { Device } from '../../src/runtime/device.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { type RefCapacityMode, refGating } from './reference/gating.js';
import {
  refCombine,
  refCombineBackward,
  refDispatch,
  refDispatchBackward,
  type RefRouting,
  refRowOffsets,
} from './reference/permute.js';
import { expectBitwiseEqual, expectClose, randomF32, toArray } from './util.js';

interface Case {
  readonly T: number;
  readonly E: number;
  readonly k: number;
  readonly d: number;
  readonly mode: RefCapacityMode;
  /** 'compact': blocks back to back (prefix sum of counts); 'padded': every block C rows. */
  readonly layout: 'compact' | 'padded';
  readonly seed?: number;
}

interface Built {
  readonly ref: RefRouting;
  readonly routing: PermuteRouting;
  readonly weight: Float32Array;
  readonly numRows: number;
}

/** A routing from the reference gating of random logits, as tensors and as plain arrays. */
function buildRouting(c: Case): Built {
  const logits = randomF32(c.T * c.E, (c.seed ?? 1) + c.T * 7 + c.E, 3);
  const g = refGating(logits, c.T, c.E, { k: c.k, capacityMode: c.mode, capacityFactor: 0.7, seed: 5 });
  const C = g.capacity ?? 0;
  const rowOffsetPerExpert = c.layout === 'compact' ? refRowOffsets(g.countsPerExpert) : g.countsPerExpert.map((_, e) => e * C);
  const numRows = c.layout === 'compact' ? g.countsPerExpert.reduce((a, b) => a + b, 0) : c.E * C;
  const ref: RefRouting = { T: c.T, k: c.k, expertIndex: g.expertIndex, position: g.position, rowOffsetPerExpert };
  return {
    ref,
    numRows,
    weight: Float32Array.from(g.weight),
    routing: {
      expertIndex: Tensor.from(g.expertIndex, [c.T, c.k], { dtype: 'i32' }),
      position: Tensor.from(g.position, [c.T, c.k], { dtype: 'i32' }),
      rowOffsetPerExpert: Tensor.from(rowOffsetPerExpert, [c.E], { dtype: 'i32' }),
    },
  };
}

const cases: Case[] = [
  { T: 11, E: 4, k: 1, d: 5, mode: 'dropless', layout: 'compact' },
  { T: 16, E: 4, k: 2, d: 7, mode: 'capacity', layout: 'compact' },
  { T: 16, E: 4, k: 2, d: 7, mode: 'capacity', layout: 'padded' },
  { T: 9, E: 3, k: 3, d: 3, mode: 'random', layout: 'padded' },
  { T: 20, E: 8, k: 2, d: 1, mode: 'dropless', layout: 'compact' },
];

/** All four ops on the routing of case `c`, each against the JS reference. */
async function expectMatchesReference(c: Case): Promise<void> {
  const { ref, routing, weight, numRows } = buildRouting(c);
  const x = randomF32(c.T * c.d, 2);
  const y = randomF32(numRows * c.d, 3);
  const dOutRows = randomF32(numRows * c.d, 4);
  const dOutTokens = randomF32(c.T * c.d, 5);
  const weightTensor = Tensor.from(weight, [c.T, c.k]);
  const yTensor = Tensor.from(y, [numRows, c.d]);
  const dispatched = dispatch(Tensor.from(x, [c.T, c.d]), routing, numRows);
  const combined = combine(yTensor, weightTensor, routing);
  const dx = dispatchBackward(Tensor.from(dOutRows, [numRows, c.d]), routing);
  const { dY, dWeight } = combineBackward(Tensor.from(dOutTokens, [c.T, c.d]), yTensor, weightTensor, routing);
  // Dispatch copies values: exact.
  expect(Array.from(await toArray(dispatched))).toEqual(refDispatch(x, c.d, ref, numRows));
  // Sums of at most k products of values in [-1, 1]: fp32 rounding is ≤ k ulps of 1 (≈ 4e-7).
  expectClose(await toArray(combined), refCombine(y, weight, c.d, ref), 1e-6, 1e-6, 'combine');
  expectClose(await toArray(dx), refDispatchBackward(dOutRows, c.d, ref), 1e-6, 1e-6, 'dispatchBackward');
  const expected = refCombineBackward(dOutTokens, y, weight, c.d, ref, numRows);
  expectClose(await toArray(dY), expected.dY, 0, 1e-6, 'dY'); // one rounded product
  expectClose(await toArray(dWeight), expected.dWeight, 1e-6 * c.d, 1e-6, 'dWeight'); // d-term dot
}

describe('dispatch/combine: against the JS reference', () => {
  it.each(cases)('T=$T E=$E k=$k d=$d $mode $layout', expectMatchesReference);
});

describe('dispatch/combine: E = 1 and k = E, explicitly', () => {
  // The generators reach these too; here they are named cases. With capacityFactor 0.7 every
  // expert has C = ceil(0.7·k·T/E) < T rows, and with k = E or E = 1 it is offered T slots, so the
  // capacity and random cases drop slots.
  it.each<Case>([
    { T: 6, E: 1, k: 1, d: 4, mode: 'dropless', layout: 'compact' },
    { T: 10, E: 1, k: 1, d: 3, mode: 'capacity', layout: 'padded' },
    { T: 8, E: 4, k: 4, d: 3, mode: 'dropless', layout: 'compact' },
    { T: 12, E: 5, k: 5, d: 2, mode: 'capacity', layout: 'compact' },
    { T: 7, E: 2, k: 2, d: 5, mode: 'random', layout: 'padded' },
  ])('matches the reference: T=$T E=$E k=$k d=$d $mode $layout', expectMatchesReference);

  it('E = 1: every token goes to expert 0 with weight 1, so combine(dispatch(x)) = x bitwise', async () => {
    const [T, d] = [9, 3];
    const { ref, routing, weight, numRows } = buildRouting({ T, E: 1, k: 1, d, mode: 'dropless', layout: 'compact' });
    expect(Array.from(ref.expertIndex)).toEqual(new Array<number>(T).fill(0));
    expect(Array.from(weight)).toEqual(new Array<number>(T).fill(1));
    expect(numRows).toBe(T);
    const x = randomF32(T * d, 21);
    const rows = dispatch(Tensor.from(x, [T, d]), routing, numRows);
    expectBitwiseEqual(await toArray(rows), x); // one expert, dropless: rows in token order
    expectBitwiseEqual(await toArray(combine(rows, Tensor.from(weight, [T, 1]), routing)), x);
  });

  it('k = E dropless: each expert block holds every token once; combine with the probabilities gives x back', async () => {
    const [T, E, d] = [6, 3, 2];
    const { routing, weight, numRows } = buildRouting({ T, E, k: E, d, mode: 'dropless', layout: 'compact' });
    expect(numRows).toBe(T * E);
    // Row t of x is [t + 1, -(t + 1)], so each dispatched row says which token it holds.
    const x = Array.from({ length: T * d }, (_, i) => (i % 2 === 0 ? 1 : -1) * (Math.floor(i / 2) + 1));
    const rows = await toArray(dispatch(Tensor.from(x, [T, d]), routing, numRows));
    for (let e = 0; e < E; e++) {
      const tokens = Array.from({ length: T }, (_, i) => (rows[(e * T + i) * d] ?? 0) - 1);
      expect(tokens.sort((a, b) => a - b)).toEqual(Array.from({ length: T }, (_, t) => t));
    }
    // The k = E weights are the whole softmax row, which sums to 1: sum_e p_te · x_t = x_t up
    // to E fp32 roundings of values up to T (≈ E · T · 2^-24).
    const back = combine(Tensor.from(rows, [numRows, d]), Tensor.from(weight, [T, E]), routing);
    expectClose(await toArray(back), x, 1e-5, 1e-6, 'combine(dispatch(x))');
  });
});

describe('dispatch/combine: properties', () => {
  const arb = fc.record({
    T: fc.integer({ min: 0, max: 20 }),
    E: fc.integer({ min: 1, max: 6 }),
    kFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    mode: fc.constantFrom<RefCapacityMode>('dropless', 'capacity', 'random'),
    layout: fc.constantFrom<'compact' | 'padded'>('compact', 'padded'),
    seed: fc.integer({ min: 0, max: 1000 }),
  });

  it('dispatches every kept slot exactly once, and nothing else (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(arb, async (p) => {
        const c: Case = { ...p, k: 1 + Math.floor(p.kFraction * (p.E - 1)), d: 2 };
        if (c.mode === 'dropless' && c.layout === 'padded') return; // no capacity to pad to
        const { ref, routing, numRows } = buildRouting(c);
        // Row t of x is [t + 1, -(t + 1)]: a zero row in the output was never written.
        const x = Array.from({ length: c.T * 2 }, (_, i) => (i % 2 === 0 ? 1 : -1) * (Math.floor(i / 2) + 1));
        const out = await toArray(dispatch(Tensor.from(x, [c.T, 2]), routing, numRows));
        const timesSeen = new Array<number>(c.T).fill(0);
        let written = 0;
        for (let r = 0; r < numRows; r++) {
          const id = out[2 * r] ?? 0;
          if (id === 0) continue;
          expect(out[2 * r + 1]).toBe(-id);
          timesSeen[id - 1] = (timesSeen[id - 1] ?? 0) + 1;
          written++;
        }
        const keptPerToken = Array.from({ length: c.T }, (_, t) =>
          Array.from({ length: c.k }, (_, j) => ref.position[t * c.k + j] ?? -1).filter((q) => q >= 0).length,
        );
        expect(timesSeen).toEqual(keptPerToken);
        if (c.layout === 'compact') expect(written).toBe(numRows);
      }),
      { numRuns: 60, seed: 7 },
    );
  });

  it('combine ∘ dispatch is the identity for k = 1 with weight 1 (bitwise)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 9 }), async (T, E, d) => {
        const { routing, numRows } = buildRouting({ T, E, k: 1, d, mode: 'dropless', layout: 'compact' });
        const x = randomF32(T * d, T + d);
        const y = dispatch(Tensor.from(x, [T, d]), routing, numRows);
        const back = await toArray(combine(y, Tensor.from(new Float32Array(T).fill(1), [T, 1]), routing));
        expectBitwiseEqual(back, x);
      }),
      { numRuns: 30, seed: 8 },
    );
  });

  it('the backward passes are the adjoints: <dispatch(x), g> = <x, dispatch\'(g)>, <combine(y), g> = <y, combine\'(g)>', async () => {
    const c: Case = { T: 24, E: 4, k: 2, d: 6, mode: 'capacity', layout: 'padded' };
    const { routing, weight, numRows } = buildRouting(c);
    const x = randomF32(c.T * c.d, 1);
    const gRows = randomF32(numRows * c.d, 2);
    const y = randomF32(numRows * c.d, 3);
    const gTokens = randomF32(c.T * c.d, 4);
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * (b[i] ?? NaN), 0);
    const yTensor = Tensor.from(y, [numRows, c.d]);
    const weightTensor = Tensor.from(weight, [c.T, c.k]);
    const forwardD = await toArray(dispatch(Tensor.from(x, [c.T, c.d]), routing, numRows));
    const backwardD = await toArray(dispatchBackward(Tensor.from(gRows, [numRows, c.d]), routing));
    const forwardC = await toArray(combine(yTensor, weightTensor, routing));
    const { dY } = combineBackward(Tensor.from(gTokens, [c.T, c.d]), yTensor, weightTensor, routing);
    // Sums of ~300 fp32-rounded terms of magnitude ≤ 1: 1e-5 is far above their rounding.
    expect(Math.abs(dot(forwardD, gRows) - dot(x, backwardD))).toBeLessThan(1e-5);
    expect(Math.abs(dot(forwardC, gTokens) - dot(y, await toArray(dY)))).toBeLessThan(1e-5);
  });
});

describe('combine: gradients by finite differences', () => {
  it('dY and dWeight match central differences of the reference loss <g, combine(y, w)>', async () => {
    const c: Case = { T: 7, E: 3, k: 2, d: 4, mode: 'capacity', layout: 'compact' };
    const { ref, routing, weight, numRows } = buildRouting(c);
    expect(ref.position).toContain(-1); // drops present: their dWeight must be 0
    const y = Array.from(randomF32(numRows * c.d, 10));
    const w = Array.from(weight);
    const g = randomF32(c.T * c.d, 11);
    const loss = (yy: number[], ww: number[]) => refCombine(yy, ww, c.d, ref).reduce((s, v, i) => s + v * (g[i] ?? NaN), 0);
    const h = 1e-3;
    const central = (values: number[], i: number, f: (v: number[]) => number) => {
      const plus = [...values];
      const minus = [...values];
      plus[i] = (plus[i] ?? 0) + h;
      minus[i] = (minus[i] ?? 0) - h;
      return (f(plus) - f(minus)) / (2 * h);
    };
    const numericY = y.map((_, i) => central(y, i, (v) => loss(v, w)));
    const numericW = w.map((_, i) => central(w, i, (v) => loss(y, v)));
    const { dY, dWeight } = combineBackward(Tensor.from(g, [c.T, c.d]), Tensor.from(y, [numRows, c.d]), Tensor.from(w, [c.T, c.k]), routing);
    // The loss is linear, so central differences are exact up to double rounding (~1e-13 / h);
    // the kernel's fp32 products and d-term dots stay within 1e-6.
    expectClose(await toArray(dY), numericY, 1e-6, 1e-6, 'dY');
    expectClose(await toArray(dWeight), numericW, 1e-6, 1e-6, 'dWeight');
  });
});

describe('dispatchLayout', () => {
  it('gives the documented example', () => {
    const layout = dispatchLayout([2, 0, 3, 1], 2);
    expect(Array.from(layout.rowOffsetPerExpert)).toEqual([0, 2, 2, 5]);
    expect(Array.from(layout.rowsPerRank)).toEqual([2, 4]);
    expect(layout.numRows).toBe(6);
  });

  it('groups rows by destination rank: each rank gets one contiguous block (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.array(fc.nat(50), { minLength: 16, maxLength: 16 }), (W, perRank, pool) => {
        const counts = pool.slice(0, W * perRank);
        const layout = dispatchLayout(counts, W);
        let start = 0;
        for (let r = 0; r < W; r++) {
          expect(layout.rowOffsetPerExpert[r * perRank]).toBe(start); // the rank's block starts here
          start += layout.rowsPerRank[r] ?? 0;
        }
        expect(start).toBe(counts.reduce((a, b) => a + b, 0));
        expect(layout.numRows).toBe(start);
      }),
      { seed: 9 },
    );
  });

  it('rejects bad arguments naming them', () => {
    expect(() => dispatchLayout([1, 2, 3], 2)).toThrow(
      new RangeError('Expected a divisor of the number of experts (3) for numRanks but received 2 of type number'),
    );
    expect(() => dispatchLayout([1, -2])).toThrow(new RangeError('Expected integer >= 0 for countsPerExpert[1] but received -2 of type number'));
    expect(() => dispatchLayout(5 as never)).toThrow(
      new TypeError('Expected array of non-negative integers for countsPerExpert but received 5 of type number'),
    );
  });
});

describe('dispatch/combine: edge cases and failures', () => {
  it('T = 0 gives empty outputs', async () => {
    const { routing } = buildRouting({ T: 0, E: 3, k: 2, d: 4, mode: 'dropless', layout: 'compact' });
    expect(dispatch(Tensor.empty([0, 4]), routing, 0).shape).toEqual([0, 4]);
    expect(combine(Tensor.empty([0, 4]), Tensor.empty([0, 2]), routing).shape).toEqual([0, 4]);
    await Device.cpu().defaultStream.synchronize();
  });

  it.each([
    ['a row outside the buffer', [0, 5], 'dispatch: slot [1, 0] maps to row 5 outside [0, 2)'],
    ['a row claimed twice', [0, 0], 'dispatch: slot [1, 0] maps to row 0, which an earlier slot maps to already'],
  ])('fails the stream with EINVAL for %s, and the stream recovers', async (_, positions, message) => {
    const stream = Device.cpu().createStream();
    const on = { dtype: 'i32' as const, stream };
    const routing: PermuteRouting = {
      expertIndex: Tensor.from([0, 0], [2, 1], on),
      position: Tensor.from(positions, [2, 1], on),
      rowOffsetPerExpert: Tensor.from([0], [1], on),
    };
    const out = Tensor.from([7, 7], [2, 1], { stream });
    dispatch(Tensor.from([1, 2], [2, 1], { stream }), routing, 2, { stream, out });
    const error = await stream.synchronize().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProphetError);
    expect(error).toBeInstanceOf(RangeError); // a refused value, found by the queued work
    expect((error as ProphetError).code).toBe('EINVAL');
    expect((error as ProphetError).message).toBe(`stream synchronize failed on cpu: ${message}`);
    expect(Array.from(await out.toArray({ stream }))).toEqual([7, 7]); // nothing written
    await stream.synchronize();
    stream.dispose();
  });

  it('re-runs are bitwise identical at a size that uses every thread', async () => {
    const c: Case = { T: 4096, E: 16, k: 2, d: 128, mode: 'capacity', layout: 'padded' };
    const { routing, weight, numRows } = buildRouting(c);
    const x = Tensor.from(randomF32(c.T * c.d, 1), [c.T, c.d]);
    const w = Tensor.from(weight, [c.T, c.k]);
    const g = Tensor.from(randomF32(c.T * c.d, 2), [c.T, c.d]);
    const once = async () => {
      const y = dispatch(x, routing, numRows);
      const out = combine(y, w, routing);
      const { dY, dWeight } = combineBackward(g, y, w, routing);
      const dx = dispatchBackward(dY, routing);
      return Promise.all([y, out, dY, dWeight, dx].map((t) => toArray(t)));
    };
    const first = await once();
    const second = await once();
    first.forEach((values, i) => expectBitwiseEqual(second[i] as Float32Array, values, `output ${i}`));
  });
});

describe('dispatch/combine: argument errors', () => {
  const { routing } = buildRouting({ T: 3, E: 2, k: 2, d: 4, mode: 'dropless', layout: 'compact' });
  const x = Tensor.zeros([3, 4]);
  it.each([
    [() => dispatch(x, routing, -1), RangeError, 'Expected integer in [0, 2147483647] for numRows but received -1 of type number'],
    [() => dispatch(Tensor.zeros([4, 4]), routing, 6), RangeError, 'Expected [3, 4] for x.shape but received [4, 4] of type array'],
    [() => dispatch(Tensor.zeros([3, 4], { dtype: 'i32' }) as never, routing, 6), TypeError, `Expected 'f32' for x.dtype but received "i32" of type string`],
    [
      () => dispatch(x, { ...routing, position: Tensor.zeros([3, 1], { dtype: 'i32' }) }, 6),
      RangeError,
      'Expected [3, 2] for routing.position.shape but received [3, 1] of type array',
    ],
    [
      () => dispatch(x, { ...routing, expertIndex: Tensor.zeros([3, 2]) as never }, 6),
      TypeError,
      `Expected 'i32' for routing.expertIndex.dtype but received "f32" of type string`,
    ],
    [
      () => dispatch(x, { ...routing, rowOffsetPerExpert: Tensor.zeros([0], { dtype: 'i32' }) }, 6),
      RangeError,
      'Expected integer >= 1 for routing.rowOffsetPerExpert.shape[0] but received 0 of type number',
    ],
    [() => dispatch(x, routing, 6, { out: Tensor.zeros([5, 4]) }), RangeError, 'Expected [6, 4] for options.out.shape but received [5, 4] of type array'],
    [() => combine(Tensor.zeros([6, 4]), Tensor.zeros([3, 1]), routing), RangeError, 'Expected [3, 2] for weight.shape but received [3, 1] of type array'],
    [() => combine('y' as never, Tensor.zeros([3, 2]), routing), TypeError, 'Expected f32 Tensor for y but received "y" of type string'],
    [() => dispatchBackward(Tensor.zeros([6]), routing), RangeError, 'Expected a shape [numRows, numFeatures] for dOut.shape but received [6] of type array'],
    [
      () => combineBackward(Tensor.zeros([3, 4]), Tensor.zeros([6, 5]), Tensor.zeros([3, 2]), routing),
      RangeError,
      'Expected [6, 4] for y.shape but received [6, 5] of type array',
    ],
    [() => dispatch(x, routing, 6, { stream: 'fast' as never }), TypeError, 'Expected Stream for options.stream but received "fast" of type string'],
  ])('%#', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });
});
