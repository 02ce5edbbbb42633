/**
 * The Pro-Prophet planner: a greedy search over lightweight expert placements (paper §IV-C,
 * Algorithm 1), priced by the performance model (Eq. 6 or Eq. 8), keeping the best prefix of the
 * greedy sequence.
 *
 * Two variants share one search loop and differ only in parameters of a step:
 * - `'paper'`: Algorithm 1. Pick the busiest rank's heaviest expert; send its parameters to every
 *   rank except its n lightest senders (one global n); stop when Eq. 7 holds
 *   (`max H − min H < α·I/E`, α = 3) or an expert repeats.
 * - `'prophet'` (default): n per expert. The picked expert comes from the most *pressed* rank
 *   (its own modelled time 3·FEC(H_r) + 4·A2A_r); its candidate receivers (ranks holding its
 *   slots, lacking it, with memory room) are walked in decreasing order of their slots (ties: same
 *   node as the home first, then lower rank) and each is taken when it lowers the modelled cost,
 *   or keeps it and lowers the cost of the home and receivers alone (this walks plateaus where
 *   another rank sets the maximum). n_j is thus chosen by the model, which prices inter-node
 *   targets at their own bandwidth. Experts may be picked again; the search stops when no rank
 *   can be relieved, after `patience` steps without a new best, or by Eq. 7 with α (default 0:
 *   off). The kept prefix is then refined by local moves (search.ts), and on small layers a
 *   second start from "every slot local" competes with it; there both end with pair moves
 *   (swaps).
 *
 * Everything is a pure function of its arguments: every rank computes the same plan from the same
 * all-gathered counts. Ties always go to the lower index.
 */
import { checkChoice, checkInteger, checkNumber, invalidType } from '../../errors.js';
import { layerSeconds, paramBytesOf, sameNode, validatePerfModel, type PerfModel } from './perfmodel.js';
import type { Placement } from './placement.js';
import {
  applyReceivers,
  toggleReplica,
  dropReplicaPrefix,
  hasRoom,
  homeA2aSeconds,
  initialState,
  maxOtherNodeSeconds,
  placementOf,
  rankPressure,
  refineByPairs,
  refineByToggles,
  sortKeys,
  stateCost,
  type SearchState,
} from './search.js';
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
  /**
   * Prophet only: also search from the all-local placement and keep the cheaper result. Default:
   * on when numRanks × numExperts ≤ 64 (its local search costs O(replicas × numRanks)).
   */
  readonly allLocalStart?: boolean;
  /**
   * Stop after this many steps without a new best cost. Default ⌈max(16, numRanks / 2,
   * numExperts / 4)⌉ (prophet): a plateau of tied homes needs up to one step per home, and half
   * the ranks sufficed on every synthetic layer we tried; ∞ (paper).
   */
  readonly patience?: number;
}

interface Resolved {
  readonly variant: 'prophet' | 'paper';
  readonly alpha: number;
  readonly excluded: number;
  readonly memoryBudgetBytes: number;
  readonly patience: number;
  readonly allLocalStart: boolean;
  /** Pair moves in the local search (refineByPairs): on for small layers, W·E ≤ SMALL_LAYER. */
  readonly pairMoves: boolean;
}

/**
 * Prophet's receiver walk ends after this many ranks in a row are priced and not taken (once one
 * is taken): the ranks come by decreasing slots, so later ones relieve the home less.
 */
const WALK_MISSES = 8;

/** Layers with numRanks × numExperts up to this get the all-local start and pair moves. */
const SMALL_LAYER = 64;

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
    options.patience === undefined ? (variant === 'paper' ? Infinity : Math.ceil(Math.max(16, counts.numRanks / 2, counts.numExperts / 4))) : checkInteger('options.patience', options.patience, 1);
  const small = counts.numRanks * counts.numExperts <= SMALL_LAYER;
  const allLocalStart = options.allLocalStart ?? small;
  if (typeof allLocalStart !== 'boolean') throw invalidType('options.allLocalStart', 'boolean', allLocalStart);
  return { variant, alpha, excluded, memoryBudgetBytes, patience, allLocalStart, pairMoves: small };
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

