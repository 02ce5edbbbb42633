/**
 * The Pro-Prophet performance model of one MoE layer (paper Eqs. 1–8), extended with link tiers
 * (intra- vs inter-node), several experts per rank, per-expert parameter sizes and Trans/Agg
 * priced per target rank. Pure functions of a {@link PerfModel}; times in seconds.
 *
 * - Eq. 1 A2A: the slowest receiver. A receiver's time is `bytes / bandwidth(bytes)` per tier with
 *   a bandwidth curve over message size (a table interpolated log–log, see {@link bandwidthAt}).
 *   Tiers combine by `max` (default: intra-node traffic and inter-node traffic use different
 *   links, NVLink/PCIe peer paths vs the NIC, and all sends of a point-to-point A2A are issued at
 *   once, so a receiver finishes with its slower tier) or `sum` (the conservative bound for nodes
 *   where both tiers cross one bottleneck, e.g. a PCIe-only GPU whose NIC traffic shares its PCIe
 *   link). With one node (ranksPerNode ≥ numRanks) both equal Eq. 1: for the default curves time
 *   grows with bytes above 256 KiB, so the largest receiver R_max decides. Optionally a
 *   node-level shared tier (`nodeA2a`): the A2A takes at least the busiest node's total received
 *   bytes through its shared medium (receivers of one node contend for it; see
 *   {@link a2aSeconds}). Without it the model is Eq. 1 as above.
 * - Eq. 2/3 FEC/BEC: `max_i H_i × expertSecondsPerToken`, BEC = 2 × FEC. Experts sharing a rank run
 *   one after the other, so H_i sums all experts (homes and replicas) on rank i.
 * - Eq. 4/5 Trans/Agg: per selected expert j with group size g_j = 1 + |replicas_j| (= D − n_j),
 *   `Σ_j g_j × size_j / (D × B)`. Priced per target: the home's own share at the intra-node
 *   bandwidth and each replica's share at the bandwidth of its tier (the same as Eq. 4 when there
 *   is one tier).
 * - Eq. 6: `4 A2A + 3 FEC + Trans + Agg`; Eq. 8 (overlap on): Trans beyond FEC + FNEC and Agg
 *   beyond BEC + BNEC are exposed.
 */
import { checkChoice, checkInteger, checkNumber, invalidType, invalidValue } from '../../errors.js';
import { homeRank, rankLoads, type Placement } from './placement.js';
import type { CountMatrix } from './stats.js';

/** One point of a bandwidth curve: messages of `bytes` bytes move at `bytesPerSecond`. */
export interface BandwidthPoint {
  readonly bytes: number;
  readonly bytesPerSecond: number;
}

/** One link tier (intra-node or inter-node). */
export interface LinkTier {
  /** A2A bandwidth over the bytes one receiver gets, ascending strictly in `bytes`. */
  readonly a2a: ReadonlyArray<BandwidthPoint>;
  /** Trans (parameter broadcast) bandwidth, bytes/s. */
  readonly transBytesPerSecond: number;
  /** Agg (gradient reduce) bandwidth, bytes/s. */
  readonly aggBytesPerSecond: number;
}

/** Measured (or default) constants of a cluster for one model configuration. */
export interface HardwareProfile {
  readonly format: 'pro-prophet/hardware-profile';
  readonly version: 1;
  /** Ranks per node; ranks r and q share a node when floor(r / ranksPerNode) is equal. */
  readonly ranksPerNode: number;
  readonly intraNode: LinkTier;
  readonly interNode: LinkTier;
  /** How a receiver's per-tier A2A times combine (see the module comment). */
  readonly tierCombine: 'max' | 'sum';
  /** Forward expert computation, seconds per token slot on one rank (1 / t of Eq. 2). */
  readonly expertSecondsPerToken: number;
  /** Forward / backward time of the adjacent non-MoE layer (Eq. 8's T_FNEC, T_BNEC), seconds. */
  readonly fnecSeconds: number;
  readonly bnecSeconds: number;
  /**
   * Optional node-level shared tier of the A2A: aggregate bandwidth over the total bytes that one
   * node's ranks receive from other ranks in one exchange, ascending strictly in `bytes`. The
   * ranks of a node share a medium (host memory and cores for in-process ranks, the NVSwitch or
   * PCIe root complex of a GPU node), so several receivers at once finish no sooner than their
   * total bytes take through it. Absent (profiles saved before it existed): no shared limit, the
   * paper's Eq. 1.
   */
  readonly nodeA2a?: ReadonlyArray<BandwidthPoint>;
  /**
   * Optional measured costs of overlapping Trans/Agg with compute on another stream (what the
   * block scheduler's fallback rule weighs, `transfer-schedule.ts`). Absent (profiles saved
   * before calibration measured them, or the released GPU constants): the scheduler's defaults,
   * `DEFAULT_OVERLAP_COSTS`.
   */
  readonly overlap?: OverlapCosts;
}

