/**
 * The search state of one layer's placement search and the moves on it, shared by the greedy
 * planner and its local refinement: loads H and R per rank kept up to date incrementally, so a
 * move costs O(1) and pricing a move O(1) (after O(numRanks) bookkeeping per accepted move).
 * Internal to the planner; the state is owned by one search and never escapes it.
 */
import { layerSeconds, nodePricer, paramBytesOf, receiverPricer, sameNode, type PerfModel } from './perfmodel.js';
import { expertsPerRank, type Placement } from './placement.js';
import type { CountMatrix } from './stats.js';

/** The mutable state of one layer's search (owned by the search; inputs are never written). */
export interface SearchState {
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
  /** The model's receiverSeconds with its curves compiled: (intra slots, inter slots) → seconds. */
  readonly recvTime: (intraTokens: number, interTokens: number) => number;
  /**
   * The node-level shared tier (`nodeA2a`): slots each node's ranks receive, their seconds, and
   * the model's nodeSeconds compiled (null without the tier: then nodeIn/nodeSeconds stay 0).
   */
  readonly ranksPerNode: number;
  readonly nodeIn: Float64Array;
  readonly nodeSeconds: Float64Array;
  readonly nodeTime: ((tokens: number) => number) | null;
  /** Replica bytes per rank, and replicas per expert. */
  readonly memoryUsed: Float64Array;
  readonly replicaCount: Int32Array;
  /**
   * Per expert: the slots of ranks not hosting it (they travel to its home), and how many such
   * ranks send it at least one slot (its possible receivers, memory aside).
   */
  readonly remoteSlots: Float64Array;
  readonly remoteRanks: Int32Array;
  /** Replica toggles applied so far (tells a caller whether a refinement changed anything). */
  numToggles: number;
  trans: number;
  agg: number;
}

/** The state of the empty placement (plain expert parallelism). */
export function initialState(counts: CountMatrix, model: PerfModel): SearchState {
  const { numRanks, numExperts } = counts;
  const perRank = expertsPerRank(numRanks, numExperts);
  const state: SearchState = {
    numRanks,
    numExperts,
    expertsPerRank: perRank,
    counts: new Float64Array(counts.data),
    hosts: new Uint8Array(numExperts * numRanks),
    computed: new Float64Array(numRanks),
    intraIn: new Float64Array(numRanks),
    interIn: new Float64Array(numRanks),
    recvSeconds: new Float64Array(numRanks),
    recvTime: receiverPricer(model),
    ranksPerNode: model.profile.ranksPerNode,
    nodeIn: new Float64Array(Math.floor((numRanks - 1) / model.profile.ranksPerNode) + 1),
    nodeSeconds: new Float64Array(Math.floor((numRanks - 1) / model.profile.ranksPerNode) + 1),
    nodeTime: nodePricer(model),
    memoryUsed: new Float64Array(numRanks),
    replicaCount: new Int32Array(numExperts),
    remoteSlots: new Float64Array(numExperts),
    remoteRanks: new Int32Array(numExperts),
    numToggles: 0,
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
      state.remoteSlots[e] = (state.remoteSlots[e] ?? 0) + c;
      if (c > 0) state.remoteRanks[e] = (state.remoteRanks[e] ?? 0) + 1;
      const tierIn = sameNode(model.profile, src, home) ? state.intraIn : state.interIn;
      tierIn[home] = (tierIn[home] ?? 0) + c;
    }
  }
  for (let r = 0; r < numRanks; r++) state.recvSeconds[r] = state.recvTime(state.intraIn[r] ?? 0, state.interIn[r] ?? 0);
  if (state.nodeTime !== null) {
    for (let r = 0; r < numRanks; r++) {
      const n = Math.floor(r / state.ranksPerNode);
      state.nodeIn[n] = (state.nodeIn[n] ?? 0) + (state.intraIn[r] ?? 0) + (state.interIn[r] ?? 0);
    }
    for (let n = 0; n < state.nodeIn.length; n++) state.nodeSeconds[n] = state.nodeTime(state.nodeIn[n] ?? 0);
  }
  return state;
}

