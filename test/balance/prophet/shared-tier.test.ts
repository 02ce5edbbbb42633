/**
 * The A2A's node-level shared tier (`HardwareProfile.nodeA2a`): the model against a plain
 * reference written here, the planner's incremental pricing against the direct evaluator, and
 * the search against exhaustive search with the tier on.
 */
import { describe, expect, test } from 'vitest';

import { a2aSeconds, evaluatePlacement, loadProfile, perfModel, saveProfile, type HardwareProfile, type PerfModel } from '../../../src/balance/prophet/perfmodel.js';
import { emptyPlacement, homeRank, type Placement } from '../../../src/balance/prophet/placement.js';
import { plan } from '../../../src/balance/prophet/planner.js';
import { initialState, placementOf, stateCost, toggleReplica } from '../../../src/balance/prophet/search.js';
import { countMatrix, type CountMatrix } from '../../../src/balance/prophet/stats.js';
import { exhaustiveBest } from './exhaustive.js';
import { flatProfile, randomModel, rng, skewedCounts } from './helpers.js';

/**
 * Independent reference with flat curves (seconds = bytes / bandwidth): every slot of rank p for
 * expert e not hosted by p travels to e's home; the A2A is the slowest receiver (tiers by max or
 * sum) or the busiest node's total at the shared bandwidth, whichever is longer.
 */
function referenceA2a(counts: CountMatrix, placement: Placement, o: { ranksPerNode: number; intra: number; inter: number; shared: number; combine: 'max' | 'sum'; bytesPerToken: number }): number {
  const { numRanks: W, numExperts: E } = counts;
  const intra = new Array<number>(W).fill(0);
  const inter = new Array<number>(W).fill(0);
  for (let p = 0; p < W; p++) {
    for (let e = 0; e < E; e++) {
      const home = homeRank(e, W, E);
      if (p === home || placement.replicas[e]!.includes(p)) continue;
      const c = counts.data[p * E + e]!;
      if (Math.floor(p / o.ranksPerNode) === Math.floor(home / o.ranksPerNode)) intra[home]! += c;
      else inter[home]! += c;
    }
  }
  let t = 0;
  const nodes = new Map<number, number>();
  for (let r = 0; r < W; r++) {
    const a = (intra[r]! * o.bytesPerToken) / o.intra;
    const b = (inter[r]! * o.bytesPerToken) / o.inter;
    t = Math.max(t, o.combine === 'max' ? Math.max(a, b) : a + b);
    const n = Math.floor(r / o.ranksPerNode);
    nodes.set(n, (nodes.get(n) ?? 0) + intra[r]! + inter[r]!);
  }
  for (const slots of nodes.values()) t = Math.max(t, (slots * o.bytesPerToken) / o.shared);
  return t;
}

function withShared(profile: HardwareProfile, bytesPerSecond: number): HardwareProfile {
  return { ...profile, nodeA2a: [{ bytes: 1, bytesPerSecond }] };
}

/** {@link randomModel} with a shared tier, at 0.7–2.5 receivers' worth of bandwidth; half of the
 * tiers get a two-point curve (slower below 1 MB) to exercise the curve code. */
function randomSharedModel(seed: number, numRanks: number): PerfModel {
  const base = randomModel(seed, numRanks);
  const next = rng(seed * 104729 + 7);
  const receiver = base.profile.intraNode.a2a[0]!.bytesPerSecond;
  const shared = receiver * (0.7 + 1.8 * next());
  const nodeA2a = next() < 0.5 ? [{ bytes: 1, bytesPerSecond: shared }] : [{ bytes: 1e4, bytesPerSecond: 0.5 * shared }, { bytes: 1e6, bytesPerSecond: shared }];
  return { ...base, profile: { ...base.profile, nodeA2a } };
}

