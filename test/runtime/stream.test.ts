import { describe, expect, it } from 'vitest';

import { Device, Tensor } from '../../src/index.js';

const MiB = 1 << 20;

/** A tensor of `numel` floats filled with `value` (synchronously visible once the stream runs). */
function filled(numel: number, value: number, device: Device): Tensor<'f32'> {
  return Tensor.from(new Float32Array(numel).fill(value), [numel], { device });
}

describe('streams', () => {
  const device = Device.cpu();

  it('run the ops of one stream in order', async () => {
    const stream = device.createStream();
    const a = Tensor.zeros([1024], { device, stream });
    const b = Tensor.zeros([1024], { device, stream });
    // write a, copy a→b, overwrite a: b must hold the first write, a the second.
    for (let round = 0; round < 20; round++) {
      a.write(new Float32Array(1024).fill(round), { stream });
      b.copyFrom(a, { stream });
      a.write(new Float32Array(1024).fill(-round), { stream });
      const [va, vb] = await Promise.all([a.toArray({ stream }), b.toArray({ stream })]);
      expect(vb.every((x) => x === round)).toBe(true);
      expect(va.every((x) => x === -round)).toBe(true);
    }
    stream.dispose();
  });

  it('run two streams concurrently: the timed intervals of two long copies overlap', async () => {
    const numel = (96 * MiB) / 4;
    const [src1, src2] = [filled(numel, 1, device), filled(numel, 2, device)];
    const [dst1, dst2] = [Tensor.empty([numel], { device }), Tensor.empty([numel], { device })];
    await device.defaultStream.synchronize();
    const [s1, s2] = [device.createStream(), device.createStream()];
    const timing = { timing: true } as const;
    // Several back-to-back copies per stream so each interval spans many scheduler slices.
    const start1 = s1.recordEvent(timing);
    const start2 = s2.recordEvent(timing);
    for (let i = 0; i < 3; i++) {
      dst1.copyFrom(src1, { stream: s1 });
      dst2.copyFrom(src2, { stream: s2 });
    }
    const end1 = s1.recordEvent(timing);
    const end2 = s2.recordEvent(timing);
    await Promise.all([s1.synchronize(), s2.synchronize()]);
    // Times relative to start1; two intervals overlap iff each starts before the other ends.
    const interval1 = [0, start1.elapsedMs(end1)] as const;
    const interval2 = [start1.elapsedMs(start2), start1.elapsedMs(end2)] as const;
    expect(interval1[1]).toBeGreaterThan(0);
    expect(interval2[0]).toBeLessThan(interval1[1]);
    expect(interval1[0]).toBeLessThan(interval2[1]);
    for (const t of [src1, src2, dst1, dst2]) t.dispose();
    for (const e of [start1, start2, end1, end2]) e.dispose();
  });

  it('order work across streams with events, without blocking the JS thread', async () => {
    const numel = (64 * MiB) / 4;
    const big = filled(numel, 1, device);
    const bigCopy = Tensor.empty([numel], { device });
    const a = Tensor.zeros([256], { device });
    const b = Tensor.zeros([256], { device });
    await device.defaultStream.synchronize();
    const [producer, consumer] = [device.createStream(), device.createStream()];
    for (let round = 1; round <= 3; round++) {
      // The producer is busy with long copies before it writes `a`; without the event the
      // consumer would copy `a` before that write and see the previous round's values.
      for (let i = 0; i < 2; i++) bigCopy.copyFrom(big, { stream: producer });
      a.write(new Float32Array(256).fill(round), { stream: producer });
      const ready = producer.recordEvent();
      consumer.waitEvent(ready);
      b.copyFrom(a, { stream: consumer });
      // The JS thread got here at once: the consumer's queue is still blocked on the event.
      expect(consumer.query()).toBe(false);
      const values = await b.toArray({ stream: consumer });
      expect(values.every((x) => x === round)).toBe(true);
      expect(ready.query()).toBe(true);
      ready.dispose();
    }
    for (const t of [big, bigCopy, a, b]) t.dispose();
  });

  it('treat a wait on a never-recorded event as already satisfied', async () => {
    const stream = device.createStream();
    const event = device.createEvent();
    expect(event.query()).toBe(true);
    stream.waitEvent(event);
    const t = Tensor.from([1, 2, 3], [3], { device, stream });
    expect(Array.from(await t.toArray({ stream }))).toEqual([1, 2, 3]);
    await event.synchronize();
  });

  it('clamp priorities to the backend range (lower is more urgent)', () => {
    expect(device.createStream({ priority: 'high' }).priority).toBe(-1);
    expect(device.createStream({ priority: 'normal' }).priority).toBe(0);
    expect(device.createStream({ priority: -100 }).priority).toBe(-1);
    expect(device.createStream({ priority: 100 }).priority).toBe(0);
  });

  it('synchronize blocking or as a Promise once the queue is drained', async () => {
    const stream = device.createStream();
    // Both the initialising write and the copy on `stream`: one queue orders them.
    const t = Tensor.from(new Float32Array(1 << 20).fill(3), [1 << 20], { device, stream });
    const u = Tensor.empty([1 << 20], { device });
    u.copyFrom(t, { stream });
    stream.synchronizeSync();
    expect(stream.query()).toBe(true);
    expect(u.view()[12345]).toBe(3);
    await stream.synchronize();
  });
});
