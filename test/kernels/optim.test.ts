/**
 * Optimizer kernels against float64 references of PyTorch's semantics
 * (test/kernels/reference/optim.ts), over several steps with changing gradients.
 */
import { describe, expect, it } from 'vitest';

import { AdamW, axpy, clipByNorm, clipGradNorm, fill, scale, Sgd, sumSquares, zeroGrads, type ParamGrad } from '../../src/kernels/optim.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { refAdamWStep, refClip, refSgdStep, type RefSgdOptions } from './reference/optim.js';
import { expectClose, randomArray, seededRandom } from './reference/util.js';

async function read(t: Tensor<'f32'>): Promise<Float32Array> {
  return (await t.toArray()) as Float32Array;
}

const SIZES = [5, 70_001]; // one tensor below and one above the parallel threshold (2^15)

function makeParams(seed: number): { params: ParamGrad[]; values: Float64Array[] } {
  const rand = seededRandom(seed);
  const values = SIZES.map((n) => Float64Array.from(randomArray(rand, n)));
  const params = values.map((v) => ({ param: Tensor.from(v, [v.length]), grad: Tensor.zeros([v.length]) }));
  return { params, values };
}

// Gradients of step t, regenerated identically for the reference.
function gradsOf(step: number): Float32Array[] {
  const rand = seededRandom(1000 + step);
  return SIZES.map((n) => randomArray(rand, n, -2, 2));
}

describe('Sgd', () => {
  const configs: RefSgdOptions[] = [
    { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: false },
    { lr: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 0, nesterov: false },
    { lr: 0.02, momentum: 0.9, dampening: 0, weightDecay: 0.1, nesterov: true },
  ];
  for (const o of configs) {
    it(`matches torch.optim.SGD over 5 steps: ${JSON.stringify(o)}`, async () => {
      const { params, values } = makeParams(3);
      const sgd = new Sgd(params, o);
      const states = values.map(() => ({}) as { buf?: Float64Array });
      for (let t = 1; t <= 5; t++) {
        const grads = gradsOf(t);
        params.forEach(({ grad }, i) => grad.write(grads[i] ?? new Float32Array()));
        sgd.step();
        values.forEach((v, i) => refSgdStep(v, grads[i] ?? [], states[i] ?? {}, o));
      }
      // fp32: each step adds a few roundings of O(1) values (2^-24 each); over 5 steps errors stay
      // below 1e-6, far under the 1e-2-size differences a wrong formula produces.
      for (const [i, { param }] of params.entries()) expectClose(`param ${i}`, await read(param), values[i] ?? [], 1e-5, 1e-5);
      sgd.dispose();
    });
  }

  it('names a gradient of the wrong size and a non-tensor parameter', () => {
    const param = Tensor.zeros([4]);
    expect(() => new Sgd([{ param, grad: Tensor.zeros([5]) }], { lr: 0.1 })).toThrow(
      new RangeError('Expected a tensor of 4 elements for params[0].grad but received [5] of type array'),
    );
    expect(() => new AdamW([{ param: [1, 2] as unknown as Tensor<'f32'>, grad: param }])).toThrow(
      new TypeError('Expected f32 Tensor for params[0].param but received [1, 2] of type array'),
    );
  });

  it('rejects nesterov without momentum, and a negative lr', () => {
    const { params } = makeParams(1);
    expect(() => new Sgd(params, { lr: 0.1, nesterov: true })).toThrow(
      new RangeError('Expected false unless momentum > 0 and dampening = 0 for options.nesterov but received true of type boolean'),
    );
    expect(() => new Sgd(params, { lr: -1 })).toThrow(new RangeError('Expected finite number in [0, Infinity] for options.lr but received -1 of type number'));
  });
});

