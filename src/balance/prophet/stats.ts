/**
 * Routing statistics for the Pro-Prophet planner: the per-layer count matrix, a bounded history,
 * locality between iterations and the balance metrics (BD, RB, max/mean, maxvio).
 *
 * Representation: a count matrix `counts: [numRanks][numExperts]` is stored flat and row-major,
 * `data[srcRank * numExperts + expert]` = token slots that `srcRank` routes to `expert` (with
 * top-k routing one token is k slots). Observed counts are an `Int32Array` (integers, as the
 * all-gather delivers them); predicted counts (an EMA) are a `Float64Array`. Every function here
 * accepts both and never writes to its inputs.
 */
import { checkInteger, invalidType, invalidValue } from '../../errors.js';

/** `counts: [numRanks][numExperts]`, flat row-major; see the module comment. */
export interface CountMatrix {
  readonly numRanks: number;
  readonly numExperts: number;
  /** Length numRanks * numExperts; non-negative finite numbers. Never mutated by this library. */
  readonly data: Int32Array | Float64Array;
}

/**
 * Builds an integer count matrix from rows `[numRanks][numExperts]`.
 * Example: `countMatrix([[2, 0], [3, 1]])` → numRanks 2, numExperts 2, data Int32Array [2,0,3,1].
 */
export function countMatrix(rows: ReadonlyArray<ArrayLike<number>>, name = 'rows'): CountMatrix {
  if (!Array.isArray(rows)) throw invalidType(name, 'array of rows', rows);
  const numRanks = rows.length;
  if (numRanks === 0) throw invalidValue(name, 'at least one row', rows);
  const numExperts = rows[0]?.length ?? 0;
  const data = new Int32Array(numRanks * numExperts);
  for (let r = 0; r < numRanks; r++) {
    const row = rows[r];
    if (row === undefined || row.length !== numExperts) {
      throw invalidValue(`${name}[${r}]`, `row of length ${numExperts}`, row);
    }
    for (let e = 0; e < numExperts; e++) {
      data[r * numExperts + e] = checkInteger(`${name}[${r}][${e}]`, row[e], 0, 0x7fffffff);
    }
  }
  return validateCountMatrix({ numRanks, numExperts, data }, name);
}

/** Returns `counts` as rows `[numRanks][numExperts]` (for printing and tests). */
export function toRows(counts: CountMatrix): number[][] {
  const rows: number[][] = [];
  for (let r = 0; r < counts.numRanks; r++) {
    rows.push(Array.from(counts.data.subarray(r * counts.numExperts, (r + 1) * counts.numExperts)));
  }
  return rows;
}

/** Throws a RangeError/TypeError naming `name` unless `counts` is a well-formed count matrix. */
export function validateCountMatrix(counts: CountMatrix, name = 'counts'): CountMatrix {
  if (counts === null || typeof counts !== 'object') throw invalidType(name, 'CountMatrix', counts);
  checkInteger(`${name}.numRanks`, counts.numRanks, 1);
  checkInteger(`${name}.numExperts`, counts.numExperts, 1);
  const { data } = counts;
  if (!(data instanceof Int32Array) && !(data instanceof Float64Array)) {
    throw invalidType(`${name}.data`, 'Int32Array or Float64Array', data);
  }
  const expected = counts.numRanks * counts.numExperts;
  if (data.length !== expected) throw invalidValue(`${name}.data.length`, `${expected}`, data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i] ?? 0;
    if (!(v >= 0) || !Number.isFinite(v)) {
      const at = `${name}[${Math.floor(i / counts.numExperts)}][${i % counts.numExperts}]`;
      throw invalidValue(at, 'finite number >= 0', v);
    }
  }
  return counts;
}

/** Load per expert: `expertLoads[e] = Σ_r counts[r][e]` (token slots). */
export function expertLoads(counts: CountMatrix): Float64Array {
  const { numRanks, numExperts, data } = counts;
  const loads = new Float64Array(numExperts);
  for (let r = 0; r < numRanks; r++) {
    for (let e = 0; e < numExperts; e++) loads[e] = (loads[e] ?? 0) + (data[r * numExperts + e] ?? 0);
  }
  return loads;
}

