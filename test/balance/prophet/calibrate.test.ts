import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import { calibrate, evenRows, groupPlacement, packedExpertBytes, type CalibrationShape } from '../../../src/balance/prophet/calibrate.js';
import { a2aCurve, fitLatencyBandwidth, fitProportional, perTargetBandwidth } from '../../../src/balance/prophet/calibration-fit.js';
import { DEFAULT_HARDWARE_PROFILE, transferSeconds, validateProfile, type HardwareProfile } from '../../../src/balance/prophet/perfmodel.js';
import { plan } from '../../../src/balance/prophet/planner.js';
import { loadProfileFile, saveProfileFile } from '../../../src/balance/prophet/profile-file.js';
import { BalancePlanner } from '../../../src/model/balance.js';
import { resolveModelConfig } from '../../../src/model/config.js';
import { TextDataset } from '../../../src/model/data.js';
import { runTraining, type RunOptions } from '../../../src/model/run.js';

/** A tiny shape so that quick calibration stays well under a second of measuring. */
const SHAPE: CalibrationShape = { numRanks: 2, dModel: 32, hidden: 64, numExperts: 4, numHeads: 2, mlpHidden: 64, batchPerRank: 2, seqLen: 16 };

describe('fits against synthetic data with known parameters', () => {
  test('fitProportional recovers an exact slope, and minimises relative error', () => {
    const c = 3.7e-6;
    expect(fitProportional([10, 100, 1000].map((x) => ({ x, seconds: c * x })))).toBeCloseTo(c, 15);
    // t = 1 at x = 1 and t = 4 at x = 2: relative-error slope Σ(x/t)/Σ(x²/t²) = 1.5/1.25 = 1.2
    // (plain least squares would give 9/5 = 1.8, pulled by the larger sample).
    expect(fitProportional([{ x: 1, seconds: 1 }, { x: 2, seconds: 4 }])).toBeCloseTo(1.2, 12);
  });

  test('fitLatencyBandwidth recovers latency and bandwidth, also from noisy samples', () => {
    const exact = [1e3, 1e4, 1e5, 1e6].map((x) => ({ x, seconds: 20e-6 + x / 2e9 }));
    const fit = fitLatencyBandwidth(exact);
    expect(fit.latencySeconds).toBeCloseTo(20e-6, 12);
    expect(fit.bytesPerSecond / 2e9).toBeCloseTo(1, 9);
    // ±1% alternating noise on 8 sizes: the parameters stay within a few percent.
    const noisy = [1, 2, 4, 8, 16, 32, 64, 128].map((k, i) => {
      const x = k * 1e5;
      return { x, seconds: (50e-6 + x / 1e9) * (i % 2 === 0 ? 1.01 : 0.99) };
    });
    const nf = fitLatencyBandwidth(noisy);
    expect(Math.abs(nf.bytesPerSecond / 1e9 - 1)).toBeLessThan(0.03);
    expect(Math.abs(nf.latencySeconds / 50e-6 - 1)).toBeLessThan(0.5);
    expect(() => fitLatencyBandwidth([{ x: 5, seconds: 1 }, { x: 5, seconds: 2 }])).toThrow(
      /Expected samples with at least two distinct x for samples/,
    );
  });

  test('a2aCurve: ascending bytes, times made non-decreasing, duplicates keep the fastest', () => {
    const curve = a2aCurve([
      { x: 2048, seconds: 1.5e-6 },
      { x: 1024, seconds: 3e-6 },
      { x: 1024, seconds: 2e-6 },
      { x: 4096, seconds: 8e-6 },
    ]);
    expect(curve.map((p) => p.bytes)).toEqual([1024, 2048, 4096]);
    const seconds = curve.map((p) => p.bytes / p.bytesPerSecond);
    expect(seconds[0]).toBeCloseTo(2e-6, 15);
    expect(seconds[1]).toBeCloseTo(2e-6, 15); // 1.5 µs raised to the 1 KiB time
    expect(seconds[2]).toBeCloseTo(8e-6, 15);
    expect(() => a2aCurve([{ x: 0, seconds: 1 }], 'a2a')).toThrow('Expected finite number > 0 for a2a[0].x but received 0 of type number');
  });

  test('perTargetBandwidth inverts the per-target Trans price g · (size / D) / B', () => {
    const size = 1e6;
    const d = 4;
    const b = 5e8;
    const samples = [2, 3, 4].map((g) => ({ x: g, seconds: (g * size) / (d * b) }));
    expect(perTargetBandwidth(samples, size, d) / b).toBeCloseTo(1, 12);
  });

  test('evenRows, groupPlacement and packedExpertBytes', () => {
    expect(Array.from(evenRows(10, 4))).toEqual([3, 3, 2, 2]);
    expect(groupPlacement(4, 8, 3).replicas).toEqual([[1, 2], [], [], [], [], [], [], []]);
    // w1 [d, h] + b1 [h] + w2 [h, d] + b2 [d], fp32; gated doubles w1 and b1.
    expect(packedExpertBytes({ dModel: 2, hidden: 3 })).toBe(4 * (6 + 3 + 6 + 2));
    expect(packedExpertBytes({ dModel: 2, hidden: 3, gated: true })).toBe(4 * (12 + 6 + 6 + 2));
  });
});

