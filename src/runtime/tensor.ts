/**
 * Tensor: a shape and a dtype over device memory. Every operation that moves data is
 * stream-ordered on the stream it is given (the device's default stream otherwise); reading
 * back to JS returns a Promise, or is zero-copy through view() on host-addressable backends.
 */
import { checkChoice, checkInteger, invalidType, invalidValue, settleNative } from '../errors.js';
import { addon, type NativeStorage } from '../native.js';
import { Device } from './device.js';
import {
  BYTES_PER_ELEMENT,
  bf16ToF32,
  DTYPES,
  type DType,
  f32ToBf16,
  type RawArray,
  rawView,
  type ValueArray,
} from './dtype.js';
import { guard } from './guard.js';
import type { Stream } from './stream.js';

export interface TensorOptions<D extends DType = DType> {
  readonly dtype?: D;
  readonly device?: Device;
  /** Stream that orders the initialising copy or fill (default: the device's default stream). */
  readonly stream?: Stream;
}

export interface StreamOption {
  readonly stream?: Stream;
}

/** A region of a copy, in elements. */
export interface CopyOptions extends StreamOption {
  readonly srcOffset?: number;
  readonly dstOffset?: number;
  /** Elements to copy (default: all, and then both tensors must have the same element count). */
  readonly count?: number;
}

