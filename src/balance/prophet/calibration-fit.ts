/**
 * The pure half of calibration: turning measured samples into the constants of a
 * {@link HardwareProfile}. No clock, no I/O; `calibrate.ts` does the measuring.
 */
import { invalidValue } from '../../errors.js';
import { ONE_NODE, validateProfile, type BandwidthPoint, type HardwareProfile, type OverlapCosts } from './perfmodel.js';

/** One measurement: `x` (bytes, tokens, targets) took `seconds`. */
export interface Sample {
  readonly x: number;
  readonly seconds: number;
}

function checkSamples(name: string, samples: ReadonlyArray<Sample>): void {
  if (!Array.isArray(samples) || samples.length === 0) throw invalidValue(name, 'non-empty array of samples', samples);
  samples.forEach((s, i) => {
    if (!(s.x > 0) || !Number.isFinite(s.x)) throw invalidValue(`${name}[${i}].x`, 'finite number > 0', s.x);
    if (!(s.seconds > 0) || !Number.isFinite(s.seconds)) throw invalidValue(`${name}[${i}].seconds`, 'finite number > 0', s.seconds);
  });
}

/**
 * The slope c of `seconds ≈ c · x` that minimises the summed squared *relative* error
 * Σ((c·x − t)/t)²: c = Σ(x/t) / Σ(x²/t²). Relative, because the model is judged by relative
 * error, and plain least squares would let the largest sample decide alone.
 * Example: samples (1, 2 s) and (2, 4 s) give c = 2 exactly.
 */
export function fitProportional(samples: ReadonlyArray<Sample>, name = 'samples'): number {
  checkSamples(name, samples);
  let num = 0;
  let den = 0;
  for (const { x, seconds } of samples) {
    num += x / seconds;
    den += (x / seconds) ** 2;
  }
  return num / den;
}

/**
 * Ordinary least squares of `seconds = latencySeconds + x / bytesPerSecond` (the α–β model of a
 * transfer). Needs two distinct x; a fitted slope ≤ 0 (pure noise) yields Infinity bandwidth.
 * Example: (1000 B, 2 ms) and (3000 B, 4 ms) give 1 ms latency and 1e6 B/s.
 */
export function fitLatencyBandwidth(samples: ReadonlyArray<Sample>, name = 'samples'): { latencySeconds: number; bytesPerSecond: number } {
  checkSamples(name, samples);
  const n = samples.length;
  const meanX = samples.reduce((a, s) => a + s.x, 0) / n;
  const meanT = samples.reduce((a, s) => a + s.seconds, 0) / n;
  let sxx = 0;
  let sxt = 0;
  for (const { x, seconds } of samples) {
    sxx += (x - meanX) ** 2;
    sxt += (x - meanX) * (seconds - meanT);
  }
  if (sxx === 0) throw invalidValue(name, 'samples with at least two distinct x', samples);
  const slope = sxt / sxx;
  return { latencySeconds: meanT - slope * meanX, bytesPerSecond: slope > 0 ? 1 / slope : Infinity };
}

/**
 * A2A bandwidth curve from samples (x = bytes one receiver gets from other ranks): points in
 * ascending bytes (samples of equal bytes keep their fastest), with times made non-decreasing
 * (a running maximum) so the curve never says more bytes finish sooner — measurement noise
 * could, and the model takes the curve at its word.
 * Example: (1 KiB, 2 µs), (2 KiB, 1.5 µs) → (1 KiB, 512 MB/s), (2 KiB, 1.024 GB/s).
 */
export function a2aCurve(samples: ReadonlyArray<Sample>, name = 'samples'): BandwidthPoint[] {
  checkSamples(name, samples);
  const fastest = new Map<number, number>();
  for (const { x, seconds } of samples) fastest.set(x, Math.min(seconds, fastest.get(x) ?? Infinity));
  const sorted = [...fastest.entries()].sort((a, b) => a[0] - b[0]);
  let running = 0;
  return sorted.map(([bytes, seconds]) => {
    running = Math.max(running, seconds);
    return { bytes, bytesPerSecond: bytes / running };
  });
}

/**
 * Trans/Agg bandwidth per target (bytes/s) from samples of one expert's transfer to a group of
 * x members (home included): the model prices it `g · (size / D) / B` (Eq. 4 per target), so
 * B = size / (D · c) with c the relative-error slope of seconds over g.
 */
export function perTargetBandwidth(samples: ReadonlyArray<Sample>, expertBytes: number, numRanks: number, name = 'samples'): number {
  return expertBytes / (numRanks * fitProportional(samples, name));
}

