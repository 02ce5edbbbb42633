/**
 * The example model's training text: the bytes of data/moby-dick.txt.gz (see data/README.md),
 * a seeded batch sampler of byte windows for next-byte prediction, and the unigram entropy that
 * the training test's loss must beat.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { checkInteger, invalidType, invalidValue } from '../errors.js';
import { packageRoot } from '../native.js';
import { Rng } from './rng.js';

/** Path of the embedded text (gzip) inside the package. */
export const DEFAULT_TEXT_PATH = join(packageRoot, 'data', 'moby-dick.txt.gz');

/** A batch of next-byte prediction windows, row-major [batch, seq]. */
export interface Batch {
  readonly batch: number;
  readonly seq: number;
  /** [batch, seq] byte values 0..255: bytes[start_b + s]. */
  readonly inputs: Int32Array;
  /** [batch, seq]: inputs shifted by one, bytes[start_b + s + 1]. */
  readonly targets: Int32Array;
}

export class TextDataset {
  /** @param bytes the whole text; not copied, do not modify. */
  constructor(readonly bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array)) throw invalidType('bytes', 'Uint8Array', bytes);
  }

  /** Reads a gzip file (the embedded Moby-Dick by default) synchronously. */
  static load(path: string = DEFAULT_TEXT_PATH): TextDataset {
    if (typeof path !== 'string') throw invalidType('path', 'string', path);
    return new TextDataset(new Uint8Array(gunzipSync(readFileSync(path))));
  }

  /**
   * The text cut in two at byte ⌊length·(1 − validFraction)⌋: the first part for training, the
   * rest held out for validation (views, not copies). validFraction in [0, 1).
   *
   * @example TextDataset.load().split(0.1) // 90% train, the last 10% validation
   */
  split(validFraction: number): { readonly train: TextDataset; readonly valid: TextDataset } {
    const expected = 'finite number in [0, 1)';
    if (typeof validFraction !== 'number') throw invalidType('validFraction', expected, validFraction);
    if (!(validFraction >= 0 && validFraction < 1)) throw invalidValue('validFraction', expected, validFraction);
    const cut = Math.floor(this.bytes.length * (1 - validFraction));
    return { train: new TextDataset(this.bytes.subarray(0, cut)), valid: new TextDataset(this.bytes.subarray(cut)) };
  }

  /**
   * `batch` windows of `seq + 1` consecutive bytes at uniform random starts in
   * [0, bytes.length − seq − 1] (one rng.nextInt draw per row, rows in order), split into
   * inputs and targets. The same rng state always gives the same batch.
   *
   * @example ds.sampleBatch(Rng.fromSeed(1), 8, 64) // inputs and targets of 8·64 bytes
   */
  sampleBatch(rng: Rng, batch: number, seq: number): Batch {
    if (!(rng instanceof Rng)) throw invalidType('rng', 'Rng', rng);
    checkInteger('batch', batch, 1);
    checkInteger('seq', seq, 1);
    const numStarts = this.bytes.length - seq;
    if (numStarts < 1) throw invalidValue('seq', `integer in [1, ${this.bytes.length - 1}] (text length − 1)`, seq);
    const inputs = new Int32Array(batch * seq);
    const targets = new Int32Array(batch * seq);
    for (let b = 0; b < batch; b++) {
      const start = rng.nextInt(numStarts);
      for (let s = 0; s < seq; s++) {
        inputs[b * seq + s] = this.bytes[start + s] ?? 0;
        targets[b * seq + s] = this.bytes[start + s + 1] ?? 0;
      }
    }
    return { batch, seq, inputs, targets };
  }
}

/**
 * Entropy in bits per byte of the bytes' unigram distribution, H = −Σ_v p_v log₂ p_v with
 * p_v = count_v / n: the loss (in bits) of the best model that ignores context. 0 for an empty
 * or constant input. Example: "aab" → −(2/3·log₂(2/3) + 1/3·log₂(1/3)) ≈ 0.9183.
 */
export function unigramEntropyBits(bytes: Uint8Array): number {
  if (!(bytes instanceof Uint8Array)) throw invalidType('bytes', 'Uint8Array', bytes);
  const counts = new Float64Array(256);
  for (const b of bytes) counts[b] = (counts[b] ?? 0) + 1;
  let entropy = 0;
  for (const count of counts) {
    if (count > 0) {
      const p = count / bytes.length;
      entropy -= p * Math.log2(p);
    }
  }
  return entropy;
}