/** Validates a shape: an array of non-negative integers. Returns a frozen copy. */
export function checkShape(name: string, shape: unknown): readonly number[] {
  if (!Array.isArray(shape)) throw invalidType(name, 'array of non-negative integers', shape);
  shape.forEach((dim, i) => {
    if (typeof dim !== 'number') throw invalidType(`${name}[${i}]`, 'non-negative integer', dim);
    if (!Number.isInteger(dim) || dim < 0) throw invalidValue(`${name}[${i}]`, 'non-negative integer', dim);
  });
  return Object.freeze([...(shape as number[])]);
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class Tensor<D extends DType = DType> {
  readonly numel: number;
  readonly byteLength: number;

  private constructor(
    readonly shape: readonly number[],
    readonly dtype: D,
    readonly device: Device,
    /** @internal */ readonly storage: NativeStorage,
  ) {
    this.numel = product(shape);
    this.byteLength = this.numel * BYTES_PER_ELEMENT[dtype];
  }

  /** An uninitialised tensor. */
  static empty<D extends DType = 'f32'>(shape: readonly number[], options: TensorOptions<D> = {}): Tensor<D> {
    const checked = checkShape('shape', shape);
    const dtype = checkChoice('options.dtype', options.dtype ?? 'f32', DTYPES) as D;
    const device = options.device ?? Device.cpu();
    if (!(device instanceof Device)) throw invalidType('options.device', 'Device', device);
    const bytes = product(checked) * BYTES_PER_ELEMENT[dtype];
    if (!Number.isSafeInteger(bytes)) throw invalidValue('shape', 'a shape of fewer than 2^53 bytes', shape);
    const storage = guard(() => new (addon().Storage)(device.backend, device.index, bytes));
    return new Tensor(checked, dtype, device, storage);
  }

  /** A tensor of zeros (a stream-ordered fill). */
  static zeros<D extends DType = 'f32'>(shape: readonly number[], options: TensorOptions<D> = {}): Tensor<D> {
    const tensor = Tensor.empty(shape, options);
    tensor.zero({ stream: options.stream ?? tensor.device.defaultStream });
    return tensor;
  }

  /**
   * A tensor holding `data` (copied at call time, so `data` may be reused at once). Numbers are
   * converted to the dtype (bf16: round to nearest even); `data.length` must equal the shape's
   * element count.
   */
  static from<D extends DType = 'f32'>(
    data: ArrayLike<number>,
    shape: readonly number[],
    options: TensorOptions<D> = {},
  ): Tensor<D> {
    const tensor = Tensor.empty(shape, options);
    try {
      tensor.write(data, { stream: options.stream ?? tensor.device.defaultStream });
    } catch (error) {
      tensor.dispose();
      throw error;
    }
    return tensor;
  }

  get disposed(): boolean {
    return this.storage.disposed;
  }

  private streamOf(options: StreamOption): Stream {
    const stream = options.stream ?? this.device.defaultStream;
    if (stream.device !== this.device) {
      throw invalidValue('options.stream', `a stream of ${this.device}`, String(stream.device));
    }
    return stream;
  }

  /** Copies `data` into the tensor (stream-ordered; `data` is staged at call time). */
  write(data: ArrayLike<number>, options: StreamOption = {}): void {
    if (data === null || typeof data !== 'object' || typeof data.length !== 'number') {
      throw invalidType('data', 'array or typed array of numbers', data);
    }
    if (data.length !== this.numel) {
      throw invalidValue('data', `${this.numel} elements (shape [${this.shape.join(', ')}])`, `${data.length} elements`);
    }
    let raw: ArrayBufferView;
    if (this.dtype === 'bf16') raw = data instanceof Uint16Array ? data : f32ToBf16(data);
    else if (this.dtype === 'i32') raw = data instanceof Int32Array ? data : Int32Array.from(data);
    else raw = data instanceof Float32Array ? data : Float32Array.from(data);
    const stream = this.streamOf(options);
    guard(() => this.storage.write(raw, 0, stream.native));
  }

  /** Sets every byte to zero (stream-ordered). */
  zero(options: StreamOption = {}): void {
    const stream = this.streamOf(options);
    guard(() => this.storage.fill(0, this.byteLength, 0, stream.native));
  }

  /**
   * Copies `source` (same dtype, same backend) into this tensor, stream-ordered. Without a region
   * the whole tensor is copied and the element counts must match; with `count`, elements
   * [srcOffset, srcOffset + count) of source go to [dstOffset, dstOffset + count) of this one.
   */
  copyFrom(source: Tensor<D>, options: CopyOptions = {}): void {
    if (!(source instanceof Tensor)) throw invalidType('source', 'Tensor', source);
    if (source.dtype !== this.dtype) {
      throw invalidValue('source', `a ${this.dtype} tensor`, `${source.dtype}[${source.shape.join(', ')}]`);
    }
    const srcOffset = checkInteger('options.srcOffset', options.srcOffset ?? 0, 0);
    const dstOffset = checkInteger('options.dstOffset', options.dstOffset ?? 0, 0);
    if (options.count === undefined && source.numel !== this.numel) {
      throw invalidValue('source', `a ${this.dtype} tensor of ${this.numel} elements`, `${source.dtype}[${source.shape.join(', ')}]`);
    }
    const count = checkInteger('options.count', options.count ?? this.numel, 0);
    if (srcOffset + count > source.numel) throw invalidValue('options.count', `at most ${source.numel - srcOffset} (source elements after srcOffset)`, count);
    if (dstOffset + count > this.numel) throw invalidValue('options.count', `at most ${this.numel - dstOffset} (elements after dstOffset)`, count);
    const stream = this.streamOf(options);
    const size = BYTES_PER_ELEMENT[this.dtype];
    guard(() => addon().copy(this.storage, dstOffset * size, source.storage, srcOffset * size, count * size, stream.native));
  }

  /**
   * Copies the values to a new typed array once the queued work on the stream has reached this
   * point (bf16 is widened to fp32).
   */
  async toArray(options: StreamOption = {}): Promise<ValueArray<D>> {
    const stream = this.streamOf(options);
    const stack = new Error().stack;
    const buffer = await settleNative(
      guard(() => this.storage.read(0, this.byteLength, stream.native)),
      stack,
    );
    const raw = rawView(this.dtype, buffer, 0, this.numel);
    return (this.dtype === 'bf16' ? bf16ToF32(raw as Uint16Array) : raw) as ValueArray<D>;
  }

  /**
   * A zero-copy typed array over the tensor's memory (host-addressable backends only: the CPU).
   * The view keeps the memory alive after dispose(). It races with queued work: synchronize the
   * streams that write the tensor before reading it.
   */
  view(): RawArray<D> {
    const buffer = guard(() => this.storage.hostView());
    return rawView(this.dtype, buffer, 0, this.numel);
  }

  /** A tensor sharing this one's memory with another shape of the same element count. */
  reshape(shape: readonly number[]): Tensor<D> {
    const checked = checkShape('shape', shape);
    if (product(checked) !== this.numel) {
      throw invalidValue('shape', `a shape of ${this.numel} elements`, shape);
    }
    guard(() => this.storage.bytes); // no-op access; disposal is checked by the next native call
    return new Tensor(checked, this.dtype, this.device, this.storage);
  }

  /** Frees the memory once queued work that uses it has run. Idempotent. */
  dispose(): void {
    this.storage.dispose();
  }

  toString(): string {
    return `Tensor(${this.dtype}[${this.shape.join(', ')}] on ${this.device})`;
  }
}
