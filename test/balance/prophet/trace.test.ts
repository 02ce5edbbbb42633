/**
 * The shared SmartMoE GPT trace (../shared/traces/smartmoe-gpt16, optional): locality holds, and
 * planning on one snapshot lowers the device max/mean and the modelled time of the next one.
 */
import { describe, expect, test } from 'vitest';

import { evaluatePlacement, perfModel, releasedCodeProfile } from '../../../src/balance/prophet/perfmodel.js';
import { emptyPlacement, rankLoads } from '../../../src/balance/prophet/placement.js';
import { plan } from '../../../src/balance/prophet/planner.js';
import { locality, maxOverMean, totalSlots } from '../../../src/balance/prophet/stats.js';
import { findSharedTrace, readTrace, traceAvailable } from '../../../src/trace/smartmoe.js';

const dir = findSharedTrace('smartmoe-gpt16');
const present = dir !== undefined && traceAvailable(dir);
if (!present) console.log('skipping trace tests: ../shared/traces/smartmoe-gpt16 is absent');

describe.skipIf(!present)('smartmoe-gpt16 trace', () => {
  const trace = dir !== undefined ? readTrace(dir, 40) : undefined;

  test('reads the documented shape: 16 ranks, 32 experts, 4 × 4096 slots per rank', () => {
    const first = trace?.counts[0]?.[0];
    expect(first?.numRanks).toBe(16);
    expect(first?.numExperts).toBe(32);
    expect(totalSlots(first as never)).toBe(16 * 4 * 4096);
    expect(trace?.iterations.slice(0, 3)).toEqual([1, 11, 21]);
  });

  test('locality: consecutive snapshots are similar', () => {
    const layer3 = (trace?.counts ?? []).map((it) => it[3] as never);
    const report = locality(layer3.slice(20, 40));
    expect(report.meanCosine).toBeGreaterThan(0.9);
  });

  test('a plan from snapshot j lowers max/mean and modelled time at snapshot j + 1', () => {
    const model = perfModel(releasedCodeProfile(), {});
    for (const layer of [0, 5, 11]) {
      const seen = trace?.counts[30]?.[layer] as never;
      const next = trace?.counts[31]?.[layer] as never;
      const placement = plan(seen, model);
      const ep = emptyPlacement(16, 32);
      expect(maxOverMean(rankLoads(next, placement).computed)).toBeLessThan(maxOverMean(rankLoads(next, ep).computed));
      expect(evaluatePlacement(next, placement, model).total).toBeLessThan(evaluatePlacement(next, ep, model).total);
    }
  });
});
