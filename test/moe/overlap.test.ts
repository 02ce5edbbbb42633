import { describe, expect, it } from 'vitest';

import { createLocalWorld } from '../../src/comm/local.js';
import { matmul } from '../../src/kernels/matmul.js';
import { MoELayer } from '../../src/moe/layer.js';
import { Tensor } from '../../src/runtime/tensor.js';

function values(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

describe('Trans on the transfer stream', () => {
  it('overlaps compute queued on the compute stream (recorded intervals intersect), W = 2', async () => {
    const world = createLocalWorld(2, { timeoutMs: 30_000 });
    // Big experts (2 × 512 × 2048 floats = 8 MiB) so that Trans lasts long enough to be seen.
    const layers = world.map((comm) => new MoELayer(comm, { dModel: 512, hidden: 2048, numExperts: 2, topK: 1, initSeed: 1 }));
    for (const layer of layers) layer.placement = { numRanks: 2, numExperts: 2, replicas: [[1], [0]] };
    const results = await Promise.all(
      layers.map(async (layer, rank) => {
        const stream = layer.stream;
        const a = Tensor.from(values(768 * 768, rank + 1), [768, 768], { stream });
        await stream.synchronize();
        // Trans first (transfer stream), then a long GEMM queued on the compute stream.
        layer.startTrans();
        const computeStart = stream.recordEvent({ timing: true });
        const product = matmul(a, a, { stream });
        const longer = matmul(product, a, { stream });
        const computeEnd = stream.recordEvent({ timing: true });
        const x = Tensor.from(values(64 * 512, rank + 7), [64, 512], { stream });
        const y = await layer.forward(x);
        await y.toArray({ stream });
        await layer.transferStream.synchronize();
        for (const t of [a, product, longer]) t.dispose();
        const trans = layer.transferEvents().trans!;
        return {
          transStart: computeStart.elapsedMs(trans.start),
          transEnd: computeStart.elapsedMs(trans.end),
          computeEnd: computeStart.elapsedMs(computeEnd),
        };
      }),
    );
    for (const r of results) {
      expect(r.transEnd).toBeGreaterThan(r.transStart);
      // Two intervals intersect iff each starts before the other ends.
      expect(r.transStart).toBeLessThan(r.computeEnd);
      expect(0).toBeLessThan(r.transEnd);
    }
    for (const l of layers) l.dispose();
  });
});
