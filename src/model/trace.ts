/**
 * Routing traces written by `prophet train --trace DIR`, in the layout of the SmartMoE trace
 * (docs/traces.md): DIR/meta.json and DIR/counts.u16.gz (or counts.u32.gz when a count does not
 * fit 16 bits), little-endian, row-major [iteration][layer][source_rank][micro_batch][expert]
 * with one micro-batch per iteration.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** What a run's trace describes besides its counts (the meta.json keys of the shared trace). */
export interface TraceShape {
  readonly numLayers: number;
  readonly numRanks: number;
  readonly numExperts: number;
  /** Experts per token (k). */
  readonly topK: number;
  /** Tokens each rank routes per iteration (its share of the batch × the sequence length). */
  readonly tokensPerRank: number;
}

export class TraceRecorder {
  private readonly iterations: number[] = [];
  private readonly matrices: Int32Array[] = []; // one [L·W·E] block per iteration

  constructor(readonly shape: TraceShape) {}

  /** Records iteration `iteration`'s count matrices, one [W·E] per layer. */
  record(iteration: number, countMatrices: readonly Int32Array[]): void {
    const { numLayers, numRanks, numExperts } = this.shape;
    const block = new Int32Array(numLayers * numRanks * numExperts);
    countMatrices.forEach((m, l) => block.set(m, l * numRanks * numExperts));
    this.iterations.push(iteration);
    this.matrices.push(block);
  }

  /** Writes DIR/meta.json and the gzipped counts. */
  write(dir: string): void {
    const { numLayers, numRanks, numExperts, topK, tokensPerRank } = this.shape;
    mkdirSync(dir, { recursive: true });
    const max = this.matrices.reduce((m, b) => b.reduce((a, v) => Math.max(a, v), m), 0);
    const wide = max > 0xffff;
    const length = this.matrices.length * numLayers * numRanks * numExperts;
    const values = wide ? new Uint32Array(length) : new Uint16Array(length);
    this.matrices.forEach((b, i) => values.set(b, i * b.length));
    const file = wide ? 'counts.u32.gz' : 'counts.u16.gz';
    writeFileSync(join(dir, file), gzipSync(Buffer.from(values.buffer, values.byteOffset, values.byteLength)));
    const meta = {
      source: 'pro-prophet `prophet train --trace`',
      what: 'token slots each source rank kept for each expert, per iteration and MoE layer',
      dtype: wide ? 'uint32 little-endian' : 'uint16 little-endian',
      file,
      order: ['iteration', 'layer', 'source_rank', 'micro_batch', 'expert'],
      shape: [this.iterations.length, numLayers, numRanks, 1, numExperts],
      iterations: this.iterations,
      // Every block of the model has one MoE layer, and every one is traced.
      layers_of_original: Array.from({ length: numLayers }, (_, l) => l),
      top_k: topK,
      tokens_per_rank_per_micro_batch: tokensPerRank,
      // Slots routed before any capacity drop; with dropless routing each row sums to this.
      slots_per_rank_per_micro_batch: tokensPerRank * topK,
      experts: numExperts,
      source_ranks: numRanks,
    };
    writeFileSync(join(dir, 'meta.json'), `${JSON.stringify(meta, null, 1)}\n`);
  }
}