/** One search: its state, options and per-search caches (never shared between calls). */
interface Search {
  readonly state: SearchState;
  readonly model: PerfModel;
  readonly opts: Resolved;
  /** Per expert, all ranks in prophet receiver order, computed on first use (counts are fixed). */
  readonly orders: (Int32Array | undefined)[];
  /** Whether every count is an integer below 2^31 (enables exact numeric sort keys). */
  readonly integerCounts: boolean;
  /** Scratch: the pressure of each rank, and the ranks already tried by pickExpert. */
  readonly pressure: Float64Array;
  readonly tried: Uint8Array;
  /**
   * Per expert, how many leading ranks of its receiver order already host it. The greedy steps
   * only add replicas, so the walk can start there.
   */
  readonly hostedPrefix: Int32Array;
}

/**
 * The expert to relieve: among the home experts of the most pressed rank that has an eligible
 * one, the one with the most slots from ranks not hosting it; -1 when no rank has one.
 * `pressure[r]` orders the ranks (paper: H, the busiest device; prophet: the rank's own modelled
 * time 3·FEC(H_r) + 4·A2A_r, so a rank that bottlenecks the A2A is relieved too). `onlyFirst`
 * looks at the most pressed rank only (Algorithm 1). Ties: lower rank, then lower expert.
 */
function pickExpert(search: Search, pressure: Float64Array, eligible: (e: number) => boolean, onlyFirst: boolean, firstRank = -1): number {
  const { numRanks, expertsPerRank: perRank } = search.state;
  const tried = search.tried;
  for (let n = 0; n < (onlyFirst ? 1 : numRanks); n++) {
    // The next rank by decreasing pressure, found by a scan: usually the first one has an expert.
    // The first is the plain argmax, so `tried` is cleared only when a second is needed.
    if (n === 1) {
      tried.fill(0);
      tried[firstRank] = 1;
    }
    let rank = n === 0 && firstRank >= 0 ? firstRank : -1;
    if (rank < 0) {
      for (let r = 0; r < numRanks; r++) if ((n === 0 || tried[r] === 0) && (rank < 0 || (pressure[r] ?? 0) > (pressure[rank] ?? 0))) rank = r;
    }
    if (n === 0) firstRank = rank;
    else tried[rank] = 1;
    let best = -1;
    let bestRemote = -1;
    for (let e = rank * perRank; e < (rank + 1) * perRank; e++) {
      const remote = search.state.remoteSlots[e] ?? 0;
      if (remote > bestRemote && eligible(e)) {
        best = e;
        bestRemote = remote;
      }
    }
    if (best >= 0) return best;
  }
  return -1;
}

/** All ranks by decreasing slots for expert e; ties: same node as the home first, lower rank. */
function receiverOrder(search: Search, e: number): Int32Array {
  const cached = search.orders[e];
  if (cached !== undefined) return cached;
  const { numRanks, numExperts, counts } = search.state;
  const home = Math.floor(e / search.state.expertsPerRank);
  const far = (r: number) => (sameNode(search.model.profile, home, r) ? 0 : 1);
  let order: Int32Array;
  if (search.integerCounts) {
    // Integer slots: one exact numeric key per rank, (max − slots, far, rank), sorted natively.
    let max = 0;
    for (let r = 0; r < numRanks; r++) max = Math.max(max, counts[r * numExperts + e] ?? 0);
    const keys = new Float64Array(numRanks);
    for (let r = 0; r < numRanks; r++) keys[r] = (max - (counts[r * numExperts + e] ?? 0)) * 2 * numRanks + far(r) * numRanks + r;
    sortKeys(keys);
    order = new Int32Array(numRanks);
    for (let r = 0; r < numRanks; r++) order[r] = (keys[r] ?? 0) % numRanks;
  } else {
    order = Int32Array.from(
      Array.from({ length: numRanks }, (_, r) => r).sort(
        (a, b) => (counts[b * numExperts + e] ?? 0) - (counts[a * numExperts + e] ?? 0) || far(a) - far(b) || a - b,
      ),
    );
  }
  return (search.orders[e] = order);
}

/**
 * Expert e's receiver order without its leading ranks that already host it (valid while replicas
 * are only added, as in the greedy steps). Ranks without slots come last and end the walk.
 */
function unhostedOrder(search: Search, e: number): Int32Array {
  const order = receiverOrder(search, e);
  const { numRanks, hosts } = search.state;
  let from = search.hostedPrefix[e] ?? 0;
  while (from < order.length && hosts[e * numRanks + (order[from] ?? 0)] === 1) from++;
  search.hostedPrefix[e] = from;
  return order.subarray(from);
}

