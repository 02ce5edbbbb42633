import { describe, expect, it } from 'vitest';

import { addon } from '../../src/native.js';
import { attention, attentionBackward } from '../../src/nn/attention.js';
import { Device } from '../../src/runtime/device.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { expectBitwiseEqual, expectClose, randomF32 } from '../kernels/util.js';
import { type AttentionShape, numericGradient, refAttention, weightedSum } from './reference/nn.js';

const shapeOf = ({ B, S, H, dh }: AttentionShape) => [B, S, 3, H, dh];

async function forward(qkv: Float32Array, shape: AttentionShape) {
  const input = Tensor.from(qkv, shapeOf(shape));
  const result = attention(input);
  return { input, result, out: await result.out.toArray(), lse: await result.lse.toArray() };
}

describe('attention: forward against the float64 reference', () => {
  // Scores are dot products of dh ≤ 16 terms in [-1, 1] (fp32 error ≲ dh·2^-24 ≈ 1e-6); exp turns
  // that into ~1e-6 relative error of each probability, and outputs are convex combinations of
  // values in [-1, 1]. 1e-5 absolute leaves a 10× margin; lse is O(log S): 1e-5 absolute.
  it.each([
    { B: 1, S: 1, H: 1, dh: 1 },
    { B: 2, S: 7, H: 3, dh: 4 },
    { B: 1, S: 33, H: 2, dh: 16 },
    { B: 3, S: 5, H: 1, dh: 8 },
  ])('B=$B S=$S H=$H dh=$dh', async (shape) => {
    const qkv = randomF32(shapeOf(shape).reduce((a, b) => a * b), shape.S * 7 + shape.dh);
    const { out, lse } = await forward(qkv, shape);
    const expected = refAttention(qkv, shape);
    expectClose(out, expected.out, 1e-5, 1e-5, 'out');
    expectClose(lse, expected.lse, 1e-5, 1e-6, 'lse');
  });

  it('the first query attends only to itself: out = v_0, lse = q_0·k_0/sqrt(dh)', async () => {
    // B = S = H = 1, dh = 4: q = [1, 2, 0, 0], k = [1, 1, 0, 0], v = [5, 6, 7, 8].
    const qkv = Float32Array.from([1, 2, 0, 0, 1, 1, 0, 0, 5, 6, 7, 8]);
    const { out, lse } = await forward(qkv, { B: 1, S: 1, H: 1, dh: 4 });
    expect(Array.from(out)).toEqual([5, 6, 7, 8]);
    expectClose(lse, [3 / 2], 0, 1e-7, 'lse');
  });

  it('equal scores average the visible values', async () => {
    // q = 0 makes every score 0, so query i averages v_0..v_i.
    const S = 4;
    const qkv = new Float32Array(S * 3);
    for (let s = 0; s < S; s++) qkv[s * 3 + 2] = s + 1; // dh = 1, v_s = s + 1
    const { out, lse } = await forward(qkv, { B: 1, S, H: 1, dh: 1 });
    expectClose(out, [1, 1.5, 2, 2.5], 0, 1e-7, 'out');
    expectClose(lse, [0, Math.log(2), Math.log(3), Math.log(4)], 1e-7, 1e-7, 'lse');
  });
});

describe('attention: causality', () => {
  it('changing token t never changes outputs before t, and dOut at t reaches only tokens <= t', async () => {
    const shape = { B: 2, S: 12, H: 2, dh: 4 };
    const qkv = randomF32(shapeOf(shape).reduce((a, b) => a * b), 3);
    const rowFloats = 3 * shape.H * shape.dh;
    const outFloats = shape.H * shape.dh;
    const t = 5;
    const changed = Float32Array.from(qkv);
    for (let i = 0; i < rowFloats; i++) changed[t * rowFloats + i] = (changed[t * rowFloats + i] ?? 0) + 0.5; // batch 0, token t
    const a = await forward(qkv, shape);
    const b = await forward(changed, shape);
    expectBitwiseEqual(b.out.subarray(0, t * outFloats), a.out.subarray(0, t * outFloats), 'outputs before t');
    expect(b.out[t * outFloats]).not.toBe(a.out[t * outFloats]);
    // Backward: a gradient only at output t of batch 0.
    const dOut = new Float32Array(a.out.length);
    dOut.fill(1, t * outFloats, (t + 1) * outFloats);
    const dQkv = await attentionBackward(Tensor.from(dOut, a.result.out.shape), a.input, a.result).toArray();
    expect(dQkv.subarray((t + 1) * rowFloats).every((g) => g === 0)).toBe(true);
    expect(dQkv.subarray(0, (t + 1) * rowFloats).some((g) => g !== 0)).toBe(true);
  });
});

