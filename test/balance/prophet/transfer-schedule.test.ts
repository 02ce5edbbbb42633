import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { perfModel, transAggSeconds } from '../../../src/balance/prophet/perfmodel.js';
import { emptyPlacement, type Placement } from '../../../src/balance/prophet/placement.js';
import { buildIteration, simulate, type BlockCosts, type OverlapMode } from '../../../src/balance/prophet/scheduler.js';
import { DEFAULT_OVERLAP_COSTS, overlapPays, splitExperts, transferSchedule, type OverlapCosts, type SplitMode } from '../../../src/balance/prophet/transfer-schedule.js';
import { skewedCounts } from './helpers.js';

// Uniform in value (fc.double is uniform over the representable doubles, mostly tiny ones).
const uniform = (max: number) => fc.integer({ min: 0, max: 1000 }).map((k) => (k / 1000) * max);
const cost = uniform(10);
const zero: BlockCosts = { fnec: 0, bnec: 0, fec: 0, bec: 0, a2a: 0, trans: 0, agg: 0 };
const overlapCosts = fc.record({ syncSeconds: uniform(2), interference: uniform(1) });
const sum = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0);

describe('splitting a block\'s transfer into parts of whole experts', () => {
  it('is the simulator\'s split of the same seconds, rounded down to whole experts (both modes)', () => {
    fc.assert(
      fc.property(fc.array(uniform(3).map((x) => x + 0.01), { maxLength: 8 }), cost, cost, fc.constantFrom<SplitMode>('paper', 'adaptive'), (seconds, fnec, fec, mode) => {
        const experts = seconds.map((_, i) => 2 * i + 1);
        const { a, b } = splitExperts(experts, seconds, { a: fnec, b: fec }, mode);
        // Reference: the graph of scheduler.ts prices block 1's Trans beside block 0's FNEC and FEC.
        const ops = buildIteration([{ ...zero, fnec, fec }, { ...zero, trans: sum(seconds) }], { overlap: mode as OverlapMode });
        const floatA = ops.find((o) => o.id === 'TRANS:1:a')!.seconds;
        expect([...a, ...b]).toEqual(experts);
        const secondsA = sum(seconds.slice(0, a.length));
        expect(secondsA).toBeLessThanOrEqual(floatA + 1e-9);
        // Maximal: the next expert would not fit in part a's share.
        if (b.length > 0) expect(secondsA + seconds[a.length]!).toBeGreaterThan(floatA - 1e-9);
      }),
      { numRuns: 300 },
    );
  });

  it('matches the documented example', () => {
    const e = [4, 5, 6];
    const s = [1, 1, 1];
    expect(splitExperts(e, s, { a: 2, b: 1 }, 'paper')).toEqual({ a: [4, 5], b: [6] });
    expect(splitExperts(e, s, { a: 2, b: 1 }, 'adaptive')).toEqual({ a: [4, 5], b: [6] });
    expect(splitExperts(e, s, { a: 0, b: 2 }, 'paper')).toEqual({ a: [], b: [4, 5, 6] });
    expect(splitExperts(e, s, { a: 0, b: 2 }, 'adaptive')).toEqual({ a: [4], b: [5, 6] });
    expect(splitExperts(e, s, { a: 1, b: 0 }, 'paper')).toEqual({ a: [4], b: [5, 6] });
    expect(splitExperts(e, s, { a: 1, b: 0 }, 'adaptive')).toEqual({ a: [4, 5, 6], b: [] });
  });
});

describe('the fallback rule (overlap only where it delays the critical path less than in line)', () => {
  // Reference: simulate block 1's transfer both ways in the iteration graph and price the
  // overlapped one with the costs of overlapping: a hand-off per non-empty part, and interference
  // on the part of the transfer the simulation shows hidden.
  const simulated = (costs: BlockCosts[], mode: OverlapMode) => simulate(buildIteration(costs, { overlap: mode })).get('STEP')!.end;
  const reference = (block0: BlockCosts, block1: BlockCosts, transfer: number, mode: OverlapMode, c: OverlapCosts) => {
    const withoutTransfer = [block0, { ...block1, trans: 0, agg: 0 }];
    const inLine = simulated([block0, block1], 'none') - simulated(withoutTransfer, 'none');
    const exposed = simulated([block0, block1], mode) - simulated(withoutTransfer, mode);
    const numParts = buildIteration([block0, block1], { overlap: mode }).filter((o) => o.block === 1 && (o.kind === 'TRANS' || o.kind === 'AGG') && o.seconds > 0).length;
    const overlapped = exposed + c.interference * (transfer - exposed) + c.syncSeconds * numParts;
    return { inLine, overlapped, numParts };
  };

  it('agrees with the simulated critical path for Trans (window FNEC + FEC of the block before)', () => {
    fc.assert(
      fc.property(cost, cost, cost, fc.constantFrom<OverlapMode>('paper', 'adaptive'), overlapCosts, (fnec, fec, trans, mode, c) => {
        const r = reference({ ...zero, fnec, fec }, { ...zero, trans }, trans, mode, c);
        fc.pre(Math.abs(r.overlapped - r.inLine) > 1e-9); // ties may go either way
        expect(overlapPays(trans, fnec + fec, r.numParts, c)).toBe(r.overlapped < r.inLine);
      }),
      { numRuns: 500 },
    );
  });

  it('agrees with the simulated critical path for Agg (window BNEC + BEC of the block before)', () => {
    fc.assert(
      fc.property(cost, cost, cost, fc.constantFrom<OverlapMode>('paper', 'adaptive'), overlapCosts, (bnec, bec, agg, mode, c) => {
        const r = reference({ ...zero, bec }, { ...zero, bnec, agg }, agg, mode, c);
        fc.pre(Math.abs(r.overlapped - r.inLine) > 1e-9);
        expect(overlapPays(agg, bnec + bec, r.numParts, c)).toBe(r.overlapped < r.inLine);
      }),
      { numRuns: 500 },
    );
  });
});

