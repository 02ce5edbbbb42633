import { describe, expect, it } from 'vitest';

import { add } from '../../src/nn/add.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { expectBitwiseEqual, randomF32 } from '../kernels/util.js';

describe('add', () => {
  // A double holds 53 ≥ 2·24 + 2 bits, so rounding the double sum to fp32 is the correctly
  // rounded fp32 sum (no double-rounding error): the kernel must match it bit for bit.
  it('adds elementwise, each sum the correctly rounded fp32 sum', async () => {
    const a = randomF32(100_000, 1, 3);
    const b = randomF32(100_000, 2, 3);
    const out = await add(Tensor.from(a, [1000, 100]), Tensor.from(b, [1000, 100])).toArray();
    expectBitwiseEqual(out, Float32Array.from(a, (v, i) => v + (b[i] ?? 0)), 'out');
  });

  it('works in place (out = a: a residual x += f(x))', async () => {
    const x = Tensor.from([1, 2, 3], [3]);
    expect(add(x, Tensor.from([10, 20, 30], [3]), { out: x })).toBe(x);
    expect(Array.from(await x.toArray())).toEqual([11, 22, 33]);
  });

  it.each([
    [() => add(Tensor.zeros([2]), Tensor.zeros([3])), RangeError, 'Expected [2] for b.shape but received [3] of type array'],
    [() => add(1 as never, Tensor.zeros([3])), TypeError, 'Expected f32 Tensor for a but received 1 of type number'],
    [
      () => add(Tensor.zeros([2]), Tensor.zeros([2]), { out: Tensor.zeros([2, 1]) }),
      RangeError,
      'Expected [2] for options.out.shape but received [2, 1] of type array',
    ],
  ])('argument error %#', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });
});
