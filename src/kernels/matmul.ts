/**
 * matmul: C = alpha·op(A)·op(B) + beta·C over 2-D fp32 tensors, stream-ordered, on the backend's
 * GEMM (the CPU's packed SIMD sgemm). The addon's `matmul` calls the ABI entry prophet_gemm_i.sgemm.
 */
import { checkNumber, invalidType, invalidValue } from '../errors.js';
import type { NativeStorage, NativeStream } from '../native.js';
import { addon } from '../native.js';
import { guard } from '../runtime/guard.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import { checkDevice, checkF32, checkShapeEquals, streamOn } from './check.js';

declare module '../native.js' {
  interface NativeAddon {
    /** Stream-ordered C = alpha·op(A)·op(B) + beta·C over storages, row-major; offsets and
     * leading dimensions in elements (the ABI's prophet_gemm_i.sgemm). */
    matmul(
      a: NativeStorage, aOffset: number, lda: number,
      b: NativeStorage, bOffset: number, ldb: number,
      c: NativeStorage, cOffset: number, ldc: number,
      transA: boolean, transB: boolean, m: number, n: number, k: number,
      alpha: number, beta: number, stream: NativeStream,
    ): void;
  }
}

export interface MatmulOptions {
  /** Use Aᵀ: `a` is [k, m]. Default false. */
  readonly transA?: boolean;
  /** Use Bᵀ: `b` is [n, k]. Default false. */
  readonly transB?: boolean;
  /** Default 1. */
  readonly alpha?: number;
  /** Default 0: `out` is overwritten (NaNs in it do not propagate). */
  readonly beta?: number;
  /** The [m, n] result tensor; a new one when absent (zero-filled first when beta ≠ 0). */
  readonly out?: Tensor<'f32'>;
  /** Stream that orders the work (default: the device's default stream). */
  readonly stream?: Stream;
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidType(name, 'boolean', value);
  return value;
}

/**
 * out = alpha·op(a)·op(b) + beta·out with op(a) [m, k] and op(b) [k, n]; returns `out` ([m, n]).
 * Stream-ordered: returns once the work is queued; read `out` after the stream has reached it.
 *
 * @example
 * const c = matmul(Tensor.from([1, 2, 3, 4], [2, 2]), Tensor.from([1, 0, 0, 1], [2, 2]));
 * await c.toArray(); // Float32Array [1, 2, 3, 4]
 */
export function matmul(a: Tensor<'f32'>, b: Tensor<'f32'>, options: MatmulOptions = {}): Tensor<'f32'> {
  // Step 1: arguments.
  checkF32('a', a, 2);
  checkF32('b', b, 2);
  checkDevice('b', b, a.device);
  const transA = checkBoolean('options.transA', options.transA ?? false);
  const transB = checkBoolean('options.transB', options.transB ?? false);
  const alpha = checkNumber('options.alpha', options.alpha ?? 1);
  const beta = checkNumber('options.beta', options.beta ?? 0);
  const stream = streamOn(a.device, options.stream);
  const [aRows = 0, aCols = 0] = a.shape;
  const [bRows = 0, bCols = 0] = b.shape;
  const [m, k] = transA ? [aCols, aRows] : [aRows, aCols];
  const [kB, n] = transB ? [bCols, bRows] : [bRows, bCols];
  if (kB !== k) throw invalidValue('b', `${k} ${transB ? 'columns' : 'rows'} (k of op(a))`, b.shape);
  // Step 2: the output.
  let out = options.out;
  if (out === undefined) {
    out = beta === 0 ? Tensor.empty([m, n], { device: a.device }) : Tensor.zeros([m, n], { device: a.device, stream });
  } else {
    checkF32('options.out', out, 2);
    checkDevice('options.out', out, a.device);
    checkShapeEquals('options.out', out, [m, n]);
    if (out.storage === a.storage || out.storage === b.storage) {
      throw invalidValue('options.out', 'a tensor that shares no memory with a or b', 'a or b');
    }
  }
  // Step 3: queue the GEMM.
  const c = out;
  guard(() =>
    addon().matmul(a.storage, 0, Math.max(aCols, 1), b.storage, 0, Math.max(bCols, 1), c.storage, 0, Math.max(n, 1),
      transA, transB, m, n, k, alpha, beta, stream.native),
  );
  return c;
}
