import { describe, expect, test } from 'vitest';

import { evaluatePlacement, ONE_NODE, perfModel } from '../../../src/balance/prophet/perfmodel.js';
import { dispatchMatrix, emptyPlacement, replicaBytesPerRank, validatePlacement } from '../../../src/balance/prophet/placement.js';
import { plan, planLayers, releasedExcluded, shouldPlan } from '../../../src/balance/prophet/planner.js';
import { countMatrix, type CountMatrix } from '../../../src/balance/prophet/stats.js';
import { exhaustiveBest } from './exhaustive.js';
import { FIG6, flatProfile, randomModel, skewedCounts, unitModel } from './helpers.js';

describe('paper variant (Algorithm 1)', () => {
  test('Fig. 6: E0 goes to dev1 only (dev2 has no E0 input), then E1 to dev0; E1 repeating ends it', () => {
    expect(releasedExcluded(FIG6)).toBe(1);
    const placement = plan(FIG6, unitModel(), { variant: 'paper', alpha: 0.5 });
    expect(placement.replicas).toEqual([[1], [0], []]);
    // Eq. 6 by hand: 4·1 + 3·4 + 0.4 + 0.4 (vs 27 for plain EP, 19.4 after the first step alone).
    expect(evaluatePlacement(FIG6, placement, unitModel()).total).toBeCloseTo(16.8, 12);
  });

  test('Eq. 7 with the paper α = 3 stops before any move when max H − min H < 3·I/E', () => {
    // I = 9, E = 3: the threshold is 9 and max − min = 5 − 2 = 3.
    expect(plan(FIG6, unitModel(), { variant: 'paper' }).replicas).toEqual([[], [], []]);
  });

  test('the documented example: rank 1 sends expert 0 six slots', () => {
    const counts = countMatrix([
      [4, 0],
      [6, 1],
    ]);
    expect(plan(counts, unitModel(), { variant: 'paper', alpha: 0.5 }).replicas).toEqual([[1], []]);
    expect(plan(counts, unitModel()).replicas).toEqual([[1], []]);
  });

  test('the global n excludes the n lightest senders of the picked expert', () => {
    const counts = countMatrix([
      [9, 0, 0, 0],
      [5, 1, 1, 1],
      [1, 1, 1, 1],
      [3, 1, 1, 1],
    ]);
    const placement = plan(counts, unitModel(), { variant: 'paper', alpha: 0.1, excluded: 1 });
    expect(placement.replicas[0]).toEqual([1, 3]);
    const all = plan(counts, unitModel(), { variant: 'paper', alpha: 0.1, excluded: 0 });
    expect(all.replicas[0]).toEqual([1, 2, 3]);
  });
});

describe('search quality against exhaustive search (same cost model)', () => {
  test('greedy is never worse than plain EP and within a few percent of the optimum', () => {
    const report: string[] = [];
    let worstGap = 0;
    for (const [W, E, sparsity] of [
      [2, 8, 0.2],
      [3, 6, 0.3],
      [4, 4, 0.1],
      [4, 8, 0.6],
    ] as const) {
      let worst = 0;
      let sum = 0;
      let paperWorst = 0;
      for (let seed = 1; seed <= 60; seed++) {
        const counts = skewedCounts(W, E, seed * 31 + W, 256, sparsity);
        const model = randomModel(seed, W);
        const optimum = exhaustiveBest(counts, model).cost;
        const none = evaluatePlacement(counts, emptyPlacement(W, E), model).total;
        const greedy = evaluatePlacement(counts, plan(counts, model), model).total;
        const paper = evaluatePlacement(counts, plan(counts, model, { variant: 'paper' }), model).total;
        expect(greedy).toBeLessThanOrEqual(none);
        expect(paper).toBeLessThanOrEqual(none);
        expect(greedy).toBeGreaterThanOrEqual(optimum * (1 - 1e-12));
        worst = Math.max(worst, greedy / optimum - 1);
        paperWorst = Math.max(paperWorst, paper / optimum - 1);
        sum += greedy / optimum - 1;
      }
      worstGap = Math.max(worstGap, worst);
      report.push(`W=${W} E=${E}: prophet worst ${(100 * worst).toFixed(2)}% mean ${((100 * sum) / 60).toFixed(2)}%, paper worst ${(100 * paperWorst).toFixed(1)}%`);
    }
    console.log(`gap to exhaustive optimum (60 seeds each):\n${report.join('\n')}`);
    expect(worstGap).toBeLessThanOrEqual(0.05);
  });

  test('the Fig. 6 example reaches the exhaustive optimum', () => {
    for (const model of [unitModel(), unitModel(true, 1, 1)]) {
      const best = exhaustiveBest(FIG6, model).cost;
      expect(evaluatePlacement(FIG6, plan(FIG6, model), model).total).toBeCloseTo(best, 12);
    }
  });
});

