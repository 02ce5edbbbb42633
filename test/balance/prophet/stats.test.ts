import { describe, expect, test } from 'vitest';

import {
  balanceDegree,
  balanceRatio,
  cosineSimilarity,
  countMatrix,
  emptyHistory,
  expertLoads,
  expertMaxViolation,
  layerHistory,
  locality,
  maxOverMean,
  pushHistory,
  toRows,
  topK,
  topKOverlap,
  totalSlots,
  validateCountMatrix,
} from '../../../src/balance/prophet/stats.js';

describe('count matrix', () => {
  test('rows round-trip through the flat Int32Array layout', () => {
    const m = countMatrix([
      [2, 0],
      [3, 1],
    ]);
    expect(m.numRanks).toBe(2);
    expect(m.numExperts).toBe(2);
    expect(Array.from(m.data)).toEqual([2, 0, 3, 1]);
    expect(toRows(m)).toEqual([
      [2, 0],
      [3, 1],
    ]);
    expect(Array.from(expertLoads(m))).toEqual([5, 1]);
    expect(totalSlots(m)).toBe(6);
  });

  test('bad counts throw errors naming the entry', () => {
    expect(() => countMatrix([[1, -1]])).toThrow('Expected integer in [0, 2147483647] for rows[0][1] but received -1 of type number');
    expect(() => countMatrix([[1, 2], [3]])).toThrow(RangeError);
    expect(() => countMatrix([[1, 2], [3]])).toThrow('for rows[1]');
    expect(() => countMatrix([])).toThrow('Expected at least one row for rows');
    expect(() => validateCountMatrix({ numRanks: 1, numExperts: 2, data: new Float64Array([1, NaN]) })).toThrow(
      'Expected finite number >= 0 for counts[0][1] but received NaN',
    );
    expect(() => validateCountMatrix({ numRanks: 2, numExperts: 2, data: new Int32Array(3) })).toThrow(
      'Expected 4 for counts.data.length but received 3',
    );
  });
});

describe('history', () => {
  const a = countMatrix([[1, 0]]);
  const b = countMatrix([[2, 0]]);
  const c = countMatrix([[3, 0]]);

  test('is a bounded ring buffer that never mutates its input', () => {
    const h0 = emptyHistory(2);
    const h1 = pushHistory(h0, [a]);
    const h2 = pushHistory(h1, [b]);
    const h3 = pushHistory(h2, [c]);
    expect(h0.iterations).toHaveLength(0);
    expect(h1.iterations).toHaveLength(1);
    expect(h3.iterations).toHaveLength(2);
    expect(layerHistory(h3, 0)).toEqual([b, c]);
    expect(layerHistory(h2, 0)).toEqual([a, b]);
  });

  test('rejects a change of layer count or shape, and a zero capacity', () => {
    const h = pushHistory(emptyHistory(3), [a]);
    expect(() => pushHistory(h, [a, a])).toThrow('Expected 1 (the history\'s layer count) for layers.length but received 2');
    expect(() => pushHistory(h, [countMatrix([[1, 2, 3]])])).toThrow('Expected shape [1][2] for layers[0]');
    expect(() => emptyHistory(0)).toThrow('Expected integer >= 1 for capacity but received 0');
    expect(() => layerHistory(h, 1)).toThrow('for layer');
  });
});

describe('locality', () => {
  test('cosine similarity and top-k on hand examples', () => {
    expect(cosineSimilarity([1, 0], [0, 1])).toBe(0);
    expect(cosineSimilarity([3, 4], [6, 8])).toBeCloseTo(1, 12);
    expect(cosineSimilarity([1, 1], [1, 0])).toBeCloseTo(Math.SQRT1_2, 12);
    expect(cosineSimilarity([0, 0], [0, 0])).toBe(1);
    expect(topK([5, 7, 7, 1], 2)).toEqual([1, 2]); // tie: lower index first
    expect(topKOverlap([5, 7, 6, 1], [7, 1, 6, 5], 2)).toBe(0.5);
  });

  test('a sequence report: hottest kept, cosine and overlap averaged over transitions', () => {
    const seq = [countMatrix([[9, 1, 0]]), countMatrix([[8, 2, 0]]), countMatrix([[1, 9, 0]])];
    const report = locality(seq, 2);
    expect(report.numTransitions).toBe(2);
    expect(report.hottestKeptShare).toBe(0.5);
    expect(report.meanTopKOverlap).toBe(1);
    const c1 = (72 + 2) / Math.sqrt(82 * 68);
    const c2 = (8 + 18) / Math.sqrt(68 * 82);
    expect(report.meanCosine).toBeCloseTo((c1 + c2) / 2, 12);
    expect(Number.isNaN(locality([seq[0] as never]).meanCosine)).toBe(true);
  });
});

describe('balance metrics', () => {
  test('BD, RB, max/mean and maxvio by hand', () => {
    // loads 1, 2, 3, 6: mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5
    expect(balanceDegree([1, 2, 3, 6])).toBeCloseTo(Math.sqrt(3.5), 12);
    expect(balanceRatio([1, 2, 3, 6], [3, 3, 3, 3])).toBe(Infinity);
    expect(balanceRatio([3, 3], [3, 3])).toBe(1);
    expect(balanceRatio([0, 4], [1, 3])).toBe(2);
    expect(maxOverMean([1, 2, 3, 6])).toBe(2);
    expect(maxOverMean([0, 0])).toBe(1);
    expect(expertMaxViolation(countMatrix([[1, 2], [3, 6]]))).toBeCloseTo(8 / 6 - 1, 12);
  });
});
