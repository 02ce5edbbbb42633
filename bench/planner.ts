/**
 * Planner benchmark: `npm run bench -- planner [--json] [--stride N] [--repeat MS]`.
 *
 * 1. Planner time per layer (default variant) on synthetic skewed counts for
 *    (E, W) = (16,16), (64,64), (256,256), (256,64); the paper variant's times go to stderr.
 * 2. On the shared trace ../shared/traces/smartmoe-gpt16 (skipped when absent): for every
 *    `stride`-th snapshot j, plan on snapshot j (last-value predictor) and apply the plan to
 *    snapshot j + 1 (10 iterations later). Per layer: mean device max/mean before (plain EP) and
 *    after, mean RB (BD before / BD after) and the modelled gain Σ T_EP / Σ T_plan under the
 *    default profile. The JSON rows are the default planner; the paper variant (α = 3) and the
 *    default with α = 3 go to stderr.
 */
import { DEFAULT_HARDWARE_PROFILE, evaluatePlacement, perfModel, type PerfModel } from '../src/balance/prophet/perfmodel.js';
import { emptyPlacement, rankLoads } from '../src/balance/prophet/placement.js';
import { plan, type PlanOptions } from '../src/balance/prophet/planner.js';
import { balanceDegree, maxOverMean, type CountMatrix } from '../src/balance/prophet/stats.js';
import { findSharedTrace, readTrace, type RoutingTrace } from '../src/trace/smartmoe.js';
import type { Benchmark, BenchmarkResult } from './types.js';

const SHAPES: ReadonlyArray<readonly [number, number]> = [
  [16, 16],
  [64, 64],
  [256, 256],
  [256, 64],
];

/** Seeded skewed counts: Zipf(1.1) popularity in a random order, ±50% noise per rank, 16384 slots per rank. */
function syntheticCounts(numExperts: number, numRanks: number, seed: number): CountMatrix {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const popularity = Array.from({ length: numExperts }, (_, i) => 1 / (i + 1) ** 1.1).sort(() => next() - 0.5);
  const data = new Int32Array(numRanks * numExperts);
  for (let r = 0; r < numRanks; r++) {
    const weights = popularity.map((p) => p * (0.5 + next()));
    const sum = weights.reduce((a, b) => a + b, 0);
    weights.forEach((w, e) => (data[r * numExperts + e] = Math.round((16384 * w) / sum)));
  }
  return { numRanks, numExperts, data };
}

/** Median milliseconds of one plan over a few distinct count matrices, for at least `budgetMs`. */
function timePlanner(numExperts: number, numRanks: number, model: PerfModel, options: PlanOptions, budgetMs: number): number {
  const inputs = Array.from({ length: 4 }, (_, i) => syntheticCounts(numExperts, numRanks, i + 1));
  for (const counts of inputs) plan(counts, model, options); // warm-up
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < 5 || performance.now() - start < budgetMs) {
    for (const counts of inputs) {
      const t0 = performance.now();
      plan(counts, model, options);
      samples.push(performance.now() - t0);
    }
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? NaN;
}

interface TraceRow {
  layer: number;
  before_max_mean: number;
  after_max_mean: number;
  rb: number;
  modelled_gain: number;
}

/** The per-layer trace study for one planner configuration. */
function traceStudy(trace: RoutingTrace, model: PerfModel, options: PlanOptions, stride: number): TraceRow[] {
  const numLayers = trace.counts[0]?.length ?? 0;
  const rows: TraceRow[] = [];
  for (let layer = 0; layer < numLayers; layer++) {
    let before = 0;
    let after = 0;
    let rb = 0;
    let timeEp = 0;
    let timePlan = 0;
    let n = 0;
    for (let j = 0; j + 1 < trace.counts.length; j += stride) {
      const seen = trace.counts[j]?.[layer] as CountMatrix;
      const next = trace.counts[j + 1]?.[layer] as CountMatrix;
      const ep = emptyPlacement(next.numRanks, next.numExperts);
      const placement = plan(seen, model, options);
      const loadsEp = rankLoads(next, ep).computed;
      const loadsPlan = rankLoads(next, placement).computed;
      before += maxOverMean(loadsEp);
      after += maxOverMean(loadsPlan);
      rb += balanceDegree(loadsEp) / Math.max(balanceDegree(loadsPlan), 1e-9);
      timeEp += evaluatePlacement(next, ep, model).total;
      timePlan += evaluatePlacement(next, placement, model).total;
      n++;
    }
    rows.push({ layer, before_max_mean: before / n, after_max_mean: after / n, rb: rb / n, modelled_gain: timeEp / timePlan });
  }
  return rows;
}

function formatTrace(label: string, rows: ReadonlyArray<TraceRow>): string {
  const lines = rows.map(
    (r) => `${String(r.layer).padStart(5)}  ${r.before_max_mean.toFixed(3)}  ${r.after_max_mean.toFixed(3)}  ${r.rb.toFixed(2).padStart(6)}  ${r.modelled_gain.toFixed(3)}`,
  );
  return `# trace: ${label}\nlayer  before  after      rb  gain\n${lines.join('\n')}`;
}

function argValue(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

const benchmark: Benchmark = {
  name: 'planner',
  description: 'Pro-Prophet planner time per layer, and balance/modelled gain on the shared SmartMoE trace',
  async run(args): Promise<BenchmarkResult> {
    const stride = Math.floor(argValue(args, '--stride', 5));
    const budgetMs = argValue(args, '--repeat', 300);
    const model = perfModel(DEFAULT_HARDWARE_PROFILE, {});
    const rows = SHAPES.map(([experts, ranks]) => {
      const ms = timePlanner(experts, ranks, model, {}, budgetMs);
      const paperMs = timePlanner(experts, ranks, model, { variant: 'paper' }, budgetMs);
      console.error(`planner E=${experts} W=${ranks}: prophet ${ms.toFixed(3)} ms, paper ${paperMs.toFixed(3)} ms per layer`);
      return { experts, ranks, ms_per_layer: ms };
    });
    const dir = findSharedTrace('smartmoe-gpt16');
    if (dir === undefined) {
      console.error('trace study skipped: ../shared/traces/smartmoe-gpt16 is absent');
      return { bench: 'planner', rows, trace: [] };
    }
    const trace = readTrace(dir);
    const main = traceStudy(trace, model, {}, stride);
    console.error(formatTrace('prophet (default)', main));
    console.error(formatTrace('prophet, alpha = 3', traceStudy(trace, model, { alpha: 3 }, stride)));
    console.error(formatTrace('paper (Algorithm 1, alpha = 3, released n)', traceStudy(trace, model, { variant: 'paper' }, stride)));
    return { bench: 'planner', rows, trace: main };
  },
};

export default benchmark;
