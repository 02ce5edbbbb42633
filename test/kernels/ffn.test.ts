/**
 * Expert FFN kernels against the float64 reference (test/kernels/reference/ffn.ts) and against
 * finite differences of the native forward itself.
 */
import { describe, expect, it } from 'vitest';

import { ffnBackward, ffnForward, type Activation, type FfnParams } from '../../src/kernels/ffn.js';
import { addon } from '../../src/native.js';
import { Device } from '../../src/runtime/device.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { refFfnBackward, refFfnForward, type RefFfnDims } from './reference/ffn.js';
import { expectClose, randomArray, seededRandom } from './reference/util.js';

interface Problem {
  readonly dims: RefFfnDims;
  readonly rows: number[];
  readonly x: Float32Array;
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  readonly w2: Float32Array;
  readonly b2: Float32Array;
}

// Weights scaled by 1/sqrt(fan-in) keep pre-activations and outputs O(1), so absolute and
// relative tolerances mean the same thing at every size below.
function makeProblem(seed: number, rows: number[], dModel: number, hidden: number, activation: Activation, gated: boolean): Problem {
  const rand = seededRandom(seed);
  const numExperts = rows.length;
  const n = rows.reduce((a, b) => a + b, 0);
  const h1 = gated ? 2 * hidden : hidden;
  const s1 = Math.sqrt(3 / dModel), s2 = Math.sqrt(3 / hidden);
  return {
    dims: { numExperts, dModel, hidden, gated, activation },
    rows,
    x: randomArray(rand, n * dModel, -1.5, 1.5),
    w1: randomArray(rand, numExperts * dModel * h1, -s1, s1),
    b1: randomArray(rand, numExperts * h1, -0.5, 0.5),
    w2: randomArray(rand, numExperts * hidden * dModel, -s2, s2),
    b2: randomArray(rand, numExperts * dModel, -0.5, 0.5),
  };
}

function upload(p: Problem): { x: Tensor<'f32'>; params: FfnParams } {
  const { numExperts: e, dModel: d, hidden: h, gated } = p.dims;
  const h1 = gated ? 2 * h : h;
  const n = p.x.length / d;
  return {
    x: Tensor.from(p.x, [n, d]),
    params: {
      w1: Tensor.from(p.w1, [e, d, h1]),
      b1: Tensor.from(p.b1, [e, h1]),
      w2: Tensor.from(p.w2, [e, h, d]),
      b2: Tensor.from(p.b2, [e, d]),
    },
  };
}

function gradTensors(p: Problem, init: (n: number) => Float32Array): FfnParams {
  const { numExperts: e, dModel: d, hidden: h, gated } = p.dims;
  const h1 = gated ? 2 * h : h;
  return {
    w1: Tensor.from(init(e * d * h1), [e, d, h1]),
    b1: Tensor.from(init(e * h1), [e, h1]),
    w2: Tensor.from(init(e * h * d), [e, h, d]),
    b2: Tensor.from(init(e * d), [e, d]),
  };
}

async function read(t: Tensor<'f32'>): Promise<Float32Array> {
  return (await t.toArray()) as Float32Array;
}

const CASES: [Activation, boolean][] = [
  ['relu', false], ['gelu', false], ['silu', false],
  ['relu', true], ['gelu', true], ['silu', true],
];

// fp32 tolerance: each output is a dot product of <= 64 O(1) terms accumulated in fp32
// (error <= 64 · 2^-24 · max|term| ≈ 4e-6 per GEMM, compounded over two GEMMs and the
// activation's own ~2-ulp exp), plus gelu's cubic term; 1e-4 absolute + 1e-4 relative leaves a
// 10× margin while still catching any wrong index, layout or derivative (errors >= 1e-2).
const ABS = 1e-4, REL = 1e-4;

