/**
 * `prophet train --trace`: the folder a short run writes reads back through `readTrace` (the
 * reader of the shared SmartMoE trace) and agrees with the run that wrote it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { runTraining, type RunOptions, type StepProgress } from '../../src/model/run.js';
import { TraceRecorder } from '../../src/model/trace.js';
import { readTrace, traceAvailable } from '../../src/trace/smartmoe.js';

const dir = mkdtempSync(join(tmpdir(), 'prophet-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ranks = 2;
const batch = 4;
const seqLen = 16;
const numExperts = 4;
const topK = 2;
const numLayers = 2;
const steps = 3;
const options: RunOptions = {
  ranks,
  steps,
  batch,
  seed: 1,
  config: { dModel: 16, hidden: 32, mlpHidden: 32, numHeads: 2, numLayers, numExperts, topK, seqLen, initSeed: 1 },
};

describe('prophet train --trace', () => {
  it('writes a trace readTrace reads: meta matches the run, every row holds tokens × k slots', async () => {
    const folder = join(dir, 'dropless');
    const progress: StepProgress[] = [];
    await runTraining({ ...options, trace: folder }, (p) => progress.push(p));
    expect(traceAvailable(folder)).toBe(true);
    const trace = readTrace(folder);
    const tokensPerRank = (batch / ranks) * seqLen;
    expect(trace.meta).toMatchObject({
      file: 'counts.u16.gz',
      dtype: 'uint16 little-endian',
      shape: [steps, numLayers, ranks, 1, numExperts],
      iterations: [1, 2, 3],
      layers_of_original: [0, 1],
      top_k: topK,
      tokens_per_rank_per_micro_batch: tokensPerRank,
      slots_per_rank_per_micro_batch: tokensPerRank * topK,
      experts: numExperts,
      source_ranks: ranks,
    });
    expect(trace.counts.length).toBe(steps);
    trace.counts.forEach((layers, it) => {
      expect(layers.length).toBe(numLayers);
      layers.forEach((m, l) => {
        expect([m.numRanks, m.numExperts]).toEqual([ranks, numExperts]);
        for (let r = 0; r < ranks; r++) {
          // Dropless routing: each rank sends each of its tokens to k experts.
          const row = Array.from(m.data.subarray(r * numExperts, (r + 1) * numExperts));
          expect(row.reduce((a, b) => a + b, 0)).toBe(tokensPerRank * topK);
        }
        // The run's reported device max/mean (plain expert parallelism: expert e on rank
        // floor(e / (E / W))) follows from the traced counts.
        const perRank = numExperts / ranks;
        const device = Array.from({ length: ranks }, (_, d) => {
          let sum = 0;
          for (let r = 0; r < ranks; r++) for (let e = d * perRank; e < (d + 1) * perRank; e++) sum += m.data[r * numExperts + e]!;
          return sum;
        });
        const mean = device.reduce((a, b) => a + b, 0) / ranks;
        expect(progress[it]!.balance[l]).toBeCloseTo(Math.max(...device) / mean, 12);
      });
    });
  });

  it('with a capacity, keeps at most tokens × k slots per row', async () => {
    const folder = join(dir, 'capacity');
    await runTraining({ ...options, steps: 2, trace: folder, config: { ...options.config, moe: { capacityMode: 'capacity', capacityFactor: 0.5 } } });
    const trace = readTrace(folder);
    const slots = trace.meta.slots_per_rank_per_micro_batch;
    const kept = trace.counts.flat().map((m) => Array.from(m.data).reduce((a, b) => a + b, 0));
    kept.forEach((k) => expect(k).toBeLessThanOrEqual(ranks * slots));
    // Capacity factor 0.5 cannot keep every slot.
    expect(kept.some((k) => k < ranks * slots)).toBe(true);
  });

  it('falls back to 32-bit counts past 65,535 and readTrace reads them', () => {
    const folder = join(dir, 'wide');
    const recorder = new TraceRecorder({ numLayers: 1, numRanks: 2, numExperts: 2, topK: 1, tokensPerRank: 70_000 });
    recorder.record(1, [Int32Array.from([70_000, 0, 1, 69_999])]);
    recorder.record(2, [Int32Array.from([35_000, 35_000, 65_536, 4_464])]);
    recorder.write(folder);
    expect(traceAvailable(folder)).toBe(true);
    const trace = readTrace(folder);
    expect(trace.meta).toMatchObject({ file: 'counts.u32.gz', dtype: 'uint32 little-endian' });
    expect(trace.counts.map((it) => Array.from(it[0]!.data))).toEqual([
      [70_000, 0, 1, 69_999],
      [35_000, 35_000, 65_536, 4_464],
    ]);
  });
});
