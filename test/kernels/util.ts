/** Helpers of the kernel tests: seeded data and tolerance checks with useful failure messages. */
import { expect } from 'vitest';

import type { DType, ValueArray } from '../../src/runtime/dtype.js';
import { Tensor } from '../../src/runtime/tensor.js';

/** n uniform values in [-scale, scale), exactly representable in f32 (seeded mulberry32). */
export function randomF32(n: number, seed: number, scale = 1): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    out[i] = (((z ^ (z >>> 14)) >>> 0) / 2 ** 32 * 2 - 1) * scale;
  }
  return out;
}

/** Every |a - e| <= abs + rel·|e|; reports the worst element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, abs: number, rel: number, what = 'value'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] ?? NaN;
    const e = expected[i] ?? NaN;
    const excess = Math.abs(a - e) - (abs + rel * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  expect(worst, worst < 0 ? what : `${what}[${worst}] = ${actual[worst]}, expected ${expected[worst]}`).toBe(-1);
}

/** Bytes of a typed array, for bitwise comparisons. */
export function bytesOf(values: ArrayBufferView): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

/** The two arrays hold the same bytes (fast for megabytes, unlike a deep toEqual). */
export function expectBitwiseEqual(actual: ArrayBufferView, expected: ArrayBufferView, what = 'values'): void {
  expect(actual.byteLength, `${what}: byte length`).toBe(expected.byteLength);
  expect(bytesOf(actual).equals(bytesOf(expected)), `${what}: bytes differ`).toBe(true);
}

/** tensor.toArray(), also for zero-element tensors (Storage.read of 0 bytes rejects today with
 * "detached ArrayBuffer"; reported to the runtime's owner). */
export async function toArray<D extends DType>(tensor: Tensor<D>): Promise<ValueArray<D>> {
  if (tensor.numel === 0) return (tensor.dtype === 'i32' ? new Int32Array(0) : new Float32Array(0)) as ValueArray<D>;
  return tensor.toArray();
}
