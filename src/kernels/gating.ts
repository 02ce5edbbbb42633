/**
 * Top-k gating (the MoE router's kernel): softmax over experts, top-k with capacity, the
 * Switch/GShard load-balancing loss and router z-loss, and the backward pass to the logits.
 * Every op is stream-ordered: it validates, allocates its outputs, queues the kernel and returns.
 * Semantics, tie rules and slot order are in docs/kernels.md ("Gating").
 */
import { checkChoice, checkInteger, invalidType, invalidValue } from '../errors.js';
import { guard } from '../runtime/guard.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import type { NativeStorage, NativeStream } from '../native.js';
import { addon } from '../native.js';
import { checkDevice, checkRank, checkShapeEquals, checkTensor, streamOn } from './check.js';

declare module '../native.js' {
  interface NativeAddon {
    gatingForward(
      logits: NativeStorage,
      numTokens: number,
      numExperts: number,
      k: number,
      renormalize: boolean,
      slotOrder: number,
      capacity: number,
      seed: number,
      expertIndex: NativeStorage,
      weight: NativeStorage,
      position: NativeStorage,
      countsPerExpert: NativeStorage,
      numDropped: NativeStorage,
      probs: NativeStorage,
      logsumexp: NativeStorage,
      stream: NativeStream,
    ): void;
    gatingAuxLoss(
      numTokens: number,
      numExperts: number,
      k: number,
      probs: NativeStorage,
      logsumexp: NativeStorage,
      expertIndex: NativeStorage,
      losses: NativeStorage,
      stream: NativeStream,
    ): void;
    gatingBackward(
      numTokens: number,
      numExperts: number,
      k: number,
      renormalize: boolean,
      auxCoef: number,
      zCoef: number,
      probs: NativeStorage,
      logsumexp: NativeStorage,
      expertIndex: NativeStorage,
      position: NativeStorage,
      dWeight: NativeStorage | null,
      dLogits: NativeStorage,
      stream: NativeStream,
    ): void;
  }
}

/** How experts limit the slots they keep. */
export type CapacityMode = 'dropless' | 'capacity' | 'random';
export const CAPACITY_MODES: readonly CapacityMode[] = ['dropless', 'capacity', 'random'];

export interface GatingOptions {
  /** Experts per token, in [1, numExperts]. Default 1. */
  readonly k?: number;
  /** Divide the k selected probabilities by their sum. Default false. */
  readonly renormalize?: boolean;
  /** 'dropless' (default) keeps every slot; 'capacity' keeps the first C slots per expert in
   * (choice rank, token) order; 'random' does the same with tokens in a seeded random order. */
  readonly capacityMode?: CapacityMode;
  /** cf in C = max(ceil(k·T/E·cf), minCapacity); finite and > 0. Default 1. */
  readonly capacityFactor?: number;
  /** Lower bound of the capacity C, an integer >= 0. Default 0. */
  readonly minCapacity?: number;
  /** Seed of the 'random' slot order, an integer in [0, 2^32). Default 0. */
  readonly seed?: number;
  readonly stream?: Stream;
}

/** The router's decision for a batch of T tokens over E experts, and what backward needs. */
export interface Gating {
  readonly numTokens: number;
  readonly numExperts: number;
  readonly k: number;
  readonly renormalize: boolean;
  /** Slots each expert keeps (C), or null when dropless. */
  readonly capacity: number | null;
  /** [T, k] i32: the chosen experts, best first; dropped slots keep their expert. */
  readonly expertIndex: Tensor<'i32'>;
  /** [T, k] f32: combine weights; 0 for a dropped slot. */
  readonly weight: Tensor<'f32'>;
  /** [T, k] i32: the slot's row inside its expert's block; -1 when dropped. */
  readonly position: Tensor<'i32'>;
  /** [E] i32: kept slots per expert. */
  readonly countsPerExpert: Tensor<'i32'>;
  /** [1] i32: dropped slots (k·T − Σ countsPerExpert). */
  readonly numDropped: Tensor<'i32'>;
  /** [T, E] f32: softmax of the logits. */
  readonly probs: Tensor<'f32'>;
  /** [T] f32: logsumexp of each logit row (the z-loss input). */
  readonly logsumexp: Tensor<'f32'>;
}

const kMaxInt32 = 2 ** 31 - 1;