describe('attention: backward by finite differences', () => {
  // Loss L = Σ w · out with random w. Central differences of the float64 reference with h = 1e-3
  // have truncation error h²/6·|L'''| ≲ 1e-6 for these O(1) inputs; the kernel's fp32 gradient is
  // a sum of O(S) terms each accurate to ~1e-6 relative. 1e-4 absolute + 1e-3 relative is well
  // below any formula error (those are O(0.1)).
  it.each([
    { B: 1, S: 6, H: 1, dh: 3 },
    { B: 2, S: 5, H: 2, dh: 4 },
  ])('B=$B S=$S H=$H dh=$dh', async (shape) => {
    const qkv = randomF32(shapeOf(shape).reduce((a, b) => a * b), 11);
    const w = randomF32(shape.B * shape.S * shape.H * shape.dh, 12);
    const { input, result } = await forward(qkv, shape);
    const dQkv = await attentionBackward(Tensor.from(w, result.out.shape), input, result).toArray();
    const numeric = numericGradient((x) => weightedSum(refAttention(x, shape).out, w), qkv, 1e-3);
    expectClose(dQkv, numeric, 1e-4, 1e-3, 'dQkv');
  });
});

describe('attention: determinism', () => {
  it('re-runs are bitwise identical at a size that uses every thread', async () => {
    const shape = { B: 2, S: 96, H: 4, dh: 16 };
    const qkv = Tensor.from(randomF32(shapeOf(shape).reduce((a, b) => a * b), 21, 2), shapeOf(shape));
    const dOut = Tensor.from(randomF32(shape.B * shape.S * shape.H * shape.dh, 22), [shape.B, shape.S, shape.H, shape.dh]);
    const runOnce = async () => {
      const result = attention(qkv);
      const dQkv = attentionBackward(dOut, qkv, result);
      return [await result.out.toArray(), await result.lse.toArray(), await dQkv.toArray()];
    };
    const first = await runOnce();
    const second = await runOnce();
    first.forEach((values, i) => expectBitwiseEqual(second[i] as Float32Array, values, `output ${i}`));
  });
});

describe('attention: argument errors', () => {
  const qkv = Tensor.zeros([1, 2, 3, 1, 2]);
  const result = attention(qkv);
  it.each([
    [() => attention('x' as never), TypeError, 'Expected f32 Tensor for qkv but received "x" of type string'],
    [
      () => attention(Tensor.zeros([2, 3, 4])),
      RangeError,
      'Expected a shape [batch, seq, 3, heads, headDim] with heads, headDim >= 1 for qkv.shape but received [2, 3, 4] of type array',
    ],
    [
      () => attention(Tensor.zeros([1, 2, 2, 1, 2])),
      RangeError,
      'Expected a shape [batch, seq, 3, heads, headDim] with heads, headDim >= 1 for qkv.shape but received [1, 2, 2, 1, 2] of type array',
    ],
    [
      () => attentionBackward(Tensor.zeros([1, 2, 2]), qkv, result),
      RangeError,
      'Expected [1, 2, 1, 2] for dOut.shape but received [1, 2, 2] of type array',
    ],
    [
      () => attentionBackward(Tensor.zeros([1, 2, 1, 2]), qkv, { out: result.out, lse: Tensor.zeros([2]) }),
      RangeError,
      'Expected [1, 1, 2] for forward.lse.shape but received [2] of type array',
    ],
  ])('%#', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });

  it('the native entry refuses undersized buffers with EINVAL (defence behind the TS checks)', () => {
    const b = Tensor.zeros([1]).storage;
    const call = () => addon().attentionForward(1, 2, 1, 2, b, b, b, Device.cpu().defaultStream.native);
    expect(call).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: 'attention forward failed on cpu: attention forward: qkv holds 4 bytes, needs 48' }),
    );
  });

  it('B = 0 or S = 0 gives empty outputs', async () => {
    const empty = attention(Tensor.zeros([0, 4, 3, 2, 2]));
    expect(empty.out.shape).toEqual([0, 4, 2, 2]);
    expect(attention(Tensor.zeros([2, 0, 3, 2, 2])).lse.shape).toEqual([2, 2, 0]);
    await Device.cpu().defaultStream.synchronize();
  });
});
