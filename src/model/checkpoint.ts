/**
 * Checkpoints of a training run: every parameter, AdamW's moments and step count, the data
 * generator's state and the step, in one file whose layout does not depend on the number of
 * ranks (expert tensors are stored whole, in global expert order), so a run can resume on
 * another W.
 *
 * File: "PPCKPT01" | u32 header bytes | header JSON | f32 data | u32 CRC-32 of all before it.
 * Writes go to a temporary file renamed into place, so a crash never leaves a torn checkpoint
 * and an existing one is replaced only by a complete file (a failed write removes its temporary
 * file). A truncated, corrupted or foreign file is refused with ProphetError ECHECKPOINT; one
 * saved with another model shape or batch, with a RangeError naming the option; in both cases
 * nothing is modified.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';

import { invalidValue, ProphetError } from '../errors.js';
import type { RngState } from './rng.js';
import type { ModelConfig } from './config.js';
import type { RankTrainer } from './trainer.js';

const MAGIC = Buffer.from('PPCKPT01', 'latin1');
const FORMAT = 'pro-prophet-checkpoint';
const VERSION = 1;

export interface CheckpointMeta {
  readonly step: number;
  readonly config: ModelConfig;
  readonly batch: number;
  readonly dataRng: RngState;
  /** Free-form values the caller wants back (e.g. the losses so far). */
  readonly extra?: Record<string, unknown>;
}

interface TensorEntry {
  readonly name: string;
  readonly offset: number; // in f32 elements from the start of the data
  readonly length: number;
}

interface Header extends CheckpointMeta {
  readonly format: string;
  readonly version: number;
  readonly adamStep: number;
  readonly tensors: readonly TensorEntry[];
}

/** One logical tensor of the run, gathered over ranks (experts are concatenated in rank order). */
async function gather(trainers: readonly RankTrainer[], index: number, what: 'value' | 'm' | 'v'): Promise<Float32Array> {
  const parts = await Promise.all(
    trainers.map(async (t) => {
      const stream = t.model.stream;
      const p = t.parameters()[index]!;
      const tensor = what === 'value' ? p.value : what === 'm' ? t.optimizer.state(index)?.m : t.optimizer.state(index)?.v;
      return tensor === undefined ? new Float32Array(p.value.numel) : await tensor.toArray({ stream });
    }),
  );
  const first = trainers[0]!.parameters()[index]!;
  if (first.replicated) return parts[0]!;
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/**
 * Saves the run held by `trainers` (all ranks of an in-process world, in rank order) to `path`.
 */
export async function saveCheckpoint(path: string, trainers: readonly RankTrainer[], meta: CheckpointMeta): Promise<void> {
  // Step 1: every tensor, named, in one data block.
  const params = trainers[0]!.parameters();
  const blobs: Float32Array[] = [];
  const tensors: TensorEntry[] = [];
  let offset = 0;
  for (const [i, p] of params.entries()) {
    for (const what of ['value', 'm', 'v'] as const) {
      const data = await gather(trainers, i, what);
      tensors.push({ name: `${what}/${p.name}`, offset, length: data.length });
      blobs.push(data);
      offset += data.length;
    }
  }
  // Step 2: header, data and checksum, written to a temporary file then renamed into place.
  const header: Header = { format: FORMAT, version: VERSION, ...meta, adamStep: trainers[0]!.optimizer.stepCount, tensors };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(headerBytes.length);
  const chunks = [MAGIC, length, headerBytes, ...blobs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))];
  let crc = 0;
  for (const c of chunks) crc = crc32(c, crc);
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(crc >>> 0);
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(temporary, 'w');
    try {
      for (const c of [...chunks, trailer]) writeSync(fd, c);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true }); // a partial file helps no one; the error says why
    throw error;
  }
}

/** Reads and verifies a checkpoint; throws ProphetError ECHECKPOINT naming what is wrong. */
export function readCheckpoint(path: string): { readonly header: Header; readonly tensor: (name: string) => Float32Array } {
  const bad = (why: string) => new ProphetError('ECHECKPOINT', `${path} is not a usable pro-prophet checkpoint: ${why}`);
  const file = readFileSync(path);
  if (file.length < MAGIC.length + 8 || !file.subarray(0, MAGIC.length).equals(MAGIC)) throw bad('wrong magic bytes (not a checkpoint)');
  const headerLength = file.readUInt32LE(MAGIC.length);
  const dataStart = MAGIC.length + 4 + headerLength;
  if (dataStart + 4 > file.length) throw bad('truncated header');
  const stored = file.readUInt32LE(file.length - 4);
  if ((crc32(file.subarray(0, file.length - 4)) >>> 0) !== stored) throw bad('checksum mismatch (truncated or corrupted)');
  const header = JSON.parse(file.subarray(MAGIC.length + 4, dataStart).toString('utf8')) as Header;
  if (header.format !== FORMAT || header.version !== VERSION) throw bad(`format ${header.format} v${header.version}`);
  const data = new Float32Array(file.buffer.slice(file.byteOffset + dataStart, file.byteOffset + file.length - 4));
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  return {
    header,
    tensor: (name) => {
      const entry = byName.get(name);
      if (entry === undefined) throw bad(`no tensor '${name}'`);
      return data.subarray(entry.offset, entry.offset + entry.length);
    },
  };
}

/**
 * Loads a checkpoint into freshly built trainers (same model config, any number of ranks):
 * parameters, AdamW state. Returns the metadata (step, data generator state...).
 */
export async function loadCheckpoint(path: string, trainers: readonly RankTrainer[]): Promise<CheckpointMeta> {
  const { header, tensor } = readCheckpoint(path);
  const numRanks = trainers.length;
  // The run must be the one saved: same model shape and routing, same global batch (the data
  // generator's state continues that batch's sample sequence).
  const expected = trainers[0]!.model.config;
  for (const key of Object.keys(expected) as (keyof ModelConfig)[]) {
    if (JSON.stringify(header.config[key]) !== JSON.stringify(expected[key])) {
      throw invalidValue(`config.${key}`, `the value ${path} was saved with (${JSON.stringify(header.config[key])})`, expected[key]);
    }
  }
  if (header.batch !== trainers[0]!.batch) throw invalidValue('options.batch', `the value ${path} was saved with (${header.batch})`, trainers[0]!.batch);
  // Step 1: every rank's slices, checked before anything is written (a mismatch modifies nothing).
  const plans = trainers.map((t) =>
    t.parameters().map((p) => {
      const slice = (what: 'value' | 'm' | 'v') => {
        const whole = tensor(`${what}/${p.name}`);
        const per = p.replicated ? whole.length : whole.length / numRanks;
        if (per !== p.value.numel) {
          throw new ProphetError('ECHECKPOINT', `${path}: ${p.name} holds ${whole.length} values, which does not fit the model (${p.value.numel} per rank, ${numRanks} ranks)`);
        }
        return p.replicated ? whole : whole.subarray(t.comm.rank * per, (t.comm.rank + 1) * per);
      };
      return { value: slice('value'), m: Float32Array.from(slice('m')), v: Float32Array.from(slice('v')) };
    }),
  );
  // Step 2: write parameters and optimizer states.
  trainers.forEach((t, r) => {
    const stream = t.model.stream;
    const plan = plans[r]!;
    t.parameters().forEach((p, i) => p.value.write(plan[i]!.value, { stream }));
    t.optimizer.loadState(header.adamStep, plan.map(({ m, v }) => ({ m, v })), { stream });
  });
  const { step, config, batch, dataRng, extra } = header;
  return { step, config, batch, dataRng, ...(extra === undefined ? {} : { extra }) };
}