/**
 * The A2A seconds that `home` sets if it received `intra` + `inter` slots instead of its current
 * ones: its own receiver time, or its node's shared-tier time with the difference applied,
 * whichever is longer (only these two change when the home's receives change).
 */
export function homeA2aSeconds(state: SearchState, home: number, intra: number, inter: number): number {
  const recv = state.recvTime(intra, inter);
  if (state.nodeTime === null) return recv;
  const n = Math.floor(home / state.ranksPerNode);
  const total = (state.nodeIn[n] ?? 0) + intra + inter - (state.intraIn[home] ?? 0) - (state.interIn[home] ?? 0);
  return Math.max(recv, state.nodeTime(total));
}

/** The largest shared-tier seconds over the nodes other than `home`'s (0 without the tier). */
export function maxOtherNodeSeconds(state: SearchState, home: number): number {
  if (state.nodeTime === null) return 0;
  const skip = Math.floor(home / state.ranksPerNode);
  let max = 0;
  for (let n = 0; n < state.nodeSeconds.length; n++) if (n !== skip) max = Math.max(max, state.nodeSeconds[n] ?? 0);
  return max;
}

/** The modelled seconds of the current state (Eq. 6/8). */
export function stateCost(state: SearchState, model: PerfModel): number {
  let maxRecv = 0;
  let maxH = 0;
  for (let r = 0; r < state.numRanks; r++) {
    maxRecv = Math.max(maxRecv, state.recvSeconds[r] ?? 0);
    maxH = Math.max(maxH, state.computed[r] ?? 0);
  }
  for (const t of state.nodeSeconds) maxRecv = Math.max(maxRecv, t);
  return layerSeconds(model, maxRecv, maxH, state.trans, state.agg);
}

/** Whether rank r can take a replica of expert e within the memory budget. */
export function hasRoom(state: SearchState, model: PerfModel, budget: number, e: number, r: number): boolean {
  return (state.memoryUsed[r] ?? 0) + 2 * paramBytesOf(model, e) <= budget;
}

/**
 * Adds (`sign` = 1) or removes (`sign` = -1) rank r as a replica of expert e, updating loads,
 * the home's A2A time (unless `refreshHome` is false: the caller refreshes it once), Trans/Agg (the home's share comes with the first replica and goes with the
 * last) and memory.
 */
export function toggleReplica(state: SearchState, model: PerfModel, e: number, r: number, sign: 1 | -1, refreshHome = true): void {
  const { numRanks, numExperts, counts } = state;
  const home = Math.floor(e / state.expertsPerRank);
  const share = paramBytesOf(model, e) / numRanks;
  const { intraNode, interNode } = model.profile;
  const c = sign * (counts[r * numExperts + e] ?? 0);
  const intra = sameNode(model.profile, home, r);
  const tier = intra ? intraNode : interNode;
  const homeShare = (state.replicaCount[e] ?? 0) === (sign === 1 ? 0 : 1) ? 1 : 0;
  state.hosts[e * numRanks + r] = sign === 1 ? 1 : 0;
  state.computed[r] = (state.computed[r] ?? 0) + c;
  state.computed[home] = (state.computed[home] ?? 0) - c;
  if (intra) state.intraIn[home] = (state.intraIn[home] ?? 0) - c;
  else state.interIn[home] = (state.interIn[home] ?? 0) - c;
  if (state.nodeTime !== null) {
    const n = Math.floor(home / state.ranksPerNode);
    state.nodeIn[n] = (state.nodeIn[n] ?? 0) - c;
    if (refreshHome) state.nodeSeconds[n] = state.nodeTime(state.nodeIn[n] ?? 0);
  }
  if (refreshHome) state.recvSeconds[home] = state.recvTime(state.intraIn[home] ?? 0, state.interIn[home] ?? 0);
  state.trans += sign * share * (1 / tier.transBytesPerSecond + homeShare / intraNode.transBytesPerSecond);
  state.agg += sign * share * (1 / tier.aggBytesPerSecond + homeShare / intraNode.aggBytesPerSecond);
  state.memoryUsed[r] = (state.memoryUsed[r] ?? 0) + sign * 2 * paramBytesOf(model, e);
  state.replicaCount[e] = (state.replicaCount[e] ?? 0) + sign;
  state.numToggles++;
  state.remoteSlots[e] = (state.remoteSlots[e] ?? 0) - c;
  if (c !== 0) state.remoteRanks[e] = (state.remoteRanks[e] ?? 0) - sign;
}