/**
 * What the overlap micro-benchmark measured, seconds per iteration (each the fastest run; see
 * `calibrate.ts`). All ranks work at once in every figure, as in training.
 */
export interface OverlapSamples {
  /** The compute kernel alone on the compute stream: the window W of the fallback rule. */
  readonly computeSeconds: number;
  /** The transfer alone, in line on the compute stream: T. */
  readonly transferSeconds: number;
  /** Both issued together, as the executor overlaps one part: the transfer on the transfer
   * stream (after an event from the compute stream), the kernel on the compute stream, which then
   * waits for the transfer's end event. */
  readonly bothSeconds: number;
  /** Two tiny ops in line on the compute stream. */
  readonly inlinePairSeconds: number;
  /** The same two tiny ops, the second on the transfer stream between an event from the compute
   * stream and one back to it: one part's hand-off, there and back. */
  readonly handoffPairSeconds: number;
}

/**
 * The hand-off cost of one overlapped part (`OverlapCosts.syncSeconds`): the extra time of the
 * round trip (event to the transfer stream, event back) over the same ops in line, at least 0
 * (noise can make it negative). Example: in line 30 µs, with the hand-off 80 µs → 50 µs.
 */
export function fitSyncSeconds(inlinePairSeconds: number, handoffPairSeconds: number): number {
  checkSeconds('inlinePairSeconds', inlinePairSeconds);
  checkSeconds('handoffPairSeconds', handoffPairSeconds);
  return Math.max(0, handoffPairSeconds - inlinePairSeconds);
}

/**
 * The interference (`OverlapCosts.interference`) that makes the fallback rule's cost model
 * reproduce the measured overlap. The rule (`overlapPays`) prices a transfer T overlapped in one
 * part beside a window W at `max(0, T − W) + i·min(T, W) + s` beyond W, so the pair ends after
 *   T_both = W + max(0, T − W) + i·min(T, W) + s = max(T, W) + i·min(T, W) + s,
 * hence i = (T_both − max(T, W) − s) / min(T, W), clamped to [0, 1]: below 0 is noise (both
 * finishing sooner than the longer alone), and at 1 the rule already never overlaps (the hidden
 * time is all lost and the hand-off comes on top), so anything above prices the same.
 * Example: W = 10 ms, T = 4 ms, T_both = 12.05 ms, s = 50 µs → i = (12.05 − 10 − 0.05) / 4 = 0.5.
 */
export function fitInterference(samples: Pick<OverlapSamples, 'computeSeconds' | 'transferSeconds' | 'bothSeconds'>, syncSeconds: number): number {
  const w = checkSeconds('samples.computeSeconds', samples.computeSeconds);
  const t = checkSeconds('samples.transferSeconds', samples.transferSeconds);
  const both = checkSeconds('samples.bothSeconds', samples.bothSeconds);
  if (!(syncSeconds >= 0) || !Number.isFinite(syncSeconds)) throw invalidValue('syncSeconds', 'finite number >= 0', syncSeconds);
  return Math.min(1, Math.max(0, (both - Math.max(t, w) - syncSeconds) / Math.min(t, w)));
}

/** Both overlap costs from one set of samples: `fitSyncSeconds`, then `fitInterference` with it. */
export function overlapCostsFromSamples(samples: OverlapSamples): OverlapCosts {
  const syncSeconds = fitSyncSeconds(samples.inlinePairSeconds, samples.handoffPairSeconds);
  return { syncSeconds, interference: fitInterference(samples, syncSeconds) };
}

function checkSeconds(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) throw invalidValue(name, 'finite number > 0', value);
  return value;
}

/** Everything calibration measures, as samples (x: bytes, tokens or group size; see calibrate.ts). */
export interface CalibrationSamples {
  /** One receiver: x = bytes it receives from other ranks. */
  readonly a2a: readonly Sample[];
  /** Every rank receiving at once: x = total bytes received (empty when W = 1). */
  readonly a2aAll: readonly Sample[];
  /** Expert FFN forward / backward: x = tokens on one rank. */
  readonly fec: readonly Sample[];
  readonly bec: readonly Sample[];
  /** One expert's Trans / Agg: x = group size (empty when W = 1). */
  readonly trans: readonly Sample[];
  readonly agg: readonly Sample[];
  /** The non-MoE block forward / backward: x = tokens on one rank. */
  readonly fnec: readonly Sample[];
  readonly bnec: readonly Sample[];
  /** The overlap micro-benchmark (absent when W = 1: nothing to transfer). */
  readonly overlap?: OverlapSamples;
}

