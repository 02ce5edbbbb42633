/**
 * Softmax cross-entropy over classes (the language model's loss over the 256 byte values).
 * Stream-ordered. Semantics: docs/model.md ("Cross-entropy").
 */
import { invalidValue } from '../errors.js';
import { guard } from '../runtime/guard.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import type { NativeStorage, NativeStream } from '../native.js';
import { addon } from '../native.js';
import { checkDevice, checkRank, checkShapeEquals, checkTensor, streamOn } from '../kernels/check.js';
import { checkF32Shaped, checkFinite, kMaxInt32 } from './check.js';

declare module '../native.js' {
  interface NativeAddon {
    crossEntropyForward(
      numRows: number,
      numClasses: number,
      logits: NativeStorage,
      targets: NativeStorage,
      loss: NativeStorage,
      lse: NativeStorage,
      meanLoss: NativeStorage,
      stream: NativeStream,
    ): void;
    crossEntropyBackward(
      numRows: number,
      numClasses: number,
      scale: number,
      logits: NativeStorage,
      targets: NativeStorage,
      lse: NativeStorage,
      dLogits: NativeStorage,
      stream: NativeStream,
    ): void;
  }
}

export interface CrossEntropy {
  /** [N] f32: lse[n] − logits[n, targets[n]], in nats. */
  readonly loss: Tensor<'f32'>;
  /** [N] f32: log Σ_c exp(logits[n, c]) (for the backward). */
  readonly lse: Tensor<'f32'>;
  /** [1] f32: mean of loss, summed in double in row order; 0 when N = 0. */
  readonly meanLoss: Tensor<'f32'>;
}

const kLogitsShape = 'a shape [numRows, numClasses] with 1 <= numClasses < 2^31';

function checkInputs(logits: unknown, targets: unknown, stream: Stream | undefined) {
  const x = checkTensor('logits', logits, 'f32');
  checkRank('logits', x, 2, kLogitsShape);
  const [numRows = 0, numClasses = 0] = x.shape;
  if (numClasses < 1 || numClasses > kMaxInt32) throw invalidValue('logits.shape', kLogitsShape, x.shape);
  const t = checkTensor('targets', targets, 'i32');
  checkShapeEquals('targets', t, [numRows]);
  checkDevice('targets', t, x.device);
  return { x, t, numRows, numClasses, stream: streamOn(x.device, stream) };
}

/**
 * Per-row cross-entropy of logits against integer targets (stream-ordered). A target outside
 * [0, C) makes the queued work fail: the next synchronize() rejects with ProphetRangeError
 * (code 'EINVAL').
 *
 * @param logits [N, C] f32.
 * @param targets [N] i32 in [0, C).
 * @example crossEntropy(Tensor.zeros([1, 4]), Tensor.from([2], [1], { dtype: 'i32' })) // loss [ln 4]
 */
export function crossEntropy(
  logits: Tensor<'f32'>,
  targets: Tensor<'i32'>,
  options: { readonly stream?: Stream } = {},
): CrossEntropy {
  const c = checkInputs(logits, targets, options.stream);
  const on = { device: c.x.device };
  const result = { loss: Tensor.empty([c.numRows], on), lse: Tensor.empty([c.numRows], on), meanLoss: Tensor.empty([1], on) };
  guard(() =>
    addon().crossEntropyForward(
      c.numRows,
      c.numClasses,
      c.x.storage,
      c.t.storage,
      result.loss.storage,
      result.lse.storage,
      result.meanLoss.storage,
      c.stream.native,
    ),
  );
  return result;
}

export interface CrossEntropyBackwardOptions {
  /** Gradient of the total loss with respect to each row's loss: 1/N (the mean, default) or any
   * finite number. */
  readonly scale?: number;
  readonly stream?: Stream;
}

/**
 * dLogits [N, C] = (softmax(logits[n]) − onehot(targets[n])) · scale (stream-ordered).
 *
 * @param lse [N] from {@link crossEntropy}.
 */
export function crossEntropyBackward(
  logits: Tensor<'f32'>,
  targets: Tensor<'i32'>,
  lse: Tensor<'f32'>,
  options: CrossEntropyBackwardOptions = {},
): Tensor<'f32'> {
  const c = checkInputs(logits, targets, options.stream);
  checkF32Shaped('lse', lse, [c.numRows], c.x.device);
  const scale = checkFinite('options.scale', options.scale ?? (c.numRows > 0 ? 1 / c.numRows : 1));
  const dLogits = Tensor.empty(c.x.shape, { device: c.x.device });
  guard(() =>
    addon().crossEntropyBackward(
      c.numRows,
      c.numClasses,
      scale,
      c.x.storage,
      c.t.storage,
      lse.storage,
      dLogits.storage,
      c.stream.native,
    ),
  );
  return dLogits;
}