/** Gives expert e to each of `receivers`. */
export function applyReceivers(state: SearchState, model: PerfModel, e: number, receivers: ReadonlyArray<number>): void {
  for (const r of receivers) toggleReplica(state, model, e, r, 1, false);
  const home = Math.floor(e / state.expertsPerRank);
  state.recvSeconds[home] = state.recvTime(state.intraIn[home] ?? 0, state.interIn[home] ?? 0);
  if (state.nodeTime !== null) {
    const n = Math.floor(home / state.ranksPerNode);
    state.nodeSeconds[n] = state.nodeTime(state.nodeIn[n] ?? 0);
  }
}

/**
 * Writes the indices of the `top.length` largest values into `top` (ties: lower index first; -1
 * pads when there are fewer values), for O(1) "max excluding". Allocation-free insertion.
 */
function topIndices(values: Float64Array, top: Int32Array): Int32Array {
  const k = top.length;
  top.fill(-1);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] ?? 0;
    let at = k;
    while (at > 0 && ((top[at - 1] ?? -1) < 0 || v > (values[top[at - 1] ?? 0] ?? 0))) at--;
    if (at >= k) continue;
    for (let j = k - 1; j > at; j--) top[j] = top[j - 1] ?? -1;
    top[at] = i;
  }
  return top;
}

function maxExcluding(values: Float64Array, top: Int32Array, a: number, b: number): number {
  for (let j = 0; j < top.length; j++) {
    const i = top[j] ?? -1;
    if (i >= 0 && i !== a && i !== b) return values[i] ?? 0;
  }
  return 0;
}

/**
 * Modelled cost after toggling replica (e, r) (`sign` 1 adds, -1 removes) without changing the
 * state: O(1) given the top-3 ranks by H, top-2 by A2A time and top-2 nodes by shared-tier time.
 * When a lower bound already exceeds `bound`, the bound is returned instead (the move is rejected
 * either way); otherwise the cost is exact (the same arithmetic as {@link toggleReplica} then
 * {@link stateCost}) and the home's new receiver seconds are written to `homeRecvOut[0]`.
 */
