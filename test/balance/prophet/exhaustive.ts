/**
 * Exhaustive search over placements under the same cost model (the independent reference for
 * the greedy planner): every subset of candidate ranks per expert, each priced by the direct
 * evaluator `evaluatePlacement`. Candidates are the non-home ranks holding slots of the expert:
 * a replica on a rank without slots changes neither H nor R and only adds Trans/Agg, so leaving
 * such ranks out cannot lose the optimum.
 */
import { evaluatePlacement, paramBytesOf, type PerfModel } from '../../../src/balance/prophet/perfmodel.js';
import { homeRank, type Placement } from '../../../src/balance/prophet/placement.js';
import type { CountMatrix } from '../../../src/balance/prophet/stats.js';

export function exhaustiveBest(counts: CountMatrix, model: PerfModel, memoryBudgetBytes = Infinity): { cost: number; placement: Placement } {
  const { numRanks, numExperts, data } = counts;
  const slots: [number, number][] = [];
  for (let e = 0; e < numExperts; e++) {
    for (let r = 0; r < numRanks; r++) {
      if (r !== homeRank(e, numRanks, numExperts) && (data[r * numExperts + e] ?? 0) > 0) slots.push([e, r]);
    }
  }
  if (slots.length > 20) throw new RangeError(`too many candidate replicas for exhaustive search: ${slots.length}`);
  let best = { cost: Infinity, placement: { numRanks, numExperts, replicas: [] as number[][] } as Placement };
  for (let mask = 0; mask < 1 << slots.length; mask++) {
    const replicas: number[][] = Array.from({ length: numExperts }, () => []);
    const memory = new Float64Array(numRanks);
    slots.forEach(([e, r], i) => {
      if ((mask >> i) & 1) {
        replicas[e]?.push(r);
        memory[r] = (memory[r] ?? 0) + 2 * paramBytesOf(model, e);
      }
    });
    if (memory.some((m) => m > memoryBudgetBytes)) continue;
    const placement = { numRanks, numExperts, replicas };
    const cost = evaluatePlacement(counts, placement, model).total;
    if (cost < best.cost) best = { cost, placement };
  }
  return best;
}