describe('AdamW', () => {
  it('matches torch.optim.AdamW over 6 steps, states included', async () => {
    const o = { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
    const { params, values } = makeParams(5);
    const adam = new AdamW(params, { lr: o.lr, betas: [o.beta1, o.beta2], eps: o.eps, weightDecay: o.weightDecay });
    const m = values.map((v) => new Float64Array(v.length));
    const v2 = values.map((v) => new Float64Array(v.length));
    for (let t = 1; t <= 6; t++) {
      const grads = gradsOf(t);
      params.forEach(({ grad }, i) => grad.write(grads[i] ?? new Float32Array()));
      adam.step();
      values.forEach((v, i) => refAdamWStep(v, grads[i] ?? [], m[i] ?? v, v2[i] ?? v, t, o));
    }
    expect(adam.stepCount).toBe(6);
    // fp32 states and updates: each step moves p by <= lr·|m/sqrt(v)| ~ 1e-2 with relative
    // rounding ~1e-6, so parameters agree to 1e-6 absolute; m and v are O(1) fp32 recurrences.
    for (const [i, { param }] of params.entries()) {
      expectClose(`param ${i}`, await read(param), values[i] ?? [], 1e-6, 1e-5);
      const state = adam.state(i);
      if (state === undefined) throw new Error('no state');
      expectClose(`m ${i}`, await read(state.m), m[i] ?? [], 1e-6, 1e-5);
      expectClose(`v ${i}`, await read(state.v), v2[i] ?? [], 1e-6, 1e-5);
    }
    adam.dispose();
  });

  it('rejects beta = 1 and a bad eps', () => {
    const { params } = makeParams(1);
    expect(() => new AdamW(params, { betas: [0.9, 1] })).toThrow(
      new RangeError('Expected finite number in [0, 1) for options.betas[1] but received 1 of type number'),
    );
    expect(() => new AdamW(params, { eps: Number.NaN })).toThrow(RangeError);
  });
});

describe('gradient utilities', () => {
  it('clipGradNorm returns the pre-clip norm and scales like clip_grad_norm_', async () => {
    const rand = seededRandom(8);
    const data = [randomArray(rand, 1000, -3, 3), randomArray(rand, 100_003, -3, 3), new Float32Array(0)];
    const grads = data.map((d) => Tensor.from(d, [d.length]));
    const { norm, coef } = refClip(data, 5);
    const got = await clipGradNorm(grads, 5);
    // The fp64 sum of squares is stored as fp32 (relative error 2^-24), so the norm agrees to 1e-7.
    expect(Math.abs(got - norm) / norm).toBeLessThan(1e-6);
    // (The empty tensor is only summed: reading back a 0-byte tensor is not supported yet.)
    for (const [i, g] of grads.slice(0, 2).entries()) expectClose(`grad ${i}`, await read(g), Array.from(data[i] ?? [], (x) => x * coef), 1e-6, 1e-6);
  });

  it('clipGradNorm leaves gradients under the limit untouched (bitwise)', async () => {
    const data = randomArray(seededRandom(2), 64);
    const g = Tensor.from(data, [64]);
    const got = await clipGradNorm([g], 1e6);
    expect(got).toBeCloseTo(refClip([data], 1e6).norm, 5);
    expect(Array.from(await read(g))).toEqual(Array.from(data));
  });

  it('sumSquares is bitwise identical across re-runs and matches an fp64 sum', async () => {
    const data = randomArray(seededRandom(3), 300_001);
    const x = Tensor.from(data, [data.length]);
    const out = Tensor.zeros([1]);
    const results: number[] = [];
    for (let run = 0; run < 3; run++) {
      sumSquares([x, x], out);
      results.push((await read(out))[0] ?? NaN);
    }
    expect(new Set(results).size).toBe(1);
    const expected = 2 * data.reduce((s, v) => s + v * v, 0);
    expect(Math.abs((results[0] ?? NaN) - expected) / expected).toBeLessThan(1e-7);
  });

  it('fill, scale, axpy and zeroGrads', async () => {
    const x = Tensor.from([1, 2, 3], [3]);
    const y = Tensor.from([10, 20, 30], [3]);
    axpy(2, x, y);
    expect(Array.from(await read(y))).toEqual([12, 24, 36]);
    scale(y, 0.5);
    expect(Array.from(await read(y))).toEqual([6, 12, 18]);
    fill(x, -1.5);
    expect(Array.from(await read(x))).toEqual([-1.5, -1.5, -1.5]);
    zeroGrads([x, y]);
    expect(Array.from(await read(x))).toEqual([0, 0, 0]);
    expect(Array.from(await read(y))).toEqual([0, 0, 0]);
    expect(() => axpy(1, x, Tensor.zeros([4]))).toThrow(new RangeError('Expected a tensor of 3 elements for y but received [4] of type array'));
    await expect(clipGradNorm([x], -1)).rejects.toThrow(
      new RangeError('Expected finite number in [0, Infinity] for maxNorm but received -1 of type number'),
    );
  });
});

describe('wrong dtypes', () => {
  // Every optimizer input is f32; an i32 or bf16 tensor is a TypeError naming <argument>.dtype.
  for (const dtype of ['i32', 'bf16'] as const) {
    const message = (name: string) => new TypeError(`Expected 'f32' for ${name}.dtype but received "${dtype}" of type string`);
    const wrong = () => Tensor.zeros([4], { dtype }) as unknown as Tensor<'f32'>;

    it(`Sgd and AdamW name an ${dtype} param or grad`, () => {
      const f32 = Tensor.zeros([4]);
      for (const Optimizer of [Sgd, AdamW]) {
        expect(() => new Optimizer([{ param: wrong(), grad: f32 }], { lr: 0.1 })).toThrow(message('params[0].param'));
        expect(() => new Optimizer([{ param: f32, grad: Tensor.zeros([4]) }, { param: Tensor.zeros([4]), grad: wrong() }], { lr: 0.1 })).toThrow(
          message('params[1].grad'),
        );
      }
    });

    it(`axpy, sumSquares and clipByNorm name an ${dtype} tensor`, () => {
      const f32 = Tensor.zeros([4]);
      expect(() => axpy(1, wrong(), f32)).toThrow(message('x'));
      expect(() => axpy(1, f32, wrong())).toThrow(message('y'));
      expect(() => sumSquares([f32, wrong()], Tensor.zeros([1]))).toThrow(message('tensors[1]'));
      expect(() => sumSquares([f32], wrong())).toThrow(message('out'));
      expect(() => clipByNorm([wrong()], Tensor.zeros([1]), 1)).toThrow(message('tensors[0]'));
      expect(() => clipByNorm([f32], wrong(), 1)).toThrow(message('sumSq'));
    });
  }
});
