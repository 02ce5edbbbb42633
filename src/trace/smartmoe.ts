/**
 * Reader for the shared routing-trace format (`../shared/traces/<name>/`: `meta.json` + the
 * counts file it names, `counts.u16.gz` by default, little-endian unsigned integers, row-major in
 * the order `meta.order`; docs/traces.md). Returns per snapshot and layer the count matrix
 * `[srcRank][expert]`, micro-batches summed (the planner sees one iteration's slots). Optional
 * data: callers check {@link traceAvailable} and skip cleanly.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { invalidValue } from '../errors.js';
import type { CountMatrix } from '../balance/prophet/stats.js';

/** The keys of `meta.json` (docs/traces.md). */
export interface TraceMeta {
  /** The counts file; absent in the SmartMoE trace, whose file is `counts.u16.gz`. */
  readonly file?: string;
  /** 'uint16 little-endian' or 'uint32 little-endian'. */
  readonly dtype: string;
  readonly order: ReadonlyArray<string>;
  readonly shape: ReadonlyArray<number>;
  /** 1-based training step of each snapshot. */
  readonly iterations: ReadonlyArray<number>;
  /** Index in the traced model of each traced MoE layer. */
  readonly layers_of_original: ReadonlyArray<number>;
  readonly top_k: number;
  readonly tokens_per_rank_per_micro_batch: number;
  /** Slots routed per rank and micro-batch before capacity drops (tokens × k). */
  readonly slots_per_rank_per_micro_batch: number;
  readonly experts: number;
  readonly source_ranks: number;
}

/** A loaded trace: `counts[snapshot][layer]` of `[numRanks][numExperts]`. */
export interface RoutingTrace {
  readonly meta: TraceMeta;
  readonly iterations: ReadonlyArray<number>;
  readonly counts: ReadonlyArray<ReadonlyArray<CountMatrix>>;
}

/** Bytes per count of each dtype a trace may use. */
const DTYPE_BYTES: Readonly<Record<string, 2 | 4>> = { 'uint16 little-endian': 2, 'uint32 little-endian': 4 };

const ORDER = ['iteration', 'layer', 'source_rank', 'micro_batch', 'expert'];

/**
 * The folder of shared trace `name`: `../shared/traces/<name>` next to the project root `from`,
 * or next to one of its parents (a git worktree sits one level deeper than the main checkout).
 * Returns undefined when no such folder holds a trace.
 */
export function findSharedTrace(name: string, from: string = process.cwd()): string | undefined {
  let dir = resolve(from);
  for (let depth = 0; depth < 3; depth++) {
    const candidate = join(dir, '..', 'shared', 'traces', name);
    if (traceAvailable(candidate)) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

/** Whether `dir` holds a trace (meta.json and the counts file it names). */
export function traceAvailable(dir: string): boolean {
  const metaPath = join(dir, 'meta.json');
  if (!existsSync(metaPath)) return false;
  try {
    return existsSync(join(dir, countsFile(JSON.parse(readFileSync(metaPath, 'utf8')) as TraceMeta)));
  } catch {
    return false; // unreadable meta.json: no usable trace here
  }
}

function countsFile(meta: TraceMeta): string {
  return meta.file ?? 'counts.u16.gz';
}

/**
 * Loads the trace in `dir`; `maxSnapshots` keeps only the first snapshots (default: all).
 * Throws a RangeError naming the field when meta.json does not describe the expected layout.
 */
export function readTrace(dir: string, maxSnapshots = Infinity): RoutingTrace {
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as TraceMeta;
  if (JSON.stringify(meta.order) !== JSON.stringify(ORDER)) throw invalidValue('meta.order', JSON.stringify(ORDER), meta.order);
  const width = DTYPE_BYTES[meta.dtype];
  if (width === undefined) throw invalidValue('meta.dtype', `one of ${Object.keys(DTYPE_BYTES).join(', ')}`, meta.dtype);
  const [numSnapshots = 0, numLayers = 0, numRanks = 0, numMicro = 0, numExperts = 0] = meta.shape;
  if (meta.source_ranks !== numRanks) throw invalidValue('meta.source_ranks', `shape[2] (${numRanks})`, meta.source_ranks);
  if (meta.experts !== numExperts) throw invalidValue('meta.experts', `shape[4] (${numExperts})`, meta.experts);
  const file = countsFile(meta);
  const bytes = gunzipSync(readFileSync(join(dir, file)));
  const expected = width * numSnapshots * numLayers * numRanks * numMicro * numExperts;
  if (bytes.length !== expected) throw invalidValue(`${file} length`, `${expected} bytes`, bytes.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = width === 2 ? (at: number) => view.getUint16(at, true) : (at: number) => view.getUint32(at, true);
  const kept = Math.min(numSnapshots, maxSnapshots);
  const counts: CountMatrix[][] = [];
  for (let it = 0; it < kept; it++) {
    const layers: CountMatrix[] = [];
    for (let l = 0; l < numLayers; l++) {
      const data = new Int32Array(numRanks * numExperts);
      for (let r = 0; r < numRanks; r++) {
        for (let m = 0; m < numMicro; m++) {
          const base = ((((it * numLayers + l) * numRanks + r) * numMicro + m) * numExperts) * width;
          for (let e = 0; e < numExperts; e++) data[r * numExperts + e] = (data[r * numExperts + e] ?? 0) + read(base + width * e);
        }
      }
      layers.push({ numRanks, numExperts, data });
    }
    counts.push(layers);
  }
  return { meta, iterations: meta.iterations.slice(0, kept), counts };
}
