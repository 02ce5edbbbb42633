import { describe, expect, it } from 'vitest';

import { ProphetError } from '../../src/errors.js';
import { embedding, embeddingBackward } from '../../src/nn/embedding.js';
import { Device } from '../../src/runtime/device.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { expectBitwiseEqual, expectClose, randomF32 } from '../kernels/util.js';
import { refEmbedding } from './reference/nn.js';

const ids = (values: number[], shape = [values.length]) => Tensor.from(values, shape, { dtype: 'i32' });

describe('embedding: forward', () => {
  it('gathers table rows (the TSDoc example), exactly', async () => {
    const table = Tensor.from([1, 2, 3, 4, 5, 6], [3, 2]);
    expect(Array.from(await embedding(ids([2, 0]), table).toArray())).toEqual([5, 6, 1, 2]);
  });

  it('adds the position row n mod P and keeps the ids shape', async () => {
    const V = 7;
    const d = 5;
    const B = 3;
    const S = 4;
    const table = randomF32(V * d, 1);
    const positions = randomF32(S * d, 2);
    const tokenIds = Array.from({ length: B * S }, (_, n) => (n * 5 + 1) % V);
    const out = embedding(ids(tokenIds, [B, S]), Tensor.from(table, [V, d]), { positions: Tensor.from(positions, [S, d]) });
    expect(out.shape).toEqual([B, S, d]);
    // One fp32 addition: exactly the float64 sum rounded once, so within half an ulp.
    expectClose(await out.toArray(), refEmbedding(tokenIds, table, d, positions, S), 0, 2 ** -24, 'out');
  });
});

describe('embedding: backward', () => {
  // The gradient of L = Σ w·out is linear in w: dTable[v] = Σ_{ids[n] = v} w[n], dPos[p] =
  // Σ_{n mod P = p} w[n]. Finite differences of a linear function are exact up to rounding, so
  // the check is against these sums in float64 (fp32 sums of ≤ 20 terms: 1e-6).
  it('accumulates token gradients into the table and position rows', async () => {
    const V = 5;
    const d = 3;
    const P = 4;
    const N = 20;
    const tokenIds = Array.from({ length: N }, (_, n) => (n * n + 1) % V);
    const w = randomF32(N * d, 3);
    const before = randomF32(V * d, 4);
    const posBefore = randomF32(P * d, 5);
    const dTable = Tensor.from(before, [V, d]);
    const dPositions = Tensor.from(posBefore, [P, d]);
    embeddingBackward(Tensor.from(w, [N, d]), ids(tokenIds), dTable, { dPositions });
    const expected = Array.from(before, Number);
    const expectedPos = Array.from(posBefore, Number);
    tokenIds.forEach((v, n) => {
      for (let i = 0; i < d; i++) {
        expected[v * d + i] = (expected[v * d + i] ?? 0) + (w[n * d + i] ?? 0);
        expectedPos[(n % P) * d + i] = (expectedPos[(n % P) * d + i] ?? 0) + (w[n * d + i] ?? 0);
      }
    });
    expectClose(await dTable.toArray(), expected, 1e-6, 1e-6, 'dTable');
    expectClose(await dPositions.toArray(), expectedPos, 1e-6, 1e-6, 'dPositions');
  });

  it('rows no token uses keep their value bit for bit', async () => {
    const dTable = Tensor.from([1, 2, 3, 4, 5, 6], [3, 2]);
    embeddingBackward(Tensor.from([10, 20], [1, 2]), ids([1]), dTable);
    expect(Array.from(await dTable.toArray())).toEqual([1, 2, 13, 24, 5, 6]);
  });

  it('re-runs are bitwise identical at a size that uses every thread (many tokens per id)', async () => {
    const V = 256;
    const d = 64;
    const N = 8192;
    const tokenIds = ids(Array.from({ length: N }, (_, n) => (n * 2654435761) % 61));
    const dOut = Tensor.from(randomF32(N * d, 6), [N, d]);
    const runOnce = async () => {
      const dTable = Tensor.zeros([V, d]);
      const dPositions = Tensor.zeros([128, d]);
      embeddingBackward(dOut, tokenIds, dTable, { dPositions });
      return [await dTable.toArray(), await dPositions.toArray()];
    };
    const first = await runOnce();
    const second = await runOnce();
    first.forEach((values, i) => expectBitwiseEqual(second[i] as Float32Array, values, `output ${i}`));
  });
});

describe('embedding: errors', () => {
  const table = Tensor.zeros([5, 2]);
  it.each([
    [() => embedding([1] as never, table), TypeError, 'Expected i32 Tensor for ids but received [1] of type array'],
    [() => embedding(ids([1]), Tensor.zeros([10])), RangeError, 'Expected a shape [vocab, dim] with 1 <= vocab < 2^31 for table.shape but received [10] of type array'],
    [() => embedding(ids([1]), Tensor.zeros([0, 2])), RangeError, 'Expected a shape [vocab, dim] with 1 <= vocab < 2^31 for table.shape but received [0, 2] of type array'],
    [
      () => embedding(ids([1]), table, { positions: Tensor.zeros([4, 3]) }),
      RangeError,
      'Expected a shape [numPositions, 2] with numPositions >= 1 for options.positions.shape but received [4, 3] of type array',
    ],
    [
      () => embeddingBackward(Tensor.zeros([2, 2]), ids([1]), table),
      RangeError,
      'Expected [1, 2] for dOut.shape but received [2, 2] of type array',
    ],
    [
      () => embeddingBackward(Tensor.zeros([1, 3]), ids([1]), table),
      RangeError,
      'Expected a shape [..., 2] for dOut.shape but received [1, 3] of type array',
    ],
  ])('%#', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });

  it.each([
    ['forward', 'embedding forward'],
    ['backward', 'embedding backward'],
  ])('an id out of range fails the %s work with EINVAL before writing; the stream recovers', async (pass, kernel) => {
    const stream = Device.cpu().createStream();
    const bad = Tensor.from([0, 1, 7], [3], { dtype: 'i32', stream });
    const dTable = Tensor.zeros([5, 2], { stream });
    if (pass === 'forward') embedding(bad, table, { stream });
    else embeddingBackward(Tensor.from([1, 1, 1, 1, 1, 1], [3, 2], { stream }), bad, dTable, { stream });
    const error = await stream.synchronize().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProphetError);
    expect((error as ProphetError).code).toBe('EINVAL');
    expect((error as ProphetError).message).toBe(`stream synchronize failed on cpu: ${kernel}: ids[2] = 7 is outside [0, 5)`);
    expect(Array.from(await dTable.toArray({ stream }))).toEqual(new Array(10).fill(0));
    stream.dispose();
  });
});