function toggleCost(
  state: SearchState,
  model: PerfModel,
  e: number,
  r: number,
  sign: 1 | -1,
  topH: Int32Array,
  topRecv: Int32Array,
  topNode: Int32Array,
  bound: number,
  homeRecvOut: Float64Array,
): number {
  const { numRanks, numExperts, counts, computed } = state;
  const home = Math.floor(e / state.expertsPerRank);
  const { intraNode, interNode } = model.profile;
  const c = sign * (counts[r * numExperts + e] ?? 0);
  const intra = sameNode(model.profile, home, r);
  const tier = intra ? intraNode : interNode;
  const share = paramBytesOf(model, e) / numRanks;
  const homeShare = (state.replicaCount[e] ?? 0) === (sign === 1 ? 0 : 1) ? 1 : 0;
  const trans = state.trans + sign * share * (1 / tier.transBytesPerSecond + homeShare / intraNode.transBytesPerSecond);
  const agg = state.agg + sign * share * (1 / tier.aggBytesPerSecond + homeShare / intraNode.aggBytesPerSecond);
  const maxH = Math.max(maxExcluding(computed, topH, r, home), (computed[r] ?? 0) + c, (computed[home] ?? 0) - c);
  const { nodeTime } = state;
  const homeNode = nodeTime === null ? 0 : Math.floor(home / state.ranksPerNode);
  let otherRecv = maxExcluding(state.recvSeconds, topRecv, home, home);
  if (nodeTime !== null) otherRecv = Math.max(otherRecv, maxExcluding(state.nodeSeconds, topNode, homeNode, homeNode));
  // The home's A2A time (and its node's) falls when adding and rises when removing: bound it
  // before pricing it.
  const lowerRecv = sign === 1 ? otherRecv : Math.max(otherRecv, state.recvSeconds[home] ?? 0, state.nodeSeconds[homeNode] ?? 0);
  const lower = layerSeconds(model, lowerRecv, maxH, trans, agg);
  if (lower > bound) return lower;
  const homeRecv = state.recvTime((state.intraIn[home] ?? 0) - (intra ? c : 0), (state.interIn[home] ?? 0) - (intra ? 0 : c));
  homeRecvOut[0] = homeRecv;
  const homeNodeSeconds = nodeTime === null ? 0 : nodeTime((state.nodeIn[homeNode] ?? 0) - c);
  return layerSeconds(model, Math.max(otherRecv, homeRecv, homeNodeSeconds), maxH, trans, agg);
}

/** A rank's own modelled time, 3·FEC(H_r) + 4·A2A_r (seconds): the pressure on it. */
export function rankPressure(model: PerfModel, computed: number, recvSeconds: number): number {
  return 3 * computed * model.profile.expertSecondsPerToken + 4 * recvSeconds;
}

/**
 * Marks the ranks near a maximum, the only ranks where a single move can lower the cost or
 * settle a tie: H ≥ (1 − slack)·max H or A2A time ≥ (1 − slack)·max A2A time. Returns whether any
 * Trans/Agg time is exposed (then every removal saves time and is worth pricing).
 */
function markCritical(state: SearchState, model: PerfModel, critical: Uint8Array, list: number[], slack = 0.02): boolean {
  let maxH = 0;
  let maxRecv = 0;
  for (let r = 0; r < state.numRanks; r++) {
    maxH = Math.max(maxH, state.computed[r] ?? 0);
    maxRecv = Math.max(maxRecv, state.recvSeconds[r] ?? 0);
  }
  for (const t of state.nodeSeconds) maxRecv = Math.max(maxRecv, t);
  list.length = 0;
  const shared = state.nodeTime !== null && maxRecv > 0;
  for (let r = 0; r < state.numRanks; r++) {
    // A rank on a node whose shared tier sets the A2A time relieves it by receiving less.
    const nodeNear = shared && (state.nodeSeconds[Math.floor(r / state.ranksPerNode)] ?? 0) >= (1 - slack) * maxRecv;
    const near = (state.computed[r] ?? 0) >= (1 - slack) * maxH || (state.recvSeconds[r] ?? 0) >= (1 - slack) * maxRecv || nodeNear;
    critical[r] = near ? 1 : 0;
    if (near) list.push(r);
  }
  return layerSeconds(model, maxRecv, maxH, state.trans, state.agg) > layerSeconds(model, maxRecv, maxH, 0, 0);
}

/**
 * Prophet's local search after the greedy prefix: single-replica moves (drop a replica, or add a
 * rank that holds the expert's slots and has room), scanning experts then ranks in increasing
 * order, until a pass changes nothing (at most `maxPasses`). A move is taken when it lowers the
 * modelled cost, or keeps it and lowers Σ_r pressure_r² (so ties at the maximum, where no single
 * move can lower the cost, are walked off). Only moves touching a rank near a maximum are priced
 * (adds relieve the home, removals relieve the replica rank), plus every removal while Trans/Agg
 * time is exposed. Returns the final cost.
 */
