/**
 * The Pro-Prophet planner: a greedy search over lightweight expert placements (paper §IV-C,
 * Algorithm 1), priced by the performance model (Eq. 6 or Eq. 8), keeping the best prefix of the
 * greedy sequence.
 *
 * Two variants share one search loop and differ only in parameters of a step:
 * - `'paper'`: Algorithm 1. Pick the busiest rank's heaviest expert; send its parameters to every
 *   rank except its n lightest senders (one global n); stop when Eq. 7 holds
 *   (`max H − min H < α·I/E`, α = 3) or an expert repeats.
 * - `'prophet'` (default): n per expert. The receivers of the picked expert are the ranks holding
 *   its tokens in decreasing order of their count (ties: same node as the home first, then lower
 *   rank); the prefix of that order with the lowest modelled cost is taken, so n_j is chosen by
 *   the model, which prices inter-node targets at their own bandwidth. Experts may be picked again
 *   to add receivers, replicas respect a per-rank memory budget, and the search stops when no rank
 *   can be relieved, after `patience` steps without a new best, or by Eq. 7 with α (default 0:
 *   off).
 *
 * Everything is a pure function of its arguments: every rank computes the same plan from the same
 * all-gathered counts. Ties always go to the lower index.
 */
import { checkChoice, checkInteger, checkNumber, invalidType } from '../../errors.js';
import {
  layerCost,
  paramBytesOf,
  receiverSeconds,
  sameNode,
  validatePerfModel,
  type LinkTier,
  type PerfModel,
} from './perfmodel.js';
import { expertsPerRank, type Placement } from './placement.js';
import { totalSlots, validateCountMatrix, type CountMatrix } from './stats.js';

/** Options of {@link plan}. */
export interface PlanOptions {
  /** `'prophet'` (default, the improved search) or `'paper'` (Algorithm 1). */
  readonly variant?: 'prophet' | 'paper';
  /** Eq. 7 tolerance α ≥ 0: stop when max H − min H < α·I/E. Default 3 (paper), 0 (prophet). */
  readonly alpha?: number;
  /**
   * Paper only: the global n, ranks (other than the home) excluded from every Trans. Default:
   * the released code's rule, `min(1, min over experts of the ranks sending it 0 slots)`.
   */
  readonly excluded?: number;
  /** Bytes per rank for replicas (2 × parameter bytes each: parameters + gradients). Default ∞. */
  readonly memoryBudgetBytes?: number;
  /** Stop after this many steps without a new best cost. Default 8 (prophet), ∞ (paper). */
  readonly patience?: number;
}

interface Resolved {
  readonly variant: 'prophet' | 'paper';
  readonly alpha: number;
  readonly excluded: number;
  readonly memoryBudgetBytes: number;
  readonly patience: number;
}

/** The mutable state of one layer's search (owned by the search; inputs are never written). */
interface SearchState {
  readonly numRanks: number;
  readonly numExperts: number;
  readonly expertsPerRank: number;
  /** counts as float64, [numRanks][numExperts] flat. */
  readonly counts: Float64Array;
  /** hosts[e * numRanks + r] = 1 when r hosts e. */
  readonly hosts: Uint8Array;
  /** H per rank, and the slots each rank receives from its own node / other nodes. */
  readonly computed: Float64Array;
  readonly intraIn: Float64Array;
  readonly interIn: Float64Array;
  /** A2A seconds of each receiver (receiverSeconds of intraIn/interIn). */
  readonly recvSeconds: Float64Array;
  /** Replica bytes per rank, and replicas per expert. */
  readonly memoryUsed: Float64Array;
  readonly replicaCount: Int32Array;
  trans: number;
  agg: number;
}

function resolveOptions(options: PlanOptions, counts: CountMatrix): Resolved {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'object', options);
  const variant = checkChoice('options.variant', options.variant ?? 'prophet', ['prophet', 'paper']);
  const alpha = checkNumber('options.alpha', options.alpha ?? (variant === 'paper' ? 3 : 0), 0);
  const excluded =
    options.excluded === undefined
      ? releasedExcluded(counts)
      : checkInteger('options.excluded', options.excluded, 0, counts.numRanks - 1);
  const memoryBudgetBytes = options.memoryBudgetBytes ?? Infinity;
  if (memoryBudgetBytes !== Infinity) checkNumber('options.memoryBudgetBytes', memoryBudgetBytes, 0);
  // Algorithm 1 has no patience: the paper variant runs until Eq. 7 or a repeat.
  const patience =
    options.patience === undefined ? (variant === 'paper' ? Infinity : 8) : checkInteger('options.patience', options.patience, 1);
  return { variant, alpha, excluded, memoryBudgetBytes, patience };
}

