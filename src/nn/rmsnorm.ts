/**
 * RMSNorm (Zhang & Sennrich 2019) over the last dimension: y = x / sqrt(mean(x²) + eps) · gain.
 * Stream-ordered; the per-row 1/rms is returned for the backward. Semantics: docs/model.md.
 */
import { guard } from '../runtime/guard.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import type { NativeStorage, NativeStream } from '../native.js';
import { addon } from '../native.js';
import { streamOn } from '../kernels/check.js';
import { checkF32Shaped, checkPositive, checkRows } from './check.js';

declare module '../native.js' {
  interface NativeAddon {
    rmsnormForward(
      numRows: number,
      dim: number,
      eps: number,
      x: NativeStorage,
      gain: NativeStorage,
      y: NativeStorage,
      rstd: NativeStorage,
      stream: NativeStream,
    ): void;
    rmsnormBackward(
      numRows: number,
      dim: number,
      dY: NativeStorage,
      x: NativeStorage,
      gain: NativeStorage,
      rstd: NativeStorage,
      dX: NativeStorage,
      dGain: NativeStorage,
      stream: NativeStream,
    ): void;
  }
}

export interface RmsNormOptions {
  /** Added to mean(x²) before the square root; finite and > 0. Default 1e-5. */
  readonly eps?: number;
  readonly stream?: Stream;
}

export interface RmsNorm {
  /** Same shape as x. */
  readonly y: Tensor<'f32'>;
  /** [N] f32, 1 / sqrt(mean(x²) + eps) of each of the N = x.numel / d rows. */
  readonly rstd: Tensor<'f32'>;
}

/**
 * Normalises each row of x by its root mean square and scales by gain (stream-ordered).
 *
 * @param x [..., d] f32, d >= 1.
 * @param gain [d] f32.
 * @example rmsnorm(Tensor.from([3, 4], [1, 2]), Tensor.from([1, 1], [2])) // y ≈ [0.8485, 1.1314]
 */
export function rmsnorm(x: Tensor<'f32'>, gain: Tensor<'f32'>, options: RmsNormOptions = {}): RmsNorm {
  const { tensor, numRows, dim } = checkRows('x', x);
  checkF32Shaped('gain', gain, [dim], tensor.device);
  const eps = checkPositive('options.eps', options.eps ?? 1e-5);
  const stream = streamOn(tensor.device, options.stream);
  const y = Tensor.empty(tensor.shape, { device: tensor.device });
  const rstd = Tensor.empty([numRows], { device: tensor.device });
  guard(() =>
    addon().rmsnormForward(numRows, dim, eps, tensor.storage, gain.storage, y.storage, rstd.storage, stream.native),
  );
  return { y, rstd };
}

/**
 * Backward of {@link rmsnorm} (stream-ordered): returns dX (shape of x) and accumulates
 * dGain[i] += Σ_n dY[n, i] · x[n, i] · rstd[n] (rows in order).
 *
 * @param dY, x [..., d] f32 of the same shape; rstd [N] from the forward; dGain [d] f32.
 */
export function rmsnormBackward(
  dY: Tensor<'f32'>,
  x: Tensor<'f32'>,
  gain: Tensor<'f32'>,
  rstd: Tensor<'f32'>,
  dGain: Tensor<'f32'>,
  options: { readonly stream?: Stream } = {},
): Tensor<'f32'> {
  const { tensor, numRows, dim } = checkRows('x', x);
  checkF32Shaped('dY', dY, tensor.shape, tensor.device);
  checkF32Shaped('gain', gain, [dim], tensor.device);
  checkF32Shaped('rstd', rstd, [numRows], tensor.device);
  checkF32Shaped('dGain', dGain, [dim], tensor.device);
  const stream = streamOn(tensor.device, options.stream);
  const dX = Tensor.empty(tensor.shape, { device: tensor.device });
  guard(() =>
    addon().rmsnormBackward(
      numRows,
      dim,
      dY.storage,
      tensor.storage,
      gain.storage,
      rstd.storage,
      dX.storage,
      dGain.storage,
      stream.native,
    ),
  );
  return dX;
}