export function refineByToggles(state: SearchState, model: PerfModel, budget: number, maxPasses = 2): number {
  const { numRanks, numExperts, counts, hosts, computed, recvSeconds } = state;
  let current = stateCost(state, model);
  const topH = topIndices(computed, new Int32Array(3));
  const topRecv = topIndices(recvSeconds, new Int32Array(2));
  const topNode = topIndices(state.nodeSeconds, new Int32Array(2));
  const critical = new Uint8Array(numRanks);
  const criticalRanks: number[] = [];
  // A snapshot of the critical ranks for one expert's scan (markCritical rewrites the list).
  const criticalSnapshot = new Int32Array(numRanks);
  const homeRecvAfter = new Float64Array(1);
  let exposed = markCritical(state, model, critical, criticalRanks);
  const pressure = (r: number) => rankPressure(model, computed[r] ?? 0, recvSeconds[r] ?? 0);
  for (let pass = 0, changed = true; changed && pass < maxPasses; pass++) {
    changed = false;
    for (let e = 0; e < numExperts; e++) {
      const home = Math.floor(e / state.expertsPerRank);
      // Unless the home is critical (adds) or Trans/Agg is exposed (any removal), only replicas
      // on critical ranks can be worth a move.
      const everyRank = critical[home] === 1 || exposed;
      if (!everyRank) criticalSnapshot.set(criticalRanks);
      const numCandidates = everyRank ? numRanks : criticalRanks.length;
      for (let i = 0; i < numCandidates; i++) {
        const r = everyRank ? i : (criticalSnapshot[i] ?? 0);
        if (r === home) continue;
        const hosted = hosts[e * numRanks + r] === 1;
        if (hosted ? critical[r] === 0 && !exposed : critical[home] === 0) continue;
        if (!hosted && ((counts[r * numExperts + e] ?? 0) === 0 || !hasRoom(state, model, budget, e, r))) continue;
        const sign = hosted ? -1 : 1;
        const limit = current * (1 + 1e-12);
        // Priced without touching the state; only an accepted move is applied.
        const cost = toggleCost(state, model, e, r, sign, topH, topRecv, topNode, limit, homeRecvAfter);
        if (cost > limit) continue;
        const c = sign * (counts[r * numExperts + e] ?? 0);
        const before = pressure(r) ** 2 + pressure(home) ** 2;
        const after =
          rankPressure(model, (computed[r] ?? 0) + c, recvSeconds[r] ?? 0) ** 2 + rankPressure(model, (computed[home] ?? 0) - c, homeRecvAfter[0] ?? 0) ** 2;
        if (cost < current * (1 - 1e-12) || after < before * (1 - 1e-9)) {
          toggleReplica(state, model, e, r, sign);
          current = Math.min(current, cost);
          topIndices(computed, topH);
          topIndices(recvSeconds, topRecv);
          topIndices(state.nodeSeconds, topNode);
          exposed = markCritical(state, model, critical, criticalRanks);
          changed = true;
        }
      }
    }
  }
  return stateCost(state, model);
}

/**
 * Removes replicas as a best prefix: replicas ordered by the slots they keep local (fewest first;
 * ties: lower expert, then lower rank) are removed one after another and the prefix with the
 * lowest cost is kept removed (ties: the longer prefix, fewer replicas). Unlike single moves this
 * crosses the hump of the first removal raising a maximum. Returns the final cost.
 */