/**
 * The released code's n: `min(1, min_e #ranks sending 0 slots to e)` (its "TODO: Adaptive C"),
 * so n ∈ {0, 1}.
 */
export function releasedExcluded(counts: CountMatrix): number {
  const { numRanks, numExperts, data } = counts;
  let fewestZeros = numRanks;
  for (let e = 0; e < numExperts; e++) {
    let zeros = 0;
    for (let r = 0; r < numRanks; r++) if ((data[r * numExperts + e] ?? 0) === 0) zeros++;
    fewestZeros = Math.min(fewestZeros, zeros);
  }
  return Math.min(1, fewestZeros);
}

/** The state of the empty placement (plain expert parallelism). */
function initialState(counts: CountMatrix, model: PerfModel): SearchState {
  const { numRanks, numExperts } = counts;
  const perRank = expertsPerRank(numRanks, numExperts);
  const state: SearchState = {
    numRanks,
    numExperts,
    expertsPerRank: perRank,
    counts: Float64Array.from(counts.data),
    hosts: new Uint8Array(numExperts * numRanks),
    computed: new Float64Array(numRanks),
    intraIn: new Float64Array(numRanks),
    interIn: new Float64Array(numRanks),
    recvSeconds: new Float64Array(numRanks),
    memoryUsed: new Float64Array(numRanks),
    replicaCount: new Int32Array(numExperts),
    trans: 0,
    agg: 0,
  };
  for (let e = 0; e < numExperts; e++) state.hosts[e * numRanks + Math.floor(e / perRank)] = 1;
  for (let src = 0; src < numRanks; src++) {
    for (let e = 0; e < numExperts; e++) {
      const home = Math.floor(e / perRank);
      const c = state.counts[src * numExperts + e] ?? 0;
      state.computed[home] = (state.computed[home] ?? 0) + c;
      if (src === home) continue;
      const tierIn = sameNode(model.profile, src, home) ? state.intraIn : state.interIn;
      tierIn[home] = (tierIn[home] ?? 0) + c;
    }
  }
  for (let r = 0; r < numRanks; r++) state.recvSeconds[r] = receiverSeconds(model, state.intraIn[r] ?? 0, state.interIn[r] ?? 0);
  return state;
}

/** The modelled seconds of the current state (Eq. 6/8). */
function stateCost(state: SearchState, model: PerfModel): number {
  return layerCost(model, Math.max(...state.recvSeconds), Math.max(...state.computed), state.trans, state.agg).total;
}

/**
 * The expert to relieve: among the home experts of the busiest rank that has one with a
 * candidate receiver, the one with the most slots from ranks not hosting it. Returns -1 when no
 * rank has such an expert. `eligible(e)` filters experts (paper: not picked before; prophet: has a
 * rank that holds its tokens, lacks it and has room). Ties: lower rank, then lower expert.
 */
function pickExpert(state: SearchState, eligible: (e: number) => boolean, onlyBusiest: boolean): number {
  const { numRanks, numExperts, expertsPerRank: perRank, counts, hosts, computed } = state;
  const order = Array.from({ length: numRanks }, (_, r) => r).sort((a, b) => (computed[b] ?? 0) - (computed[a] ?? 0) || a - b);
  for (const rank of onlyBusiest ? order.slice(0, 1) : order) {
    let best = -1;
    let bestRemote = -1;
    for (let e = rank * perRank; e < (rank + 1) * perRank; e++) {
      let remote = 0;
      for (let r = 0; r < numRanks; r++) if (hosts[e * numRanks + r] === 0) remote += counts[r * numExperts + e] ?? 0;
      if (remote > bestRemote && eligible(e)) {
        best = e;
        bestRemote = remote;
      }
    }
    if (best >= 0) return best;
  }
  return -1;
}

/** Whether rank r can take a replica of expert e within the memory budget. */
function hasRoom(state: SearchState, model: PerfModel, opts: Resolved, e: number, r: number): boolean {
  return (state.memoryUsed[r] ?? 0) + 2 * paramBytesOf(model, e) <= opts.memoryBudgetBytes;
}

/**
 * Prophet receivers of expert e: ranks not hosting it with slots for it and room, by decreasing
 * slots; ties: same node as the home first, then lower rank.
 */
function prophetReceivers(state: SearchState, model: PerfModel, opts: Resolved, e: number): number[] {
  const { numRanks, numExperts, counts, hosts } = state;
  const home = Math.floor(e / state.expertsPerRank);
  const ranks: number[] = [];
  for (let r = 0; r < numRanks; r++) {
    if (hosts[e * numRanks + r] === 0 && (counts[r * numExperts + e] ?? 0) > 0 && hasRoom(state, model, opts, e, r)) ranks.push(r);
  }
  const local = (r: number) => (sameNode(model.profile, home, r) ? 0 : 1);
  return ranks.sort((a, b) => (counts[b * numExperts + e] ?? 0) - (counts[a * numExperts + e] ?? 0) || local(a) - local(b) || a - b);
}

