import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ProphetError, ProphetRangeError } from '../../src/errors.js';
import { addon } from '../../src/native.js';
import {
  type CapacityMode,
  disposeGating,
  type Gating,
  type GatingOptions,
  gating,
  gatingAuxLoss,
  gatingBackward,
  gatingCapacity,
} from '../../src/kernels/gating.js';
import { Device } from '../../src/runtime/device.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { refAuxLoss, refCapacity, refGating, refGatingLoss, type RefGatingOptions } from './reference/gating.js';
import { expectBitwiseEqual, expectClose, randomF32, toArray } from './util.js';

interface Read {
  expertIndex: Int32Array;
  weight: Float32Array;
  position: Int32Array;
  countsPerExpert: Int32Array;
  numDropped: number;
  probs: Float32Array;
  logsumexp: Float32Array;
}

async function read(g: Gating): Promise<Read> {
  await Device.cpu().defaultStream.synchronize();
  return {
    expertIndex: await toArray(g.expertIndex),
    weight: await toArray(g.weight),
    position: await toArray(g.position),
    countsPerExpert: await toArray(g.countsPerExpert),
    numDropped: (await toArray(g.numDropped))[0] ?? NaN,
    probs: await toArray(g.probs),
    logsumexp: await toArray(g.logsumexp),
  };
}

async function run(logits: ArrayLike<number>, T: number, E: number, options: GatingOptions): Promise<Read> {
  const input = Tensor.from(logits, [T, E]);
  const g = gating(input, options);
  const out = await read(g);
  disposeGating(g);
  input.dispose();
  return out;
}

// fp32 softmax of logits in [-4, 4]: each probability is within a few ulps (≈ 1e-7 relative) of
// the double-precision value; 2e-6 relative + 1e-7 absolute leaves room for the E-term sum and
// the renormalising division. logsumexp is ≤ ~10 in magnitude: 1e-6 absolute is ≈ 8 ulps.
const PROB_ABS = 1e-7;
const PROB_REL = 2e-6;

async function expectMatchesReference(logits: Float32Array, T: number, E: number, options: RefGatingOptions): Promise<void> {
  const actual = await run(logits, T, E, options);
  const expected = refGating(logits, T, E, options);
  expect(Array.from(actual.expertIndex), 'expertIndex').toEqual(expected.expertIndex);
  expect(Array.from(actual.position), 'position').toEqual(expected.position);
  expect(Array.from(actual.countsPerExpert), 'countsPerExpert').toEqual(expected.countsPerExpert);
  expect(actual.numDropped, 'numDropped').toBe(expected.numDropped);
  expectClose(actual.weight, expected.weight, PROB_ABS, PROB_REL, 'weight');
  expectClose(actual.probs, expected.probs, PROB_ABS, PROB_REL, 'probs');
  expectClose(actual.logsumexp, expected.logsumexp, 1e-6, 1e-7, 'logsumexp');
}

describe('gating: against the JS reference', () => {
  const modes: CapacityMode[] = ['dropless', 'capacity', 'random'];
  const cases = modes.flatMap((capacityMode) =>
    [
      { T: 13, E: 4, k: 1, renormalize: false, capacityFactor: 1 },
      { T: 17, E: 6, k: 2, renormalize: true, capacityFactor: 0.75 },
      { T: 9, E: 8, k: 3, renormalize: false, capacityFactor: 1.25, minCapacity: 2 },
      { T: 32, E: 5, k: 5, renormalize: true, capacityFactor: 0.5 },
    ].map((c) => ({ ...c, capacityMode })),
  );
  it.each(cases)('T=$T E=$E k=$k renormalize=$renormalize $capacityMode cf=$capacityFactor', async (c) => {
    const logits = randomF32(c.T * c.E, c.T * 31 + c.E, 4);
    await expectMatchesReference(logits, c.T, c.E, { ...c, seed: 7 });
  });

  it('random mode: each seed matches the reference, and seeds give different drop sets', async () => {
    const T = 40;
    const E = 4;
    const logits = randomF32(T * E, 99, 3);
    const positions = new Set<string>();
    for (const seed of [0, 1, 2, 0xffffffff]) {
      const options = { k: 2, capacityMode: 'random' as const, capacityFactor: 0.5, seed };
      await expectMatchesReference(logits, T, E, options);
      positions.add(Array.from((await run(logits, T, E, options)).position).join(','));
    }
    expect(positions.size).toBeGreaterThan(1);
  });
});