/** What overlapping a transfer with compute costs beyond the transfer itself, on one backend. */
export interface OverlapCosts {
  /** Hand-off of one overlapped part between streams (event wait and wake-up), seconds. */
  readonly syncSeconds: number;
  /** Share in [0, 1] of a hidden transfer's time the compute beside it loses anyway: 0 when
   * transfers have their own links and engines (the paper's GPUs), up to 1 on a CPU whose cores
   * are all busy computing (the transfer's memcpy then takes turns with the compute). */
  readonly interference: number;
}

/** What the planner prices a layer with: a profile plus the layer's sizes. */
export interface PerfModel {
  readonly profile: HardwareProfile;
  /** size(input) of Eq. 1: bytes of one token's activation (d_model × bytes per element). */
  readonly bytesPerToken: number;
  /** size(e.params) = size(e.grads) per expert, bytes: one value for all, or one per expert. */
  readonly expertParamBytes: number | ReadonlyArray<number>;
  /** Eq. 8 (scheduler overlaps Trans/Agg with computation) when true, Eq. 6 when false. */
  readonly overlap: boolean;
}

/** The terms of Eq. 6 / Eq. 8 for one layer, seconds. */
export interface CostBreakdown {
  readonly a2a: number;
  readonly fec: number;
  readonly bec: number;
  readonly trans: number;
  readonly agg: number;
  /** Exposed Trans / Agg: equal to trans / agg without overlap, Eq. 8's T_PTrans / T_PAgg with. */
  readonly exposedTrans: number;
  readonly exposedAgg: number;
  /** T' of Eq. 6 or Eq. 8. */
  readonly total: number;
}

const GBIT = 1e9 / 8;
const KIB = 1024;
const MIB = 1024 * 1024;

/** The released code's A2A table (Gb/s), as points at the upper end of each size bucket. */
const RELEASED_A2A: ReadonlyArray<BandwidthPoint> = [
  { bytes: 128 * KIB, bytesPerSecond: 6 * GBIT },
  { bytes: 256 * KIB, bytesPerSecond: 16 * GBIT },
  { bytes: 1 * MIB, bytesPerSecond: 42 * GBIT },
  { bytes: 16 * MIB, bytesPerSecond: 100 * GBIT },
  { bytes: 256 * MIB, bytesPerSecond: 100 * GBIT },
];

/** The released code's commented-out "16 GPUs without NVLink" A2A profile (×1e9 bit/s). */
const RELEASED_A2A_NO_NVLINK: ReadonlyArray<BandwidthPoint> = [
  { bytes: 128 * KIB, bytesPerSecond: 1.5 * GBIT },
  { bytes: 256 * KIB, bytesPerSecond: 3.8 * GBIT },
  { bytes: 1 * MIB, bytesPerSecond: 7.38 * GBIT },
  { bytes: 16 * MIB, bytesPerSecond: 22.5 * GBIT },
  { bytes: 256 * MIB, bytesPerSecond: 34.38 * GBIT },
  { bytes: 1024 * MIB, bytesPerSecond: 40.5 * GBIT },
];

/** Ranks per node meaning "one node for any world size" (the paper's single-tier model). */
export const ONE_NODE = 1 << 20;

/** Model sizes from which the released code derives its constants. */
export interface ReleasedShape {
  readonly dModel: number;
  readonly dHidden: number;
  /** Sequences per rank per iteration (b) and sequence length (s) for T_FNEC. */
  readonly batchPerRank: number;
  readonly seqLength: number;
}