export function dropReplicaPrefix(state: SearchState, model: PerfModel): number {
  const { numRanks, numExperts, counts, hosts } = state;
  const ids: number[] = [];
  for (let e = 0; e < numExperts; e++) {
    const home = Math.floor(e / state.expertsPerRank);
    for (let r = 0; r < numRanks; r++) if (r !== home && hosts[e * numRanks + r] === 1) ids.push(e * numRanks + r);
  }
  const slots = (id: number) => counts[(id % numRanks) * numExperts + Math.floor(id / numRanks)] ?? 0;
  const order = sortedBySlots(ids, slots, numRanks * numExperts);
  // Price the removals on scratch copies, then apply only the best prefix to the state.
  const computed = new Float64Array(state.computed);
  const intraIn = new Float64Array(state.intraIn);
  const interIn = new Float64Array(state.interIn);
  const nodeIn = new Float64Array(state.nodeIn);
  const replicaCount = new Int32Array(state.replicaCount);
  let { trans, agg } = state;
  let maxH = 0;
  let maxRecv = 0;
  for (let r = 0; r < numRanks; r++) {
    maxH = Math.max(maxH, computed[r] ?? 0);
    maxRecv = Math.max(maxRecv, state.recvSeconds[r] ?? 0);
  }
  for (const t of state.nodeSeconds) maxRecv = Math.max(maxRecv, t);
  let best = layerSeconds(model, maxRecv, maxH, trans, agg);
  let bestLength = 0;
  const { intraNode, interNode } = model.profile;
  // Homes whose A2A time has risen but is not yet folded into maxRecv: it is priced only when a
  // prefix could be the best, since maxRecv (a lower bound until then) already rules most out.
  const stale = new Uint8Array(numRanks);
  const staleHomes: number[] = [];
  for (let i = 0; i < order.length; i++) {
    const id = order[i] ?? 0;
    const e = Math.floor(id / numRanks);
    const r = id % numRanks;
    const home = Math.floor(e / state.expertsPerRank);
    const c = counts[r * numExperts + e] ?? 0;
    const intra = sameNode(model.profile, home, r);
    const tier = intra ? intraNode : interNode;
    const share = paramBytesOf(model, e) / numRanks;
    const homeShare = replicaCount[e] === 1 ? 1 : 0;
    const replicaWasMax = (computed[r] ?? 0) === maxH;
    computed[r] = (computed[r] ?? 0) - c;
    computed[home] = (computed[home] ?? 0) + c;
    if (intra) intraIn[home] = (intraIn[home] ?? 0) + c;
    else interIn[home] = (interIn[home] ?? 0) + c;
    const homeNode = Math.floor(home / state.ranksPerNode);
    nodeIn[homeNode] = (nodeIn[homeNode] ?? 0) + c;
    trans -= share * (1 / tier.transBytesPerSecond + homeShare / intraNode.transBytesPerSecond);
    agg -= share * (1 / tier.aggBytesPerSecond + homeShare / intraNode.aggBytesPerSecond);
    replicaCount[e] = (replicaCount[e] ?? 0) - 1;
    // Removal raises only the home's H and A2A time and lowers only r's H: keep maxima in O(1),
    // rescanning H only when r held its maximum.
    if (stale[home] === 0) {
      stale[home] = 1;
      staleHomes.push(home);
    }
    if (replicaWasMax) {
      maxH = 0;
      for (let q = 0; q < numRanks; q++) maxH = Math.max(maxH, computed[q] ?? 0);
    } else maxH = Math.max(maxH, computed[home] ?? 0);
    // A2A times (receivers' and nodes') never fall here, so the cost with the stale maxRecv is a
    // lower bound.
    if (layerSeconds(model, maxRecv, maxH, trans, agg) > best) continue;
    for (const q of staleHomes) {
      maxRecv = Math.max(maxRecv, state.recvTime(intraIn[q] ?? 0, interIn[q] ?? 0));
      if (state.nodeTime !== null) maxRecv = Math.max(maxRecv, state.nodeTime(nodeIn[Math.floor(q / state.ranksPerNode)] ?? 0));
      stale[q] = 0;
    }
    staleHomes.length = 0;
    const cost = layerSeconds(model, maxRecv, maxH, trans, agg);
    if (cost <= best) {
      best = cost;
      bestLength = i + 1;
    }
  }
  for (let i = 0; i < bestLength; i++) {
    const id = order[i] ?? 0;
    toggleReplica(state, model, Math.floor(id / numRanks), id % numRanks, -1);
  }
  return stateCost(state, model);
}

