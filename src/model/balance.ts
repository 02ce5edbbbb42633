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
import type { ModelConfig } from './config.js';

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

/** Device max/mean of the tokens each rank computed under `placement` ([W·E] counts). */
export function computedMaxOverMean(counts: Int32Array, placement: Placement): number {
  const matrix: CountMatrix = { numRanks: placement.numRanks, numExperts: placement.numExperts, data: counts };
  const { computed } = rankLoads(matrix, placement);
  const mean = computed.reduce((a, b) => a + b, 0) / computed.length;
  return mean === 0 ? 1 : Math.max(...computed) / mean;
}