describe('ffnForward', () => {
  for (const [activation, gated] of CASES) {
    it(`matches the reference: ${activation}${gated ? ' gated' : ''}, rows [3, 0, 5, 1]`, async () => {
      const p = makeProblem(11, [3, 0, 5, 1], 8, 16, activation, gated);
      const { x, params } = upload(p);
      const { y, pre, act } = ffnForward(x, p.rows, params, { activation, gated });
      const ref = refFfnForward(p.x, p.rows, p, p.dims);
      expectClose('pre', await read(pre), ref.pre, ABS, REL);
      expectClose('act', await read(act), ref.act, ABS, REL);
      expectClose('y', await read(y), ref.y, ABS, REL);
    });
  }

  it('spans several row chunks per expert (rows > 128) and many experts', async () => {
    const p = makeProblem(5, [300, 77, 0, 129], 24, 40, 'gelu', true);
    const { x, params } = upload(p);
    const { y } = ffnForward(x, Int32Array.from(p.rows), params, { activation: 'gelu', gated: true });
    expectClose('y', await read(y), refFfnForward(p.x, p.rows, p, p.dims).y, ABS, REL);
  });

  it('saturates cleanly at large pre-activations (no NaN or Inf from exp)', async () => {
    // One expert, d = 1, h = 9: pre = x·w1 spans [-200, 200], far past exp's fp32 range.
    const pres = [-200, -90, -20, -1e-3, 0, 1e-3, 20, 90, 200];
    const params: FfnParams = {
      w1: Tensor.from(pres, [1, 1, 9]), b1: Tensor.zeros([1, 9]), w2: Tensor.zeros([1, 9, 1]), b2: Tensor.zeros([1, 1]),
    };
    for (const activation of ['relu', 'gelu', 'silu'] as Activation[]) {
      const { act } = ffnForward(Tensor.from([1], [1, 1]), [1], params, { activation });
      const got = await read(act);
      const ref = refFfnForward([1], [1], { w1: pres, b1: new Float32Array(9), w2: new Float32Array(9), b2: [0] },
        { numExperts: 1, dModel: 1, hidden: 9, gated: false, activation }).act;
      // Values reach 200: 1e-6 relative is a few fp32 ulps; tiny ones need the 1e-30 floor.
      expectClose(activation, got, ref, 1e-30, 1e-6);
    }
  });

  it('handles zero tokens in total, forward and backward', async () => {
    const p = makeProblem(3, [0, 0], 4, 8, 'silu', false);
    const { x, params } = upload(p);
    const saved = ffnForward(x, [0, 0], params, { activation: 'silu' });
    expect(saved.y.shape).toEqual([0, 4]);
    expect(saved.pre.shape).toEqual([0, 8]);
    const ones = (len: number) => new Float32Array(len).fill(1);
    const grads = gradTensors(p, ones);
    const { dx } = ffnBackward(Tensor.zeros([0, 4]), x, [0, 0], params, saved, grads, { activation: 'silu' });
    await Device.cpu().defaultStream.synchronize();
    expect(dx.shape).toEqual([0, 4]);
    // Nothing to accumulate: the gradients keep their values.
    expect(Array.from(await read(grads.w1))).toEqual(Array.from(ones(2 * 4 * 8)));
    expect(Array.from(await read(grads.b2))).toEqual(Array.from(ones(2 * 4)));
  });
});

