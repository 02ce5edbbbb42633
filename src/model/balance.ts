/**
 * The balance policy of a training run: from each step's count matrices, the placements of the
 * next step (Pro-Prophet's locality: the next iteration's load looks like this one's). Pure
 * planning on data every rank has (the all-gathered counts), so every rank computes the same
 * placements without communication.
 */
import { checkChoice } from '../errors.js';
import { emptyPlacement, rankLoads, type Placement } from '../balance/prophet/placement.js';
import { perfModel, validateProfile, type HardwareProfile, type PerfModel } from '../balance/prophet/perfmodel.js';
import { plan } from '../balance/prophet/planner.js';
import type { CountMatrix } from '../balance/prophet/stats.js';
import { transferSchedule, type BlockTransfers, type TransferScheduleOptions } from '../balance/prophet/transfer-schedule.js';
import type { ModelConfig } from './config.js';
import type { MoELanguageModel } from './model.js';

export type PolicyName = 'none' | 'prophet' | 'prophet-paper';
export const POLICIES: readonly PolicyName[] = ['none', 'prophet', 'prophet-paper'];

export class BalancePlanner {
  readonly policy: PolicyName;
  /** The performance model plans are priced with (the profile plus the model's sizes). */
  readonly model: PerfModel;

  /**
   * @param profile the hardware constants to plan with: a calibrated one (`calibrate()`, or
   *   `loadProfileFile()` of a saved one) or, when absent, `DEFAULT_HARDWARE_PROFILE` (the
   *   released code's GPU constants). Validated here; the sizes come from `config`.
   */
  constructor(
    policy: PolicyName,
    readonly numRanks: number,
    config: ModelConfig,
    profile?: HardwareProfile,
  ) {
    this.policy = checkChoice('policy', policy, POLICIES);
    // The model's own sizes: activations of d fp32 values, experts of [w1 | b1 | w2 | b2].
    const h1 = config.moe.gated === true ? 2 * config.hidden : config.hidden;
    this.model = perfModel(profile === undefined ? undefined : validateProfile(profile), {
      dModel: config.dModel,
      dHidden: config.hidden,
      expertParamBytes: 4 * (config.dModel * h1 + h1 + config.hidden * config.dModel + config.dModel),
    });
  }

  /** Placements for the next step, one per layer, from this step's [W·E] count matrices. */
  next(countMatrices: readonly Int32Array[]): Placement[] {
    return countMatrices.map((counts) => {
      const numExperts = counts.length / this.numRanks;
      if (this.policy === 'none') return emptyPlacement(this.numRanks, numExperts);
      const matrix: CountMatrix = { numRanks: this.numRanks, numExperts, data: counts };
      return plan(matrix, this.model, { variant: this.policy === 'prophet-paper' ? 'paper' : 'prophet' });
    });
  }
}

/** How a run executes the placements: see `RunOptions.overlap` and `RunOptions.schedule`. */
export interface ExecutionOptions {
  readonly overlap?: boolean;
  readonly schedule?: TransferScheduleOptions;
}

/**
 * What a run carries from one step to the next, alike for W in-process ranks and for one rank of
 * a multi-process job: the placements and block schedules of the next step, planned from the
 * last step's all-gathered counts (the same on every rank, so every rank plans the same).
 */
export class BalanceState {
  /** Placements of the next step, one per layer (plain expert parallelism before any counts). */
  placements: Placement[];
  /** Block schedules of the next step; null before any counts (Trans/Agg then in one part). */
  schedules: readonly BlockTransfers[] | null = null;

  constructor(
    readonly planner: BalancePlanner,
    numLayers: number,
    numExperts: number,
    private readonly execution: ExecutionOptions = {},
  ) {
    this.placements = Array.from({ length: numLayers }, () => emptyPlacement(planner.numRanks, numExperts));
  }

  /** Gives `model`'s MoE layers the next step's placements, schedules and overlap mode. */
  applyTo(model: MoELanguageModel): void {
    model.moeLayers.forEach((layer, l) => {
      layer.placement = this.placements[l]!;
      layer.transferSchedule = this.schedules?.[l] ?? null;
      layer.overlapTransfers = this.execution.overlap ?? true;
    });
  }

  /** Plans the next step from this step's [W·E] count matrices (Pro-Prophet's locality). */
  advance(countMatrices: readonly Int32Array[]): void {
    this.placements = this.planner.next(countMatrices);
    const counts = countMatrices.map((data) => ({ numRanks: this.planner.numRanks, numExperts: data.length / this.planner.numRanks, data }));
    this.schedules = transferSchedule(counts, this.placements, this.planner.model, this.execution.schedule);
  }

  /** Replicas of the next step, summed over layers. */
  replicaCount(): number {
    return this.placements.reduce((n, p) => n + p.replicas.reduce((k, r) => k + r.length, 0), 0);
  }
}

/** Device max/mean of the tokens each rank computed under `placement` ([W·E] counts). */
export function computedMaxOverMean(counts: Int32Array, placement: Placement): number {
  const matrix: CountMatrix = { numRanks: placement.numRanks, numExperts: placement.numExperts, data: counts };
  const { computed } = rankLoads(matrix, placement);
  const mean = computed.reduce((a, b) => a + b, 0) / computed.length;
  return mean === 0 ? 1 : Math.max(...computed) / mean;
}