/** Whether rank r may receive expert e now: it lacks it, holds its slots and has room. */
function canReceive(search: Search, e: number, r: number): boolean {
  const { numRanks, numExperts, counts, hosts } = search.state;
  if (hosts[e * numRanks + r] === 1 || !((counts[r * numExperts + e] ?? 0) > 0)) return false;
  return search.opts.memoryBudgetBytes === Infinity || hasRoom(search.state, search.model, search.opts.memoryBudgetBytes, e, r);
}

/** Whether expert e has a prophet receiver (O(1) without a memory budget, from the remote ranks). */
function hasCandidate(search: Search, e: number): boolean {
  if ((search.state.remoteRanks[e] ?? 0) === 0) return false;
  if (search.opts.memoryBudgetBytes === Infinity) return true;
  for (let r = 0; r < search.state.numRanks; r++) if (canReceive(search, e, r)) return true;
  return false;
}

/**
 * Paper receivers (Algorithm 1): every rank but the home and the n ranks sending e the fewest
 * slots (ties: the lower rank is excluded first), minus ranks without memory room.
 */
function paperReceivers(search: Search, e: number): number[] {
  const { state, model, opts } = search;
  const { numRanks, numExperts, counts } = state;
  const home = Math.floor(e / state.expertsPerRank);
  const others = Array.from({ length: numRanks }, (_, r) => r).filter((r) => r !== home);
  const lightest = [...others].sort((a, b) => (counts[a * numExperts + e] ?? 0) - (counts[b * numExperts + e] ?? 0) || a - b);
  const excluded = new Set(lightest.slice(0, opts.excluded));
  return others.filter((r) => !excluded.has(r) && hasRoom(state, model, opts.memoryBudgetBytes, e, r));
}

/** The largest H and A2A time over the ranks other than one home (A2A: and the other nodes). */
interface OtherMaxima {
  readonly maxOtherH: number;
  readonly maxOtherRecv: number;
}

/** {@link OtherMaxima} of `home`: one O(numRanks) scan, shared by the experts of one home. */
function otherMaxima(state: SearchState, home: number): OtherMaxima {
  let maxOtherH = 0;
  let maxOtherRecv = 0;
  for (let r = 0; r < state.numRanks; r++) {
    if (r === home) continue;
    maxOtherH = Math.max(maxOtherH, state.computed[r] ?? 0);
    maxOtherRecv = Math.max(maxOtherRecv, state.recvSeconds[r] ?? 0);
  }
  // Ranks of the home's node are counted as receivers above; their node's shared-tier time is the
  // home's (homeA2aSeconds), since it changes with the home's receives.
  return { maxOtherH, maxOtherRecv: Math.max(maxOtherRecv, maxOtherNodeSeconds(state, home)) };
}

/**
 * Chooses which of `ordered` receive expert e (prophet: only those that {@link canReceive}), walking them in order with an O(1) incremental
 * cost (after one O(numRanks) scan: only the home's H and A2A time fall, only receivers' H rise).
 * `takeAll` (paper): every rank in `ordered`. Otherwise a rank is taken when it lowers the
 * modelled cost of what was taken so far, or keeps it and lowers the local cost — the cost of the
 * home and the receivers alone. The local cost walks plateaus: while another rank sets a maximum,
 * relieving this home changes no global term, yet it is needed before any can. When no rank is
 * taken, the single rank with the lowest cost is, so the greedy sequence still moves (the best
 * prefix decides whether it is kept). Once a rank is taken, the walk ends after WALK_MISSES
 * ranks in a row are not. Returns the step with the cost after it.
 */