describe('invariants', () => {
  const cases = Array.from({ length: 24 }, (_, i) => {
    const [W, E] = ([[2, 4], [4, 4], [4, 8], [8, 16]] as const)[i % 4] as readonly [number, number];
    return { counts: skewedCounts(W, E, 100 + i), model: randomModel(100 + i, W) };
  });

  test('valid placements; routing and slots conserved; inputs untouched; deterministic', () => {
    for (const { counts, model } of cases) {
      const before = Array.from(counts.data);
      for (const variant of ['prophet', 'paper'] as const) {
        const a = plan(counts, model, { variant });
        validatePlacement(a, 'plan', counts);
        expect(plan(counts, model, { variant })).toEqual(a);
        // Float64 counts with the same values plan the same.
        const asFloat: CountMatrix = { ...counts, data: Float64Array.from(counts.data) };
        expect(plan(asFloat, model, { variant })).toEqual(a);
        const dispatch = dispatchMatrix(counts, a);
        const W = counts.numRanks;
        for (let src = 0; src < W; src++) {
          const row = dispatch.subarray(src * W, (src + 1) * W).reduce((x, y) => x + y, 0);
          const sent = counts.data.subarray(src * counts.numExperts, (src + 1) * counts.numExperts).reduce((x, y) => x + y, 0);
          expect(row).toBe(sent);
        }
      }
      expect(Array.from(counts.data)).toEqual(before);
    }
  });

  test('replicas respect the per-rank memory budget', () => {
    for (const { counts, model } of cases) {
      const budget = 2 * 1e6 * 1; // one replica (parameters + gradients) per rank
      for (const variant of ['prophet', 'paper'] as const) {
        const p = plan(counts, model, { variant, memoryBudgetBytes: budget, alpha: 0 });
        for (const bytes of replicaBytesPerRank(p, 1e6)) expect(bytes).toBeLessThanOrEqual(budget);
      }
      expect(plan(counts, model, { memoryBudgetBytes: 0 }).replicas.flat()).toEqual([]);
    }
    // Under a budget the greedy is still compared with the best placement that fits.
    const counts = skewedCounts(3, 6, 7);
    const model = randomModel(7, 3);
    const best = exhaustiveBest(counts, model, 2e6).cost;
    const got = evaluatePlacement(counts, plan(counts, model, { memoryBudgetBytes: 2e6 }), model).total;
    expect(got).toBeGreaterThanOrEqual(best * (1 - 1e-12));
    expect(got).toBeLessThanOrEqual(evaluatePlacement(counts, emptyPlacement(3, 6), model).total);
  });

  test('inter-node receivers cost more: with slow inter-node Trans the plan stays on the node', () => {
    // 4 ranks, 2 per node; expert 0 is hot and ranks 1 (same node) and 2 (other node) send it
    // the same number of slots; inter-node Trans is 4000× slower.
    const counts = countMatrix([
      [20, 1, 1, 1],
      [30, 1, 1, 1],
      [30, 1, 1, 1],
      [0, 1, 1, 1],
    ]);
    const model = perfModel(flatProfile({ ranksPerNode: 2, intraA2a: 1e3, interA2a: 1e3, intraTrans: 4, interTrans: 0.001, secondsPerToken: 1 }), {
      bytesPerToken: 1,
      expertParamBytes: 1,
      overlap: false,
    });
    expect(plan(counts, model).replicas[0]).toEqual([1]);
    const flat = perfModel({ ...model.profile, ranksPerNode: ONE_NODE }, { bytesPerToken: 1, expertParamBytes: 1, overlap: false });
    expect(plan(counts, flat).replicas[0]).toEqual([1, 2]);
  });
});

describe('entry points and errors', () => {
  test('planLayers plans each layer; shouldPlan is the frequency', () => {
    const layers = [FIG6, skewedCounts(3, 3, 5)];
    expect(planLayers(layers, unitModel())).toEqual(layers.map((c) => plan(c, unitModel())));
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => shouldPlan(i, 3))).toEqual([true, false, false, true, false, false, true]);
    expect(() => shouldPlan(1, 0)).toThrow('Expected integer >= 1 for every but received 0');
  });

  test('bad options and inputs throw errors naming them', () => {
    const m = unitModel();
    expect(() => plan(FIG6, m, { variant: 'greedy' as never })).toThrow("Expected one of 'prophet', 'paper' for options.variant but received \"greedy\"");
    expect(() => plan(FIG6, m, { alpha: -1 })).toThrow('Expected finite number in [0, Infinity] for options.alpha but received -1');
    expect(() => plan(FIG6, m, { excluded: 3 })).toThrow('Expected integer in [0, 2] for options.excluded but received 3');
    expect(() => plan(FIG6, m, { patience: 0 })).toThrow('Expected integer >= 1 for options.patience but received 0');
    expect(() => plan(FIG6, m, { memoryBudgetBytes: -5 })).toThrow(RangeError);
    expect(() => plan(FIG6, m, { allLocalStart: 1 as never })).toThrow(TypeError);
    expect(() => plan({ numRanks: 2, numExperts: 3, data: new Int32Array(6) }, m)).toThrow(
      'Expected a multiple of numRanks (2) for numExperts but received 3',
    );
    expect(() => plan(FIG6, { ...m, bytesPerToken: -1 })).toThrow('for model.bytesPerToken but received -1');
  });
});
