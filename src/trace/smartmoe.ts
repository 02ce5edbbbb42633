/**
 * Reader for the shared routing-trace format (`../shared/traces/<name>/`: `meta.json` +
 * `counts.u16.gz`, little-endian uint16, row-major in the order `meta.order`). Returns per
 * snapshot and layer the count matrix `[srcRank][expert]`, micro-batches summed (the planner sees
 * one iteration's slots). Optional data: callers check {@link traceAvailable} and skip cleanly.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { invalidValue } from '../errors.js';
import type { CountMatrix } from '../balance/prophet/stats.js';

/** The parts of `meta.json` the reader uses. */
export interface TraceMeta {
  readonly order: ReadonlyArray<string>;
  readonly shape: ReadonlyArray<number>;
  readonly iterations: ReadonlyArray<number>;
  readonly top_k: number;
  readonly experts: number;
  readonly source_ranks: number;
}

/** A loaded trace: `counts[snapshot][layer]` of `[numRanks][numExperts]`. */
export interface RoutingTrace {
  readonly meta: TraceMeta;
  readonly iterations: ReadonlyArray<number>;
  readonly counts: ReadonlyArray<ReadonlyArray<CountMatrix>>;
}

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

/** Whether `dir` holds a trace (meta.json and counts.u16.gz). */
export function traceAvailable(dir: string): boolean {
  return existsSync(join(dir, 'meta.json')) && existsSync(join(dir, 'counts.u16.gz'));
}

/**
 * Loads the trace in `dir`; `maxSnapshots` keeps only the first snapshots (default: all).
 * Throws a RangeError naming the field when meta.json does not describe the expected layout.
 */
export function readTrace(dir: string, maxSnapshots = Infinity): RoutingTrace {
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as TraceMeta;
  if (JSON.stringify(meta.order) !== JSON.stringify(ORDER)) throw invalidValue('meta.order', JSON.stringify(ORDER), meta.order);
  const [numSnapshots = 0, numLayers = 0, numRanks = 0, numMicro = 0, numExperts = 0] = meta.shape;
  const bytes = gunzipSync(readFileSync(join(dir, 'counts.u16.gz')));
  const expected = 2 * numSnapshots * numLayers * numRanks * numMicro * numExperts;
  if (bytes.length !== expected) throw invalidValue('counts.u16.gz length', `${expected} bytes`, bytes.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kept = Math.min(numSnapshots, maxSnapshots);
  const counts: CountMatrix[][] = [];
  for (let it = 0; it < kept; it++) {
    const layers: CountMatrix[] = [];
    for (let l = 0; l < numLayers; l++) {
      const data = new Int32Array(numRanks * numExperts);
      for (let r = 0; r < numRanks; r++) {
        for (let m = 0; m < numMicro; m++) {
          const base = ((((it * numLayers + l) * numRanks + r) * numMicro + m) * numExperts) * 2;
          for (let e = 0; e < numExperts; e++) data[r * numExperts + e] = (data[r * numExperts + e] ?? 0) + view.getUint16(base + 2 * e, true);
        }
      }
      layers.push({ numRanks, numExperts, data });
    }
    counts.push(layers);
  }
  return { meta, iterations: meta.iterations.slice(0, kept), counts };
}