function chooseReceivers(
  search: Search,
  e: number,
  ordered: ArrayLike<number>,
  takeAll: boolean,
  others: OtherMaxima = otherMaxima(search.state, Math.floor(e / search.state.expertsPerRank)),
): Step {
  const { state, model } = search;
  const { numRanks, numExperts, counts, computed, recvSeconds } = state;
  const { intraNode, interNode } = model.profile;
  const home = Math.floor(e / state.expertsPerRank);
  const { maxOtherH, maxOtherRecv } = others;
  const share = paramBytesOf(model, e) / numRanks;
  let homeShare = (state.replicaCount[e] ?? 0) === 0 ? 1 : 0;
  let { trans, agg } = state;
  let homeH = computed[home] ?? 0;
  // With the shared tier the home's A2A time includes its node's (homeA2aSeconds).
  const shared = state.nodeTime !== null;
  let homeRecv = shared ? Math.max(recvSeconds[home] ?? 0, state.nodeSeconds[Math.floor(home / state.ranksPerNode)] ?? 0) : (recvSeconds[home] ?? 0);
  let intra = state.intraIn[home] ?? 0;
  let inter = state.interIn[home] ?? 0;
  let maxReceiverH = 0;
  let cost = layerSeconds(model, Math.max(maxOtherRecv, homeRecv), Math.max(maxOtherH, homeH), trans, agg);
  let local = layerSeconds(model, homeRecv, homeH, trans, agg);
  const receivers: number[] = [];
  let fallback = -1;
  let fallbackCost = Infinity;
  let misses = 0;
  for (let i = 0; i < ordered.length; i++) {
    const r = ordered[i] ?? 0;
    // Prophet orders ranks by decreasing slots: from the first without slots on, none can receive.
    if (!takeAll && !((counts[r * numExperts + e] ?? 0) > 0)) break;
    if (!takeAll && !canReceive(search, e, r)) continue;
    if (!takeAll && receivers.length > 0 && ++misses > WALK_MISSES) break;
    const c = counts[r * numExperts + e] ?? 0;
    const sameNodeAsHome = sameNode(model.profile, home, r);
    const tier = sameNodeAsHome ? intraNode : interNode;
    const tTrans = trans + share * (1 / tier.transBytesPerSecond + homeShare / intraNode.transBytesPerSecond);
    const tAgg = agg + share * (1 / tier.aggBytesPerSecond + homeShare / intraNode.aggBytesPerSecond);
    const tIntra = sameNodeAsHome ? intra - c : intra;
    const tInter = sameNodeAsHome ? inter : inter - c;
    const tReceiverH = Math.max(maxReceiverH, (computed[r] ?? 0) + c);
    const tMaxH = Math.max(maxOtherH, tReceiverH, homeH - c);
    // A lower bound (the home's A2A time at most falls to the others' maximum) rejects a rank
    // before its A2A time is priced, once the fallback no longer needs the exact cost.
    if (!takeAll && receivers.length > 0 && layerSeconds(model, maxOtherRecv, tMaxH, tTrans, tAgg) > cost) continue;
    // Transfer time never falls with more bytes, so once the home is not the slowest receiver
    // its time cannot matter to the global cost: price it only when it can.
    let tHomeRecv = homeRecv <= maxOtherRecv ? -1 : shared ? homeA2aSeconds(state, home, tIntra, tInter) : state.recvTime(tIntra, tInter);
    const tCost = layerSeconds(model, Math.max(maxOtherRecv, tHomeRecv), tMaxH, tTrans, tAgg);
    if (receivers.length === 0 && tCost < fallbackCost) {
      fallback = r;
      fallbackCost = tCost;
    }
    if (!takeAll && tCost > cost) continue;
    if (tHomeRecv < 0) tHomeRecv = shared ? homeA2aSeconds(state, home, tIntra, tInter) : state.recvTime(tIntra, tInter);
    const tLocal = layerSeconds(model, tHomeRecv, Math.max(tReceiverH, homeH - c), tTrans, tAgg);
    if (!takeAll && !(tCost < cost || tLocal < local)) continue;
    receivers.push(r);
    misses = 0;
    cost = tCost;
    local = tLocal;
    trans = tTrans;
    agg = tAgg;
    intra = tIntra;
    inter = tInter;
    homeRecv = tHomeRecv;
    maxReceiverH = tReceiverH;
    homeH -= c;
    homeShare = 0;
  }
  if (receivers.length === 0 && fallback >= 0) return { expert: e, receivers: [fallback], cost: fallbackCost };
  return { expert: e, receivers, cost };
}

/** Eq. 7: max H − min H < α·I/E. */
function balanced(state: SearchState, alpha: number, slots: number): boolean {
  if (alpha === 0) return false;
  let max = -Infinity;
  let min = Infinity;
  for (const h of state.computed) {
    if (h > max) max = h;
    if (h < min) min = h;
  }
  return max - min < (alpha * slots) / state.numExperts;
}

/** One greedy step: the expert, the ranks it is given to and the modelled cost after. */
interface Step {
  readonly expert: number;
  readonly receivers: ReadonlyArray<number>;
  readonly cost: number;
}