/**
 * The capacity C = max(ceil(k·T/E·cf), minCapacity) of GShard/DeepSpeed, evaluated left to
 * right in double precision. Example: T = 10, E = 4, k = 2, cf = 1.25, min 0 → ceil(6.25) = 7.
 */
export function gatingCapacity(
  numTokens: number,
  numExperts: number,
  k: number,
  capacityFactor: number,
  minCapacity: number,
): number {
  return Math.max(Math.ceil(((k * numTokens) / numExperts) * capacityFactor), minCapacity);
}

interface ResolvedOptions {
  readonly k: number;
  readonly renormalize: boolean;
  readonly capacityMode: CapacityMode;
  readonly capacityFactor: number;
  readonly minCapacity: number;
  readonly seed: number;
}

function resolveOptions(options: GatingOptions, numExperts: number): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'object', options);
  const renormalize = options.renormalize ?? false;
  if (typeof renormalize !== 'boolean') throw invalidType('options.renormalize', 'boolean', renormalize);
  const capacityFactor = options.capacityFactor ?? 1;
  if (typeof capacityFactor !== 'number') throw invalidType('options.capacityFactor', 'finite number > 0', capacityFactor);
  if (!Number.isFinite(capacityFactor) || capacityFactor <= 0) {
    throw invalidValue('options.capacityFactor', 'finite number > 0', capacityFactor);
  }
  return {
    k: checkInteger('options.k', options.k ?? 1, 1, numExperts),
    renormalize,
    capacityMode: checkChoice('options.capacityMode', options.capacityMode ?? 'dropless', CAPACITY_MODES),
    capacityFactor,
    minCapacity: checkInteger('options.minCapacity', options.minCapacity ?? 0, 0, kMaxInt32),
    seed: checkInteger('options.seed', options.seed ?? 0, 0, 2 ** 32 - 1),
  };
}

/**
 * Routes T tokens to k of E experts (stream-ordered; the outputs are valid once the stream has
 * run the kernel). Softmax is fp32 with the row max subtracted; the top k are ranked by logit,
 * ties to the lower expert index. Non-finite logits make the queued work fail: the next
 * synchronize() rejects with a ProphetRangeError (a RangeError, and a ProphetError of code
 * 'EINVAL') naming the first bad logit.
 *
 * @param logits [T, E] f32, E >= 1.
 * @example
 * const g = gating(Tensor.from([0, 1, 3, 2], [1, 4]), { k: 2 });
 * // after sync: expertIndex [2, 3], position [0, 0], countsPerExpert [0, 0, 1, 1]
 */
export function gating(logits: Tensor<'f32'>, options: GatingOptions = {}): Gating {
  // Step 1: validate the tensor and the options.
  checkTensor('logits', logits, 'f32');
  checkRank('logits', logits, 2, 'a shape [numTokens, numExperts] with numExperts >= 1');
  const [numTokens = 0, numExperts = 0] = logits.shape;
  if (numExperts < 1) throw invalidValue('logits.shape', 'a shape [numTokens, numExperts] with numExperts >= 1', logits.shape);
  if (numTokens > kMaxInt32 || numExperts > kMaxInt32) throw invalidValue('logits.shape', 'dimensions below 2^31', logits.shape);
  const o = resolveOptions(options, numExperts);
  const stream = streamOn(logits.device, options.stream);
  const capacity =
    o.capacityMode === 'dropless' ? null : gatingCapacity(numTokens, numExperts, o.k, o.capacityFactor, o.minCapacity);
  // Step 2: outputs on the logits' device.
  const on = { device: logits.device };
  const slots = [numTokens, o.k];
  const result: Gating = {
    numTokens,
    numExperts,
    k: o.k,
    renormalize: o.renormalize,
    capacity,
    expertIndex: Tensor.empty(slots, { ...on, dtype: 'i32' }),
    weight: Tensor.empty(slots, on),
    position: Tensor.empty(slots, { ...on, dtype: 'i32' }),
    countsPerExpert: Tensor.empty([numExperts], { ...on, dtype: 'i32' }),
    numDropped: Tensor.empty([1], { ...on, dtype: 'i32' }),
    probs: Tensor.empty([numTokens, numExperts], on),
    logsumexp: Tensor.empty([numTokens], on),
  };
  // Step 3: queue the kernel. A capacity above 2^31 - 1 can never be reached by int32 counts.
  guard(() =>
    addon().gatingForward(
      logits.storage,
      numTokens,
      numExperts,
      o.k,
      o.renormalize,
      o.capacityMode === 'random' ? 1 : 0,
      capacity === null ? -1 : Math.min(capacity, kMaxInt32),
      o.seed,
      result.expertIndex.storage,
      result.weight.storage,
      result.position.storage,
      result.countsPerExpert.storage,
      result.numDropped.storage,
      result.probs.storage,
      result.logsumexp.storage,
      stream.native,
    ),
  );
  return result;
}