/** Whether expert e has a prophet receiver (a rank with its slots, without it, with room). */
function hasCandidate(state: SearchState, model: PerfModel, opts: Resolved, e: number): boolean {
  const { numRanks, numExperts, counts, hosts } = state;
  for (let r = 0; r < numRanks; r++) {
    if (hosts[e * numRanks + r] === 0 && (counts[r * numExperts + e] ?? 0) > 0 && hasRoom(state, model, opts, e, r)) return true;
  }
  return false;
}

/**
 * Paper receivers (Algorithm 1): every rank but the home and the n ranks sending e the fewest
 * slots (ties: the lower rank is excluded first), minus ranks without memory room.
 */
function paperReceivers(state: SearchState, model: PerfModel, opts: Resolved, e: number): number[] {
  const { numRanks, numExperts, counts } = state;
  const home = Math.floor(e / state.expertsPerRank);
  const others = Array.from({ length: numRanks }, (_, r) => r).filter((r) => r !== home);
  const lightest = [...others].sort((a, b) => (counts[a * numExperts + e] ?? 0) - (counts[b * numExperts + e] ?? 0) || a - b);
  const excluded = new Set(lightest.slice(0, opts.excluded));
  return others.filter((r) => !excluded.has(r) && hasRoom(state, model, opts, e, r));
}

/**
 * Modelled cost after giving expert e to the first k of `receivers`, for k = 1..length,
 * evaluated incrementally in O(length) after an O(numRanks) scan: only the home's H and A2A time
 * fall, only the receivers' H rise.
 */
function prefixCosts(state: SearchState, model: PerfModel, e: number, receivers: ReadonlyArray<number>): Float64Array {
  const { numRanks, numExperts, counts, computed, recvSeconds } = state;
  const { intraNode, interNode } = model.profile;
  const home = Math.floor(e / state.expertsPerRank);
  let maxOtherH = 0;
  let maxOtherRecv = 0;
  for (let r = 0; r < numRanks; r++) {
    if (r === home) continue;
    maxOtherH = Math.max(maxOtherH, computed[r] ?? 0);
    maxOtherRecv = Math.max(maxOtherRecv, recvSeconds[r] ?? 0);
  }
  const share = paramBytesOf(model, e) / numRanks;
  const first = (state.replicaCount[e] ?? 0) === 0;
  let trans = state.trans + (first ? share / intraNode.transBytesPerSecond : 0);
  let agg = state.agg + (first ? share / intraNode.aggBytesPerSecond : 0);
  let homeH = computed[home] ?? 0;
  let intra = state.intraIn[home] ?? 0;
  let inter = state.interIn[home] ?? 0;
  const costs = new Float64Array(receivers.length);
  receivers.forEach((r, k) => {
    const c = counts[r * numExperts + e] ?? 0;
    const tier: LinkTier = sameNode(model.profile, home, r) ? intraNode : interNode;
    maxOtherH = Math.max(maxOtherH, (computed[r] ?? 0) + c);
    homeH -= c;
    if (tier === intraNode) intra -= c;
    else inter -= c;
    trans += share / tier.transBytesPerSecond;
    agg += share / tier.aggBytesPerSecond;
    const a2a = Math.max(maxOtherRecv, receiverSeconds(model, intra, inter));
    costs[k] = layerCost(model, a2a, Math.max(maxOtherH, homeH), trans, agg).total;
  });
  return costs;
}

/** Gives expert e to `receivers` (Trans/Agg targets), updating loads, A2A times and memory. */
function applyReceivers(state: SearchState, model: PerfModel, e: number, receivers: ReadonlyArray<number>): void {
  const { numRanks, numExperts, counts } = state;
  const home = Math.floor(e / state.expertsPerRank);
  const share = paramBytesOf(model, e) / numRanks;
  const { intraNode, interNode } = model.profile;
  if ((state.replicaCount[e] ?? 0) === 0 && receivers.length > 0) {
    state.trans += share / intraNode.transBytesPerSecond;
    state.agg += share / intraNode.aggBytesPerSecond;
  }
  for (const r of receivers) {
    const c = counts[r * numExperts + e] ?? 0;
    const intra = sameNode(model.profile, home, r);
    const tier = intra ? intraNode : interNode;
    state.hosts[e * numRanks + r] = 1;
    state.computed[r] = (state.computed[r] ?? 0) + c;
    state.computed[home] = (state.computed[home] ?? 0) - c;
    if (intra) state.intraIn[home] = (state.intraIn[home] ?? 0) - c;
    else state.interIn[home] = (state.interIn[home] ?? 0) - c;
    state.trans += share / tier.transBytesPerSecond;
    state.agg += share / tier.aggBytesPerSecond;
    state.memoryUsed[r] = (state.memoryUsed[r] ?? 0) + 2 * paramBytesOf(model, e);
    state.replicaCount[e] = (state.replicaCount[e] ?? 0) + 1;
  }
  state.recvSeconds[home] = receiverSeconds(model, state.intraIn[home] ?? 0, state.interIn[home] ?? 0);
}