describe('gating: documented rules (golden examples)', () => {
  it('gives the TSDoc example of gating()', async () => {
    const out = await run([0, 1, 3, 2], 1, 4, { k: 2 });
    expect(Array.from(out.expertIndex)).toEqual([2, 3]);
    expect(Array.from(out.position)).toEqual([0, 0]);
    expect(Array.from(out.countsPerExpert)).toEqual([0, 0, 1, 1]);
  });

  it('breaks ties by the lower expert index', async () => {
    const out = await run([1, 3, 3, 1, 3], 1, 5, { k: 3 });
    expect(Array.from(out.expertIndex)).toEqual([1, 2, 4]);
  });

  it('claims capacity with all first choices before second choices (GShard order)', async () => {
    // t0, t1 prefer expert 0 then 1; t2 prefers expert 1 then 0. C = max(ceil(2·3/2·2/3), 0) = 2.
    const logits = [2, 1, 2, 1, 1, 2];
    const out = await run(logits, 3, 2, { k: 2, capacityMode: 'capacity', capacityFactor: 2 / 3 });
    expect(Array.from(out.expertIndex)).toEqual([0, 1, 0, 1, 1, 0]);
    // first choices: e0 ← t0 (0), t1 (1); e1 ← t2 (0). Second: t0 → e1 (1); t1 → e1 full; t2 → e0 full.
    expect(Array.from(out.position)).toEqual([0, 1, 1, -1, 0, -1]);
    expect(Array.from(out.countsPerExpert)).toEqual([2, 2]);
    expect(out.numDropped).toBe(2);
    expect(out.weight[3]).toBe(0);
    expect(out.weight[5]).toBe(0);
  });

  it('computes C = max(ceil(k·T/E·cf), minCapacity)', () => {
    expect(gatingCapacity(10, 4, 2, 1.25, 0)).toBe(7);
    expect(gatingCapacity(10, 4, 2, 1.25, 9)).toBe(9);
    expect(gatingCapacity(0, 4, 2, 1, 0)).toBe(0);
  });

  it('renormalises the k weights to sum to 1', async () => {
    const out = await run([0, Math.log(3), Math.log(6), 0], 1, 4, { k: 2, renormalize: true });
    expect(Array.from(out.expertIndex)).toEqual([2, 1]);
    // p ∝ [1, 3, 6, 1]: selected 6/11 and 3/11, renormalised 2/3 and 1/3 (fp32: a few ulps).
    expectClose(out.weight, [2 / 3, 1 / 3], 0, 1e-6, 'weight');
  });
});