/** The next greedy step, or null when the search must stop. */
function nextStep(search: Search, picked: Uint8Array): Step | null {
  const { state, model, opts, pressure } = search;
  if (opts.variant === 'paper') {
    // Algorithm 1: the busiest rank's heaviest expert; a repeat ends the search.
    const e = pickExpert(search, state.computed, () => true, true);
    if (e < 0 || picked[e] === 1) return null;
    return chooseReceivers(search, e, paperReceivers(search, e), true);
  }
  let mostPressed = 0;
  for (let r = 0; r < state.numRanks; r++) {
    pressure[r] = rankPressure(model, state.computed[r] ?? 0, state.recvSeconds[r] ?? 0);
    if ((pressure[r] ?? 0) > (pressure[mostPressed] ?? 0)) mostPressed = r;
  }
  const first = pickExpert(search, pressure, (x) => hasCandidate(search, x), false, mostPressed);
  if (first < 0) return null;
  // Every eligible expert of that rank is tried; the one whose receivers cost least wins.
  const rank = Math.floor(first / state.expertsPerRank);
  const others = otherMaxima(state, rank);
  let best: Step | null = null;
  for (let e = rank * state.expertsPerRank; e < (rank + 1) * state.expertsPerRank; e++) {
    if (e !== first && !hasCandidate(search, e)) continue;
    const step = chooseReceivers(search, e, unhostedOrder(search, e), false, others);
    if (best === null || step.cost < best.cost) best = step;
  }
  return best;
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
  // Step 1: the state of plain expert parallelism; its cost is the prefix of length 0.
  const search: Search = {
    state: initialState(counts, model),
    model,
    opts,
    orders: new Array<Int32Array | undefined>(counts.numExperts),
    integerCounts: counts.data instanceof Int32Array || counts.data.every((v) => Number.isInteger(v) && v < 2 ** 31),
    pressure: new Float64Array(counts.numRanks),
    tried: new Uint8Array(counts.numRanks),
    hostedPrefix: new Int32Array(counts.numExperts),
  };
  const slots = totalSlots(counts);
  const picked = new Uint8Array(counts.numExperts);
  const steps: Step[] = [];
  let bestCost = stateCost(search.state, model);
  let bestLength = 0;
  // Step 2: greedy moves until Eq. 7 holds, nothing can move, or patience runs out.
  while (!balanced(search.state, opts.alpha, slots) && steps.length - bestLength < opts.patience) {
    const step = nextStep(search, picked);
    if (step === null) break;
    applyReceivers(search.state, model, step.expert, step.receivers);
    picked[step.expert] = 1;
    steps.push(step);
    if (step.cost < bestCost) [bestCost, bestLength] = [step.cost, steps.length];
  }
  // Step 3: the best prefix of the sequence (later steps undone); prophet then refines it.
  const kept = search.state;
  for (const step of steps.slice(bestLength).reverse()) {
    for (const r of [...step.receivers].reverse()) toggleReplica(kept, model, step.expert, r, -1);
  }
  if (opts.variant === 'paper') return placementOf(kept);
  const keptCost = polish(kept, model, opts);
  // Step 4 (prophet, small layers): a second start from the other extreme, every slot local,
  // thinned by the same local search; the cheaper result wins (ties: the greedy one).
  if (!opts.allLocalStart) return placementOf(kept);
  const local = allLocalState(search, counts);
  return polish(local, model, opts) < keptCost ? placementOf(local) : placementOf(kept);
}

/**
 * Local search rounds (single moves, then prefix removal) until the cost stops falling; on small
 * layers pair moves (swaps) follow.
 */
function polish(state: SearchState, model: PerfModel, opts: Resolved): number {
  let cost = stateCost(state, model);
  for (let round = 0; round < 2; round++) {
    const before = state.numToggles;
    const toggled = refineByToggles(state, model, opts.memoryBudgetBytes);
    // After a round, an unchanged state has no better prefix to drop (the last drop kept the best).
    if (round > 0 && state.numToggles === before) break;
    const refined = Math.min(toggled, dropReplicaPrefix(state, model));
    if (!(refined < cost)) break;
    cost = refined;
  }
  return opts.pairMoves ? refineByPairs(state, model, opts.memoryBudgetBytes) : cost;
}

/** Every rank hosting every expert it has slots for, as memory allows (experts, then ranks, in order). */
function allLocalState(search: Search, counts: CountMatrix): SearchState {
  const state = initialState(counts, search.model);
  const local: Search = { ...search, state };
  for (let e = 0; e < state.numExperts; e++) {
    for (let r = 0; r < state.numRanks; r++) if (canReceive(local, e, r)) applyReceivers(state, search.model, e, [r]);
  }
  return state;
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