describe('ffnBackward', () => {
  for (const [activation, gated] of CASES) {
    it(`accumulates reference gradients into existing ones: ${activation}${gated ? ' gated' : ''}`, async () => {
      const p = makeProblem(23, [4, 0, 6], 8, 12, activation, gated);
      const { x, params } = upload(p);
      const n = p.x.length / p.dims.dModel;
      const dyData = randomArray(seededRandom(99), n * p.dims.dModel);
      const dy = Tensor.from(dyData, [n, p.dims.dModel]);
      const initial = (len: number) => randomArray(seededRandom(len), len);
      const grads = gradTensors(p, initial);
      const saved = ffnForward(x, p.rows, params, { activation, gated });
      const { dx } = ffnBackward(dy, x, p.rows, params, saved, grads, { activation, gated });
      const ref = refFfnBackward(dyData, p.x, p.rows, p, p.dims);
      const plus = (base: Float32Array, add: Float64Array) => add.map((v, i) => v + (base[i] ?? NaN));
      expectClose('dx', await read(dx), ref.dx, ABS, REL);
      expectClose('dw1', await read(grads.w1), plus(initial(ref.dw1.length), ref.dw1), ABS, REL);
      expectClose('db1', await read(grads.b1), plus(initial(ref.db1.length), ref.db1), ABS, REL);
      expectClose('dw2', await read(grads.w2), plus(initial(ref.dw2.length), ref.dw2), ABS, REL);
      expectClose('db2', await read(grads.b2), plus(initial(ref.db2.length), ref.db2), ABS, REL);
      // The expert with no rows got nothing added.
      const dw2 = await read(grads.w2);
      const perExpert = p.dims.hidden * p.dims.dModel;
      expect(Array.from(dw2.subarray(perExpert, 2 * perExpert))).toEqual(Array.from(initial(ref.dw2.length).subarray(perExpert, 2 * perExpert)));
    });
  }

  it('adds up over repeated calls (two accumulation steps = twice the gradient)', async () => {
    const p = makeProblem(8, [130, 5], 16, 20, 'silu', true);
    const { x, params } = upload(p);
    const n = p.x.length / 16;
    const dyData = randomArray(seededRandom(4), n * 16);
    const dy = Tensor.from(dyData, [n, 16]);
    const grads = gradTensors(p, (len) => new Float32Array(len));
    const saved = ffnForward(x, p.rows, params, { activation: 'silu', gated: true });
    ffnBackward(dy, x, p.rows, params, saved, grads, { activation: 'silu', gated: true });
    ffnBackward(dy, x, p.rows, params, saved, grads, { activation: 'silu', gated: true });
    const ref = refFfnBackward(dyData, p.x, p.rows, p, p.dims);
    const twice = (a: Float64Array) => a.map((v) => 2 * v);
    // 135 rows enter each weight-gradient sum: 4e-4 absolute covers fp32 accumulation over them.
    expectClose('dw1', await read(grads.w1), twice(ref.dw1), 4e-4, REL);
    expectClose('db1', await read(grads.b1), twice(ref.db1), 4e-4, REL);
    expectClose('dw2', await read(grads.w2), twice(ref.dw2), 4e-4, REL);
    expectClose('db2', await read(grads.b2), twice(ref.db2), 4e-4, REL);
  });

  it('is bitwise identical when re-run, also on another stream', async () => {
    const p = makeProblem(31, [200, 0, 90], 16, 24, 'gelu', false);
    const run = async (stream = Device.cpu().defaultStream) => {
      const { x, params } = upload(p);
      const n = p.x.length / 16;
      const dy = Tensor.from(randomArray(seededRandom(1), n * 16), [n, 16]);
      const grads = gradTensors(p, (len) => new Float32Array(len));
      await Device.cpu().defaultStream.synchronize(); // uploads ran on the default stream
      const saved = ffnForward(x, p.rows, params, { activation: 'gelu', stream });
      const { dx } = ffnBackward(dy, x, p.rows, params, saved, grads, { activation: 'gelu', stream });
      await stream.synchronize();
      return [saved.y, dx, grads.w1, grads.b1, grads.w2, grads.b2].map((t) => new Uint32Array(Float32Array.from(t.view() as Float32Array).buffer));
    };
    const mismatches = (a: Uint32Array[], b: Uint32Array[]) =>
      a.reduce((count, bits, t) => count + bits.reduce((c2, word, i) => c2 + (word === b[t]?.[i] ? 0 : 1), 0), 0);
    const first = await run();
    expect(mismatches(await run(), first)).toBe(0);
    expect(mismatches(await run(Device.cpu().createStream()), first)).toBe(0);
  });
});

