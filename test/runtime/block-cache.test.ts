import { describe, expect, it } from 'vitest';

import { createLocalWorld } from '../../src/comm/local.js';
import { Device, memoryStats, Tensor } from '../../src/index.js';

// The CPU backend recycles freed blocks of 128 KiB and more (native/cpu/cpu_block_cache.h),
// rounded up to eight size classes per power of two. A block is cached only once nothing
// queued uses it, and a cached block is not live memory.
const address = (t: Tensor): bigint => t.storage.address;

describe('CPU block cache', () => {
  const device = Device.cpu();

  it('hands a freed large block to the next request of its size class', () => {
    // 1,000,000 and 1,040,000 bytes both round up to the 1 MiB class (steps of 64 KiB there).
    const first = Tensor.empty([250_000]);
    const where = address(first);
    first.dispose();
    const second = Tensor.empty([260_000]);
    expect(address(second)).toBe(where);
    // A block is handed out once: a second live request of the class gets another one.
    const third = Tensor.empty([250_000]);
    expect(address(third)).not.toBe(where);
    second.dispose();
    third.dispose();
  });

  it('does not hand a block to a request of another size class', () => {
    const small = Tensor.empty([500_000]); // 2,000,000 bytes: the 2 MiB class
    const where = address(small);
    small.dispose();
    const larger = Tensor.empty([600_000]); // 2,400,000 bytes: the 2,490,368-byte class
    expect(address(larger)).not.toBe(where);
    const again = Tensor.empty([500_000]); // the block freed last in its class
    expect(address(again)).toBe(where);
    larger.dispose();
    again.dispose();
  });

  it('counts a cached block as freed', () => {
    const before = memoryStats();
    const t = Tensor.empty([1 << 20]);
    expect(memoryStats().liveBytes).toBe(before.liveBytes + 4 * (1 << 20));
    t.dispose();
    expect(memoryStats().liveBuffers).toBe(before.liveBuffers);
    expect(memoryStats().liveBytes).toBe(before.liveBytes);
  });

  it('never reuses a block that queued work still reads', async () => {
    // The copy is held in its stream behind a barrier that rank 1 of a local world joins only
    // at the end, so it is still queued, holding its source, while the source is disposed and a
    // same-sized tensor is requested.
    const [rank0, rank1] = createLocalWorld(2, { timeoutMs: 30_000 });
    const held = device.createStream();
    const peer = device.createStream();
    const numel = 1 << 22; // 16 MiB
    const source = Tensor.from(new Float32Array(numel).fill(7), [numel], { stream: held });
    const where = address(source);
    rank0!.barrier({ stream: held });
    const copy = Tensor.empty([numel]);
    copy.copyFrom(source, { stream: held });
    source.dispose();
    const other = Tensor.empty([numel]);
    expect(address(other)).not.toBe(where);
    other.view().fill(-1); // must not reach what the queued copy reads
    rank1!.barrier({ stream: peer });
    const out = await copy.toArray({ stream: held });
    expect(out[0]).toBe(7);
    expect(out[numel - 1]).toBe(7);
    // Now that the copy has run, the source's block is cached and handed out again.
    const reused = Tensor.empty([numel]);
    expect(address(reused)).toBe(where);
    for (const t of [copy, other, reused]) t.dispose();
    await peer.synchronize();
    for (const s of [held, peer]) s.dispose();
    for (const c of [rank0!, rank1!]) c.dispose();
  });
});
