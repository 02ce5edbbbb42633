import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { buildIteration, overlapReport, simulate, type BlockCosts, type OverlapMode } from '../../../src/balance/prophet/scheduler.js';

const cost = fc.double({ min: 0, max: 10, noNaN: true });
const block = fc.record({ fnec: cost, bnec: cost, fec: cost, bec: cost, a2a: cost, trans: cost, agg: cost });
const modes: OverlapMode[] = ['none', 'paper', 'adaptive'];

describe('block scheduler', () => {
  it('respects every dependency, runs each stream in order, and keeps Trans/Agg inside the iteration', () => {
    fc.assert(
      fc.property(fc.array(block, { minLength: 1, maxLength: 6 }), fc.constantFrom(...modes), (costs, overlap) => {
        const ops = buildIteration(costs, { overlap });
        const times = simulate(ops);
        const at = (id: string) => times.get(id)!;
        for (const op of ops) for (const dep of op.deps) expect(at(op.id).start).toBeGreaterThanOrEqual(at(dep).end);
        // One op at a time per stream, in issue order.
        for (const stream of ['compute', 'a2a', 'transfer'] as const) {
          const mine = ops.filter((o) => o.stream === stream).map((o) => at(o.id));
          mine.slice(1).forEach((t, i) => expect(t.start).toBeGreaterThanOrEqual(mine[i]!.end));
        }
        const step = at('STEP');
        costs.forEach((_, i) => {
          // Replicas compute only after their parameters arrived; gradients are home before the step.
          expect(at(`FEC:${i}`).start).toBeGreaterThanOrEqual(at(`TRANS:${i}:b`).end);
          expect(at(`AGG:${i}:a`).start).toBeGreaterThanOrEqual(at(`BEC:${i}`).end);
          expect(step.start).toBeGreaterThanOrEqual(at(`AGG:${i}:b`).end);
          expect(at(`TRANS:${i}:a`).start).toBeGreaterThanOrEqual(0);
        });
        // Every op belongs to this iteration: nothing after the step.
        for (const op of ops) expect(at(op.id).end).toBeLessThanOrEqual(step.end);
      }),
      { numRuns: 300 },
    );
  });

  it('exposes exactly Eq. 8\'s max(0, Trans − FEC − FNEC) of a block\'s Trans (planner–scheduler coupling)', () => {
    fc.assert(
      fc.property(cost, cost, cost, fc.constantFrom<OverlapMode>('paper', 'adaptive'), (fnec, fec, trans, overlap) => {
        const zero = { fnec: 0, bnec: 0, fec: 0, bec: 0, a2a: 0, trans: 0, agg: 0 };
        const costs: BlockCosts[] = [{ ...zero, fnec, fec }, { ...zero, trans }];
        const withTrans = simulate(buildIteration(costs, { overlap })).get('STEP')!.end;
        const without = simulate(buildIteration([costs[0]!, zero], { overlap })).get('STEP')!.end;
        expect(withTrans - without).toBeCloseTo(Math.max(0, trans - fec - fnec), 9);
      }),
      { numRuns: 300 },
    );
  });

  it('hides all of Trans and Agg when the neighbouring compute is long enough, and none without overlap', () => {
    const blockCosts: BlockCosts = { fnec: 4, bnec: 8, fec: 3, bec: 6, a2a: 1, trans: 2, agg: 2 };
    const costs = [blockCosts, blockCosts, blockCosts];
    // Block 0's Trans hides behind FNEC(0) and its Agg behind BNEC(0); the others behind block
    // i-1's compute: every window (>= 3 s) is longer than the 2 s transfers.
    expect(overlapReport(costs, { overlap: 'adaptive' }).hiddenFraction).toBeCloseTo(1, 9);
    expect(overlapReport(costs, { overlap: 'none' }).hiddenFraction).toBeCloseTo(0, 9);
    const adaptive = overlapReport(costs, { overlap: 'adaptive' }).seconds;
    const none = overlapReport(costs, { overlap: 'none' }).seconds;
    expect(none - adaptive).toBeCloseTo(12, 9); // all 12 s of Trans and Agg
  });

  it('names bad costs', () => {
    expect(() => buildIteration([])).toThrow(TypeError);
    expect(() => buildIteration([{ fnec: -1, bnec: 0, fec: 0, bec: 0, a2a: 0, trans: 0, agg: 0 }])).toThrow(
      new RangeError('Expected finite number in [0, Infinity] for costs[0].fnec but received -1 of type number'),
    );
  });
});
