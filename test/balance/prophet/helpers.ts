/** Shared fixtures for the planner tests: a seeded PRNG, skewed counts, small models. */
import { ONE_NODE, perfModel, type HardwareProfile, type PerfModel } from '../../../src/balance/prophet/perfmodel.js';
import { countMatrix, type CountMatrix } from '../../../src/balance/prophet/stats.js';

/** mulberry32: a tiny seeded PRNG in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Skewed counts: expert popularity ~ 1/(rank+1)^skew in a random order, each rank's share of an
 * expert random, a few zero entries. `tokensPerRank` slots per source rank (rounded).
 */
export function skewedCounts(numRanks: number, numExperts: number, seed: number, tokensPerRank = 256, sparsity = 0.2): CountMatrix {
  const next = rng(seed);
  const order = Array.from({ length: numExperts }, (_, i) => i).sort(() => next() - 0.5);
  const skew = 0.5 + 1.5 * next();
  const popularity = new Float64Array(numExperts);
  order.forEach((e, i) => (popularity[e] = 1 / (i + 1) ** skew));
  const data = new Int32Array(numRanks * numExperts);
  for (let r = 0; r < numRanks; r++) {
    const weights = Array.from(popularity, (p) => (next() < sparsity ? 0 : p * (0.3 + next())));
    const sum = weights.reduce((a, b) => a + b, 0) || 1;
    weights.forEach((w, e) => (data[r * numExperts + e] = Math.round((tokensPerRank * w) / sum)));
  }
  return { numRanks, numExperts, data };
}

/** A profile with flat curves, `ranksPerNode` ranks per node and the given rates. */
export function flatProfile(o: {
  ranksPerNode: number;
  intraA2a: number;
  interA2a: number;
  intraTrans: number;
  interTrans: number;
  secondsPerToken: number;
  fnec?: number;
  bnec?: number;
  tierCombine?: 'max' | 'sum';
}): HardwareProfile {
  return {
    format: 'pro-prophet/hardware-profile',
    version: 1,
    ranksPerNode: o.ranksPerNode,
    intraNode: { a2a: [{ bytes: 1, bytesPerSecond: o.intraA2a }], transBytesPerSecond: o.intraTrans, aggBytesPerSecond: o.intraTrans },
    interNode: { a2a: [{ bytes: 1, bytesPerSecond: o.interA2a }], transBytesPerSecond: o.interTrans, aggBytesPerSecond: o.interTrans },
    tierCombine: o.tierCombine ?? 'max',
    expertSecondsPerToken: o.secondsPerToken,
    fnecSeconds: o.fnec ?? 0,
    bnecSeconds: o.bnec ?? 0,
  };
}

/**
 * A random small model where replicating is sometimes worth it and sometimes not: one expert's
 * parameters cost as much to move as `ratio` tokens' worth of compute, ratio in [2, 200].
 */
export function randomModel(seed: number, numRanks: number): PerfModel {
  const next = rng(seed * 7919 + 13);
  const secondsPerToken = 1e-6;
  const bytesPerToken = 4096;
  const expertParamBytes = 1e6;
  const ratio = 2 + 198 * next();
  // Trans of one replica costs share/B = (P / W) / B seconds = ratio × secondsPerToken.
  const intraTrans = expertParamBytes / numRanks / (ratio * secondsPerToken);
  const twoTier = next() < 0.5;
  const profile = flatProfile({
    ranksPerNode: twoTier ? Math.max(1, Math.floor(numRanks / 2)) : 1 << 20,
    intraA2a: bytesPerToken / (secondsPerToken * (0.2 + next())),
    interA2a: bytesPerToken / (secondsPerToken * (0.5 + 3 * next())),
    intraTrans,
    interTrans: intraTrans / (1 + 4 * next()),
    secondsPerToken,
    fnec: next() < 0.5 ? 0 : 20 * secondsPerToken * next(),
    bnec: next() < 0.5 ? 0 : 40 * secondsPerToken * next(),
    tierCombine: next() < 0.5 ? 'max' : 'sum',
  });
  return perfModel(profile, { bytesPerToken, expertParamBytes, overlap: next() < 0.5 });
}

// The Fig. 6 situation (3 devices, expert e at home on device e, loads E0 = 5, E1 = 2, E2 = 2,
// device 2 sends nothing to E0), priced with unit rates so every term is countable by hand:
// 1 byte per token at 1 byte/s (A2A seconds = slots), 1 s per slot of compute, experts of 0.3 B
// moved at 1 B/s.
export const FIG6 = countMatrix([
  [2, 1, 0],
  [3, 1, 1],
  [0, 0, 1],
]);
export const unitModel = (overlap = false, fnec = 0, bnec = 0): PerfModel =>
  perfModel(
    flatProfile({ ranksPerNode: ONE_NODE, intraA2a: 1, interA2a: 1, intraTrans: 1, interTrans: 1, secondsPerToken: 1, fnec, bnec }),
    { bytesPerToken: 1, expertParamBytes: 0.3, overlap },
  );

