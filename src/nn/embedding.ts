/**
 * Token (+ position) embedding: out[n] = table[ids[n]] + positions[n mod P]. Stream-ordered.
 * The backward accumulates into the caller's gradient tables, each row summing its tokens in
 * token order (deterministic). Semantics: docs/model.md ("Embedding").
 */
import { invalidValue } from '../errors.js';
import { guard } from '../runtime/guard.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import type { NativeStorage, NativeStream } from '../native.js';
import { addon } from '../native.js';
import { checkDevice, checkRank, checkTensor, streamOn } from '../kernels/check.js';
import { checkRows, kMaxInt32 } from './check.js';

declare module '../native.js' {
  interface NativeAddon {
    embeddingForward(
      numTokens: number,
      vocab: number,
      dim: number,
      numPositions: number,
      ids: NativeStorage,
      table: NativeStorage,
      posTable: NativeStorage | null,
      out: NativeStorage,
      stream: NativeStream,
    ): void;
    embeddingBackward(
      numTokens: number,
      vocab: number,
      dim: number,
      numPositions: number,
      ids: NativeStorage,
      dOut: NativeStorage,
      dTable: NativeStorage,
      dPos: NativeStorage | null,
      stream: NativeStream,
    ): void;
  }
}

export interface EmbeddingOptions {
  /** [P, d] f32 position table; token n (flat index) adds row n mod P. Default none. */
  readonly positions?: Tensor<'f32'> | null;
  readonly stream?: Stream;
}

export interface EmbeddingBackwardOptions {
  /** [P, d] f32 gradient of the position table, accumulated into (default: not computed). */
  readonly dPositions?: Tensor<'f32'> | null;
  readonly stream?: Stream;
}

interface Checked {
  readonly vocab: number;
  readonly dim: number;
  readonly stream: Stream;
}

function checkTable(name: string, table: unknown, ids: Tensor<'i32'>, stream: Stream | undefined): Checked {
  const checked = checkTensor(name, table, 'f32');
  checkRank(name, checked, 2, 'a shape [vocab, dim] with 1 <= vocab < 2^31');
  const [vocab = 0, dim = 0] = checked.shape;
  if (vocab < 1 || vocab > kMaxInt32) throw invalidValue(`${name}.shape`, 'a shape [vocab, dim] with 1 <= vocab < 2^31', checked.shape);
  checkDevice(name, checked, ids.device);
  return { vocab, dim, stream: streamOn(ids.device, stream) };
}

function checkPositions(name: string, positions: unknown, dim: number, ids: Tensor<'i32'>): Tensor<'f32'> {
  const checked = checkTensor(name, positions, 'f32');
  checkRank(name, checked, 2, `a shape [numPositions, ${dim}] with numPositions >= 1`);
  if ((checked.shape[0] ?? 0) < 1 || checked.shape[1] !== dim) {
    throw invalidValue(`${name}.shape`, `a shape [numPositions, ${dim}] with numPositions >= 1`, checked.shape);
  }
  checkDevice(name, checked, ids.device);
  return checked;
}

/**
 * Gathers embedding rows (stream-ordered). An id outside [0, vocab) makes the queued work fail:
 * the next synchronize() rejects with ProphetRangeError (code 'EINVAL') naming the first bad id.
 *
 * @param ids i32 ids of any shape (N = ids.numel tokens in row-major order), e.g. [B, S].
 * @param table [V, d] f32.
 * @returns [...ids.shape, d] f32.
 * @example embedding(Tensor.from([2, 0], [2], { dtype: 'i32' }), table) // rows 2 and 0 of table
 */
export function embedding(ids: Tensor<'i32'>, table: Tensor<'f32'>, options: EmbeddingOptions = {}): Tensor<'f32'> {
  const checkedIds = checkTensor('ids', ids, 'i32');
  const c = checkTable('table', table, checkedIds, options.stream);
  const positions = options.positions == null ? null : checkPositions('options.positions', options.positions, c.dim, checkedIds);
  const out = Tensor.empty([...checkedIds.shape, c.dim], { device: checkedIds.device });
  guard(() =>
    addon().embeddingForward(
      checkedIds.numel,
      c.vocab,
      c.dim,
      positions?.shape[0] ?? 0,
      checkedIds.storage,
      table.storage,
      positions?.storage ?? null,
      out.storage,
      c.stream.native,
    ),
  );
  return out;
}

/**
 * Backward of {@link embedding} (stream-ordered): dTable[v] += Σ_{n: ids[n] = v} dOut[n] and,
 * when given, dPositions[p] += Σ_{n mod P = p} dOut[n], each sum in token order.
 *
 * @param dOut [...ids.shape, d] f32 (any shape of N·d elements with last dimension d).
 * @param dTable [V, d] f32, accumulated into (zero it first for a fresh gradient).
 */
export function embeddingBackward(
  dOut: Tensor<'f32'>,
  ids: Tensor<'i32'>,
  dTable: Tensor<'f32'>,
  options: EmbeddingBackwardOptions = {},
): void {
  const checkedIds = checkTensor('ids', ids, 'i32');
  const c = checkTable('dTable', dTable, checkedIds, options.stream);
  const grad = checkRows('dOut', dOut, c.dim);
  if (grad.numRows !== checkedIds.numel) throw invalidValue('dOut.shape', `[${[...checkedIds.shape, c.dim].join(', ')}]`, grad.tensor.shape);
  checkDevice('dOut', grad.tensor, checkedIds.device);
  const dPositions =
    options.dPositions == null ? null : checkPositions('options.dPositions', options.dPositions, c.dim, checkedIds);
  guard(() =>
    addon().embeddingBackward(
      checkedIds.numel,
      c.vocab,
      c.dim,
      dPositions?.shape[0] ?? 0,
      checkedIds.storage,
      grad.tensor.storage,
      dTable.storage,
      dPositions?.storage ?? null,
      c.stream.native,
    ),
  );
}