describe('ffn finite differences', () => {
  // Central differences of L = Σ y ⊙ R (so dL/dy = R) through the fp32 native forward.
  // Step 1e-2 on O(1) inputs: truncation error h²·|f'''|/6 ≈ 2e-5; fp32 rounding of L (~20
  // terms of size ~1, error ~1e-6) divided by 2h ≈ 5e-5. Tolerance 5e-4 absolute + 1e-3
  // relative is ~10× above both, and a 1% error in any derivative (~1e-2) fails it.
  const STEP = 1e-2;

  async function loss(x: Tensor<'f32'>, params: FfnParams, p: Problem, r: Float32Array): Promise<{ l: number; pre: Float32Array }> {
    const { y, pre } = ffnForward(x, p.rows, params, { activation: p.dims.activation, gated: p.dims.gated });
    const yv = await read(y);
    let l = 0;
    yv.forEach((v, i) => (l += v * (r[i] ?? NaN)));
    return { l, pre: await read(pre) };
  }

  for (const [activation, gated] of [['gelu', true], ['silu', false], ['relu', false], ['relu', true]] as [Activation, boolean][]) {
    it(`dx, dW1, db1, dW2, db2 agree with central differences: ${activation}${gated ? ' gated' : ''}`, async () => {
      const p = makeProblem(41, [2, 0, 3], 4, 6, activation, gated);
      const { x, params } = upload(p);
      const n = 5, d = 4;
      const r = randomArray(seededRandom(7), n * d);
      const grads = gradTensors(p, (len) => new Float32Array(len));
      const saved = ffnForward(x, p.rows, params, { activation, gated });
      const { dx } = ffnBackward(Tensor.from(r, [n, d]), x, p.rows, params, saved, grads, { activation, gated });
      const analytic: Record<string, Float32Array> = {
        x: await read(dx), w1: await read(grads.w1), b1: await read(grads.b1), w2: await read(grads.w2), b2: await read(grads.b2),
      };
      const sources: Record<string, Float32Array> = { x: p.x, w1: p.w1, b1: p.b1, w2: p.w2, b2: p.b2 };
      let compared = 0;
      for (const name of Object.keys(sources)) {
        const base = sources[name] ?? new Float32Array();
        const tensor = name === 'x' ? x : params[name as keyof FfnParams];
        for (let i = 0; i < base.length; i++) {
          const orig = base[i] ?? NaN;
          const shifted = Float32Array.from(base);
          shifted[i] = orig + STEP;
          tensor.write(shifted);
          const up = await loss(x, params, p, r);
          shifted[i] = orig - STEP;
          tensor.write(shifted);
          const down = await loss(x, params, p, r);
          tensor.write(base);
          // relu is not differentiable at 0: skip entries whose perturbation flips any sign.
          if (activation === 'relu' && up.pre.some((v, j) => Math.sign(v) !== Math.sign(down.pre[j] ?? NaN))) continue;
          const numeric = (up.l - down.l) / (2 * STEP);
          const got = analytic[name]?.[i] ?? NaN;
          expect(Math.abs(got - numeric), `${name}[${i}]: analytic ${got}, numeric ${numeric}`).toBeLessThanOrEqual(5e-4 + 1e-3 * Math.abs(numeric));
          compared++;
        }
      }
      // Every parameter family was checked (relu skips at most a few kinks).
      expect(compared).toBeGreaterThan(0.8 * Object.values(sources).reduce((a, s) => a + s.length, 0));
    });
  }
});

