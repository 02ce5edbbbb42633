/**
 * Argument checks shared by the dense-layer ops, on top of src/kernels/check.ts: feature-last
 * tensors and the scalar options, each failure a TypeError/RangeError naming the argument.
 */
import { invalidType, invalidValue } from '../errors.js';
import type { Device } from '../runtime/device.js';
import type { Tensor } from '../runtime/tensor.js';
import { checkDevice, checkShapeEquals, checkTensor } from '../kernels/check.js';

/** Largest dimension the kernels index with int32 ids and targets. */
export const kMaxInt32 = 2 ** 31 - 1;

/**
 * An f32 tensor of rank >= 1 whose last dimension is the feature size: returns it with numRows
 * (product of the other dimensions) and dim. RangeError naming `name.shape` for rank 0 or when
 * `dim` is given and differs.
 */
export function checkRows(
  name: string,
  value: unknown,
  dim?: number,
): { readonly tensor: Tensor<'f32'>; readonly numRows: number; readonly dim: number } {
  const tensor = checkTensor(name, value, 'f32');
  const last = tensor.shape[tensor.shape.length - 1];
  const meaning = `a shape [..., ${dim ?? 'dim'}]${dim === undefined ? ' with dim >= 1' : ''}`;
  if (last === undefined || last < 1 || (dim !== undefined && last !== dim)) {
    throw invalidValue(`${name}.shape`, meaning, tensor.shape);
  }
  return { tensor, numRows: tensor.numel / last, dim: last };
}

/** An f32 tensor of exactly `shape` on `device` (kernels/check.ts's checkF32 checks only the rank). */
export function checkF32Shaped(name: string, value: unknown, shape: readonly number[], device: Device): Tensor<'f32'> {
  const tensor = checkTensor(name, value, 'f32');
  checkShapeEquals(name, tensor, shape);
  checkDevice(name, tensor, device);
  return tensor;
}

/** A finite number > 0 (an epsilon, a scale that must not vanish). */
export function checkPositive(name: string, value: unknown): number {
  if (typeof value !== 'number') throw invalidType(name, 'finite number > 0', value);
  if (!Number.isFinite(value) || value <= 0) throw invalidValue(name, 'finite number > 0', value);
  return value;
}

/** A finite number. */
export function checkFinite(name: string, value: unknown): number {
  if (typeof value !== 'number') throw invalidType(name, 'finite number', value);
  if (!Number.isFinite(value)) throw invalidValue(name, 'finite number', value);
  return value;
}
