import { describe, expect, test } from 'vitest';

import { noBalancePolicy, prophetPolicy } from '../../../src/balance/policy.js';
import { emptyPlacement } from '../../../src/balance/prophet/placement.js';
import { plan } from '../../../src/balance/prophet/planner.js';
import { predict } from '../../../src/balance/prophet/predictor.js';
import { countMatrix, emptyHistory, pushHistory, toRows } from '../../../src/balance/prophet/stats.js';
import { FIG6, unitModel } from './helpers.js';

describe('predictor', () => {
  const h = [countMatrix([[2]]), countMatrix([[4]]), countMatrix([[8]])];

  test('last value returns the newest counts', () => {
    expect(toRows(predict(h))).toEqual([[8]]);
    expect(toRows(predict(h, { kind: 'last' }))).toEqual([[8]]);
  });

  test('EMA: m = x0, then m = w·x + (1 − w)·m', () => {
    expect(toRows(predict(h.slice(0, 2), { kind: 'ema', weight: 0.5 }))).toEqual([[3]]);
    expect(toRows(predict(h, { kind: 'ema', weight: 0.5 }))).toEqual([[5.5]]);
    expect(toRows(predict(h, { kind: 'ema', weight: 1 }))).toEqual([[8]]);
  });

  test('errors name the argument', () => {
    expect(() => predict([])).toThrow('Expected at least one iteration for history');
    expect(() => predict(h, { kind: 'ema', weight: 0 })).toThrow('Expected finite number in (0, 1] for predictor.weight but received 0');
    expect(() => predict(h, { kind: 'median' as never })).toThrow("Expected one of 'last', 'ema' for predictor.kind");
    expect(() => predict([h[0] as never, countMatrix([[1, 2]])])).toThrow('Expected shape [1][1] for history[1]');
  });
});

describe('balance policies', () => {
  const shape = { numLayers: 2, numRanks: 3, numExperts: 3 };

  test('none is plain expert parallelism', () => {
    const history = pushHistory(emptyHistory(4), [FIG6, FIG6]);
    expect(noBalancePolicy.plan({ iteration: 1, history }, unitModel(), shape)).toEqual([emptyPlacement(3, 3), emptyPlacement(3, 3)]);
  });

  test('prophet predicts each layer from its history, then plans; every `every` iterations', () => {
    const other = countMatrix([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 7],
    ]);
    const history = pushHistory(pushHistory(emptyHistory(4), [other, other]), [FIG6, other]);
    const policy = prophetPolicy({ every: 2 });
    expect(policy.name).toBe('prophet');
    expect(policy.shouldPlan(4)).toBe(true);
    expect(policy.shouldPlan(5)).toBe(false);
    const placements = policy.plan({ iteration: 4, history }, unitModel(), shape);
    expect(placements).toEqual([plan(FIG6, unitModel()), plan(other, unitModel())]);
    expect(policy.plan({ iteration: 0, history: emptyHistory(2) }, unitModel(), shape)).toEqual([emptyPlacement(3, 3), emptyPlacement(3, 3)]);
    expect(() => prophetPolicy({ every: 0 })).toThrow('Expected integer >= 1 for options.every but received 0');
  });
});
