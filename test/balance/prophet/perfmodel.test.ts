import { describe, expect, test } from 'vitest';

import {
  DEFAULT_HARDWARE_PROFILE,
  ONE_NODE,
  bandwidthAt,
  evaluatePlacement,
  loadProfile,
  perfModel,
  receiverPricer,
  receiverSeconds,
  releasedCodeProfile,
  saveProfile,
  transferSeconds,
  validateProfile,
} from '../../../src/balance/prophet/perfmodel.js';
import { emptyPlacement, type Placement } from '../../../src/balance/prophet/placement.js';
import { countMatrix } from '../../../src/balance/prophet/stats.js';
import { FIG6, flatProfile, unitModel } from './helpers.js';

const GBIT = 1e9 / 8;

describe('bandwidth curve', () => {
  const curve = DEFAULT_HARDWARE_PROFILE.intraNode.a2a;

  test('passes through the released table and interpolates log-log in between', () => {
    expect(bandwidthAt(curve, 128 * 1024)).toBeCloseTo(6 * GBIT, 3);
    expect(bandwidthAt(curve, 1024 * 1024)).toBeCloseTo(42 * GBIT, 3);
    expect(bandwidthAt(curve, 1)).toBe(6 * GBIT); // clamped below
    expect(bandwidthAt(curve, 2 ** 40)).toBe(100 * GBIT); // clamped above
    expect(bandwidthAt(curve, Math.sqrt(128 * 256) * 1024)).toBeCloseTo(Math.sqrt(6 * 16) * GBIT, 0);
  });

  test('transfer time never falls when bytes grow (so the largest receiver decides, Eq. 1)', () => {
    let last = 0;
    for (let b = 1024; b < 2 ** 31; b *= 1.07) {
      const t = transferSeconds(curve, b);
      expect(t).toBeGreaterThanOrEqual(last);
      last = t;
    }
    // Above 256 KiB the raw time already grows, so the envelope is exactly bytes / bandwidth.
    const b = 4 * 1024 * 1024;
    expect(transferSeconds(curve, b)).toBe(b / bandwidthAt(curve, b));
    expect(transferSeconds(curve, 0)).toBe(0);
  });
});

describe('Eqs. 1-8 on the Fig. 6 example', () => {
  test('plain expert parallelism: Eq. 1-3 and Eq. 6 by hand', () => {
    // H = [5, 2, 2]; R = [3 (E0 from dev1), 1 (E1 from dev0), 1 (E2 from dev1)].
    const cost = evaluatePlacement(FIG6, emptyPlacement(3, 3), unitModel());
    expect(cost).toEqual({ a2a: 3, fec: 5, bec: 10, trans: 0, agg: 0, exposedTrans: 0, exposedAgg: 0, total: 4 * 3 + 3 * 5 });
  });

  test('E0 to dev1 and E1 to dev0: Eq. 4/5 s(D-n)size/(DB) and Eq. 6', () => {
    const placement: Placement = { numRanks: 3, numExperts: 3, replicas: [[1], [0], []] };
    const cost = evaluatePlacement(FIG6, placement, unitModel());
    // H = [2 + 1, 3 + 1, 2] = [3, 4, 2]; R = [0, 0, 1]; s = 2, n = 1: 2 * 2 * 0.3 / 3 = 0.4.
    expect(cost.a2a).toBe(1);
    expect(cost.fec).toBe(4);
    expect(cost.bec).toBe(8);
    expect(cost.trans).toBeCloseTo(0.4, 12);
    expect(cost.agg).toBeCloseTo(0.4, 12);
    expect(cost.total).toBeCloseTo(4 + 12 + 0.8, 12);
  });

  test('Eq. 8: Trans beyond FEC + FNEC and Agg beyond BEC + BNEC are exposed', () => {
    const placement: Placement = { numRanks: 3, numExperts: 3, replicas: [[1, 2], [0, 2], [0, 1]] };
    // s = 3, n = 0: Trans = Agg = 3 * 3 * 0.3 / 3 = 0.9; every slot is local, H = [3, 5, 1].
    const noOverlap = evaluatePlacement(FIG6, placement, unitModel());
    expect(noOverlap.trans).toBeCloseTo(0.9, 12);
    expect(noOverlap.a2a).toBe(0);
    // With unit compute the FEC (max H seconds) hides everything.
    const hidden = evaluatePlacement(FIG6, placement, unitModel(true));
    expect(hidden.exposedTrans).toBe(0);
    expect(hidden.total).toBe(3 * hidden.fec);
    // With fast compute (1e-3 s per slot) and FNEC 0.5 s, BNEC 0.2 s, part stays exposed.
    const fast = perfModel(
      flatProfile({ ranksPerNode: ONE_NODE, intraA2a: 1, interA2a: 1, intraTrans: 1, interTrans: 1, secondsPerToken: 1e-3, fnec: 0.5, bnec: 0.2 }),
      { bytesPerToken: 1, expertParamBytes: 0.3, overlap: true },
    );
    const c = evaluatePlacement(FIG6, placement, fast);
    expect(c.fec).toBeCloseTo(5e-3, 15); // every slot local: H = [3, 5, 1]
    expect(c.exposedTrans).toBeCloseTo(0.9 - c.fec - 0.5, 12);
    expect(c.exposedAgg).toBeCloseTo(0.9 - 2 * c.fec - 0.2, 12);
    expect(c.total).toBeCloseTo(4 * c.a2a + 3 * c.fec + c.exposedTrans + c.exposedAgg, 12);
  });
});