/** MoE-GPT-M on 16 GPUs (paper Table III; global batch 64 × 256 as in the launch script). */
export const MOE_GPT_M: ReleasedShape = { dModel: 1024, dHidden: 2048, batchPerRank: 4, seqLength: 256 };

/**
 * A profile with the released code's constants (Pro-Prophet `search_algorithm.py`): compute
 * 35.7e12 FLOP/s, per-token expert cost `4 × α d² × 4 / Comp_tp` (the code's unit convention,
 * byte factor included), T_FNEC = (2bs²h·2 + 4bsh²)·4 / Comp_tp, T_BNEC = 2 T_FNEC, Trans/Agg at
 * 15 Gb/s. `ranksPerNode` = 4 (HPWNV nodes) gives two tiers: intra-node uses the code's A2A
 * table (its "with/without NVLink" default) and 100 Gb/s Trans/Agg (PCIe 3.0 x16; an assumption
 * of ours), inter-node the code's 16-GPU-without-NVLink table and the code's 15 Gb/s. Pass
 * `ranksPerNode` = {@link ONE_NODE} for the code's single tier (all links as intra-node, with
 * Trans/Agg at 15 Gb/s).
 */
export function releasedCodeProfile(shape: ReleasedShape = MOE_GPT_M, ranksPerNode = 4): HardwareProfile {
  const compTp = 35.7e12;
  const { dModel: d, dHidden, batchPerRank: b, seqLength: s } = shape;
  const fnec = ((2 * b * s * s * d * 2 + 4 * b * s * d * d) * 4) / compTp;
  const singleTier = ranksPerNode >= ONE_NODE;
  const intraTransAgg = singleTier ? 15 * GBIT : 100 * GBIT;
  return validateProfile({
    format: 'pro-prophet/hardware-profile',
    version: 1,
    ranksPerNode,
    intraNode: { a2a: RELEASED_A2A, transBytesPerSecond: intraTransAgg, aggBytesPerSecond: intraTransAgg },
    interNode: { a2a: RELEASED_A2A_NO_NVLINK, transBytesPerSecond: 15 * GBIT, aggBytesPerSecond: 15 * GBIT },
    tierCombine: 'max',
    expertSecondsPerToken: (4 * dHidden * d * 4) / compTp,
    fnecSeconds: fnec,
    bnecSeconds: 2 * fnec,
  });
}

/** The default: {@link releasedCodeProfile} for MoE-GPT-M on 4-GPU nodes. */
export const DEFAULT_HARDWARE_PROFILE: HardwareProfile = releasedCodeProfile();

/**
 * A {@link PerfModel} for fp32 experts of `dModel × dHidden` (2 matrices: `2 d h × 4` bytes, as
 * the released code's Expert_size), tokens of `dModel × 4` bytes, overlap on (Eq. 8).
 */
export function perfModel(
  profile: HardwareProfile = DEFAULT_HARDWARE_PROFILE,
  options: Partial<Omit<PerfModel, 'profile'>> & { readonly dModel?: number; readonly dHidden?: number } = {},
): PerfModel {
  const d = options.dModel ?? MOE_GPT_M.dModel;
  const h = options.dHidden ?? MOE_GPT_M.dHidden;
  return validatePerfModel({
    profile,
    bytesPerToken: options.bytesPerToken ?? d * 4,
    expertParamBytes: options.expertParamBytes ?? 2 * d * h * 4,
    overlap: options.overlap ?? true,
  });
}

function validateTier(tier: LinkTier, name: string): void {
  if (tier === null || typeof tier !== 'object') throw invalidType(name, 'LinkTier', tier);
  validateCurve(tier.a2a, `${name}.a2a`);
  checkPositive(`${name}.transBytesPerSecond`, tier.transBytesPerSecond);
  checkPositive(`${name}.aggBytesPerSecond`, tier.aggBytesPerSecond);
}

