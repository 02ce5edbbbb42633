import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import { calibrate, evenRows, groupPlacement, packedExpertBytes, type CalibrationShape } from '../../../src/balance/prophet/calibrate.js';
import fc from 'fast-check';

import {
  a2aCurve,
  fitInterference,
  fitLatencyBandwidth,
  fitProportional,
  fitSyncSeconds,
  mergeSamples,
  overlapCostsFromSamples,
  perTargetBandwidth,
  profileFromSamples,
  type CalibrationSamples,
} from '../../../src/balance/prophet/calibration-fit.js';
import { DEFAULT_HARDWARE_PROFILE, loadProfile, saveProfile, transferSeconds, validateProfile, type HardwareProfile } from '../../../src/balance/prophet/perfmodel.js';
import { plan } from '../../../src/balance/prophet/planner.js';
import { overlapPays } from '../../../src/balance/prophet/transfer-schedule.js';
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

  test('mergeSamples keeps the fastest sample of each size over the passes', () => {
    const pass = (scale: number): CalibrationSamples => ({
      a2a: [{ x: 1024, seconds: 2e-6 * scale }, { x: 4096, seconds: 5e-6 }],
      a2aAll: [{ x: 2048, seconds: 3e-6 * scale }],
      fec: [{ x: 256, seconds: 1e-3 * scale }],
      bec: [{ x: 256, seconds: 2e-3 }],
      trans: [],
      agg: [],
      fnec: [{ x: 256, seconds: 4e-3 / scale }],
      bnec: [{ x: 256, seconds: 8e-3 }],
    });
    const merged = mergeSamples([pass(1), pass(0.5)]);
    expect(merged.a2a).toEqual([{ x: 1024, seconds: 1e-6 }, { x: 4096, seconds: 5e-6 }]);
    expect(merged.a2aAll).toEqual([{ x: 2048, seconds: 1.5e-6 }]);
    expect(merged.fec).toEqual([{ x: 256, seconds: 0.5e-3 }]);
    expect(merged.fnec).toEqual([{ x: 256, seconds: 4e-3 }]);
    expect(merged.trans).toEqual([]);
    expect(() => mergeSamples([])).toThrow('Expected non-empty array of samples for passes but received []');
  });

  test('profileFromSamples recovers known constants, the shared tier included', () => {
    // Synthetic backend: FFN 3 µs per token (backward 2×), receivers at 10 GB/s, the node's
    // shared medium at 15 GB/s, Trans 2 GB/s and Agg 1 GB/s per target, W = 4.
    const expertBytes = 8e6;
    const W = 4;
    const samples: CalibrationSamples = {
      a2a: [1e4, 1e5, 1e6].map((x) => ({ x, seconds: x / 1e10 })),
      a2aAll: [4e4, 4e5, 4e6].map((x) => ({ x, seconds: x / 1.5e10 })),
      fec: [256, 1024].map((x) => ({ x, seconds: 3e-6 * x })),
      bec: [256, 1024].map((x) => ({ x, seconds: 6e-6 * x })),
      trans: [2, 3, 4].map((g) => ({ x: g, seconds: (g * expertBytes) / (W * 2e9) })),
      agg: [2, 3, 4].map((g) => ({ x: g, seconds: (g * expertBytes) / (W * 1e9) })),
      fnec: [{ x: 256, seconds: 1e-3 }],
      bnec: [{ x: 256, seconds: 2e-3 }],
    };
    const { profile, backwardPerForward } = profileFromSamples(samples, expertBytes, W);
    expect(profile.expertSecondsPerToken).toBeCloseTo(3e-6, 15);
    expect(backwardPerForward).toBeCloseTo(2, 12);
    expect(profile.intraNode.a2a.every((p) => Math.abs(p.bytesPerSecond / 1e10 - 1) < 1e-12)).toBe(true);
    expect(profile.nodeA2a?.map((p) => p.bytes)).toEqual([4e4, 4e5, 4e6]);
    expect(profile.nodeA2a?.every((p) => Math.abs(p.bytesPerSecond / 1.5e10 - 1) < 1e-12)).toBe(true);
    expect(profile.intraNode.transBytesPerSecond / 2e9).toBeCloseTo(1, 12);
    expect(profile.intraNode.aggBytesPerSecond / 1e9).toBeCloseTo(1, 12);
    expect([profile.fnecSeconds, profile.bnecSeconds]).toEqual([1e-3, 2e-3]);
    // One rank: no shared tier and no transfers (Trans/Agg take the A2A's bandwidth).
    const alone = profileFromSamples({ ...samples, a2aAll: [], trans: [], agg: [] }, expertBytes, 1).profile;
    expect(alone.nodeA2a).toBeUndefined();
    expect(alone.intraNode.transBytesPerSecond).toBeCloseTo(1e10, 0);
    expect(() => profileFromSamples({ ...samples, fnec: [] }, expertBytes, W)).toThrow('Expected non-empty array of samples for samples.fnec');
  });

  test('evenRows, groupPlacement and packedExpertBytes', () => {
    expect(Array.from(evenRows(10, 4))).toEqual([3, 3, 2, 2]);
    expect(groupPlacement(4, 8, 3).replicas).toEqual([[1, 2], [], [], [], [], [], [], []]);
    // w1 [d, h] + b1 [h] + w2 [h, d] + b2 [d], fp32; gated doubles w1 and b1.
    expect(packedExpertBytes({ dModel: 2, hidden: 3 })).toBe(4 * (6 + 3 + 6 + 2));
    expect(packedExpertBytes({ dModel: 2, hidden: 3, gated: true })).toBe(4 * (12 + 6 + 6 + 2));
  });
});