describe('link tiers', () => {
  // 4 ranks, 2 per node. Rank 0 receives 2 slots of E0 from rank 1 (same node) and 3 from rank 2.
  const counts = countMatrix([
    [0, 0, 0, 0],
    [2, 0, 0, 0],
    [3, 0, 0, 0],
    [0, 0, 0, 0],
  ]);
  const model = (tierCombine: 'max' | 'sum') =>
    perfModel(flatProfile({ ranksPerNode: 2, intraA2a: 1, interA2a: 0.5, intraTrans: 1, interTrans: 0.25, secondsPerToken: 1, tierCombine }), {
      bytesPerToken: 1,
      expertParamBytes: 0.4,
      overlap: false,
    });

  test('a receiver takes the max (or sum) of its per-tier times', () => {
    expect(evaluatePlacement(counts, emptyPlacement(4, 4), model('max')).a2a).toBe(6); // max(2/1, 3/0.5)
    expect(evaluatePlacement(counts, emptyPlacement(4, 4), model('sum')).a2a).toBe(8); // 2/1 + 3/0.5
  });

  test('the planner\'s receiverPricer gives exactly receiverSeconds, its memo included', () => {
    // The default profile has two curved tiers; sizes repeat and alternate to exercise the memo.
    for (const tierCombine of ['max', 'sum'] as const) {
      const m = perfModel({ ...DEFAULT_HARDWARE_PROFILE, tierCombine });
      const price = receiverPricer(m);
      const sizes = [0, 1, 17, 40, 17, 40, 4096, 40, 0, 65536, 65536, 1, 300000, 17];
      for (const intra of sizes) {
        for (const inter of [...sizes].reverse()) expect(price(intra, inter)).toBe(receiverSeconds(m, intra, inter));
      }
    }
  });

  test('Trans/Agg priced per target: the home share and the intra replica at 1 B/s, the inter one at 0.25 B/s', () => {
    const placement: Placement = { numRanks: 4, numExperts: 4, replicas: [[1, 2], [], [], []] };
    const cost = evaluatePlacement(counts, placement, model('max'));
    expect(cost.trans).toBeCloseTo(0.1 + 0.1 + 0.4, 12);
    expect(cost.agg).toBeCloseTo(0.6, 12);
    expect(cost.a2a).toBe(0);
  });
});

describe('hardware profile', () => {
  test('the released constants', () => {
    const p = releasedCodeProfile({ dModel: 1024, dHidden: 2048, batchPerRank: 4, seqLength: 256 }, ONE_NODE);
    expect(p.expertSecondsPerToken).toBeCloseTo((4 * 2048 * 1024 * 4) / 35.7e12, 20);
    const fnec = ((2 * 4 * 256 * 256 * 1024 * 2 + 4 * 4 * 256 * 1024 * 1024) * 4) / 35.7e12;
    expect(p.fnecSeconds).toBeCloseTo(fnec, 15);
    expect(p.bnecSeconds).toBeCloseTo(2 * fnec, 15);
    expect(p.intraNode.transBytesPerSecond).toBe(15 * GBIT);
    expect(DEFAULT_HARDWARE_PROFILE.interNode.transBytesPerSecond).toBe(15 * GBIT);
    expect(DEFAULT_HARDWARE_PROFILE.ranksPerNode).toBe(4);
  });

  test('saves to JSON and loads back equal', () => {
    expect(loadProfile(saveProfile(DEFAULT_HARDWARE_PROFILE))).toEqual(DEFAULT_HARDWARE_PROFILE);
  });

  test('a bad saved profile names the field', () => {
    const bad = JSON.parse(saveProfile(DEFAULT_HARDWARE_PROFILE)) as Record<string, unknown> & { intraNode: { a2a: { bytes: number }[] } };
    bad.intraNode.a2a[2] = { ...bad.intraNode.a2a[2], bytes: 1 } as never;
    expect(() => loadProfile(JSON.stringify(bad))).toThrow(RangeError);
    expect(() => loadProfile(JSON.stringify(bad))).toThrow('for profile.intraNode.a2a[2].bytes but received 1');
    expect(() => loadProfile('{')).toThrow('Expected JSON text for profile');
    expect(() => loadProfile(JSON.stringify({ ...DEFAULT_HARDWARE_PROFILE, version: 2 }))).toThrow('Expected 1 for profile.version but received 2');
    expect(() => validateProfile({ ...DEFAULT_HARDWARE_PROFILE, tierCombine: 'avg' as never })).toThrow(
      "Expected one of 'max', 'sum' for profile.tierCombine but received \"avg\"",
    );
    expect(() => validateProfile({ ...DEFAULT_HARDWARE_PROFILE, expertSecondsPerToken: 0 })).toThrow(
      'Expected finite number > 0 for profile.expertSecondsPerToken but received 0',
    );
    expect(() => perfModel(DEFAULT_HARDWARE_PROFILE, { overlap: 'yes' as never })).toThrow(TypeError);
  });
});
