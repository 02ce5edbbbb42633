/** The stream-ordered GEMM entry (matmul over tensors) against a float64 reference. */
import { describe, expect, it } from 'vitest';

import { matmul } from '../../src/kernels/matmul.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { refMatmul } from './reference/matmul.js';
import { expectClose, randomArray, seededRandom } from './reference/util.js';

async function read(t: Tensor<'f32'>): Promise<Float32Array> {
  return (await t.toArray()) as Float32Array;
}

describe('matmul', () => {
  const [m, n, k] = [37, 29, 53];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`matches the reference with transA=${transA}, transB=${transB}, alpha and beta`, async () => {
        const rand = seededRandom(transA ? 1 : 2 + (transB ? 10 : 0));
        const a = randomArray(rand, m * k), b = randomArray(rand, k * n), c = randomArray(rand, m * n);
        const out = Tensor.from(c, [m, n]);
        matmul(Tensor.from(a, transA ? [k, m] : [m, k]), Tensor.from(b, transB ? [n, k] : [k, n]), {
          transA, transB, alpha: 0.5, beta: -2, out,
        });
        // fp32 dot products of 53 terms in [-1, 1]: error <= 53 · 2^-24 · 53 ≈ 2e-4 in the worst
        // case, typically ~1e-6; 1e-4 + 1e-5 relative is far below any indexing mistake (~0.1).
        expectClose('c', await read(out), refMatmul(a, b, c, m, n, k, transA, transB, 0.5, -2), 1e-4, 1e-5);
      });
    }
  }

  it('allocates the output, overwrites with beta = 0 and handles k = 0', async () => {
    const c = matmul(Tensor.from([1, 2, 3, 4], [2, 2]), Tensor.from([5, 6, 7, 8], [2, 2]));
    expect(Array.from(await read(c))).toEqual([19, 22, 43, 50]);
    const nan = Tensor.from([NaN, NaN, NaN, NaN], [2, 2]);
    matmul(Tensor.from([1, 0, 0, 1], [2, 2]), Tensor.from([1, 2, 3, 4], [2, 2]), { out: nan });
    expect(Array.from(await read(nan))).toEqual([1, 2, 3, 4]);
    const keep = Tensor.from([1, 2, 3, 4], [2, 2]);
    matmul(Tensor.zeros([2, 0]), Tensor.zeros([0, 2]), { out: keep, beta: 3 });
    expect(Array.from(await read(keep))).toEqual([3, 6, 9, 12]);
  });

  it('names mismatched inner dimensions, a wrong out and a wrong type', () => {
    const a = Tensor.zeros([2, 3]);
    expect(() => matmul(a, Tensor.zeros([4, 2]))).toThrow(new RangeError('Expected 3 rows (k of op(a)) for b but received [4, 2] of type array'));
    expect(() => matmul(a, Tensor.zeros([3, 2]), { out: Tensor.zeros([2, 3]) })).toThrow(
      new RangeError('Expected [2, 2] for options.out.shape but received [2, 3] of type array'),
    );
    const square = Tensor.zeros([2, 2]);
    expect(() => matmul(square, square, { out: square })).toThrow(
      new RangeError('Expected a tensor that shares no memory with a or b for options.out but received "a or b" of type string'),
    );
    expect(() => matmul(a, Tensor.zeros([3]))).toThrow(new RangeError('Expected rank 2 for b.shape but received [3] of type array'));
    expect(() => matmul(a, a, { transA: 1 as unknown as boolean })).toThrow(new TypeError('Expected boolean for options.transA but received 1 of type number'));
  });

  it.each(['i32', 'bf16'] as const)('names an %s a, b or out with a TypeError on its dtype', (dtype) => {
    const f32 = Tensor.zeros([2, 2]);
    const wrong = Tensor.zeros([2, 2], { dtype }) as unknown as Tensor<'f32'>;
    const message = (name: string) => new TypeError(`Expected 'f32' for ${name}.dtype but received "${dtype}" of type string`);
    expect(() => matmul(wrong, f32)).toThrow(message('a'));
    expect(() => matmul(f32, wrong)).toThrow(message('b'));
    expect(() => matmul(f32, Tensor.zeros([2, 2]), { out: wrong })).toThrow(message('options.out'));
  });
});