/** A bandwidth curve: a non-empty array of points, strictly ascending in bytes (≥ 1). */
function validateCurve(curve: ReadonlyArray<BandwidthPoint>, name: string): void {
  if (!Array.isArray(curve) || curve.length === 0) throw invalidValue(name, 'non-empty array of points', curve);
  curve.forEach((p, i) => {
    if (p === null || typeof p !== 'object') throw invalidType(`${name}[${i}]`, 'BandwidthPoint', p);
    const prev = curve[i - 1];
    checkNumber(`${name}[${i}].bytes`, p.bytes, prev === undefined ? 1 : prev.bytes);
    if (prev !== undefined && p.bytes === prev.bytes) throw invalidValue(`${name}[${i}].bytes`, `> ${prev.bytes} (strictly ascending)`, p.bytes);
    checkPositive(`${name}[${i}].bytesPerSecond`, p.bytesPerSecond);
  });
}

function checkPositive(name: string, value: unknown): number {
  const v = checkNumber(name, value, 0);
  if (v === 0) throw invalidValue(name, 'finite number > 0', v);
  return v;
}

/** Throws a TypeError/RangeError naming the bad field unless `profile` is a valid profile. */
export function validateProfile(profile: HardwareProfile, name = 'profile'): HardwareProfile {
  if (profile === null || typeof profile !== 'object') throw invalidType(name, 'HardwareProfile', profile);
  if (profile.format !== 'pro-prophet/hardware-profile') throw invalidValue(`${name}.format`, "'pro-prophet/hardware-profile'", profile.format);
  if (profile.version !== 1) throw invalidValue(`${name}.version`, '1', profile.version);
  checkInteger(`${name}.ranksPerNode`, profile.ranksPerNode, 1);
  validateTier(profile.intraNode, `${name}.intraNode`);
  validateTier(profile.interNode, `${name}.interNode`);
  checkChoice(`${name}.tierCombine`, profile.tierCombine, ['max', 'sum']);
  checkPositive(`${name}.expertSecondsPerToken`, profile.expertSecondsPerToken);
  checkNumber(`${name}.fnecSeconds`, profile.fnecSeconds, 0);
  checkNumber(`${name}.bnecSeconds`, profile.bnecSeconds, 0);
  if (profile.nodeA2a !== undefined) validateCurve(profile.nodeA2a, `${name}.nodeA2a`);
  if (profile.overlap !== undefined) validateOverlap(profile.overlap, `${name}.overlap`);
  return profile;
}

function validateOverlap(overlap: OverlapCosts, name: string): void {
  if (overlap === null || typeof overlap !== 'object') throw invalidType(name, 'object { syncSeconds, interference }', overlap);
  checkNumber(`${name}.syncSeconds`, overlap.syncSeconds, 0);
  checkNumber(`${name}.interference`, overlap.interference, 0, 1);
}

/** Throws unless `model` is valid (its profile included). */
export function validatePerfModel(model: PerfModel, name = 'model'): PerfModel {
  if (model === null || typeof model !== 'object') throw invalidType(name, 'PerfModel', model);
  validateProfile(model.profile, `${name}.profile`);
  checkNumber(`${name}.bytesPerToken`, model.bytesPerToken, 0);
  if (typeof model.expertParamBytes === 'number') checkNumber(`${name}.expertParamBytes`, model.expertParamBytes, 0);
  else if (Array.isArray(model.expertParamBytes)) model.expertParamBytes.forEach((b, e) => checkNumber(`${name}.expertParamBytes[${e}]`, b, 0));
  else throw invalidType(`${name}.expertParamBytes`, 'number or array of numbers', model.expertParamBytes);
  if (typeof model.overlap !== 'boolean') throw invalidType(`${name}.overlap`, 'boolean', model.overlap);
  return model;
}

/** JSON text of a profile (for a saved offline profile). */
export function saveProfile(profile: HardwareProfile): string {
  return JSON.stringify(validateProfile(profile), null, 2);
}

/** Parses and validates a saved profile; errors name the bad field (`profile.intraNode.a2a[2].bytes`). */
export function loadProfile(json: string): HardwareProfile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new RangeError(`Expected JSON text for profile: ${(error as Error).message}`);
  }
  return validateProfile(parsed as HardwareProfile);
}

/** Parameter bytes of `expert` under `model`. */
export function paramBytesOf(model: PerfModel, expert: number): number {
  const b = model.expertParamBytes;
  return typeof b === 'number' ? b : (b[expert] ?? 0);
}