describe('gating: properties', () => {
  it('keeps every invariant of a routing (fast-check)', async () => {
    const arb = fc.record({
      T: fc.integer({ min: 0, max: 24 }),
      E: fc.integer({ min: 1, max: 7 }),
      kFraction: fc.double({ min: 0, max: 1, noNaN: true }),
      mode: fc.constantFrom<CapacityMode>('dropless', 'capacity', 'random'),
      cf: fc.double({ min: 0.1, max: 2, noNaN: true }),
      minCapacity: fc.integer({ min: 0, max: 3 }),
      seed: fc.integer({ min: 0, max: 1000 }),
      skew: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(arb, async (c) => {
        const k = 1 + Math.floor(c.kFraction * (c.E - 1));
        const logits = randomF32(c.T * c.E, c.seed, 2);
        if (c.skew) for (let t = 0; t < c.T; t++) logits[t * c.E] = 10; // everyone wants expert 0
        const out = await run(logits, c.T, c.E, {
          k,
          capacityMode: c.mode,
          capacityFactor: c.cf,
          minCapacity: c.minCapacity,
          seed: c.seed,
        });
        const C = c.mode === 'dropless' ? Infinity : refCapacity(c.T, c.E, k, c.cf, c.minCapacity);
        // Counts sum to k·T − dropped, and never exceed the capacity.
        const kept = out.countsPerExpert.reduce((a, b) => a + b, 0);
        expect(kept).toBe(k * c.T - out.numDropped);
        for (const count of out.countsPerExpert) expect(count).toBeLessThanOrEqual(C);
        // Positions of each expert are exactly 0..count-1; dropped slots have weight 0.
        const seen = Array.from({ length: c.E }, () => new Set<number>());
        for (let s = 0; s < c.T * k; s++) {
          const e = out.expertIndex[s] ?? -1;
          const p = out.position[s] ?? -2;
          if (p < 0) expect(out.weight[s]).toBe(0);
          else seen[e]?.add(p);
        }
        seen.forEach((positions, e) => {
          expect(positions.size).toBe(out.countsPerExpert[e]);
          for (const p of positions) expect(p).toBeLessThan(out.countsPerExpert[e] ?? 0);
        });
        // Each token's experts are distinct.
        for (let t = 0; t < c.T; t++) {
          expect(new Set(out.expertIndex.subarray(t * k, t * k + k)).size).toBe(k);
        }
        if (c.mode === 'dropless') expect(out.numDropped).toBe(0);
      }),
      { numRuns: 60, seed: 20261128 },
    );
  });
});

describe('gating: edge cases', () => {
  it('T = 0: empty outputs, zero counts, zero losses', async () => {
    const logits = Tensor.empty([0, 4]);
    const g = gating(logits, { k: 2, capacityMode: 'capacity' });
    const out = await read(g);
    expect(out.expertIndex.length).toBe(0);
    expect(Array.from(out.countsPerExpert)).toEqual([0, 0, 0, 0]);
    expect(out.numDropped).toBe(0);
    expect(Array.from(await gatingAuxLoss(g).toArray())).toEqual([0, 0]);
    expect(gatingBackward(g, null, { auxCoef: 1, zCoef: 1 }).shape).toEqual([0, 4]);
    await Device.cpu().defaultStream.synchronize();
  });

  it('E = 1: every token goes to expert 0 with weight 1', async () => {
    const out = await run([5, -3, 0.5], 3, 1, {});
    expect(Array.from(out.expertIndex)).toEqual([0, 0, 0]);
    expect(Array.from(out.weight)).toEqual([1, 1, 1]);
    expect(Array.from(out.position)).toEqual([0, 1, 2]);
  });

  it('k = E: every expert once per token, best first', async () => {
    const out = await run([0.1, 0.3, 0.2, 0.9, 0.8, 0.7], 2, 3, { k: 3, renormalize: true });
    expect(Array.from(out.expertIndex)).toEqual([1, 2, 0, 0, 1, 2]);
    expect(Array.from(out.countsPerExpert)).toEqual([2, 2, 2]);
  });

  it('all tokens to one expert: capacity keeps the first C tokens in token order', async () => {
    const T = 8;
    const logits = Array.from({ length: T * 4 }, (_, i) => (i % 4 === 2 ? 5 : 0));
    const out = await run(logits, T, 4, { k: 1, capacityMode: 'capacity', capacityFactor: 1 });
    expect(Array.from(out.position)).toEqual([0, 1, -1, -1, -1, -1, -1, -1]);
    expect(Array.from(out.countsPerExpert)).toEqual([0, 0, 2, 0]);
    expect(out.numDropped).toBe(6);
  });

  it.each([
    [NaN, 'NaN'],
    [Infinity, 'infinite'],
    [-Infinity, 'infinite'],
  ])('refuses logit %s at synchronize with a RangeError (code EINVAL) naming logits; the stream recovers', async (bad, word) => {
    const stream = Device.cpu().createStream();
    const values = [0, 1, 2, 3, 4, 5];
    values[4] = bad;
    // The logits are written on the same stream, so the kernel sees them.
    const g = gating(Tensor.from(values, [2, 3], { stream }), { stream });
    const error = await stream.synchronize().then(
      () => undefined,
      (e: unknown) => e,
    );
    // A bad value is a RangeError wherever it is found; being found by queued work, it is also
    // a coded ProphetError like every other failure synchronize reports.
    expect(error).toBeInstanceOf(RangeError);
    expect(error).toBeInstanceOf(ProphetError);
    expect(error).toBeInstanceOf(ProphetRangeError);
    expect((error as ProphetRangeError).code).toBe('EINVAL');
    expect((error as ProphetRangeError).message).toBe(
      `stream synchronize failed on cpu: gating forward: logits[1, 1] is ${word}; logits must be finite`,
    );
    const ok = gating(Tensor.from([0, 1, 2, 3, 4, 5], [2, 3], { stream }), { stream });
    await stream.synchronize();
    expect(Array.from(await ok.expertIndex.toArray({ stream }))).toEqual([2, 2]);
    disposeGating(g);
    stream.dispose();
  });
});

describe('gating: aux losses', () => {
  it.each([
    { T: 12, E: 4, k: 1 },
    { T: 20, E: 6, k: 2 },
    { T: 7, E: 3, k: 3 },
  ])('match the reference (T=$T E=$E k=$k)', async ({ T, E, k }) => {
    const logits = randomF32(T * E, T + E, 3);
    const g = gating(Tensor.from(logits, [T, E]), { k, capacityMode: 'capacity', capacityFactor: 0.8 });
    const losses = await gatingAuxLoss(g).toArray();
    const expected = refAuxLoss(refGating(logits, T, E, { k, capacityMode: 'capacity', capacityFactor: 0.8 }), T, E, k);
    // Sums run in double; only the fp32 probabilities and the final rounding to fp32 differ.
    expectClose(losses, expected, 1e-6, 1e-5, 'losses');
  });

  it('L_aux = 1 for uniform probabilities and L_z = (log E)² for zero logits', async () => {
    const T = 16;
    const E = 4;
    const g = gating(Tensor.zeros([T, E]), { k: 1 });
    const losses = await gatingAuxLoss(g).toArray();
    expectClose(losses, [1, Math.log(E) ** 2], 0, 1e-6, 'losses');
  });
});

describe('gating: gradients by finite differences', () => {
  // Central differences of the double-precision reference loss with h = 1e-3: the truncation
  // error h²·f'''/6 is below 1e-7 for these O(1) logits. The kernel computes in fp32, so compare
  // with 1e-5 absolute + 1e-3 relative. Logits are spread (scale 3) so that no perturbation
  // changes the top-k; the routing is frozen in the reference loss the same way.
  const cases = [
    { name: 'plain weights', k: 2, renormalize: false, mode: 'dropless', aux: 0, z: 0 },
    { name: 'renormalised weights', k: 2, renormalize: true, mode: 'dropless', aux: 0, z: 0 },
    { name: 'renormalised with drops', k: 3, renormalize: true, mode: 'capacity', aux: 0, z: 0 },
    { name: 'aux loss only', k: 2, renormalize: false, mode: 'dropless', aux: 0.7, z: 0, noWeights: true },
    { name: 'z-loss only', k: 1, renormalize: false, mode: 'dropless', aux: 0, z: 0.3, noWeights: true },
    { name: 'everything', k: 2, renormalize: true, mode: 'random', aux: 0.5, z: 0.2 },
  ] as const;
  it.each(cases)('$name', async (c) => {
    const T = 6;
    const E = 5;
    const logits = Array.from(randomF32(T * E, 4242, 3));
    const options = { k: c.k, renormalize: c.renormalize, capacityMode: c.mode, capacityFactor: 0.6, seed: 3 } as const;
    const frozen = refGating(logits, T, E, options);
    const dWeight = 'noWeights' in c ? null : randomF32(T * c.k, 17, 1);
    const g = gating(Tensor.from(logits, [T, E]), options);
    const dLogits = await gatingBackward(g, dWeight === null ? null : Tensor.from(dWeight, [T, c.k]), {
      auxCoef: c.aux,
      zCoef: c.z,
    }).toArray();
    if (c.mode === 'capacity') expect(frozen.numDropped).toBeGreaterThan(0);
    const h = 1e-3;
    const numeric = logits.map((_, i) => {
      const plus = [...logits];
      const minus = [...logits];
      plus[i] = (plus[i] ?? 0) + h;
      minus[i] = (minus[i] ?? 0) - h;
      const loss = (l: number[]) => refGatingLoss(l, T, E, frozen, c.k, c.renormalize, dWeight, c.aux, c.z);
      return (loss(plus) - loss(minus)) / (2 * h);
    });
    expectClose(dLogits, numeric, 1e-5, 1e-3, 'dLogits');
  });
});

describe('gating: determinism', () => {
  it('re-runs are bitwise identical at a size that uses every thread', async () => {
    const T = 4096;
    const E = 64;
    const logits = Tensor.from(randomF32(T * E, 5, 4), [T, E]);
    const runOnce = async () => {
      const g = gating(logits, { k: 2, renormalize: true, capacityMode: 'random', capacityFactor: 1, seed: 11 });
      const dLogits = gatingBackward(g, Tensor.from(randomF32(T * 2, 6), [T, 2]), { auxCoef: 0.01, zCoef: 0.001 });
      const out = await read(g);
      return [out.expertIndex, out.weight, out.position, out.countsPerExpert, out.probs, out.logsumexp, await dLogits.toArray()];
    };
    const first = await runOnce();
    const second = await runOnce();
    first.forEach((values, i) => expectBitwiseEqual(second[i] as ArrayBufferView, values, `output ${i}`));
  });
});

describe('gating: argument errors', () => {
  const logits = Tensor.zeros([3, 4]);
  it.each([
    [() => gating('x' as never), TypeError, 'Expected f32 Tensor for logits but received "x" of type string'],
    [
      () => gating(Tensor.zeros([3, 4], { dtype: 'i32' }) as never),
      TypeError,
      `Expected 'f32' for logits.dtype but received "i32" of type string`,
    ],
    [
      () => gating(Tensor.zeros([12])),
      RangeError,
      'Expected a shape [numTokens, numExperts] with numExperts >= 1 for logits.shape but received [12] of type array',
    ],
    [
      () => gating(Tensor.zeros([3, 0])),
      RangeError,
      'Expected a shape [numTokens, numExperts] with numExperts >= 1 for logits.shape but received [3, 0] of type array',
    ],
    [() => gating(logits, { k: 5 }), RangeError, 'Expected integer in [1, 4] for options.k but received 5 of type number'],
    [() => gating(logits, { k: '2' as never }), TypeError, 'Expected integer in [1, 4] for options.k but received "2" of type string'],
    [
      () => gating(logits, { capacityMode: 'fixed' as never }),
      RangeError,
      `Expected one of 'dropless', 'capacity', 'random' for options.capacityMode but received "fixed" of type string`,
    ],
    [
      () => gating(logits, { capacityFactor: 0 }),
      RangeError,
      'Expected finite number > 0 for options.capacityFactor but received 0 of type number',
    ],
    [
      () => gating(logits, { minCapacity: -1 }),
      RangeError,
      'Expected integer in [0, 2147483647] for options.minCapacity but received -1 of type number',
    ],
    [
      () => gating(logits, { seed: 2 ** 32 }),
      RangeError,
      'Expected integer in [0, 4294967295] for options.seed but received 4294967296 of type number',
    ],
    [() => gating(logits, { renormalize: 1 as never }), TypeError, 'Expected boolean for options.renormalize but received 1 of type number'],
  ])('%#', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });

  it('a disposed tensor is an EDISPOSED ProphetError, not a crash', () => {
    const gone = Tensor.zeros([2, 2]);
    gone.dispose();
    expect(() => gating(gone)).toThrow(expect.objectContaining({ name: 'ProphetError', code: 'EDISPOSED' }));
  });

  it('the native entry refuses undersized buffers with EINVAL (defence behind the TS checks)', () => {
    const small = Tensor.zeros([1]);
    const s = Device.cpu().defaultStream;
    const b = small.storage;
    const call = () => addon().gatingForward(b, 4, 4, 1, false, 0, -1, 0, b, b, b, b, b, b, b, s.native);
    expect(call).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: 'gating forward failed on cpu: gating forward: logits holds 4 bytes, needs 64' }),
    );
  });

  it('checks dWeight and the coefficients of gatingBackward', () => {
    const g = gating(logits, { k: 2 });
    expect(() => gatingBackward(g, Tensor.zeros([3, 1]))).toThrow(
      new RangeError('Expected [3, 2] for dWeight.shape but received [3, 1] of type array'),
    );
    expect(() => gatingBackward(g, null, { auxCoef: NaN })).toThrow(
      new RangeError('Expected finite number for options.auxCoef but received NaN of type number'),
    );
    expect(() => gatingAuxLoss({} as never)).toThrow(new TypeError('Expected the result of gating() for gating but received Object of type object'));
  });
});
