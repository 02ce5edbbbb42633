/**
 * Argument checks shared by the dense kernel ops (matmul, ffn, optim): fp32 tensors of a given
 * shape, and the stream an op runs on. Messages come from the project's one builder.
 */
import { invalidType, invalidValue } from '../errors.js';
import type { Device } from '../runtime/device.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';

/** Returns `value` if it is an f32 Tensor of `rank` dimensions (any rank when undefined). */
export function checkF32(name: string, value: unknown, rank?: number): Tensor<'f32'> {
  const expected = rank === undefined ? 'f32 Tensor' : `f32 Tensor of rank ${rank}`;
  if (!(value instanceof Tensor)) throw invalidType(name, expected, value);
  if (value.dtype !== 'f32') throw invalidType(name, expected, `${value.dtype} tensor`);
  if (rank !== undefined && value.shape.length !== rank) throw invalidValue(name, expected, value.shape);
  return value as Tensor<'f32'>;
}

/** Throws a RangeError naming `name` unless `tensor` has exactly `shape`. */
export function checkShapeEquals(name: string, tensor: Tensor, shape: readonly number[]): void {
  const same = tensor.shape.length === shape.length && tensor.shape.every((dim, i) => dim === shape[i]);
  if (!same) throw invalidValue(name, `shape [${shape.join(', ')}]`, tensor.shape);
}

/** Throws a RangeError naming `name` unless `tensor` lives on `device`. */
export function checkDevice(name: string, tensor: Tensor, device: Device): void {
  if (tensor.device !== device) throw invalidValue(name, `a tensor on ${device}`, String(tensor.device));
}

/** The stream an op runs on: `stream` (which must belong to `device`) or the default stream. */
export function resolveStream(stream: Stream | undefined, device: Device): Stream {
  if (stream === undefined) return device.defaultStream;
  if (stream === null || typeof stream !== 'object' || !('native' in stream)) {
    throw invalidType('options.stream', 'Stream', stream);
  }
  if (stream.device !== device) throw invalidValue('options.stream', `a stream of ${device}`, String(stream.device));
  return stream;
}

/**
 * Throws a RangeError naming the first output that shares memory with another tensor of the
 * call: kernels read inputs while writing outputs, so aliasing would give garbage.
 */
export function checkNoAliasing(outputs: readonly (readonly [string, Tensor])[], inputs: readonly (readonly [string, Tensor])[]): void {
  const all = [...outputs, ...inputs];
  outputs.forEach(([name, tensor], i) => {
    const other = all.find(([, t], j) => j !== i && t.storage === tensor.storage);
    if (other !== undefined) throw invalidValue(name, `a tensor that shares no memory with ${other[0]}`, other[0]);
  });
}
