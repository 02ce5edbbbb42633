/**
 * The executor's half of the block scheduler (§V): for every MoE block, which replicated experts
 * travel in part a and part b of its Trans and of its Agg (the data graph of `scheduler.ts`:
 * Trans(i) part a beside FNEC(i-1), part b beside FEC(i-1); Agg(i) part a beside BNEC(i), part b
 * beside BEC(i-1)), or whether the block falls back to running them in line on the compute path.
 *
 * Pure: counts, placements and the performance model in, expert sets out. Every rank computes the
 * same schedule from the same (all-gathered) counts and placements, so the collectives each part
 * issues come in the same order on every rank. A part is a set of whole experts (one collective
 * each), ascending, and part a's experts all come before part b's.
 */
import { checkChoice, checkNumber, invalidType } from '../../errors.js';
import { transAggSeconds, type OverlapCosts, type PerfModel } from './perfmodel.js';
import { emptyPlacement, rankLoads, type Placement } from './placement.js';
import type { CountMatrix } from './stats.js';

/**
 * 'paper': the offline split: part a = the longest run of experts (ascending) whose transfer fits
 * in the calibrated FNEC (Trans) or BNEC (Agg), part b the rest. 'adaptive' (beyond the paper):
 * re-derived each iteration from the expected FEC (Trans) or BEC (Agg) of the previous block
 * under the current plan: part b keeps at most what that window hides, and what it cannot hide
 * moves to part a, which starts earlier (the same rule as `scheduler.ts`'s 'adaptive').
 */
export type SplitMode = 'paper' | 'adaptive';

/** The experts of one transfer's two parts, or in line (all in `a`, on the compute stream). */
export interface TransferParts {
  readonly inline: boolean;
  readonly a: readonly number[];
  readonly b: readonly number[];
}

export interface BlockTransfers {
  readonly trans: TransferParts;
  readonly agg: TransferParts;
}

// Declared with the profile that stores them (a calibrated backend's measured costs).
export type { OverlapCosts } from './perfmodel.js';

export interface TransferScheduleOptions extends Partial<OverlapCosts> {
  readonly split?: SplitMode;
}

/** Used when neither the caller nor the profile gives overlap costs (`profile.overlap`, measured
 * by `calibrate`): a cross-thread event hand-off on the CPU backend is tens of µs (GPUs are far
 * below), and no interference (the paper's separate links and copy engines). */
export const DEFAULT_OVERLAP_COSTS: OverlapCosts = { syncSeconds: 50e-6, interference: 0 };

/**
 * Splits `experts` (ascending) with per-expert `seconds` into the two parts per `mode`, given the
 * windows beside part a and part b (seconds): part a = the longest prefix whose seconds sum to at
 * most `windows.a` ('paper') or to at most max(windows.a, total − windows.b) ('adaptive'), part b
 * the rest. Example: seconds [1, 1, 1]; windows {a: 2, b: 1}: both give a = the first two;
 * {a: 0, b: 2}: 'paper' a = [], 'adaptive' a = the first; {a: 1, b: 0}: 'paper' a = the first,
 * 'adaptive' a = all three.
 */
export function splitExperts(
  experts: readonly number[],
  seconds: readonly number[],
  windows: { readonly a: number; readonly b: number },
  mode: SplitMode,
): { readonly a: number[]; readonly b: number[] } {
  const total = seconds.reduce((s, x) => s + x, 0);
  const capacity = mode === 'paper' ? windows.a : Math.max(windows.a, total - windows.b);
  let cut = 0;
  for (let sum = 0; cut < experts.length && sum + (seconds[cut] ?? 0) <= capacity; cut++) sum += seconds[cut] ?? 0;
  return { a: experts.slice(0, cut), b: experts.slice(cut) };
}

/**
 * The fallback rule: whether overlapping a transfer of `transferSeconds` in `numParts` parts
 * beside `windowSeconds` of compute (all the compute it may hide behind before its consumer)
 * delays the critical path less than running it in line. In line it costs all of it; overlapped
 * it costs what the window does not hide, plus `interference` × what it hides, plus one hand-off
 * per part. False for an empty transfer (nothing to gain).
 */
export function overlapPays(transferSeconds: number, windowSeconds: number, numParts: number, costs: OverlapCosts): boolean {
  const hidden = Math.min(transferSeconds, windowSeconds);
  return costs.syncSeconds * numParts + costs.interference * hidden < hidden;
}

