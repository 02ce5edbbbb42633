import { describe, expect, it } from 'vitest';

import { rmsnorm, rmsnormBackward } from '../../src/nn/rmsnorm.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { expectBitwiseEqual, expectClose, randomF32 } from '../kernels/util.js';
import { numericGradient, refRmsnorm, weightedSum } from './reference/nn.js';

async function run(x: Float32Array, gain: Float32Array, shape: number[], eps: number) {
  const d = gain.length;
  const input = Tensor.from(x, shape);
  const g = Tensor.from(gain, [d]);
  const result = rmsnorm(input, g, { eps });
  return { input, g, result, y: await result.y.toArray(), rstd: await result.rstd.toArray() };
}

describe('rmsnorm: forward against the float64 reference', () => {
  // Sum of d squares in fp32 (relative error ≲ d·2^-24), one sqrt and products: every value is
  // within ~1e-6 relative of float64 for d ≤ 64; 1e-6 absolute covers values near 0.
  it.each([
    { shape: [1, 1], eps: 1e-5 },
    { shape: [5, 8], eps: 1e-5 },
    { shape: [2, 3, 64], eps: 1e-6 },
    { shape: [9, 17], eps: 0.5 },
  ])('shape $shape eps $eps', async ({ shape, eps }) => {
    const d = shape[shape.length - 1] ?? 1;
    const numel = shape.reduce((a, b) => a * b);
    const x = randomF32(numel, numel + d, 3);
    const gain = randomF32(d, d, 2);
    const { y, rstd, result } = await run(x, gain, shape, eps);
    const expected = refRmsnorm(x, gain, d, eps);
    expect(result.y.shape).toEqual(shape);
    expect(result.rstd.shape).toEqual([numel / d]);
    expectClose(y, expected.y, 1e-6, 1e-5, 'y');
    expectClose(rstd, expected.rstd, 0, 1e-5, 'rstd');
  });

  it('gives the TSDoc example: [3, 4] → [3, 4] / sqrt(12.5)', async () => {
    const { y } = await run(Float32Array.from([3, 4]), Float32Array.from([1, 1]), [1, 2], 1e-5);
    expectClose(y, [3 / Math.sqrt(12.5 + 1e-5), 4 / Math.sqrt(12.5 + 1e-5)], 0, 1e-6, 'y');
  });

  it('a zero row stays zero (eps keeps rstd finite)', async () => {
    const { y, rstd } = await run(new Float32Array(4), Float32Array.from([1, 2, 3, 4]), [1, 4], 1e-4);
    expect(Array.from(y)).toEqual([0, 0, 0, 0]);
    expectClose(rstd, [100], 0, 1e-6, 'rstd');
  });
});

describe('rmsnorm: backward by finite differences', () => {
  // L = Σ w·y. Central differences (h = 1e-3) of the float64 reference: truncation ≲ 1e-6 for
  // |x| ≤ 1 rows (rstd ≈ 1.7). fp32 gradients are accurate to ~1e-6 relative; 1e-4 absolute +
  // 1e-3 relative is far below what a wrong formula gives.
  it.each([
    { N: 3, d: 5 },
    { N: 4, d: 19 },
  ])('N=$N d=$d: dX, and dGain accumulated onto its previous value', async ({ N, d }) => {
    const x = randomF32(N * d, 31 + d);
    const gain = randomF32(d, 32, 2);
    const w = randomF32(N * d, 33);
    const eps = 1e-5;
    const { input, g, result } = await run(x, gain, [N, d], eps);
    const previous = randomF32(d, 34);
    const dGain = Tensor.from(previous, [d]);
    const dX = await rmsnormBackward(Tensor.from(w, [N, d]), input, g, result.rstd, dGain).toArray();
    const numericX = numericGradient((v) => weightedSum(refRmsnorm(v, gain, d, eps).y, w), x, 1e-3);
    const numericGain = numericGradient((v) => weightedSum(refRmsnorm(x, v, d, eps).y, w), gain, 1e-3);
    expectClose(dX, numericX, 1e-4, 1e-3, 'dX');
    expectClose(await dGain.toArray(), numericGain.map((v, i) => v + (previous[i] ?? 0)), 1e-4, 1e-3, 'dGain');
  });
});

describe('rmsnorm: determinism', () => {
  it('re-runs are bitwise identical at a size that uses every thread', async () => {
    const N = 2048;
    const d = 100;
    const x = Tensor.from(randomF32(N * d, 41, 4), [N, d]);
    const gain = Tensor.from(randomF32(d, 42), [d]);
    const dY = Tensor.from(randomF32(N * d, 43), [N, d]);
    const runOnce = async () => {
      const { y, rstd } = rmsnorm(x, gain);
      const dGain = Tensor.zeros([d]);
      const dX = rmsnormBackward(dY, x, gain, rstd, dGain);
      return [await y.toArray(), await rstd.toArray(), await dX.toArray(), await dGain.toArray()];
    };
    const first = await runOnce();
    const second = await runOnce();
    first.forEach((values, i) => expectBitwiseEqual(second[i] as Float32Array, values, `output ${i}`));
  });
});

describe('rmsnorm: argument errors', () => {
  const x = Tensor.zeros([3, 4]);
  const gain = Tensor.zeros([4]);
  const { rstd } = rmsnorm(x, gain);
  it.each([
    [() => rmsnorm(Tensor.zeros([]), gain), RangeError, 'Expected a shape [..., dim] with dim >= 1 for x.shape but received [] of type array'],
    [() => rmsnorm(Tensor.zeros([3, 0]), gain), RangeError, 'Expected a shape [..., dim] with dim >= 1 for x.shape but received [3, 0] of type array'],
    [() => rmsnorm(x, Tensor.zeros([3])), RangeError, 'Expected [4] for gain.shape but received [3] of type array'],
    [() => rmsnorm(x, gain, { eps: 0 }), RangeError, 'Expected finite number > 0 for options.eps but received 0 of type number'],
    [() => rmsnorm(x, gain, { eps: '1' as never }), TypeError, 'Expected finite number > 0 for options.eps but received "1" of type string'],
    [() => rmsnorm(x, Tensor.zeros([4], { dtype: 'i32' }) as never), TypeError, `Expected 'f32' for gain.dtype but received "i32" of type string`],
    [
      () => rmsnormBackward(Tensor.zeros([4, 3]), x, gain, rstd, Tensor.zeros([4])),
      RangeError,
      'Expected [3, 4] for dY.shape but received [4, 3] of type array',
    ],
    [
      () => rmsnormBackward(x, x, gain, Tensor.zeros([4]), Tensor.zeros([4])),
      RangeError,
      'Expected [3] for rstd.shape but received [4] of type array',
    ],
    [
      () => rmsnormBackward(x, x, gain, rstd, Tensor.zeros([5])),
      RangeError,
      'Expected [4] for dGain.shape but received [5] of type array',
    ],
  ])('%#', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });
});
