/**
 * Argument checks shared by the kernel ops: tensor type, dtype, shape and device, each failure a
 * TypeError/RangeError from the project's one message builder, naming the argument.
 */
import { invalidType, invalidValue } from '../errors.js';
import type { Device } from '../runtime/device.js';
import type { DType } from '../runtime/dtype.js';
import { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';

/** Returns `value` as a Tensor of `dtype`; TypeError naming `name` (or `name.dtype`) otherwise. */
export function checkTensor<D extends DType>(name: string, value: unknown, dtype: D): Tensor<D> {
  if (!(value instanceof Tensor)) throw invalidType(name, `${dtype} Tensor`, value);
  if (value.dtype !== dtype) throw invalidType(`${name}.dtype`, `'${dtype}'`, value.dtype);
  return value as Tensor<D>;
}

/** `value` as an f32 Tensor (TypeError otherwise) of `rank` dimensions when given (RangeError). */
export function checkF32(name: string, value: unknown, rank?: number): Tensor<'f32'> {
  const tensor = checkTensor(name, value, 'f32');
  if (rank !== undefined) checkRank(name, tensor, rank, `rank ${rank}`);
  return tensor;
}

/** RangeError naming `name.shape` unless the tensor has `rank` dimensions. */
export function checkRank(name: string, tensor: Tensor, rank: number, meaning: string): void {
  if (tensor.shape.length !== rank) throw invalidValue(`${name}.shape`, meaning, tensor.shape);
}

/** RangeError naming `name.shape` unless the tensor's shape equals `shape`. */
export function checkShapeEquals(name: string, tensor: Tensor, shape: readonly number[]): void {
  const same = tensor.shape.length === shape.length && tensor.shape.every((dim, i) => dim === shape[i]);
  if (!same) throw invalidValue(`${name}.shape`, `[${shape.join(', ')}]`, tensor.shape);
}

/** RangeError naming `name` unless the tensor lives on `device`. */
export function checkDevice(name: string, tensor: Tensor, device: Device): void {
  if (tensor.device !== device) throw invalidValue(name, `a tensor on ${device}`, tensor.toString());
}

/** The stream an op runs on: `stream` if given (it must belong to `device`), else the default. */
export function streamOn(device: Device, stream: Stream | undefined): Stream {
  if (stream === undefined) return device.defaultStream;
  if (!(stream instanceof Stream)) throw invalidType('options.stream', 'Stream', stream);
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
