/**
 * The balance-policy seam (ARCHITECTURE.md): a policy turns the statistics gathered so far into
 * one placement per MoE layer. Pro-Prophet and the baselines are peers behind it, so the engine,
 * the simulator and the CLI treat them alike. Policies are pure: every rank calls `plan` with the
 * same all-gathered statistics and gets the same placements.
 */
import { checkInteger, invalidType } from '../errors.js';
import type { PerfModel } from './prophet/perfmodel.js';
import { emptyPlacement, type Placement } from './prophet/placement.js';
import { planLayers, shouldPlan, type PlanOptions } from './prophet/planner.js';
import { predict, type Predictor } from './prophet/predictor.js';
import { layerHistory, type CountHistory } from './prophet/stats.js';

/** What a policy sees: the iteration about to run and the bounded history of counts. */
export interface PolicyStats {
  /** Index of the iteration the placements are for (0-based). */
  readonly iteration: number;
  /** Counts of past iterations, `[iteration][layer]` of `[numRanks][numExperts]`, oldest first. */
  readonly history: CountHistory;
}

/** A load-balancing policy. */
export interface BalancePolicy {
  readonly name: string;
  /** Whether placements should be recomputed before `iteration` (otherwise keep the last ones). */
  shouldPlan(iteration: number): boolean;
  /** One placement per layer for `stats.iteration`; with no history, the empty placements. */
  plan(stats: PolicyStats, model: PerfModel, shape: { readonly numLayers: number; readonly numRanks: number; readonly numExperts: number }): Placement[];
}

/** Plain expert parallelism (DeepSpeed-MoE style): never any replica. */
export const noBalancePolicy: BalancePolicy = {
  name: 'none',
  shouldPlan: () => false,
  plan: (_stats, _model, shape) => Array.from({ length: shape.numLayers }, () => emptyPlacement(shape.numRanks, shape.numExperts)),
};

/** Options of {@link prophetPolicy}. */
export interface ProphetPolicyOptions extends PlanOptions {
  /** Predictor of the next counts from the history (default: last value, as the paper). */
  readonly predictor?: Predictor;
  /** Plan every `every` iterations (default 1: every iteration, the released code's default). */
  readonly every?: number;
}

/** Pro-Prophet: predict each layer's counts from its history, then run the planner. */
export function prophetPolicy(options: ProphetPolicyOptions = {}): BalancePolicy {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'object', options);
  const every = checkInteger('options.every', options.every ?? 1, 1);
  const predictor = options.predictor ?? { kind: 'last' };
  return {
    name: options.variant === 'paper' ? 'prophet-paper' : 'prophet',
    shouldPlan: (iteration) => shouldPlan(iteration, every),
    plan(stats, model, shape) {
      if (stats.history.iterations.length === 0) return noBalancePolicy.plan(stats, model, shape);
      const predicted = Array.from({ length: shape.numLayers }, (_, l) => predict(layerHistory(stats.history, l), predictor));
      return planLayers(predicted, model, options);
    },
  };
}