describe('transferSchedule (counts, placements, model → parts per block)', () => {
  const model = perfModel(undefined, { dModel: 256, dHidden: 1024 });
  const placement = (replicas: number[][]): Placement => ({ ...emptyPlacement(2, 4), replicas });

  it('covers exactly the replicated experts, ascending, in every block and both modes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.constantFrom<SplitMode>('paper', 'adaptive'), uniform(1), (seed, split, interference) => {
        const counts = [skewedCounts(2, 4, seed), skewedCounts(2, 4, seed + 1)];
        const placements = [placement([[1], [], [0], [0]]), placement([[], [1], [], []])];
        const schedule = transferSchedule(counts, placements, model, { split, interference });
        expect(schedule.map((s) => [...s.trans.a, ...s.trans.b])).toEqual([[0, 2, 3], [1]]);
        expect(schedule.map((s) => [...s.agg.a, ...s.agg.b])).toEqual([[0, 2, 3], [1]]);
        for (const s of schedule) for (const p of [s.trans, s.agg]) if (p.inline) expect(p.b).toEqual([]);
      }),
      { numRuns: 50 },
    );
  });

  it('splits by the profile\'s windows, and falls back in line where overlap cannot pay', () => {
    const counts = [skewedCounts(2, 4, 3), skewedCounts(2, 4, 4)];
    const placements = [placement([[1], [], [], []]), placement([[1], [], [0], []])];
    const one = transAggSeconds(model, placement([[1], [], [], []])).trans; // one expert's Trans
    const profile = { ...model.profile, fnecSeconds: 1.5 * one, bnecSeconds: 1.5 * one };
    const tight = { ...model, profile };
    // 'paper': FNEC hides one expert's Trans: block 1 sends expert 0 in part a, 2 in part b.
    const paper = transferSchedule(counts, placements, tight, { split: 'paper', syncSeconds: 0 });
    expect(paper[1]!.trans).toEqual({ inline: false, a: [0], b: [2] });
    // Interference 1 loses all hidden time: every block in line, all experts in part a.
    const lost = transferSchedule(counts, placements, tight, { interference: 1 });
    expect(lost.map((s) => [s.trans, s.agg])).toEqual([
      [{ inline: true, a: [0], b: [] }, { inline: true, a: [0], b: [] }],
      [{ inline: true, a: [0, 2], b: [] }, { inline: true, a: [0, 2], b: [] }],
    ]);
    // A hand-off costlier than the whole transfer: in line as well.
    expect(transferSchedule(counts, placements, tight, { syncSeconds: 10 * one })[1]!.trans.inline).toBe(true);
  });

  it('prices with the profile\'s calibrated overlap costs unless the options give their own', () => {
    const counts = [skewedCounts(2, 4, 3), skewedCounts(2, 4, 4)];
    const placements = [placement([[1], [], [], []]), placement([[1], [], [0], []])];
    const one = transAggSeconds(model, placement([[1], [], [], []])).trans;
    const base = { ...model.profile, fnecSeconds: 1.5 * one, bnecSeconds: 1.5 * one };
    const calibrated = (overlap: OverlapCosts) => ({ ...model, profile: { ...base, overlap } });
    const plain = { ...model, profile: base };
    fc.assert(
      fc.property(overlapCosts, fc.constantFrom<SplitMode>('paper', 'adaptive'), (c, split) => {
        // Reference: the same costs passed explicitly to a profile without them.
        expect(transferSchedule(counts, placements, calibrated(c), { split })).toEqual(transferSchedule(counts, placements, plain, { split, ...c }));
      }),
      { numRuns: 100 },
    );
    // By hand: block 1's Trans (experts 0 and 2, T = 2·one) beside FNEC + FEC(0) ≥ 1.5·one hides
    // at least 1.5·one; interference 1 loses all of it (the hand-off on top), so it runs in line.
    const cpu = calibrated({ syncSeconds: 0, interference: 1 });
    expect(transferSchedule(counts, placements, cpu)[1]!.trans).toEqual({ inline: true, a: [0, 2], b: [] });
    // Explicit options win, each on its own: interference 0 given, the profile's sync 0 kept.
    expect(transferSchedule(counts, placements, cpu, { interference: 0 })).toEqual(transferSchedule(counts, placements, plain, { interference: 0, syncSeconds: 0 }));
    expect(transferSchedule(counts, placements, cpu, { interference: 0 })[1]!.trans.inline).toBe(false);
    // A profile without overlap costs: DEFAULT_OVERLAP_COSTS.
    expect(transferSchedule(counts, placements, plain)).toEqual(transferSchedule(counts, placements, plain, DEFAULT_OVERLAP_COSTS));
  });

  it('names bad arguments', () => {
    const counts = [skewedCounts(2, 4, 1)];
    const placements = [placement([[1], [], [], []])];
    expect(() => transferSchedule(counts, [], model)).toThrow(TypeError);
    expect(() => transferSchedule(counts, placements, model, { split: 'eager' as SplitMode })).toThrow(/options\.split/);
    expect(() => transferSchedule(counts, placements, model, { interference: 2 })).toThrow(
      new RangeError('Expected finite number in [0, 1] for options.interference but received 2 of type number'),
    );
    expect(() => transferSchedule(counts, placements, model, { syncSeconds: -1 })).toThrow(RangeError);
  });
});
