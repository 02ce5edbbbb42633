/**
 * The pure half of calibration: turning measured samples into the constants of a
 * {@link HardwareProfile}. No clock, no I/O; `calibrate.ts` does the measuring.
 */
import { invalidValue } from '../../errors.js';
import { ONE_NODE, validateProfile, type BandwidthPoint, type HardwareProfile } from './perfmodel.js';

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
  };
}

/**
 * The one-node profile of `numRanks` in-process ranks from calibration samples (both tiers are
 * the same links): the receiver curve and the shared tier (`a2aCurve`), the FFN slope
 * (`fitProportional`), Trans/Agg per target (`perTargetBandwidth`), FNEC/BNEC (the fastest
 * block sample). Also the measured backward/forward ratio (the model uses 2, Eq. 3).
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
  });
  return { profile, backwardPerForward: fitProportional(samples.bec, 'samples.bec') / forward };
}
