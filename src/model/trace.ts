/**
 * Routing traces written by `prophet train --trace DIR`, in the layout of the SmartMoE trace
 * (docs/traces.md): DIR/meta.json and DIR/counts.u16.gz (or counts.u32.gz when a count does not
 * fit 16 bits), little-endian, row-major [iteration][layer][source_rank][micro_batch][expert]
 * with one micro-batch per iteration.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export class TraceRecorder {
  private readonly iterations: number[] = [];
  private readonly matrices: Int32Array[] = []; // one [L·W·E] block per iteration

  constructor(
    readonly numLayers: number,
    readonly numRanks: number,
    readonly numExperts: number,
  ) {}

  /** Records iteration `iteration`'s count matrices, one [W·E] per layer. */
  record(iteration: number, countMatrices: readonly Int32Array[]): void {
    const block = new Int32Array(this.numLayers * this.numRanks * this.numExperts);
    countMatrices.forEach((m, l) => block.set(m, l * this.numRanks * this.numExperts));
    this.iterations.push(iteration);
    this.matrices.push(block);
  }

  /** Writes DIR/meta.json and the gzipped counts. */
  write(dir: string): void {
    mkdirSync(dir, { recursive: true });
    const max = this.matrices.reduce((m, b) => b.reduce((a, v) => Math.max(a, v), m), 0);
    const wide = max > 0xffff;
    const values = wide ? new Uint32Array(this.matrices.length * (this.matrices[0]?.length ?? 0)) : new Uint16Array(this.matrices.length * (this.matrices[0]?.length ?? 0));
    this.matrices.forEach((b, i) => values.set(b, i * b.length));
    const file = wide ? 'counts.u32.gz' : 'counts.u16.gz';
    writeFileSync(join(dir, file), gzipSync(Buffer.from(values.buffer, values.byteOffset, values.byteLength)));
    const meta = {
      source: 'pro-prophet `prophet train --trace`',
      what: 'token slots each source rank kept for each expert, per iteration and MoE layer',
      dtype: wide ? 'uint32 little-endian' : 'uint16 little-endian',
      file,
      order: ['iteration', 'layer', 'source_rank', 'micro_batch', 'expert'],
      shape: [this.iterations.length, this.numLayers, this.numRanks, 1, this.numExperts],
      iterations: this.iterations,
    };
    writeFileSync(join(dir, 'meta.json'), `${JSON.stringify(meta, null, 1)}\n`);
  }
}