/** Eq. 7: max H − min H < α·I/E. */
function balanced(state: SearchState, alpha: number, slots: number): boolean {
  let max = -Infinity;
  let min = Infinity;
  for (const h of state.computed) {
    if (h > max) max = h;
    if (h < min) min = h;
  }
  return max - min < (alpha * slots) / state.numExperts;
}

/** One greedy step: the expert and the receivers it gets, or null when the search must stop. */
interface Step {
  readonly expert: number;
  readonly receivers: ReadonlyArray<number>;
  readonly cost: number;
}

function nextStep(state: SearchState, model: PerfModel, opts: Resolved, picked: Uint8Array): Step | null {
  if (opts.variant === 'paper') {
    // Algorithm 1: the busiest rank's heaviest expert; a repeat ends the search.
    const e = pickExpert(state, () => true, true);
    if (e < 0 || picked[e] === 1) return null;
    const receivers = paperReceivers(state, model, opts, e);
    const costs = prefixCosts(state, model, e, receivers);
    return { expert: e, receivers, cost: costs[receivers.length - 1] ?? stateCost(state, model) };
  }
  const e = pickExpert(state, (x) => hasCandidate(state, model, opts, x), false);
  if (e < 0) return null;
  const candidates = prophetReceivers(state, model, opts, e);
  const costs = prefixCosts(state, model, e, candidates);
  let best = 0;
  for (let k = 1; k < costs.length; k++) if ((costs[k] ?? 0) < (costs[best] ?? 0)) best = k;
  return { expert: e, receivers: candidates.slice(0, best + 1), cost: costs[best] ?? Infinity };
}

/**
 * The placement for one layer: `counts: [numRanks][numExperts]` (observed or predicted token
 * slots, e.g. last iteration's) priced by `model`. Deterministic; inputs are not modified.
 * Example (W = E = 2, one tier, Eq. 6): counts [[4, 0], [6, 1]] — rank 1 sends expert 0 six
 * slots, so with cheap Trans the plan is `replicas: [[1], []]` (expert 0 also on rank 1).
 */
export function plan(counts: CountMatrix, model: PerfModel, options: PlanOptions = {}): Placement {
  validateCountMatrix(counts);
  validatePerfModel(model);
  const opts = resolveOptions(options, counts);
  // Step 1: the state of plain expert parallelism and its cost (the prefix of length 0).
  const state = initialState(counts, model);
  const slots = totalSlots(counts);
  const picked = new Uint8Array(counts.numExperts);
  const steps: Step[] = [];
  let bestCost = stateCost(state, model);
  let bestLength = 0;
  // Step 2: greedy moves until Eq. 7 holds, nothing can move, or (prophet) patience runs out.
  while (!balanced(state, opts.alpha, slots) && steps.length - bestLength < opts.patience) {
    const step = nextStep(state, model, opts, picked);
    if (step === null) break;
    applyReceivers(state, model, step.expert, step.receivers);
    picked[step.expert] = 1;
    steps.push(step);
    if (step.cost < bestCost) {
      bestCost = step.cost;
      bestLength = steps.length;
    }
  }
  // Step 3: the best prefix of the sequence becomes the placement.
  return placementOf(counts, steps.slice(0, bestLength));
}

function placementOf(counts: CountMatrix, steps: ReadonlyArray<Step>): Placement {
  const sets = Array.from({ length: counts.numExperts }, () => new Set<number>());
  for (const step of steps) for (const r of step.receivers) sets[step.expert]?.add(r);
  return {
    numRanks: counts.numRanks,
    numExperts: counts.numExperts,
    replicas: sets.map((s) => [...s].sort((a, b) => a - b)),
  };
}

/** {@link plan} for every layer: `countsPerLayer: [numLayers]` of `[numRanks][numExperts]`. */
export function planLayers(countsPerLayer: ReadonlyArray<CountMatrix>, model: PerfModel, options: PlanOptions = {}): Placement[] {
  if (!Array.isArray(countsPerLayer)) throw invalidType('countsPerLayer', 'array of CountMatrix', countsPerLayer);
  return countsPerLayer.map((counts) => plan(counts, model, options));
}

/** Planning frequency: plan at iterations 0, every, 2·every, … */
export function shouldPlan(iteration: number, every: number): boolean {
  checkInteger('iteration', iteration, 0);
  checkInteger('every', every, 1);
  return iteration % every === 0;
}
