/**
 * Lightweight expert placements (Pro-Prophet §IV-A) as plain, serialisable data, and the pure
 * functions that say what a placement does to the token flow of one MoE layer.
 *
 * Expert e's home is rank `floor(e / expertsPerRank)` with `expertsPerRank = numExperts / numRanks`;
 * the home keeps the parameters and the optimizer state. A placement adds, per expert, a set of
 * replica ranks: they receive the parameters before the forward pass (Trans) and send their
 * gradients back to the home (Agg). A token slot of rank r for expert e is computed on r when r
 * hosts e (home or replica) and on home(e) otherwise. Routing (which expert) never changes, so
 * every slot is computed exactly once. The empty placement is plain expert parallelism.
 */
import { checkInteger, invalidType, invalidValue } from '../../errors.js';
import type { CountMatrix } from './stats.js';

/** One layer's placement. JSON round-trips unchanged. */
export interface Placement {
  readonly numRanks: number;
  readonly numExperts: number;
  /**
   * `replicas[e]`: the ranks other than home(e) that host expert e, strictly ascending. Length
   * numExperts; `[]` for an expert without replicas.
   */
  readonly replicas: ReadonlyArray<ReadonlyArray<number>>;
}

/** Experts per rank, E / W; throws unless W divides E. */
export function expertsPerRank(numRanks: number, numExperts: number): number {
  checkInteger('numRanks', numRanks, 1);
  checkInteger('numExperts', numExperts, 1);
  if (numExperts % numRanks !== 0) {
    throw invalidValue('numExperts', `a multiple of numRanks (${numRanks})`, numExperts);
  }
  return numExperts / numRanks;
}

/** Home rank of `expert`: floor(expert / expertsPerRank). */
export function homeRank(expert: number, numRanks: number, numExperts: number): number {
  return Math.floor(expert / (numExperts / numRanks));
}

/** The placement without replicas (plain expert parallelism). */
export function emptyPlacement(numRanks: number, numExperts: number): Placement {
  expertsPerRank(numRanks, numExperts);
  return { numRanks, numExperts, replicas: Array.from({ length: numExperts }, () => []) };
}

/**
 * Throws a TypeError/RangeError naming the offending field unless `placement` is well formed:
 * integer shape with W | E, one strictly ascending replica list per expert, ranks in
 * [0, numRanks) and never the expert's home. When `shape` is given the sizes must match it.
 */
export function validatePlacement(
  placement: Placement,
  name = 'placement',
  shape?: { readonly numRanks: number; readonly numExperts: number },
): Placement {
  if (placement === null || typeof placement !== 'object') throw invalidType(name, 'Placement', placement);
  const { numRanks, numExperts, replicas } = placement;
  checkInteger(`${name}.numRanks`, numRanks, 1);
  checkInteger(`${name}.numExperts`, numExperts, 1);
  if (numExperts % numRanks !== 0) {
    throw invalidValue(`${name}.numExperts`, `a multiple of numRanks (${numRanks})`, numExperts);
  }
  if (shape !== undefined && shape.numRanks !== numRanks) throw invalidValue(`${name}.numRanks`, `${shape.numRanks}`, numRanks);
  if (shape !== undefined && shape.numExperts !== numExperts) throw invalidValue(`${name}.numExperts`, `${shape.numExperts}`, numExperts);
  if (!Array.isArray(replicas)) throw invalidType(`${name}.replicas`, 'array', replicas);
  if (replicas.length !== numExperts) throw invalidValue(`${name}.replicas.length`, `${numExperts}`, replicas.length);
  replicas.forEach((ranks, e) => {
    const field = `${name}.replicas[${e}]`;
    if (!Array.isArray(ranks)) throw invalidType(field, 'array of ranks', ranks);
    const home = homeRank(e, numRanks, numExperts);
    ranks.forEach((r, i) => {
      checkInteger(`${field}[${i}]`, r, 0, numRanks - 1);
      if (r === home) throw invalidValue(`${field}[${i}]`, `a rank other than the home rank ${home}`, r);
      const prev = ranks[i - 1];
      if (prev !== undefined && r <= prev) throw invalidValue(`${field}[${i}]`, `a rank > ${prev} (strictly ascending)`, r);
    });
  });
  return placement;
}