describe('overlap costs from the overlap micro-benchmark (pure fits)', () => {
  const ms = 1e-3;

  test('match the documented examples, computed by hand', () => {
    expect(fitSyncSeconds(30e-6, 80e-6)).toBeCloseTo(50e-6, 15);
    expect(fitSyncSeconds(80e-6, 30e-6)).toBe(0); // noise: the round trip can't be cheaper
    // (12.05 − max(10, 4) − 0.05) / min(10, 4) = 2 / 4.
    expect(fitInterference({ computeSeconds: 10 * ms, transferSeconds: 4 * ms, bothSeconds: 12.05 * ms }, 0.05 * ms)).toBeCloseTo(0.5, 12);
    // Transfer longer than the window: (9 − 6 − 0) / 2 = 1.5, clamped to 1.
    expect(fitInterference({ computeSeconds: 2 * ms, transferSeconds: 6 * ms, bothSeconds: 9 * ms }, 0)).toBe(1);
    // Both sooner than the longer alone (noise): 0.
    expect(fitInterference({ computeSeconds: 5 * ms, transferSeconds: 5 * ms, bothSeconds: 4.9 * ms }, 0)).toBe(0);
    // Taking turns on one core: both = W + T → interference (W + T − max − s) / min = 1 − s / min.
    const costs = overlapCostsFromSamples({ computeSeconds: 4 * ms, transferSeconds: 2 * ms, bothSeconds: 6 * ms, inlinePairSeconds: 0.02 * ms, handoffPairSeconds: 0.04 * ms });
    expect(costs.syncSeconds).toBeCloseTo(0.02 * ms, 15);
    expect(costs.interference).toBeCloseTo(1 - 0.02 / 2, 12);
  });

  test('make the fallback rule overlap exactly when the measured pair beat running them in turn', () => {
    // Independent reference: the measurement itself. In line the window and the transfer take
    // W + T; overlapped (one part) the pair took T_both. The fitted costs must make overlapPays
    // choose the faster (for a hand-off below min(T, W), where the clamps cannot flip a decision).
    const seconds = fc.integer({ min: 1, max: 1000 }).map((k) => k * 1e-5);
    fc.assert(
      fc.property(seconds, seconds, fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 999 }), (w, t, extra, syncPermille) => {
        const sync = (syncPermille / 1000) * Math.min(w, t);
        const both = Math.max(w, t) + (extra / 1000) * (w + t);
        fc.pre(Math.abs(both - (w + t)) > 1e-12);
        const interference = fitInterference({ computeSeconds: w, transferSeconds: t, bothSeconds: both }, sync);
        expect(overlapPays(t, w, 1, { syncSeconds: sync, interference })).toBe(both < w + t);
      }),
      { numRuns: 500 },
    );
  });

  test('name bad samples', () => {
    expect(() => fitSyncSeconds(0, 1)).toThrow(new RangeError('Expected finite number > 0 for inlinePairSeconds but received 0 of type number'));
    expect(() => fitInterference({ computeSeconds: 1, transferSeconds: Number.NaN, bothSeconds: 1 }, 0)).toThrow(/samples\.transferSeconds/);
    expect(() => fitInterference({ computeSeconds: 1, transferSeconds: 1, bothSeconds: 1 }, -1)).toThrow(/syncSeconds/);
  });

  test('mergeSamples keeps the fastest of each figure; profileFromSamples stores the fitted costs', () => {
    const base: CalibrationSamples = {
      a2a: [{ x: 1024, seconds: 1e-5 }],
      a2aAll: [],
      fec: [{ x: 100, seconds: 1e-3 }],
      bec: [{ x: 100, seconds: 2e-3 }],
      trans: [{ x: 2, seconds: 1e-3 }],
      agg: [{ x: 2, seconds: 1e-3 }],
      fnec: [{ x: 64, seconds: 1e-3 }],
      bnec: [{ x: 64, seconds: 2e-3 }],
    };
    const one = { computeSeconds: 4 * ms, transferSeconds: 3 * ms, bothSeconds: 6 * ms, inlinePairSeconds: 0.01 * ms, handoffPairSeconds: 0.05 * ms };
    const two = { computeSeconds: 5 * ms, transferSeconds: 2 * ms, bothSeconds: 7 * ms, inlinePairSeconds: 0.02 * ms, handoffPairSeconds: 0.03 * ms };
    const merged = mergeSamples([{ ...base, overlap: one }, base, { ...base, overlap: two }]);
    expect(merged.overlap).toEqual({ computeSeconds: 4 * ms, transferSeconds: 2 * ms, bothSeconds: 6 * ms, inlinePairSeconds: 0.01 * ms, handoffPairSeconds: 0.03 * ms });
    expect(mergeSamples([base]).overlap).toBeUndefined();
    expect(profileFromSamples(merged, 1000, 2).profile.overlap).toEqual(overlapCostsFromSamples(merged.overlap!));
    expect(profileFromSamples(base, 1000, 2).profile.overlap).toBeUndefined();
  });
});