const FAMILIES = ['a2a', 'a2aAll', 'fec', 'bec', 'trans', 'agg', 'fnec', 'bnec'] as const;

/** The fastest sample of each x, ascending in x. */
function fastestPerX(samples: readonly Sample[]): Sample[] {
  const fastest = new Map<number, number>();
  for (const { x, seconds } of samples) fastest.set(x, Math.min(seconds, fastest.get(x) ?? Infinity));
  return [...fastest.entries()].sort((a, b) => a[0] - b[0]).map(([x, seconds]) => ({ x, seconds }));
}

/**
 * Samples of several calibration passes merged: per family and x, the fastest (other jobs on a
 * shared machine only ever add time, so passes spread over time let the minimum catch it quiet).
 * Example: passes with fec (256, 2 ms) and (256, 1.5 ms) merge to fec (256, 1.5 ms).
 */
export function mergeSamples(passes: readonly CalibrationSamples[]): CalibrationSamples {
  if (!Array.isArray(passes) || passes.length === 0) throw invalidValue('passes', 'non-empty array of samples', passes);
  const merge = (family: (typeof FAMILIES)[number]) => fastestPerX(passes.flatMap((p) => p[family]));
  return {
    a2a: merge('a2a'),
    a2aAll: merge('a2aAll'),
    fec: merge('fec'),
    bec: merge('bec'),
    trans: merge('trans'),
    agg: merge('agg'),
    fnec: merge('fnec'),
    bnec: merge('bnec'),
    ...mergeOverlap(passes.flatMap((p) => (p.overlap === undefined ? [] : [p.overlap]))),
  };
}

/** Field by field the fastest: each field is its own min-based figure, like every x above. */
function mergeOverlap(all: readonly OverlapSamples[]): { overlap?: OverlapSamples } {
  if (all.length === 0) return {};
  const min = (key: keyof OverlapSamples) => Math.min(...all.map((o) => o[key]));
  return {
    overlap: {
      computeSeconds: min('computeSeconds'),
      transferSeconds: min('transferSeconds'),
      bothSeconds: min('bothSeconds'),
      inlinePairSeconds: min('inlinePairSeconds'),
      handoffPairSeconds: min('handoffPairSeconds'),
    },
  };
}

/**
 * The one-node profile of `numRanks` in-process ranks from calibration samples (both tiers are
 * the same links): the receiver curve and the shared tier (`a2aCurve`), the FFN slope
 * (`fitProportional`), Trans/Agg per target (`perTargetBandwidth`), FNEC/BNEC (the fastest
 * block sample), the overlap costs when measured (`overlapCostsFromSamples`). Also the
 * measured backward/forward ratio (the model uses 2, Eq. 3).
 */
export function profileFromSamples(samples: CalibrationSamples, expertBytes: number, numRanks: number): { profile: HardwareProfile; backwardPerForward: number } {
  const forward = fitProportional(samples.fec, 'samples.fec');
  const curve = a2aCurve(samples.a2a, 'samples.a2a');
  // W = 1 has no transfers: any bandwidth prices nothing, take the A2A's largest.
  const fallback = Math.max(...curve.map((p) => p.bytesPerSecond));
  const tier = {
    a2a: curve,
    transBytesPerSecond: samples.trans.length > 0 ? perTargetBandwidth(samples.trans, expertBytes, numRanks, 'samples.trans') : fallback,
    aggBytesPerSecond: samples.agg.length > 0 ? perTargetBandwidth(samples.agg, expertBytes, numRanks, 'samples.agg') : fallback,
  };
  const fastest = (name: string, s: readonly Sample[]) => (checkSamples(name, s), Math.min(...s.map((q) => q.seconds)));
  const profile = validateProfile({
    format: 'pro-prophet/hardware-profile',
    version: 1,
    ranksPerNode: ONE_NODE,
    intraNode: tier,
    interNode: tier,
    tierCombine: 'max',
    expertSecondsPerToken: forward,
    fnecSeconds: fastest('samples.fnec', samples.fnec),
    bnecSeconds: fastest('samples.bnec', samples.bnec),
    // W = 1 has nobody to contend with: no shared tier.
    ...(samples.a2aAll.length > 0 ? { nodeA2a: a2aCurve(samples.a2aAll, 'samples.a2aAll') } : {}),
    ...(samples.overlap === undefined ? {} : { overlap: overlapCostsFromSamples(samples.overlap) }),
  });
  return { profile, backwardPerForward: fitProportional(samples.bec, 'samples.bec') / forward };
}