describe('calibrate (quick, tiny shape)', () => {
  test('returns a valid profile: positive finite fields, A2A curve non-decreasing in time', async () => {
    const lines: string[] = [];
    const c = await calibrate(SHAPE, { quick: true, repeats: 1, a2aBytes: [1024, 8192, 65536], tokens: [32, 128], progress: (l) => lines.push(l) });
    const p = c.profile;
    expect(validateProfile(p)).toBe(p);
    const positive = [p.expertSecondsPerToken, p.fnecSeconds, p.bnecSeconds, p.intraNode.transBytesPerSecond, p.intraNode.aggBytesPerSecond, c.backwardPerForward];
    for (const v of positive) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThan(0);
    }
    expect(p.intraNode.a2a.map((q) => q.bytes)).toEqual(c.samples.a2a.map((s) => s.x));
    let previous = 0;
    for (const point of p.intraNode.a2a) {
      const t = transferSeconds(p.intraNode.a2a, point.bytes);
      expect(Number.isFinite(t) && t >= previous).toBe(true);
      previous = t;
    }
    expect(c.samples.trans.map((s) => s.x)).toEqual([2]);
    expect(c.expertParamBytes).toBe(packedExpertBytes(SHAPE));
    expect(lines.some((l) => l.startsWith('calibrate: a2a'))).toBe(true);
  });

  test('names the bad argument', async () => {
    await expect(calibrate({ ...SHAPE, numExperts: 1 })).rejects.toThrow('Expected integer >= 2 for shape.numExperts but received 1 of type number');
    await expect(calibrate({ ...SHAPE, numExperts: 6, numRanks: 4 })).rejects.toThrow('Expected a multiple of shape.numRanks (4) for shape.numExperts but received 6');
    await expect(calibrate({ ...SHAPE, numHeads: 3 })).rejects.toThrow('Expected a divisor of shape.dModel (32) for shape.numHeads but received 3');
  });
});

/** A profile unlike the default: slow A2A, fast compute, given Trans/Agg bandwidth. */
function syntheticProfile(transAgg: number): HardwareProfile {
  const tier = { a2a: [{ bytes: 1024, bytesPerSecond: 1e8 }, { bytes: 1 << 24, bytesPerSecond: 1e9 }], transBytesPerSecond: transAgg, aggBytesPerSecond: transAgg };
  return validateProfile({
    format: 'pro-prophet/hardware-profile',
    version: 1,
    ranksPerNode: 1 << 20,
    intraNode: tier,
    interNode: tier,
    tierCombine: 'max',
    expertSecondsPerToken: 1e-5,
    fnecSeconds: 1e-3,
    bnecSeconds: 2e-3,
  });
}

describe('saved profiles and the BalancePlanner', () => {
  test('saveProfileFile / loadProfileFile round-trip; a corrupted file names the field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'prophet-profile-'));
    try {
      const path = join(dir, 'profile.json');
      const profile = syntheticProfile(3e8);
      await saveProfileFile(path, profile);
      expect(await loadProfileFile(path)).toEqual(profile);
      await writeFile(path, JSON.stringify({ ...profile, expertSecondsPerToken: -1 }), 'utf8');
      await expect(loadProfileFile(path)).rejects.toThrow(/profile\.expertSecondsPerToken/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('BalancePlanner plans with the given profile', () => {
    const config = resolveModelConfig({ dModel: 64, hidden: 128, numExperts: 4 });
    // Rank 0's expert 0 is hot and every rank sends it slots.
    const counts = Int32Array.from([900, 10, 10, 10, 900, 10, 10, 10, 900, 10, 10, 10, 900, 10, 10, 10]);
    const matrix = { numRanks: 4, numExperts: 4, data: counts };
    const fast = new BalancePlanner('prophet', 4, config, syntheticProfile(1e12));
    const slow = new BalancePlanner('prophet', 4, config, syntheticProfile(1));
    const byDefault = new BalancePlanner('prophet', 4, config);
    expect(fast.model.profile.intraNode.transBytesPerSecond).toBe(1e12);
    expect(byDefault.model.profile).toBe(DEFAULT_HARDWARE_PROFILE);
    // Free transfers: the hot expert goes to the ranks that send it slots; at 1 B/s none.
    expect(fast.next([counts])[0]!.replicas[0]!.length).toBeGreaterThan(0);
    expect(slow.next([counts])[0]!.replicas.every((r) => r.length === 0)).toBe(true);
    expect(fast.next([counts])[0]).toEqual(plan(matrix, fast.model));
    expect(() => new BalancePlanner('prophet', 4, config, JSON.parse(JSON.stringify({ ...syntheticProfile(1), version: 2 })) as HardwareProfile)).toThrow(
      /profile\.version/,
    );
  });

  test('runTraining plans with options.profile: no replicas when transfers are priced prohibitively', async () => {
    const options: RunOptions = {
      ranks: 2,
      steps: 3,
      batch: 4,
      seed: 1,
      lr: 3e-3,
      policy: 'prophet',
      dataset: TextDataset.load(),
      config: { dModel: 32, hidden: 64, mlpHidden: 64, numHeads: 2, numLayers: 1, numExperts: 4, topK: 2, seqLen: 32, initSeed: 1 },
    };
    const slow = await runTraining({ ...options, profile: syntheticProfile(1) });
    const free = await runTraining({ ...options, profile: syntheticProfile(1e15) });
    expect(slow.replicas).toBe(0);
    expect(free.replicas).toBeGreaterThan(0);
    // Placements never change the function computed.
    slow.losses.forEach((l, i) => expect(Math.abs(l - (free.losses[i] ?? NaN))).toBeLessThan(1e-4));
  });
});
