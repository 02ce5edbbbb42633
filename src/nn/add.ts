/** Elementwise add (residual connections): out = a + b. Stream-ordered. */
import { guard } from '../runtime/guard.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import type { NativeStorage, NativeStream } from '../native.js';
import { addon } from '../native.js';
import { checkTensor, streamOn } from '../kernels/check.js';
import { checkF32Shaped } from './check.js';

declare module '../native.js' {
  interface NativeAddon {
    add(numElements: number, a: NativeStorage, b: NativeStorage, out: NativeStorage, stream: NativeStream): void;
  }
}

export interface AddOptions {
  /** Write here (same shape; may be `a` or `b` for an in-place residual) instead of a new tensor. */
  readonly out?: Tensor<'f32'>;
  readonly stream?: Stream;
}

/**
 * out[i] = a[i] + b[i] (stream-ordered).
 *
 * @param a, b f32 tensors of the same shape.
 * @example add(x, attentionOut, { out: x }) // x += attentionOut
 */
export function add(a: Tensor<'f32'>, b: Tensor<'f32'>, options: AddOptions = {}): Tensor<'f32'> {
  const left = checkTensor('a', a, 'f32');
  checkF32Shaped('b', b, left.shape, left.device);
  const out = options.out === undefined ? Tensor.empty(left.shape, { device: left.device }) : checkF32Shaped('options.out', options.out, left.shape, left.device);
  const stream = streamOn(left.device, options.stream);
  guard(() => addon().add(left.numel, left.storage, b.storage, out.storage, stream.native));
  return out;
}