/** Total token slots I of the iteration (Eq. 7's I). */
export function totalSlots(counts: CountMatrix): number {
  let sum = 0;
  for (const v of counts.data) sum += v;
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Bounded history: a pure ring buffer of per-iteration, per-layer count matrices.

/** The last `capacity` iterations, oldest first: `iterations[i][layer]`. Plain data. */
export interface CountHistory {
  readonly capacity: number;
  readonly iterations: ReadonlyArray<ReadonlyArray<CountMatrix>>;
}

/** An empty history holding at most `capacity` iterations. */
export function emptyHistory(capacity: number): CountHistory {
  return { capacity: checkInteger('capacity', capacity, 1), iterations: [] };
}

/**
 * Returns a new history with `layers` (one count matrix per layer) appended and the oldest
 * iteration dropped when full. The input history is unchanged. All iterations must have the same
 * number of layers and shapes.
 */
export function pushHistory(history: CountHistory, layers: ReadonlyArray<CountMatrix>): CountHistory {
  const first = history.iterations[0];
  if (first !== undefined && first.length !== layers.length) {
    throw invalidValue('layers.length', `${first.length} (the history's layer count)`, layers.length);
  }
  layers.forEach((m, l) => {
    validateCountMatrix(m, `layers[${l}]`);
    const ref = first?.[l];
    if (ref !== undefined && (ref.numRanks !== m.numRanks || ref.numExperts !== m.numExperts)) {
      throw invalidValue(`layers[${l}]`, `shape [${ref.numRanks}][${ref.numExperts}]`, `[${m.numRanks}][${m.numExperts}]`);
    }
  });
  const kept = history.iterations.slice(Math.max(0, history.iterations.length + 1 - history.capacity));
  return { capacity: history.capacity, iterations: [...kept, layers] };
}

/** The history of one layer, oldest first. */
export function layerHistory(history: CountHistory, layer: number): CountMatrix[] {
  return history.iterations.map((it) => {
    const m = it[layer];
    if (m === undefined) throw invalidValue('layer', `integer in [0, ${it.length - 1}]`, layer);
    return m;
  });
}

// ---------------------------------------------------------------------------------------------
// Locality between iterations.

/** Cosine similarity of two expert-load vectors (1 when both are all zero). */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw invalidValue('b.length', `${a.length}`, b.length);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

/** Indices of the k largest values; ties go to the lower index. */
export function topK(values: ArrayLike<number>, k: number): number[] {
  checkInteger('k', k, 0, values.length);
  const order = Array.from({ length: values.length }, (_, i) => i);
  order.sort((i, j) => (values[j] ?? 0) - (values[i] ?? 0) || i - j);
  return order.slice(0, k);
}

/** |topK(a) ∩ topK(b)| / k, in [0, 1]; 1 when k = 0. */
export function topKOverlap(a: ArrayLike<number>, b: ArrayLike<number>, k: number): number {
  if (k === 0) return 1;
  const inA = new Set(topK(a, k));
  return topK(b, k).filter((i) => inA.has(i)).length / k;
}

/** Locality of one layer over a sequence of iterations (Pro-Prophet §II-B, made numeric). */
export interface LocalityReport {
  /** Transitions measured: sequence length − 1. */
  readonly numTransitions: number;
  /** Mean cosine similarity of consecutive expert-load vectors. */
  readonly meanCosine: number;
  /** Share of transitions in which the hottest expert stays the hottest. */
  readonly hottestKeptShare: number;
  /** Mean top-k overlap of consecutive iterations. */
  readonly meanTopKOverlap: number;
}

/**
 * Locality of `sequence` (one layer, oldest first). With fewer than 2 entries every measure is
 * NaN. Example: two identical iterations give meanCosine 1, hottestKeptShare 1, overlap 1.
 */
export function locality(sequence: ReadonlyArray<CountMatrix>, k = 3): LocalityReport {
  let cos = 0;
  let kept = 0;
  let overlap = 0;
  const loads = sequence.map(expertLoads);
  for (let i = 1; i < loads.length; i++) {
    const prev = loads[i - 1] as Float64Array;
    const next = loads[i] as Float64Array;
    cos += cosineSimilarity(prev, next);
    if (topK(prev, 1)[0] === topK(next, 1)[0]) kept++;
    overlap += topKOverlap(prev, next, Math.min(k, prev.length));
  }
  const n = Math.max(0, loads.length - 1);
  return { numTransitions: n, meanCosine: cos / n, hottestKeptShare: kept / n, meanTopKOverlap: overlap / n };
}

// ---------------------------------------------------------------------------------------------
// Balance metrics.

/** Balance degree BD (Pro-Prophet §VI): population standard deviation of `loads`. */
export function balanceDegree(loads: ArrayLike<number>): number {
  const n = loads.length;
  if (n === 0) return 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += loads[i] ?? 0;
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += ((loads[i] ?? 0) - mean) ** 2;
  return Math.sqrt(v / n);
}

/** RB = BD before / BD after; 1 when both are 0, Infinity when only `after` is 0. */
export function balanceRatio(before: ArrayLike<number>, after: ArrayLike<number>): number {
  const b = balanceDegree(before);
  const a = balanceDegree(after);
  if (a === 0) return b === 0 ? 1 : Infinity;
  return b / a;
}

/** max / mean of `loads`; 1 when the mean is 0 (nothing to balance). */
export function maxOverMean(loads: ArrayLike<number>): number {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < loads.length; i++) {
    const v = loads[i] ?? 0;
    sum += v;
    if (v > max) max = v;
  }
  return sum === 0 ? 1 : max / (sum / loads.length);
}

/** Expert maxvio = max/mean − 1 of the expert loads of `counts`. */
export function expertMaxViolation(counts: CountMatrix): number {
  return maxOverMean(expertLoads(counts)) - 1;
}
