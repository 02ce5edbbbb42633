import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { planExchange } from '../../src/moe/exchange.js';

describe('planExchange', () => {
  it('matches the documented example', () => {
    const counts = [1, 2, 3, 0, 4, 0, 5, 6];
    const plan = planExchange(counts, 2, 1);
    expect(Array.from(plan.sendRowsPerRank)).toEqual([4, 11]);
    expect(Array.from(plan.recvRowsPerRank)).toEqual([3, 11]);
    expect(Array.from(plan.rowsPerLocalExpert)).toEqual([8, 6]);
    expect(plan.blocks).toEqual([
      { rankMajorRow: 0, expertMajorRow: 0, numRows: 3 },
      { rankMajorRow: 3, expertMajorRow: 3, numRows: 5 },
      { rankMajorRow: 8, expertMajorRow: 8, numRows: 6 },
    ]);
  });

  it('conserves rows: what p sends to q is what q receives from p, and blocks tile both layouts', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.infiniteStream(fc.integer({ min: 0, max: 6 })),
        (numRanks, expertsPerRank, stream) => {
          const numExperts = numRanks * expertsPerRank;
          const counts = Array.from(stream.take(numRanks * numExperts));
          const plans = Array.from({ length: numRanks }, (_, r) => planExchange(counts, numRanks, r));
          for (const p of plans) {
            for (const q of plans) expect(p.sendRowsPerRank[q.rank]).toBe(q.recvRowsPerRank[p.rank]);
            // Independent reference: a row-by-row simulation of both layouts.
            const rankMajor: string[] = [];
            for (let src = 0; src < numRanks; src++) {
              for (let j = 0; j < expertsPerRank; j++) {
                const n = counts[src * numExperts + p.rank * expertsPerRank + j] ?? 0;
                for (let i = 0; i < n; i++) rankMajor.push(`${j}:${src}:${i}`);
              }
            }
            const expertMajor = [...rankMajor].sort((a, b) => {
              const [ja, sa, ia] = a.split(':').map(Number) as [number, number, number];
              const [jb, sb, ib] = b.split(':').map(Number) as [number, number, number];
              return ja - jb || sa - sb || ia - ib;
            });
            const regrouped: string[] = new Array(rankMajor.length);
            for (const b of p.blocks) {
              for (let i = 0; i < b.numRows; i++) regrouped[b.expertMajorRow + i] = rankMajor[b.rankMajorRow + i]!;
            }
            expect(regrouped).toEqual(expertMajor);
            expect(p.numRecvRows).toBe(rankMajor.length);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses counts that do not split over the ranks', () => {
    expect(() => planExchange([1, 2, 3], 2, 0)).toThrow(RangeError);
    expect(() => planExchange([1, 2, 3, 4], 2, 2)).toThrow(
      new RangeError('Expected integer in [0, 1] for rank but received 2 of type number'),
    );
  });
});
