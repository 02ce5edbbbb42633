import { describe, expect, test } from 'vitest';

import {
  dispatchMatrix,
  emptyPlacement,
  homeRank,
  hostMask,
  numReplicas,
  rankLoads,
  replicaBytesPerRank,
  validatePlacement,
  type Placement,
} from '../../../src/balance/prophet/placement.js';
import { countMatrix } from '../../../src/balance/prophet/stats.js';
import { rng, skewedCounts } from './helpers.js';

describe('placement', () => {
  test('homes follow floor(e / expertsPerRank)', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((e) => homeRank(e, 4, 8))).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    expect(() => emptyPlacement(3, 4)).toThrow('Expected a multiple of numRanks (3) for numExperts but received 4');
  });

  test('the documented example: expert 0 replicated on rank 1', () => {
    const counts = countMatrix([
      [2, 0],
      [3, 1],
    ]);
    const placement: Placement = { numRanks: 2, numExperts: 2, replicas: [[1], []] };
    expect(Array.from(dispatchMatrix(counts, placement))).toEqual([2, 0, 0, 4]);
    const { computed, received } = rankLoads(counts, placement);
    expect(Array.from(computed)).toEqual([2, 4]);
    expect(Array.from(received)).toEqual([0, 0]);
    const ep = rankLoads(counts, emptyPlacement(2, 2));
    expect(Array.from(ep.computed)).toEqual([5, 1]);
    expect(Array.from(ep.received)).toEqual([3, 0]);
  });

  test('validation names what is wrong', () => {
    const ok: Placement = { numRanks: 2, numExperts: 4, replicas: [[1], [], [0], []] };
    expect(validatePlacement(ok)).toBe(ok);
    expect(() => validatePlacement({ ...ok, replicas: [[0], [], [], []] })).toThrow(
      'Expected a rank other than the home rank 0 for placement.replicas[0][0] but received 0',
    );
    expect(() => validatePlacement({ ...ok, replicas: [[1, 1], [], [], []] })).toThrow(
      'Expected a rank > 1 (strictly ascending) for placement.replicas[0][1] but received 1',
    );
    expect(() => validatePlacement({ ...ok, replicas: [[2], [], [], []] })).toThrow('Expected integer in [0, 1] for placement.replicas[0][0] but received 2');
    expect(() => validatePlacement({ ...ok, replicas: [[]] })).toThrow('Expected 4 for placement.replicas.length but received 1');
    expect(() => validatePlacement({ ...ok, replicas: [[1], [], 'x' as never, []] })).toThrow(TypeError);
    expect(() => validatePlacement(ok, 'p', { numRanks: 4, numExperts: 4 })).toThrow('Expected 4 for p.numRanks but received 2');
    expect(() => validatePlacement(null as never)).toThrow('Expected Placement for placement but received null');
  });

  test('is plain data: JSON round-trips to an equal, valid placement', () => {
    const p: Placement = { numRanks: 4, numExperts: 8, replicas: [[1, 3], [], [], [0], [], [], [], [0, 1, 2]] };
    const copy = JSON.parse(JSON.stringify(p)) as Placement;
    expect(copy).toEqual(p);
    expect(validatePlacement(copy)).toEqual(p);
    expect(numReplicas(p)).toBe(6);
  });

  test('conservation for random placements: every slot computed exactly once, on a host', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const next = rng(seed);
      const [W, E] = [[2, 4], [3, 6], [4, 4], [4, 8]][seed % 4] as [number, number];
      const counts = skewedCounts(W, E, seed);
      const replicas = Array.from({ length: E }, (_, e) =>
        Array.from({ length: W }, (_, r) => r).filter((r) => r !== homeRank(e, W, E) && next() < 0.4),
      );
      const placement = validatePlacement({ numRanks: W, numExperts: E, replicas });
      const dispatch = dispatchMatrix(counts, placement);
      const hosts = hostMask(placement);
      let total = 0;
      for (let src = 0; src < W; src++) {
        let row = 0;
        for (let dst = 0; dst < W; dst++) row += dispatch[src * W + dst] ?? 0;
        let sent = 0;
        for (let e = 0; e < E; e++) sent += counts.data[src * E + e] ?? 0;
        expect(row).toBe(sent);
        total += row;
      }
      // Slots go only to a host of their expert: src when it hosts e, else home(e).
      for (let src = 0; src < W; src++) {
        for (let e = 0; e < E; e++) {
          const dst = hosts[e * W + src] === 1 ? src : homeRank(e, W, E);
          expect(hosts[e * W + dst]).toBe(1);
        }
      }
      const { computed } = rankLoads(counts, placement);
      expect(computed.reduce((a, b) => a + b, 0)).toBe(total);
    }
  });

  test('replica memory counts parameters and gradients per hosted replica', () => {
    const p: Placement = { numRanks: 2, numExperts: 4, replicas: [[1], [1], [0], []] };
    expect(Array.from(replicaBytesPerRank(p, 100))).toEqual([200, 400]);
    expect(Array.from(replicaBytesPerRank(p, [10, 20, 30, 40]))).toEqual([60, 60]);
  });
});