/**
 * Pair moves for small layers: every pair of replica toggles (e, r), (f, q) over the candidate
 * replicas (non-home ranks holding the expert's slots), a single toggle included as the pair of
 * a candidate with itself. A pair is applied when the modelled cost falls (first improvement, in
 * increasing candidate order: expert, then rank) and a pass repeats until none does, at most
 * `maxPasses`. This takes swaps (a replica moved to another rank of the same expert, or one
 * expert's replica traded for another's) that single moves cannot, since each half alone raises
 * the cost. O(candidates² × numRanks) per pass: meant for layers with W·E ≤ 64. Adds respect the
 * memory budget. Returns the final cost.
 */
export function refineByPairs(state: SearchState, model: PerfModel, budget: number, maxPasses = 4): number {
  const { numRanks, numExperts, counts, hosts } = state;
  const candidates: number[] = [];
  for (let e = 0; e < numExperts; e++) {
    const home = Math.floor(e / state.expertsPerRank);
    for (let r = 0; r < numRanks; r++) if (r !== home && (counts[r * numExperts + e] ?? 0) > 0) candidates.push(e * numRanks + r);
  }
  // Toggles candidate `id`; false (and nothing changes) when an add has no memory room.
  const toggle = (id: number): boolean => {
    const e = Math.floor(id / numRanks);
    const r = id % numRanks;
    if (hosts[id] === 1) toggleReplica(state, model, e, r, -1);
    else if (hasRoom(state, model, budget, e, r)) toggleReplica(state, model, e, r, 1);
    else return false;
    return true;
  };
  let current = stateCost(state, model);
  for (let pass = 0, changed = true; changed && pass < maxPasses; pass++) {
    changed = false;
    for (let i = 0; i < candidates.length; i++) {
      for (let j = i; j < candidates.length; j++) {
        const a = candidates[i] ?? 0;
        const b = candidates[j] ?? 0;
        if (!toggle(a)) break;
        if (j !== i && !toggle(b)) {
          toggle(a);
          continue;
        }
        const cost = stateCost(state, model);
        if (cost < current * (1 - 1e-12)) {
          current = cost;
          changed = true;
          continue;
        }
        if (j !== i) toggle(b);
        toggle(a);
      }
    }
  }
  return current;
}

/**
 * Sorts distinct numeric keys ascending in place: insertion sort up to 64 keys (the native typed
 * array sort has a fixed cost that dominates for the planner's short per-expert lists).
 */
export function sortKeys(keys: Float64Array): Float64Array {
  if (keys.length > 64) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i] ?? 0;
    let j = i - 1;
    while (j >= 0 && (keys[j] ?? 0) > k) {
      keys[j + 1] = keys[j] ?? 0;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

/**
 * `ids` (distinct, in [0, numIds)) by increasing `slots(id)`, ties by lower id. With integer slots
 * the key `slots · numIds + id` is exact and sorts natively, without a comparator.
 */
function sortedBySlots(ids: ReadonlyArray<number>, slots: (id: number) => number, numIds: number): Int32Array {
  const keys = new Float64Array(ids.length);
  let exact = true;
  for (let i = 0; i < ids.length && exact; i++) {
    const id = ids[i] ?? 0;
    const s = slots(id);
    keys[i] = s * numIds + id;
    exact = Number.isInteger(s) && s >= 0 && s * numIds + id < Number.MAX_SAFE_INTEGER;
  }
  if (exact) {
    sortKeys(keys);
    const order = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) order[i] = (keys[i] ?? 0) % numIds;
    return order;
  }
  return Int32Array.from(ids).sort((a, b) => slots(a) - slots(b) || a - b);
}

export function placementOf(state: SearchState): Placement {
  const { numRanks, numExperts, hosts } = state;
  const replicas = Array.from({ length: numExperts }, (_, e) => {
    const home = Math.floor(e / state.expertsPerRank);
    const ranks: number[] = [];
    for (let r = 0; r < numRanks; r++) if (r !== home && hosts[e * numRanks + r] === 1) ranks.push(r);
    return ranks;
  });
  return { numRanks, numExperts, replicas };
}