/**
 * Bandwidth (bytes/s) for a message of `bytes`: the curve's value at its points, log–log linear
 * in between, clamped to the first/last point outside. Example: with points (128 KiB, 6 Gb/s) and
 * (256 KiB, 16 Gb/s), 181 KiB (the geometric mean) gets √(6·16) ≈ 9.80 Gb/s.
 */
export function bandwidthAt(curve: ReadonlyArray<BandwidthPoint>, bytes: number): number {
  return curveBandwidth(compile(curve), bytes, segmentOf(compile(curve), bytes));
}

function curveBandwidth(c: CompiledCurve, bytes: number, i: number): number {
  if (i === 0) return c.bytesPerSecond[0] ?? 0;
  if (i === c.bytes.length) return c.bytesPerSecond[i - 1] ?? 0;
  return (c.bytesPerSecond[i - 1] ?? 0) * (bytes / (c.bytes[i - 1] ?? 1)) ** (c.exponents[i] ?? 0);
}

/**
 * Seconds to move `bytes` (0 for 0 bytes): `bytes / bandwidthAt(bytes)`, made non-decreasing in
 * `bytes` (the running maximum over smaller sizes). A receiver cannot finish more bytes sooner
 * than fewer — the fewer are a prefix of the more — but a table rising faster than linearly
 * (the released 6 → 16 Gb/s between 128 and 256 KiB) would say so. With this envelope the largest
 * receiver decides the A2A time, exactly as Eq. 1 states.
 */
export function transferSeconds(curve: ReadonlyArray<BandwidthPoint>, bytes: number): number {
  if (!(bytes > 0)) return 0;
  const c = compile(curve);
  const i = segmentOf(c, bytes);
  const raw = bytes / curveBandwidth(c, bytes, i);
  return i === 0 ? raw : Math.max(raw, c.maxSecondsBefore[i] ?? 0);
}

interface CompiledCurve {
  readonly bytes: Float64Array;
  readonly bytesPerSecond: Float64Array;
  /** exponents[i]: log–log slope of the segment ending at point i. */
  readonly exponents: Float64Array;
  /** maxSecondsBefore[i]: the largest raw time at sizes ≤ bytes[i - 1]. */
  readonly maxSecondsBefore: Float64Array;
}

/** Memo of compiled curves (a pure cache keyed by the curve array; it changes no result). */
const compiled = new WeakMap<ReadonlyArray<BandwidthPoint>, CompiledCurve>();

function compile(curve: ReadonlyArray<BandwidthPoint>): CompiledCurve {
  let c = compiled.get(curve);
  if (c !== undefined) return c;
  const n = curve.length;
  c = {
    bytes: Float64Array.from(curve, (p) => p.bytes),
    bytesPerSecond: Float64Array.from(curve, (p) => p.bytesPerSecond),
    exponents: new Float64Array(n),
    maxSecondsBefore: new Float64Array(n + 1),
  };
  let running = 0;
  for (let i = 0; i < n; i++) {
    const p = curve[i] as BandwidthPoint;
    const q = curve[i - 1];
    if (q !== undefined) c.exponents[i] = Math.log(p.bytesPerSecond / q.bytesPerSecond) / Math.log(p.bytes / q.bytes);
    // Within a segment the raw time is a power of bytes, so its maximum is at an end point.
    running = Math.max(running, p.bytes / p.bytesPerSecond);
    c.maxSecondsBefore[i + 1] = running;
  }
  compiled.set(curve, c);
  return c;
}

/** The index of the first point with bytes ≥ `bytes` (curve.length when beyond the last). */
function segmentOf(c: CompiledCurve, bytes: number): number {
  let i = 0;
  while (i < c.bytes.length && bytes > (c.bytes[i] ?? 0)) i++;
  return i;
}

/** Seconds one receiver spends in one A2A receiving `intraTokens` + `interTokens` slots. */
export function receiverSeconds(model: PerfModel, intraTokens: number, interTokens: number): number {
  const { intraNode, interNode, tierCombine } = model.profile;
  const ti = transferSeconds(intraNode.a2a, intraTokens * model.bytesPerToken);
  const to = transferSeconds(interNode.a2a, interTokens * model.bytesPerToken);
  return tierCombine === 'max' ? Math.max(ti, to) : ti + to;
}