describe('A2A with a node-level shared tier', () => {
  test('the documented example: receivers [3, 3] take max(3, 6 / 1.5) = 4 s, [3, 0] take 3 s', () => {
    const m = perfModel(withShared(flatProfile({ ranksPerNode: 2, intraA2a: 1, interA2a: 1, intraTrans: 1, interTrans: 1, secondsPerToken: 1 }), 1.5), {
      bytesPerToken: 1,
      expertParamBytes: 1,
      overlap: false,
    });
    expect(a2aSeconds(m, [3, 3], [0, 0])).toBe(4);
    expect(a2aSeconds(m, [3, 0], [0, 0])).toBe(3);
    // Without the tier: Eq. 1, the slowest receiver alone.
    expect(a2aSeconds({ ...m, profile: { ...m.profile, nodeA2a: undefined } }, [3, 3], [0, 0])).toBe(3);
  });

  test('evaluatePlacement equals the plain reference on random counts, placements and tiers', () => {
    const next = rng(42);
    for (let trial = 0; trial < 200; trial++) {
      const W = 2 + Math.floor(next() * 5);
      const E = W * (1 + Math.floor(next() * 2));
      const counts = skewedCounts(W, E, trial + 1);
      const o = {
        ranksPerNode: 1 + Math.floor(next() * W),
        intra: 0.5 + next(),
        inter: 0.1 + next(),
        shared: 0.5 + 2 * next(),
        combine: next() < 0.5 ? ('max' as const) : ('sum' as const),
        bytesPerToken: 1 + Math.floor(next() * 8),
      };
      const profile = withShared(flatProfile({ ranksPerNode: o.ranksPerNode, intraA2a: o.intra, interA2a: o.inter, intraTrans: 1, interTrans: 1, secondsPerToken: 1, tierCombine: o.combine }), o.shared);
      const model = perfModel(profile, { bytesPerToken: o.bytesPerToken, expertParamBytes: 1, overlap: false });
      const replicas = Array.from({ length: E }, (_, e) => Array.from({ length: W }, (_, r) => r).filter((r) => r !== homeRank(e, W, E) && next() < 0.3));
      const placement: Placement = { numRanks: W, numExperts: E, replicas };
      expect(evaluatePlacement(counts, placement, model).a2a).toBeCloseTo(referenceA2a(counts, placement, o), 9);
    }
  });

  test('the planner\'s incremental state prices every toggle as the direct evaluator does', () => {
    const next = rng(7);
    for (let seed = 1; seed <= 40; seed++) {
      const W = [2, 4, 6, 8][seed % 4]!;
      const E = 2 * W;
      const counts = skewedCounts(W, E, seed);
      const model = randomSharedModel(seed, W);
      const state = initialState(counts, model);
      for (let step = 0; step < 30; step++) {
        const e = Math.floor(next() * E);
        const r = Math.floor(next() * W);
        if (r === homeRank(e, W, E)) continue;
        toggleReplica(state, model, e, r, state.hosts[e * W + r] === 1 ? -1 : 1);
        expect(stateCost(state, model)).toBeCloseTo(evaluatePlacement(counts, placementOf(state), model).total, 12);
      }
    }
  });

  test('greedy search stays within 5% of exhaustive search, never worse than plain EP', () => {
    let worst = 0;
    let binding = 0;
    for (const [W, E] of [
      [2, 8],
      [3, 6],
      [4, 4],
    ] as const) {
      for (let seed = 1; seed <= 30; seed++) {
        const counts = skewedCounts(W, E, seed * 17 + W, 256, 0.3);
        const model = randomSharedModel(seed, W);
        const optimum = exhaustiveBest(counts, model).cost;
        const none = evaluatePlacement(counts, emptyPlacement(W, E), model).total;
        const placement = plan(counts, model);
        const greedy = evaluatePlacement(counts, placement, model).total;
        const withoutTier = { ...model, profile: { ...model.profile, nodeA2a: undefined } };
        if (evaluatePlacement(counts, emptyPlacement(W, E), withoutTier).total < none) binding++;
        expect(greedy).toBeLessThanOrEqual(none * (1 + 1e-12));
        expect(greedy).toBeGreaterThanOrEqual(optimum * (1 - 1e-12));
        worst = Math.max(worst, greedy / optimum - 1);
      }
    }
    console.log(`shared tier: worst gap to exhaustive ${(100 * worst).toFixed(2)}%, the tier sets plain EP's A2A in ${binding} of 90 cases`);
    expect(binding).toBeGreaterThan(20);
    expect(worst).toBeLessThanOrEqual(0.05);
  });

  test('a shared tier that sets the A2A makes replicas that keep slots local worth more', () => {
    // Both ranks send the other's expert 6 slots; receivers alone take 6 s, together 12 / 1 s.
    const counts = countMatrix([
      [4, 6],
      [6, 4],
    ]);
    const profile = flatProfile({ ranksPerNode: 2, intraA2a: 1, interA2a: 1, intraTrans: 1, interTrans: 1, secondsPerToken: 0.01 });
    const opts = { bytesPerToken: 1, expertParamBytes: 10, overlap: false } as const;
    expect(plan(counts, perfModel(profile, opts)).replicas).toEqual([[], []]);
    expect(plan(counts, perfModel(withShared(profile, 1), opts)).replicas).toEqual([[1], [0]]);
  });
});

describe('saved profiles with and without the shared tier', () => {
  const base = flatProfile({ ranksPerNode: 2, intraA2a: 1, interA2a: 1, intraTrans: 1, interTrans: 1, secondsPerToken: 1 });

  test('a profile without nodeA2a (saved before the tier existed) loads unchanged', () => {
    const old = JSON.parse(saveProfile(base)) as Record<string, unknown>;
    expect('nodeA2a' in old).toBe(false);
    expect(loadProfile(JSON.stringify(old))).toEqual(base);
  });

  test('nodeA2a round-trips, and a bad one names its field', () => {
    const shared = { ...base, nodeA2a: [{ bytes: 1024, bytesPerSecond: 1e9 }, { bytes: 4096, bytesPerSecond: 2e9 }] };
    expect(loadProfile(saveProfile(shared))).toEqual(shared);
    const bad = (nodeA2a: unknown) => JSON.stringify({ ...base, nodeA2a });
    expect(() => loadProfile(bad([]))).toThrow('Expected non-empty array of points for profile.nodeA2a but received []');
    expect(() => loadProfile(bad({ bytes: 1 }))).toThrow(RangeError);
    expect(() => loadProfile(bad([{ bytes: 1024, bytesPerSecond: 1 }, { bytes: 1024, bytesPerSecond: 2 }]))).toThrow('for profile.nodeA2a[1].bytes but received 1024');
    expect(() => loadProfile(bad([{ bytes: 1024, bytesPerSecond: 0 }]))).toThrow('Expected finite number > 0 for profile.nodeA2a[0].bytesPerSecond but received 0');
    expect(() => loadProfile(bad([null]))).toThrow(TypeError);
  });
});
