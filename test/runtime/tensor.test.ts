import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { Device, Tensor } from '../../src/index.js';

/** Independent bf16 reference: the representable neighbours of x around its truncation. */
function bf16Neighbours(x: number): [number, number] {
  const bits = new Uint32Array(new Float32Array([x]).buffer)[0] ?? 0;
  const lower = bits & 0xffff0000;
  const toFloat = (b: number) => new Float32Array(new Uint32Array([b >>> 0]).buffer)[0] ?? NaN;
  return [toFloat(lower), toFloat(lower + 0x10000)];
}

describe('tensors', () => {
  const device = Device.cpu();

  it('round-trip f32 and i32 data exactly', async () => {
    const f = Tensor.from([1.5, -2, 3.25, 1e-30, Infinity, -0], [2, 3]);
    expect(Array.from(await f.toArray())).toEqual([1.5, -2, 3.25, Math.fround(1e-30), Infinity, -0]);
    const i = Tensor.from([1, -2, 2147483647, -2147483648], [4], { dtype: 'i32' });
    expect(Array.from(await i.toArray())).toEqual([1, -2, 2147483647, -2147483648]);
    expect(i.byteLength).toBe(16);
    expect(f.shape).toEqual([2, 3]);
    expect(f.numel).toBe(6);
  });

  it('store bf16 as the nearest representable value (ties to even)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.float({ noNaN: true, noDefaultInfinity: true, min: Math.fround(-1e30), max: Math.fround(1e30) }), async (x) => {
        const t = Tensor.from([x], [1], { dtype: 'bf16' });
        const [stored] = await t.toArray();
        t.dispose();
        const [lo, hi] = bf16Neighbours(Math.fround(x));
        const xf = Math.fround(x);
        const distance = Math.abs((stored ?? NaN) - xf);
        expect(stored === lo || stored === hi).toBe(true);
        expect(distance).toBeLessThanOrEqual(Math.min(Math.abs(lo - xf), Math.abs(hi - xf)));
      }),
      { numRuns: 200 },
    );
    expect(Array.from(await Tensor.from([NaN], [1], { dtype: 'bf16' }).toArray())[0]).toBeNaN();
  });

  it('copy between tensors and fill with zeros', async () => {
    const stream = device.createStream();
    const src = Tensor.from([1, 2, 3, 4], [2, 2], { stream });
    const dst = Tensor.from([9, 9, 9, 9], [4], { stream });
    dst.copyFrom(src, { stream });
    expect(Array.from(await dst.toArray({ stream }))).toEqual([1, 2, 3, 4]);
    dst.zero({ stream });
    expect(Array.from(await dst.toArray({ stream }))).toEqual([0, 0, 0, 0]);
    const zeros = Tensor.zeros([3], { dtype: 'i32', stream });
    expect(Array.from(await zeros.toArray({ stream }))).toEqual([0, 0, 0]);
  });

  it('give zero-copy views of host memory that share writes both ways', async () => {
    const t = Tensor.from([1, 2, 3], [3]);
    await device.defaultStream.synchronize();
    const view = t.view();
    expect(view).toBeInstanceOf(Float32Array);
    expect(view.length).toBe(3); // the tensor's elements (alignment: see the test below)
    view[1] = 42;
    expect(Array.from(await t.toArray())).toEqual([1, 42, 3]);
    t.write([7, 8, 9]);
    await device.defaultStream.synchronize();
    expect(Array.from(view)).toEqual([7, 8, 9]);
    expect(t.view()).not.toBe(view); // a new typed array over the same memory
    expect(t.view().buffer).toBe(view.buffer);
  });

  it('align every buffer to 64 bytes', () => {
    for (const n of [0, 1, 3, 17, 1000]) {
      const t = Tensor.empty([n]);
      expect(t.storage.address % 64n).toBe(0n);
      t.dispose();
    }
  });

  it('reshape without copying', async () => {
    const t = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
    const r = t.reshape([3, 2]);
    expect(r.shape).toEqual([3, 2]);
    await device.defaultStream.synchronize();
    r.view()[0] = 100;
    expect((await t.toArray())[0]).toBe(100);
  });

  it('handle empty tensors', async () => {
    const t = Tensor.from([], [0, 5]);
    expect(t.numel).toBe(0);
    expect(Array.from(await t.toArray())).toEqual([]);
  });
});

describe('region copies', () => {
  it('copy element ranges between tensors against a plain slice', async () => {
    const stream = Device.cpu().createStream();
    const src = Tensor.from([0, 1, 2, 3, 4, 5, 6, 7], [8], { stream });
    const dst = Tensor.from(new Float32Array(6).fill(-1), [2, 3], { stream });
    dst.copyFrom(src, { stream, srcOffset: 5, dstOffset: 1, count: 3 });
    dst.copyFrom(src, { stream, srcOffset: 0, dstOffset: 4, count: 0 });
    expect(Array.from(await dst.toArray({ stream }))).toEqual([-1, 5, 6, 7, -1, -1]);
    expect(() => dst.copyFrom(src, { stream, srcOffset: 6, count: 3 })).toThrow(
      new RangeError('Expected at most 2 (source elements after srcOffset) for options.count but received 3 of type number'),
    );
    expect(() => dst.copyFrom(src, { stream, dstOffset: 4, count: 3 })).toThrow(RangeError);
    expect(() => dst.copyFrom(src, { stream })).toThrow(/6 elements/);
  });
});