/**
 * {@link receiverSeconds} for one model as a closure over its compiled curves: the same numbers
 * without the per-call curve lookups, for the planner's inner loops. Each tier remembers its last
 * two sizes and times: a planner step changes one tier of one receiver at a time, so the other
 * tier's time (a power of the size) is reused rather than recomputed.
 */
export function receiverPricer(model: PerfModel): (intraTokens: number, interTokens: number) => number {
  const { intraNode, interNode, tierCombine } = model.profile;
  const intraSeconds = tierPricer(compile(intraNode.a2a));
  const interSeconds = tierPricer(compile(interNode.a2a));
  const { bytesPerToken } = model;
  return tierCombine === 'max'
    ? (intraTokens, interTokens) => Math.max(intraSeconds(intraTokens * bytesPerToken), interSeconds(interTokens * bytesPerToken))
    : (intraTokens, interTokens) => intraSeconds(intraTokens * bytesPerToken) + interSeconds(interTokens * bytesPerToken);
}

/**
 * Seconds of the node-level shared tier for `tokens` slots received in one exchange by the ranks
 * of one node (0 when the profile has no `nodeA2a`): `bytes / bandwidth(bytes)` on that curve,
 * non-decreasing in bytes as {@link transferSeconds}.
 */
export function nodeSeconds(model: PerfModel, tokens: number): number {
  const curve = model.profile.nodeA2a;
  return curve === undefined ? 0 : transferSeconds(curve, tokens * model.bytesPerToken);
}

/**
 * {@link nodeSeconds} for one model as a closure over its compiled curve (the planner's inner
 * loops), or null when the profile has no shared tier, so callers skip the term entirely.
 */
export function nodePricer(model: PerfModel): ((tokens: number) => number) | null {
  const curve = model.profile.nodeA2a;
  if (curve === undefined) return null;
  const seconds = tierPricer(compile(curve));
  const { bytesPerToken } = model;
  return (tokens) => seconds(tokens * bytesPerToken);
}

/** The node of `rank`: floor(rank / ranksPerNode). */
export function nodeOf(profile: HardwareProfile, rank: number): number {
  return Math.floor(rank / profile.ranksPerNode);
}

/**
 * One A2A's seconds (Eq. 1 with the shared tier): the slowest receiver, or the busiest node's
 * total received slots through its shared medium when that takes longer (only with `nodeA2a`).
 * `intraTokens[r]` / `interTokens[r]`: slots rank r receives from its own node / other nodes.
 * Example (one node, flat 1 B/s receivers, shared tier flat 1.5 B/s, 1 B per slot): receivers of
 * [3, 3] slots take max(3, 6 / 1.5) = 4 s; [3, 0] take max(3, 2) = 3 s.
 */
export function a2aSeconds(model: PerfModel, intraTokens: ArrayLike<number>, interTokens: ArrayLike<number>): number {
  const numRanks = intraTokens.length;
  let slowest = 0;
  for (let r = 0; r < numRanks; r++) slowest = Math.max(slowest, receiverSeconds(model, intraTokens[r] ?? 0, interTokens[r] ?? 0));
  if (model.profile.nodeA2a === undefined) return slowest;
  const perNode = new Float64Array(nodeOf(model.profile, numRanks - 1) + 1);
  for (let r = 0; r < numRanks; r++) perNode[nodeOf(model.profile, r)] = (perNode[nodeOf(model.profile, r)] ?? 0) + (intraTokens[r] ?? 0) + (interTokens[r] ?? 0);
  for (const tokens of perNode) slowest = Math.max(slowest, nodeSeconds(model, tokens));
  return slowest;
}

/**
 * {@link transferSeconds} over one compiled curve, with a two-entry memo (the last two sizes): a
 * walk over candidate receivers prices a trial size and then returns to the unchanged base size.
 */
function tierPricer(c: CompiledCurve): (bytes: number) => number {
  let lastBytes = 0;
  let lastSeconds = 0;
  let olderBytes = 0;
  let olderSeconds = 0;
  return (bytes) => {
    if (bytes === lastBytes) return lastSeconds;
    if (bytes === olderBytes) return olderSeconds;
    if (!(bytes > 0)) return 0;
    const i = segmentOf(c, bytes);
    const raw = bytes / curveBandwidth(c, bytes, i);
    olderBytes = lastBytes;
    olderSeconds = lastSeconds;
    lastBytes = bytes;
    lastSeconds = i === 0 ? raw : Math.max(raw, c.maxSecondsBefore[i] ?? 0);
    return lastSeconds;
  };
}