/** What the schedule of one layer needs: its replicated experts and their costs. */
export interface LayerTransferCosts {
  /** Replicated experts, ascending. */
  readonly experts: readonly number[];
  /** Trans and Agg seconds of each expert in `experts`. */
  readonly transSeconds: readonly number[];
  readonly aggSeconds: readonly number[];
  /** Expected FEC of the layer under its placement (BEC = 2 × FEC, Eq. 3). */
  readonly fecSeconds: number;
}

/**
 * The parts of every block (layers ascending) from their costs and the profile's FNEC/BNEC.
 * Block 0's Trans has no earlier block: it runs beside FNEC(0) only (window b = 0); block 0's
 * Agg has no BEC(-1) (window b = 0: its part b runs right after part a, before the step).
 */
export function scheduleBlocks(
  layers: readonly LayerTransferCosts[],
  nonMoe: { readonly fnecSeconds: number; readonly bnecSeconds: number },
  mode: SplitMode,
  costs: OverlapCosts,
): BlockTransfers[] {
  return layers.map((layer, i) => {
    const prevFec = i > 0 ? (layers[i - 1]?.fecSeconds ?? 0) : 0;
    return {
      trans: parts(layer.experts, layer.transSeconds, { a: nonMoe.fnecSeconds, b: prevFec }, mode, costs),
      agg: parts(layer.experts, layer.aggSeconds, { a: nonMoe.bnecSeconds, b: 2 * prevFec }, mode, costs),
    };
  });
}

function parts(experts: readonly number[], seconds: readonly number[], windows: { a: number; b: number }, mode: SplitMode, costs: OverlapCosts): TransferParts {
  const split = splitExperts(experts, seconds, windows, mode);
  const numParts = (split.a.length > 0 ? 1 : 0) + (split.b.length > 0 ? 1 : 0);
  const total = seconds.reduce((s, x) => s + x, 0);
  if (overlapPays(total, windows.a + windows.b, numParts, costs)) return { inline: false, ...split };
  return { inline: true, a: [...experts], b: [] };
}

/**
 * The schedule of one iteration: per layer, from the counts the placements were planned from
 * (`counts[l]`, Pro-Prophet's locality: the next iteration routes like this one) and the
 * placements, priced with `model` (per-expert Trans/Agg of Eqs. 4–5, FEC of Eq. 2 for the
 * busiest rank, FNEC/BNEC of the profile). Overlap costs: each of `options.syncSeconds` and
 * `options.interference` when given, else the profile's measured `overlap` (calibration), else
 * `DEFAULT_OVERLAP_COSTS`.
 */
export function transferSchedule(
  counts: readonly CountMatrix[],
  placements: readonly Placement[],
  model: PerfModel,
  options: TransferScheduleOptions = {},
): BlockTransfers[] {
  if (!Array.isArray(counts) || !Array.isArray(placements) || counts.length !== placements.length) {
    throw invalidType('counts', `array of ${Array.isArray(placements) ? placements.length : 'placements.length'} count matrices`, counts);
  }
  const mode = checkChoice('options.split', options.split ?? 'adaptive', ['paper', 'adaptive'] as const);
  // Explicit options win over the profile's calibrated costs; the profile (validated with the
  // model) over the defaults.
  const base = model.profile.overlap ?? DEFAULT_OVERLAP_COSTS;
  const costs: OverlapCosts = {
    syncSeconds: checkNumber('options.syncSeconds', options.syncSeconds ?? base.syncSeconds, 0),
    interference: checkNumber('options.interference', options.interference ?? base.interference, 0, 1),
  };
  const layers = placements.map((placement, l) => layerCosts(counts[l]!, placement, model));
  return scheduleBlocks(layers, model.profile, mode, costs);
}

function layerCosts(counts: CountMatrix, placement: Placement, model: PerfModel): LayerTransferCosts {
  const experts = placement.replicas.flatMap((r, e) => (r.length > 0 ? [e] : []));
  // One expert's Trans/Agg: the placement holding only that expert's replicas.
  const single = experts.map((e) => {
    const only = emptyPlacement(placement.numRanks, placement.numExperts);
    return transAggSeconds(model, { ...only, replicas: only.replicas.map((r, j) => (j === e ? placement.replicas[e]! : r)) });
  });
  const busiest = Math.max(0, ...rankLoads(counts, placement).computed);
  return {
    experts,
    transSeconds: single.map((s) => s.trans),
    aggSeconds: single.map((s) => s.agg),
    fecSeconds: busiest * model.profile.expertSecondsPerToken,
  };
}