/** Total number of replicas (Trans/Agg targets) in `placement`. */
export function numReplicas(placement: Placement): number {
  return placement.replicas.reduce((sum, ranks) => sum + ranks.length, 0);
}

/**
 * `hosts[e * numRanks + r]` = 1 when rank r hosts expert e (home or replica), else 0.
 * Shape `[numExperts][numRanks]`, flat.
 */
export function hostMask(placement: Placement): Uint8Array {
  const { numRanks, numExperts } = placement;
  const hosts = new Uint8Array(numExperts * numRanks);
  for (let e = 0; e < numExperts; e++) {
    hosts[e * numRanks + homeRank(e, numRanks, numExperts)] = 1;
    for (const r of placement.replicas[e] ?? []) hosts[e * numRanks + r] = 1;
  }
  return hosts;
}

/**
 * Where each token slot is computed: `dispatch[src * numRanks + dst]` = slots that rank `src`
 * has computed on rank `dst` (`dst = src` for local ones). Shape `[numRanks][numRanks]`, flat.
 * Row sums equal the rows of `counts` (conservation). Example: counts [[2,0],[3,1]] (W = E = 2)
 * with expert 0 replicated on rank 1 gives dispatch [[2,0],[0,4]].
 */
export function dispatchMatrix(counts: CountMatrix, placement: Placement): Float64Array {
  const { numRanks, numExperts } = checkShapes(counts, placement);
  const hosts = hostMask(placement);
  const dispatch = new Float64Array(numRanks * numRanks);
  for (let src = 0; src < numRanks; src++) {
    for (let e = 0; e < numExperts; e++) {
      const c = counts.data[src * numExperts + e] ?? 0;
      const dst = hosts[e * numRanks + src] === 1 ? src : homeRank(e, numRanks, numExperts);
      dispatch[src * numRanks + dst] = (dispatch[src * numRanks + dst] ?? 0) + c;
    }
  }
  return dispatch;
}

/** Per-rank loads implied by a placement: Table II's H (computed) and R (received). */
export interface RankLoads {
  /** H_i: token slots computed on rank i (its own local ones included). */
  readonly computed: Float64Array;
  /** R_i: token slots rank i receives from other ranks in the dispatch all-to-all. */
  readonly received: Float64Array;
}

/** H and R of `placement` for `counts` (one layer). */
export function rankLoads(counts: CountMatrix, placement: Placement): RankLoads {
  const { numRanks } = placement;
  const dispatch = dispatchMatrix(counts, placement);
  const computed = new Float64Array(numRanks);
  const received = new Float64Array(numRanks);
  for (let src = 0; src < numRanks; src++) {
    for (let dst = 0; dst < numRanks; dst++) {
      const c = dispatch[src * numRanks + dst] ?? 0;
      computed[dst] = (computed[dst] ?? 0) + c;
      if (src !== dst) received[dst] = (received[dst] ?? 0) + c;
    }
  }
  return { computed, received };
}

/**
 * Replica memory per rank in bytes: Σ over the replicas a rank hosts of
 * `2 × expertParamBytes[e]` (parameters plus their gradient buffer; replicas hold no optimizer
 * state). `expertParamBytes` is one size for all experts or one per expert.
 */
export function replicaBytesPerRank(placement: Placement, expertParamBytes: number | ReadonlyArray<number>): Float64Array {
  const bytes = new Float64Array(placement.numRanks);
  placement.replicas.forEach((ranks, e) => {
    const size = typeof expertParamBytes === 'number' ? expertParamBytes : (expertParamBytes[e] ?? 0);
    for (const r of ranks) bytes[r] = (bytes[r] ?? 0) + 2 * size;
  });
  return bytes;
}

function checkShapes(counts: CountMatrix, placement: Placement): { numRanks: number; numExperts: number } {
  if (counts.numRanks !== placement.numRanks) throw invalidValue('counts.numRanks', `${placement.numRanks} (placement.numRanks)`, counts.numRanks);
  if (counts.numExperts !== placement.numExperts) {
    throw invalidValue('counts.numExperts', `${placement.numExperts} (placement.numExperts)`, counts.numExperts);
  }
  return placement;
}
