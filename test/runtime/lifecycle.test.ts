import { describe, expect, it } from 'vitest';

import { Device, memoryStats, Tensor } from '../../src/index.js';

const gc = (globalThis as { gc?: () => void }).gc;

/** Runs GC rounds (finalizers run after a collection, on a later turn) until `done`. */
async function collectUntil(done: () => boolean): Promise<void> {
  for (let round = 0; round < 50 && !done(); round++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('memory lifecycle', () => {
  const device = Device.cpu();

  it('frees memory on dispose, idempotently', () => {
    const before = memoryStats();
    const t = Tensor.empty([1000]);
    expect(memoryStats().liveBuffers).toBe(before.liveBuffers + 1);
    expect(memoryStats().liveBytes).toBe(before.liveBytes + 4000);
    t.dispose();
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(memoryStats().liveBuffers).toBe(before.liveBuffers);
    expect(memoryStats().totalAllocs).toBe(before.totalAllocs + 1);
  });

  it('leaks nothing over 10k allocations, disposed or left to the finalizer', async () => {
    expect(gc).toBeDefined();
    const before = memoryStats().liveBuffers;
    for (let i = 0; i < 10_000; i++) Tensor.empty([64]).dispose();
    expect(memoryStats().liveBuffers).toBe(before);
    for (let i = 0; i < 10_000; i++) Tensor.empty([64]); // unreachable at once
    await collectUntil(() => memoryStats().liveBuffers === before);
    expect(memoryStats().liveBuffers).toBe(before);
  });

  it('keeps memory alive while queued work uses it, then frees it', async () => {
    const stream = device.createStream();
    const before = memoryStats().liveBuffers;
    const numel = 1 << 22;
    const big = Tensor.from(new Float32Array(numel).fill(5), [numel], { stream });
    const copy = Tensor.empty([numel]);
    copy.copyFrom(big, { stream });
    big.dispose(); // the queued copy still reads it
    expect((await copy.toArray({ stream }))[numel - 1]).toBe(5);
    expect(memoryStats().liveBuffers).toBe(before + 1);
    copy.dispose();
    expect(memoryStats().liveBuffers).toBe(before);
  });

  it('keeps memory behind a view alive after dispose until the view is collected', async () => {
    const before = memoryStats().liveBuffers;
    let view: Float32Array | undefined = Tensor.from([1, 2, 3], [3]).view();
    await device.defaultStream.synchronize();
    const t = Tensor.from([4, 5], [2]);
    await device.defaultStream.synchronize();
    const v2 = t.view();
    t.dispose();
    expect(Array.from(v2)).toEqual([4, 5]); // still valid memory
    expect(memoryStats().liveBuffers).toBeGreaterThan(before);
    view = undefined;
    void view;
    await collectUntil(() => memoryStats().liveBuffers === before + 1);
    expect(memoryStats().liveBuffers).toBe(before + 1); // v2 is still referenced here
    expect(v2[1]).toBe(5);
  });

  it('frees streams and events left to the finalizers', async () => {
    expect(gc).toBeDefined();
    const before = memoryStats();
    // Created in a plain function: a suspended async function's frame could keep the last
    // loop values reachable. Nothing is disposed: only the finalizers can free them.
    (() => {
      for (let i = 0; i < 200; i++) {
        const stream = device.createStream();
        stream.recordEvent();
        device.createEvent({ timing: true });
      }
      expect(memoryStats().liveStreams).toBe(before.liveStreams + 200);
      expect(memoryStats().liveEvents).toBe(before.liveEvents + 400);
    })();
    const freed = () => memoryStats().liveStreams === before.liveStreams && memoryStats().liveEvents === before.liveEvents;
    await collectUntil(freed);
    expect(memoryStats()).toMatchObject({ liveStreams: before.liveStreams, liveEvents: before.liveEvents });
  });

  it('frees streams and events on dispose', async () => {
    const stream = device.createStream();
    const event = stream.recordEvent();
    await event.synchronize();
    const before = memoryStats();
    stream.dispose();
    event.dispose();
    stream.dispose();
    expect(stream.disposed && event.disposed).toBe(true);
    expect(memoryStats().liveStreams).toBe(before.liveStreams - 1);
    expect(memoryStats().liveEvents).toBe(before.liveEvents - 1);
  });
});