describe('calibrate (quick, tiny shape)', () => {
  test('returns a valid profile: positive finite fields, A2A curve non-decreasing in time', async () => {
    const lines: string[] = [];
    const c = await calibrate(SHAPE, { quick: true, repeats: 1, passes: 2, a2aBytes: [1024, 8192, 65536], tokens: [32, 128], progress: (l) => lines.push(l) });
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
    // The shared tier: every rank receiving at once, x = the node's total (2 ranks).
    expect(p.nodeA2a?.map((q) => q.bytes)).toEqual(c.samples.a2aAll.map((s) => s.x));
    expect(c.samples.a2aAll.map((s) => s.x)).toEqual(c.samples.a2a.map((s) => 2 * s.x));
    // Two passes, merged: one sample per size.
    expect(c.samples.fec.map((s) => s.x)).toEqual([32, 128]);
    expect(lines.filter((l) => l.includes('all 2 ranks receiving')).length).toBe(6);
    expect(c.expertParamBytes).toBe(packedExpertBytes(SHAPE));
    expect(lines.some((l) => l.startsWith('calibrate: a2a'))).toBe(true);
    // Overlap costs measured (values depend on the machine; only their ranges are checked).
    const o = c.samples.overlap!;
    for (const v of Object.values(o)) expect(Number.isFinite(v) && v > 0).toBe(true);
    expect(p.overlap).toEqual(overlapCostsFromSamples(o));
    expect(lines.filter((l) => l.startsWith('calibrate: overlap:')).length).toBe(2);
  });

  test('names the bad argument', async () => {
    await expect(calibrate({ ...SHAPE, numExperts: 1 })).rejects.toThrow('Expected integer >= 2 for shape.numExperts but received 1 of type number');
    await expect(calibrate({ ...SHAPE, numExperts: 6, numRanks: 4 })).rejects.toThrow('Expected a multiple of shape.numRanks (4) for shape.numExperts but received 6');
    await expect(calibrate({ ...SHAPE, numHeads: 3 })).rejects.toThrow('Expected a divisor of shape.dModel (32) for shape.numHeads but received 3');
    await expect(calibrate(SHAPE, { passes: 0 })).rejects.toThrow('Expected integer in [1, 100] for options.passes but received 0');
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
      const calibrated = { ...profile, overlap: { syncSeconds: 2e-5, interference: 0.9 } };
      await saveProfileFile(path, calibrated);
      expect(await loadProfileFile(path)).toEqual(calibrated);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the optional overlap costs: old profiles stay valid, bad fields are named', () => {
    // A profile saved before overlap costs existed: no `overlap` key at all.
    const old = JSON.parse(saveProfile(syntheticProfile(3e8))) as Record<string, unknown>;
    expect('overlap' in old).toBe(false);
    expect(loadProfile(JSON.stringify(old)).overlap).toBeUndefined();
    const withOverlap = (overlap: unknown) => JSON.stringify({ ...old, overlap });
    expect(loadProfile(withOverlap({ syncSeconds: 0, interference: 1 })).overlap).toEqual({ syncSeconds: 0, interference: 1 });
    expect(() => loadProfile(withOverlap({ syncSeconds: 1e-5, interference: 1.5 }))).toThrow(
      new RangeError('Expected finite number in [0, 1] for profile.overlap.interference but received 1.5 of type number'),
    );
    expect(() => loadProfile(withOverlap({ syncSeconds: -1, interference: 0 }))).toThrow(/profile\.overlap\.syncSeconds/);
    expect(() => loadProfile(withOverlap({ interference: 0 }))).toThrow(/profile\.overlap\.syncSeconds/);
    expect(() => loadProfile(withOverlap(null))).toThrow(TypeError);
    expect(() => loadProfile(withOverlap(null))).toThrow(/profile\.overlap/);
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