/** T' of Eq. 6 / Eq. 8 as a number (the allocation-free core of {@link layerCost}). */
export function layerSeconds(model: PerfModel, a2a: number, maxComputed: number, trans: number, agg: number): number {
  const { expertSecondsPerToken, fnecSeconds, bnecSeconds } = model.profile;
  const fec = maxComputed * expertSecondsPerToken;
  if (!model.overlap) return 4 * a2a + 3 * fec + trans + agg;
  return 4 * a2a + 3 * fec + Math.max(0, trans - fec - fnecSeconds) + Math.max(0, agg - 2 * fec - bnecSeconds);
}

/**
 * Eq. 6 (overlap off) or Eq. 8 (overlap on) from its inputs: the slowest receiver's A2A seconds,
 * the busiest rank's computed slots max H, and the Trans and Agg seconds.
 */
export function layerCost(model: PerfModel, a2a: number, maxComputed: number, trans: number, agg: number): CostBreakdown {
  const { expertSecondsPerToken, fnecSeconds, bnecSeconds } = model.profile;
  const fec = maxComputed * expertSecondsPerToken;
  const bec = 2 * fec;
  const exposedTrans = model.overlap ? Math.max(0, trans - fec - fnecSeconds) : trans;
  const exposedAgg = model.overlap ? Math.max(0, agg - bec - bnecSeconds) : agg;
  return { a2a, fec, bec, trans, agg, exposedTrans, exposedAgg, total: layerSeconds(model, a2a, maxComputed, trans, agg) };
}

/** Whether ranks `a` and `b` share a node under `profile`. */
export function sameNode(profile: HardwareProfile, a: number, b: number): boolean {
  return Math.floor(a / profile.ranksPerNode) === Math.floor(b / profile.ranksPerNode);
}

/**
 * Trans and Agg seconds of `placement` (Eqs. 4–5 priced per target): for each expert with
 * replicas, `size / D × (1/B_intra + Σ_replicas 1/B_tier(home, replica))`.
 */
export function transAggSeconds(model: PerfModel, placement: Placement): { trans: number; agg: number } {
  const { numRanks, numExperts } = placement;
  const { intraNode, interNode } = model.profile;
  let trans = 0;
  let agg = 0;
  placement.replicas.forEach((ranks, e) => {
    if (ranks.length === 0) return;
    const home = homeRank(e, numRanks, numExperts);
    const share = paramBytesOf(model, e) / numRanks;
    trans += share / intraNode.transBytesPerSecond;
    agg += share / intraNode.aggBytesPerSecond;
    for (const r of ranks) {
      const tier = sameNode(model.profile, home, r) ? intraNode : interNode;
      trans += share / tier.transBytesPerSecond;
      agg += share / tier.aggBytesPerSecond;
    }
  });
  return { trans, agg };
}

/**
 * The modelled time of one layer under `placement` for `counts` (direct evaluation, no
 * incremental state: the reference the planner's fast path is tested against).
 */
export function evaluatePlacement(counts: CountMatrix, placement: Placement, model: PerfModel): CostBreakdown {
  const { numRanks, numExperts } = placement;
  const { computed } = rankLoads(counts, placement);
  const intra = new Float64Array(numRanks);
  const inter = new Float64Array(numRanks);
  const hostsOf = placement.replicas.map((ranks) => new Set(ranks));
  for (let src = 0; src < numRanks; src++) {
    for (let e = 0; e < numExperts; e++) {
      const home = homeRank(e, numRanks, numExperts);
      const c = counts.data[src * numExperts + e] ?? 0;
      if (src === home || hostsOf[e]?.has(src) === true) continue;
      if (sameNode(model.profile, src, home)) intra[home] = (intra[home] ?? 0) + c;
      else inter[home] = (inter[home] ?? 0) + c;
    }
  }
  const { trans, agg } = transAggSeconds(model, placement);
  return layerCost(model, a2aSeconds(model, intra, inter), Math.max(...computed), trans, agg);
}
