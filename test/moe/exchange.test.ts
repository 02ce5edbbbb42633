import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { Placement } from '../../src/balance/prophet/placement.js';
import { planExchange } from '../../src/moe/exchange.js';

/** An arbitrary placement: each expert replicated on a random subset of the other ranks. */
const placementArb = (numRanks: number, numExperts: number) =>
  fc
    .array(fc.array(fc.boolean(), { minLength: numRanks, maxLength: numRanks }), { minLength: numExperts, maxLength: numExperts })
    .map((masks): Placement => {
      const home = (e: number) => Math.floor(e / (numExperts / numRanks));
      return { numRanks, numExperts, replicas: masks.map((m, e) => m.flatMap((on, r) => (on && r !== home(e) ? [r] : []))) };
    });

describe('planExchange', () => {
  it('matches the documented example, without and with a replica', () => {
    const counts = [1, 2, 3, 0, 4, 0, 5, 6];
    const plain = planExchange(counts, 2, 1);
    expect(Array.from(plain.sendRowsPerRank)).toEqual([4, 11]);
    expect(Array.from(plain.recvRowsPerRank)).toEqual([3, 11]);
    expect(Array.from(plain.rowsPerLocalExpert)).toEqual([8, 6]);
    expect(plain.blocks).toEqual([
      { rankMajorRow: 0, group: 'home', groupRow: 0, numRows: 3 },
      { rankMajorRow: 3, group: 'home', groupRow: 3, numRows: 5 },
      { rankMajorRow: 8, group: 'home', groupRow: 8, numRows: 6 },
    ]);
    const placement = { numRanks: 2, numExperts: 4, replicas: [[], [], [0], []] };
    expect(Array.from(planExchange(counts, 2, 1, placement).recvRowsPerRank)).toEqual([0, 11]);
    const zero = planExchange(counts, 2, 0, placement);
    expect(zero.replicaExperts).toEqual([2]);
    expect(Array.from(zero.rowsPerReplica)).toEqual([3]);
    expect(Array.from(zero.sendRowsPerRank)).toEqual([6, 0]); // experts 0, 1 and the replica of 2
    expect(Array.from(zero.rowOffsetPerExpert)).toEqual([0, 1, 3, 6]);
  });

  it('computes every slot exactly once, on its rank or its expert\'s home, for any placement', () => {
    const setup = fc
      .record({ numRanks: fc.integer({ min: 1, max: 4 }), expertsPerRank: fc.integer({ min: 1, max: 3 }) })
      .chain(({ numRanks, expertsPerRank }) =>
        fc.record({
          numRanks: fc.constant(numRanks),
          numExperts: fc.constant(numRanks * expertsPerRank),
          counts: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: numRanks * numRanks * expertsPerRank, maxLength: numRanks * numRanks * expertsPerRank }),
          placement: placementArb(numRanks, numRanks * expertsPerRank),
        }),
      );
    fc.assert(
      fc.property(setup, ({ numRanks, numExperts, counts, placement }) => {
        const plans = Array.from({ length: numRanks }, (_, r) => planExchange(counts, numRanks, r, placement));
        const home = (e: number) => Math.floor(e / (numExperts / numRanks));
        // Reference: slot (src, e, i) is computed where src hosts e, else at home(e).
        const computedAt = new Map<string, number>();
        for (let src = 0; src < numRanks; src++) {
          for (let e = 0; e < numExperts; e++) {
            const at = home(e) === src || placement.replicas[e]!.includes(src) ? src : home(e);
            for (let i = 0; i < counts[src * numExperts + e]!; i++) computedAt.set(`${src}:${e}:${i}`, at);
          }
        }
        const seen = new Map<string, number>();
        for (const plan of plans) {
          for (const q of plans) expect(plan.sendRowsPerRank[q.rank]).toBe(q.recvRowsPerRank[plan.rank]);
          // Simulate: each source's send buffer, laid out by rowOffsetPerExpert, then the blocks.
          const rankMajor: string[] = [];
          for (let src = 0; src < numRanks; src++) {
            const sender = plans[src]!;
            const slots: string[] = [];
            for (let e = 0; e < numExperts; e++) {
              for (let i = 0; i < counts[src * numExperts + e]!; i++) slots[sender.rowOffsetPerExpert[e]! + i] = `${src}:${e}:${i}`;
            }
            const start = Array.from(sender.sendRowsPerRank.subarray(0, plan.rank)).reduce((a, b) => a + b, 0);
            rankMajor.push(...slots.slice(start, start + sender.sendRowsPerRank[plan.rank]!));
          }
          expect(rankMajor.length).toBe(plan.numRecvRows);
          const groups = { home: new Array<string>(plan.numHomeRows), replica: new Array<string>(plan.numReplicaRows) };
          for (const b of plan.blocks) for (let i = 0; i < b.numRows; i++) groups[b.group][b.groupRow + i] = rankMajor[b.rankMajorRow + i]!;
          for (const slot of [...groups.home, ...groups.replica]) {
            expect(slot).toBeDefined();
            expect(computedAt.get(slot!)).toBe(plan.rank);
            seen.set(slot!, (seen.get(slot!) ?? 0) + 1);
          }
          // Home group is expert-major with per-expert counts as announced.
          const firstHome = plan.rank * plan.expertsPerRank;
          const experts = groups.home.map((s) => Number(s!.split(':')[1]) - firstHome);
          expect(experts).toEqual([...experts].sort((a, b) => a - b));
          plan.rowsPerLocalExpert.forEach((n, j) => expect(experts.filter((x) => x === j).length).toBe(n));
          plan.replicaExperts.forEach((e, i) => expect(plan.rowsPerReplica[i]).toBe(counts[plan.rank * numExperts + e]));
        }
        expect(seen.size).toBe(computedAt.size);
        for (const n of seen.values()) expect(n).toBe(1);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses counts that do not split over the ranks, and bad placements', () => {
    expect(() => planExchange([1, 2, 3], 2, 0)).toThrow(RangeError);
    expect(() => planExchange([1, 2, 3, 4], 2, 2)).toThrow(
      new RangeError('Expected integer in [0, 1] for rank but received 2 of type number'),
    );
    expect(() => planExchange([1, 2, 3, 4], 2, 0, { numRanks: 2, numExperts: 2, replicas: [[0], []] })).toThrow(/home rank 0/);
  });
});