/** Frees every tensor of a gating result (once queued work that uses them has run). */
export function disposeGating(g: Gating): void {
  for (const t of [g.expertIndex, g.weight, g.position, g.countsPerExpert, g.numDropped, g.probs, g.logsumexp]) {
    t.dispose();
  }
}

function checkGating(name: string, g: unknown): Gating {
  if (g === null || typeof g !== 'object' || !((g as Partial<Gating>).probs instanceof Tensor)) {
    throw invalidType(name, 'the result of gating()', g);
  }
  return g as Gating;
}

/**
 * The auxiliary losses of a routing, unscaled, as a [2] f32 tensor (stream-ordered):
 * [0] L_aux = E · Σ_e f_e · P_e (Switch/GShard load balancing; f_e = slots routed to e, kept or
 *     dropped, over k·T; P_e = mean probability of e), 1 when perfectly balanced;
 * [1] L_z = mean_t (logsumexp_e logits[t, e])² (router z-loss).
 * Both are 0 when T = 0.
 */
export function gatingAuxLoss(g: Gating, options: { readonly stream?: Stream } = {}): Tensor<'f32'> {
  checkGating('gating', g);
  const stream = streamOn(g.probs.device, options.stream);
  const losses = Tensor.empty([2], { device: g.probs.device });
  guard(() =>
    addon().gatingAuxLoss(
      g.numTokens,
      g.numExperts,
      g.k,
      g.probs.storage,
      g.logsumexp.storage,
      g.expertIndex.storage,
      losses.storage,
      stream.native,
    ),
  );
  return losses;
}

export interface GatingBackwardOptions {
  /** Coefficient of L_aux in the total loss. Default 0. */
  readonly auxCoef?: number;
  /** Coefficient of L_z in the total loss. Default 0. */
  readonly zCoef?: number;
  readonly stream?: Stream;
}

function checkCoef(name: string, value: unknown): number {
  if (typeof value !== 'number') throw invalidType(name, 'finite number', value);
  if (!Number.isFinite(value)) throw invalidValue(name, 'finite number', value);
  return value;
}

/**
 * dLogits [T, E] f32 of the loss Σ dWeight·weight + auxCoef·L_aux + zCoef·L_z (stream-ordered).
 * The gradient flows through the renormalisation when the routing used it; dropped slots
 * contribute nothing; f_e of L_aux is a count and has no gradient.
 *
 * @param dWeight [T, k] f32 gradient of the combine weights (from combineBackward), or null for
 *   the aux losses alone.
 */
export function gatingBackward(
  g: Gating,
  dWeight: Tensor<'f32'> | null,
  options: GatingBackwardOptions = {},
): Tensor<'f32'> {
  checkGating('gating', g);
  if (dWeight !== null) {
    checkTensor('dWeight', dWeight, 'f32');
    checkShapeEquals('dWeight', dWeight, [g.numTokens, g.k]);
    checkDevice('dWeight', dWeight, g.probs.device);
  }
  const auxCoef = checkCoef('options.auxCoef', options.auxCoef ?? 0);
  const zCoef = checkCoef('options.zCoef', options.zCoef ?? 0);
  const stream = streamOn(g.probs.device, options.stream);
  const dLogits = Tensor.empty([g.numTokens, g.numExperts], { device: g.probs.device });
  guard(() =>
    addon().gatingBackward(
      g.numTokens,
      g.numExperts,
      g.k,
      g.renormalize,
      auxCoef,
      zCoef,
      g.probs.storage,
      g.logsumexp.storage,
      g.expertIndex.storage,
      g.position.storage,
      dWeight === null ? null : dWeight.storage,
      dLogits.storage,
      stream.native,
    ),
  );
  return dLogits;
}
