/**
 * Plain-JS reference of the gating kernels, written from the spec in docs/kernels.md and
 * sharing no code with src/: softmax and losses in double precision, top-k by a full sort,
 * capacity by a direct walk over the slot order. Small sizes only.
 */
export type RefCapacityMode = 'dropless' | 'capacity' | 'random';

export interface RefGatingOptions {
  readonly k: number;
  readonly renormalize?: boolean;
  readonly capacityMode?: RefCapacityMode;
  readonly capacityFactor?: number;
  readonly minCapacity?: number;
  readonly seed?: number;
}

export interface RefGating {
  readonly expertIndex: number[];
  readonly weight: number[];
  readonly position: number[];
  readonly countsPerExpert: number[];
  readonly numDropped: number;
  readonly probs: number[];
  readonly logsumexp: number[];
  readonly capacity: number | null;
}

/** MurmurHash3 fmix32, on unsigned 32-bit integers. */
export function fmix32(h: number): number {
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Tokens in the order their slots claim capacity ('random': by fmix32(t ^ fmix32(seed ^ φ))). */
export function refTokenOrder(numTokens: number, mode: RefCapacityMode, seed: number): number[] {
  const order = Array.from({ length: numTokens }, (_, t) => t);
  if (mode !== 'random') return order;
  const salt = fmix32((seed ^ 0x9e3779b9) >>> 0);
  const priority = order.map((t) => fmix32((t ^ salt) >>> 0));
  return order.sort((a, b) => (priority[a] ?? 0) - (priority[b] ?? 0) || a - b);
}

export function refSoftmaxRow(row: readonly number[]): { probs: number[]; lse: number } {
  const max = Math.max(...row);
  const exps = row.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return { probs: exps.map((x) => x / sum), lse: max + Math.log(sum) };
}

/** Experts of the k largest logits, largest first, ties to the lower index. */
export function refTopK(row: readonly number[], k: number): number[] {
  const experts = row.map((_, e) => e);
  experts.sort((a, b) => (row[b] ?? 0) - (row[a] ?? 0) || a - b);
  return experts.slice(0, k);
}

export function refCapacity(T: number, E: number, k: number, cf: number, minCapacity: number): number {
  return Math.max(Math.ceil(((k * T) / E) * cf), minCapacity);
}

export function refGating(logits: ArrayLike<number>, T: number, E: number, options: RefGatingOptions): RefGating {
  const { k, renormalize = false, capacityMode = 'dropless', capacityFactor = 1, minCapacity = 0, seed = 0 } = options;
  const capacity = capacityMode === 'dropless' ? null : refCapacity(T, E, k, capacityFactor, minCapacity);
  const expertIndex: number[] = [];
  const weight: number[] = [];
  const probs: number[] = [];
  const logsumexp: number[] = [];
  for (let t = 0; t < T; t++) {
    const row = Array.from({ length: E }, (_, e) => logits[t * E + e] ?? NaN);
    const { probs: p, lse } = refSoftmaxRow(row);
    probs.push(...p);
    logsumexp.push(lse);
    const top = refTopK(row, k);
    const w = top.map((e) => p[e] ?? NaN);
    const sum = w.reduce((a, b) => a + b, 0);
    expertIndex.push(...top);
    weight.push(...(renormalize ? w.map((x) => x / sum) : w));
  }
  const position = new Array<number>(T * k).fill(-1);
  const countsPerExpert = new Array<number>(E).fill(0);
  let numDropped = 0;
  const order = refTokenOrder(T, capacityMode, seed);
  for (let j = 0; j < k; j++) {
    for (const t of order) {
      const slot = t * k + j;
      const e = expertIndex[slot] ?? -1;
      const count = countsPerExpert[e] ?? 0;
      if (capacity === null || count < capacity) {
        position[slot] = count;
        countsPerExpert[e] = count + 1;
      } else {
        weight[slot] = 0;
        numDropped++;
      }
    }
  }
  return { expertIndex, weight, position, countsPerExpert, numDropped, probs, logsumexp, capacity };
}

/** [L_aux, L_z]: E·Σ_e f_e·P_e with f_e over all k·T routed slots, and mean_t lse_t². */
export function refAuxLoss(g: RefGating, T: number, E: number, k: number): [number, number] {
  if (T === 0) return [0, 0];
  let balance = 0;
  for (let e = 0; e < E; e++) {
    const f = g.expertIndex.filter((x) => x === e).length / (T * k);
    let p = 0;
    for (let t = 0; t < T; t++) p += g.probs[t * E + e] ?? NaN;
    balance += f * (p / T);
  }
  const z = g.logsumexp.reduce((a, x) => a + x * x, 0) / T;
  return [E * balance, z];
}

/**
 * The scalar Σ dWeight·weight + auxCoef·L_aux + zCoef·L_z at `logits`, with the routing (which
 * experts, which slots dropped, and f_e) taken from `frozen`: the function whose gradient
 * gatingBackward returns. Used for finite differences.
 */
export function refGatingLoss(
  logits: ArrayLike<number>,
  T: number,
  E: number,
  frozen: RefGating,
  k: number,
  renormalize: boolean,
  dWeight: ArrayLike<number> | null,
  auxCoef: number,
  zCoef: number,
): number {
  let loss = 0;
  let zSum = 0;
  const probSum = new Array<number>(E).fill(0);
  for (let t = 0; t < T; t++) {
    const row = Array.from({ length: E }, (_, e) => logits[t * E + e] ?? NaN);
    const { probs, lse } = refSoftmaxRow(row);
    probs.forEach((p, e) => (probSum[e] = (probSum[e] ?? 0) + p));
    zSum += lse * lse;
    const selected = frozen.expertIndex.slice(t * k, t * k + k).map((e) => probs[e] ?? NaN);
    const sum = renormalize ? selected.reduce((a, b) => a + b, 0) : 1;
    for (let j = 0; j < k; j++) {
      if ((frozen.position[t * k + j] ?? -1) < 0 || dWeight === null) continue;
      loss += (dWeight[t * k + j] ?? NaN) * ((selected[j] ?? NaN) / sum);
    }
  }
  if (T === 0) return loss;
  let balance = 0;
  for (let e = 0; e < E; e++) {
    balance += (frozen.expertIndex.filter((x) => x === e).length / (T * k)) * ((probSum[e] ?? 0) / T);
  }
  return loss + auxCoef * E * balance + zCoef * (zSum / T);
}