describe('ffn argument errors', () => {
  const p = makeProblem(2, [2, 1], 4, 6, 'gelu', false);
  const { x, params } = upload(p);

  it('names a wrong x shape', () => {
    const bad = Tensor.zeros([3, 5]);
    expect(() => ffnForward(bad, [2, 1], params)).toThrow(new RangeError('Expected [3, 4] for x.shape but received [3, 5] of type array'));
  });

  it('names counts that do not add up to the rows of x', () => {
    expect(() => ffnForward(x, [2, 2], params)).toThrow(
      new RangeError('Expected 2 non-negative integers summing to 3 for rowsPerExpert but received [2, 2] of type array'),
    );
    expect(() => ffnForward(x, [3], params)).toThrow(RangeError);
    expect(() => ffnForward(x, [4, -1], params)).toThrow(
      new RangeError('Expected integer in [0, 2147483647] for rowsPerExpert[1] but received -1 of type number'),
    );
    expect(() => ffnForward(x, 'ab' as unknown as number[], params)).toThrow(TypeError);
  });

  it('names an unknown activation and a gated/plain W1 mismatch', () => {
    expect(() => ffnForward(x, [2, 1], params, { activation: 'tanh' as Activation })).toThrow(
      new RangeError("Expected one of 'relu', 'gelu', 'silu' for options.activation but received \"tanh\" of type string"),
    );
    expect(() => ffnForward(x, [2, 1], params, { gated: true })).toThrow(
      new RangeError('Expected [2, 4, 12] for params.w1.shape but received [2, 4, 6] of type array'),
    );
  });

  it('names an output that aliases an input', () => {
    const y = Tensor.zeros([3, 4]);
    expect(() => ffnForward(x, [2, 1], params, { out: { y: x } })).toThrow(
      new RangeError('Expected a tensor that shares no memory with x for options.out.y but received "x" of type string'),
    );
    const saved = ffnForward(x, [2, 1], params);
    expect(() => ffnBackward(y, x, [2, 1], params, saved, params)).toThrow(
      new RangeError('Expected a tensor that shares no memory with params.w1 for grads.w1 but received "params.w1" of type string'),
    );
  });

  it('the addon itself refuses storages too small for the shape and negative counts', () => {
    const stream = Device.cpu().defaultStream.native;
    const s = (t: Tensor) => t.storage;
    const small = Tensor.zeros([2, 4]); // 2 rows where 3 are needed
    expect(() =>
      addon().ffnForward(Int32Array.of(2, 1), 4, 6, 1, false, s(small), s(params.w1), s(params.b1), s(params.w2), s(params.b2),
        s(Tensor.zeros([3, 6])), s(Tensor.zeros([3, 6])), s(Tensor.zeros([3, 4])), stream),
    ).toThrow(new RangeError('Invalid x: needs 48 bytes but the storage has 32'));
    expect(() =>
      addon().ffnForward(Int32Array.of(4, -1), 4, 6, 1, false, s(x), s(params.w1), s(params.b1), s(params.w2), s(params.b2),
        s(Tensor.zeros([3, 6])), s(Tensor.zeros([3, 6])), s(Tensor.zeros([3, 4])), stream),
    ).toThrow(new RangeError('Invalid rowsPerExpert: counts must be >= 0'));
    // The backend's own validation: an Error with code EINVAL, nothing queued.
    let error: unknown;
    try {
      addon().ffnForward(Int32Array.of(2, 1), 4, 6, 7, false, s(x), s(params.w1), s(params.b1), s(params.w2), s(params.b2),
        s(Tensor.zeros([3, 6])), s(Tensor.zeros([3, 6])), s(Tensor.zeros([3, 4])), stream);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'EINVAL', message: 'ffn forward failed on cpu: ffn forward: unknown activation 7' });
  });

  it('reports a disposed weight as EDISPOSED', () => {
    const q = makeProblem(4, [1], 4, 6, 'relu', false);
    const { x: x1, params: p1 } = upload(q);
    p1.w2.dispose();
    expect(() => ffnForward(x1, [1], p1, { activation: 'relu' })).toThrow(expect.objectContaining({ code: 'EDISPOSED' }));
  });

  it('names a wrong dtype and a wrong gradient shape', () => {
    const ints = Tensor.zeros([3, 4], { dtype: 'i32' });
    expect(() => ffnForward(ints as unknown as Tensor<'f32'>, [2, 1], params)).toThrow(
      new TypeError('Expected \'f32\' for x.dtype but received "i32" of type string'),
    );
    const saved = ffnForward(x, [2, 1], params);
    const grads = { ...params, b2: Tensor.zeros([2, 5]) };
    expect(() => ffnBackward(Tensor.zeros([3, 4]), x, [2, 1], params, saved, grads)).toThrow(
      new RangeError('Expected [2, 4] for grads.b2.shape but received [2, 5] of type array'),
    );
  });
});
