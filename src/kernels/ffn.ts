/**
 * Grouped expert FFN: forward and backward of E local experts over one token buffer whose rows
 * are grouped by expert, stream-ordered, on the backend's `ffn` kernels (GEMMs with transposes
 * around one fused element-wise pass each). Semantics and layouts: docs/kernels-ffn.md and
 * native/core/kernels_ffn.h.
 *
 *   plain: y = f(x·W1[e] + b1[e])·W2[e] + b2[e]
 *   gated: y = (f(x·W1g[e] + b1g[e]) ⊙ (x·W1u[e] + b1u[e]))·W2[e] + b2[e], with W1 = [W1g | W1u]
 *
 * f ∈ relu, gelu (tanh approximation, PyTorch's approximate='tanh'), silu (gated silu = SwiGLU).
 */
import { checkChoice, checkInteger, invalidType, invalidValue } from '../errors.js';
import type { NativeStorage, NativeStream } from '../native.js';
import { addon } from '../native.js';
import { guard } from '../runtime/guard.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import { checkDevice, checkF32, checkNoAliasing, checkShapeEquals, streamOn } from './check.js';

declare module '../native.js' {
  interface NativeAddon {
    ffnForward(
      rowsPerExpert: Int32Array, dModel: number, hidden: number, activation: number, gated: boolean,
      x: NativeStorage, w1: NativeStorage, b1: NativeStorage, w2: NativeStorage, b2: NativeStorage,
      pre: NativeStorage, act: NativeStorage, y: NativeStorage, stream: NativeStream,
    ): void;
    ffnBackward(
      rowsPerExpert: Int32Array, dModel: number, hidden: number, activation: number, gated: boolean,
      dy: NativeStorage, x: NativeStorage, w1: NativeStorage, w2: NativeStorage, pre: NativeStorage,
      act: NativeStorage, dx: NativeStorage, dpre: NativeStorage, dw1: NativeStorage, db1: NativeStorage,
      dw2: NativeStorage, db2: NativeStorage, stream: NativeStream,
    ): void;
  }
}

/** Activations, in the order of the ABI's prophet_activation_t. */
export const ACTIVATIONS = ['relu', 'gelu', 'silu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/**
 * Parameters (or their gradients) of E experts. Shapes, with H1 = h (plain) or 2h (gated,
 * columns [0, h) the gate half and [h, 2h) the up half):
 * w1 [E, d, H1], b1 [E, H1], w2 [E, h, d], b2 [E, d].
 */
export interface FfnParams {
  readonly w1: Tensor<'f32'>;
  readonly b1: Tensor<'f32'>;
  readonly w2: Tensor<'f32'>;
  readonly b2: Tensor<'f32'>;
}

/** What forward saves for backward: pre [N, H1] (pre-activation, bias included), act [N, h]. */
export interface FfnSaved {
  readonly pre: Tensor<'f32'>;
  readonly act: Tensor<'f32'>;
}

export interface FfnOptions {
  /** Default 'gelu'. */
  readonly activation?: Activation;
  /** Gated (GLU) variant: act = f(gate)·up. Default false. */
  readonly gated?: boolean;
  /** Stream that orders the work (default: the device's default stream of x). */
  readonly stream?: Stream;
}

export interface FfnForwardOptions extends FfnOptions {
  /** Preallocated outputs ([N, d], [N, H1], [N, h]); new tensors where absent. */
  readonly out?: { readonly y?: Tensor<'f32'>; readonly pre?: Tensor<'f32'>; readonly act?: Tensor<'f32'> };
}

export interface FfnBackwardOptions extends FfnOptions {
  /** Preallocated dx [N, d] and dpre [N, H1] (dpre is also the kernel's scratch). */
  readonly out?: { readonly dx?: Tensor<'f32'>; readonly dpre?: Tensor<'f32'> };
}

/** The checked shape of one call. */
interface FfnDims {
  readonly numExperts: number;
  readonly dModel: number;
  readonly hidden: number;
  /** Width of pre: hidden, or 2·hidden when gated. */
  readonly hiddenIn: number;
  readonly numRows: number;
  readonly rowsPerExpert: Int32Array;
  readonly activation: Activation;
  readonly gated: boolean;
}

function checkRowsPerExpert(value: unknown, numExperts: number, numRows: number): Int32Array {
  const expected = `${numExperts} non-negative integers summing to ${numRows}`;
  if (!(value instanceof Int32Array) && !Array.isArray(value)) {
    throw invalidType('rowsPerExpert', `Int32Array or array of ${expected}`, value);
  }
  const counts = value as ArrayLike<unknown>;
  if (counts.length !== numExperts) throw invalidValue('rowsPerExpert', expected, value);
  let total = 0;
  for (let e = 0; e < numExperts; e++) total += checkInteger(`rowsPerExpert[${e}]`, counts[e], 0, 2 ** 31 - 1);
  if (total !== numRows) throw invalidValue('rowsPerExpert', expected, value);
  return Int32Array.from(counts as ArrayLike<number>); // copied at call time
}

/** Shapes from the weights: E, d from w1 [E, d, H1]; h from w2 [E, h, d]. */
function checkDims(x: Tensor<'f32'>, rowsPerExpert: unknown, params: FfnParams, options: FfnOptions): FfnDims {
  if (params === null || typeof params !== 'object') throw invalidType('params', 'FfnParams object', params);
  checkF32('x', x, 2);
  const w1 = checkF32('params.w1', params.w1, 3);
  const w2 = checkF32('params.w2', params.w2, 3);
  const activation = checkChoice('options.activation', options.activation ?? 'gelu', ACTIVATIONS);
  const gated = options.gated ?? false;
  if (typeof gated !== 'boolean') throw invalidType('options.gated', 'boolean', gated);
  const [numExperts = 0, dModel = 0, hiddenIn = 0] = w1.shape;
  const hidden = w2.shape[1] ?? 0;
  if (numExperts < 1 || dModel < 1 || hidden < 1) throw invalidValue('params.w1', 'shape [E, d, H1] with E, d, H1 >= 1', w1.shape);
  checkShapeEquals('params.w1', w1, [numExperts, dModel, gated ? 2 * hidden : hidden]);
  checkShapeEquals('params.w2', w2, [numExperts, hidden, dModel]);
  checkShapeEquals('params.b1', checkF32('params.b1', params.b1, 2), [numExperts, hiddenIn]);
  checkShapeEquals('params.b2', checkF32('params.b2', params.b2, 2), [numExperts, dModel]);
  const numRows = x.shape[0] ?? 0;
  checkShapeEquals('x', x, [numRows, dModel]);
  for (const [name, t] of [['params.w1', w1], ['params.b1', params.b1], ['params.w2', w2], ['params.b2', params.b2]] as const) {
    checkDevice(name, t, x.device);
  }
  const rows = checkRowsPerExpert(rowsPerExpert, numExperts, numRows);
  return { numExperts, dModel, hidden, hiddenIn, numRows, rowsPerExpert: rows, activation, gated };
}

/** `given` checked as an f32 tensor of `shape` on x's device, or a new uninitialised one. */
function outputTensor(name: string, given: Tensor<'f32'> | undefined, shape: readonly number[], x: Tensor): Tensor<'f32'> {
  if (given === undefined) return Tensor.empty(shape, { device: x.device });
  checkF32(name, given, shape.length);
  checkShapeEquals(name, given, shape);
  checkDevice(name, given, x.device);
  return given;
}

/**
 * Forward of E experts: rows [offset_e, offset_e + rowsPerExpert[e]) of x go through expert e.
 *
 * @param x [N, d] tokens grouped by expert, in expert order.
 * @param rowsPerExpert [E] token counts (zeros allowed), summing to N; copied at call time.
 * @returns y [N, d] and what backward needs (pre [N, H1], act [N, h]). Stream-ordered.
 *
 * @example
 * const { y, pre, act } = ffnForward(x, [3, 0, 5], params, { activation: 'silu', gated: true });
 */
export function ffnForward(
  x: Tensor<'f32'>,
  rowsPerExpert: Int32Array | readonly number[],
  params: FfnParams,
  options: FfnForwardOptions = {},
): { y: Tensor<'f32'> } & FfnSaved {
  // Step 1: shapes and the stream.
  const dims = checkDims(x, rowsPerExpert, params, options);
  const stream = streamOn(x.device, options.stream);
  const { numRows: n, dModel: d, hidden: h, hiddenIn: h1 } = dims;
  // Step 2: outputs.
  const y = outputTensor('options.out.y', options.out?.y, [n, d], x);
  const pre = outputTensor('options.out.pre', options.out?.pre, [n, h1], x);
  const act = outputTensor('options.out.act', options.out?.act, [n, h], x);
  checkNoAliasing(
    [['options.out.y', y], ['options.out.pre', pre], ['options.out.act', act]],
    [['x', x], ['params.w1', params.w1], ['params.b1', params.b1], ['params.w2', params.w2], ['params.b2', params.b2]],
  );
  // Step 3: queue the kernel.
  guard(() =>
    addon().ffnForward(dims.rowsPerExpert, d, h, ACTIVATIONS.indexOf(dims.activation), dims.gated,
      x.storage, params.w1.storage, params.b1.storage, params.w2.storage, params.b2.storage,
      pre.storage, act.storage, y.storage, stream.native),
  );
  return { y, pre, act };
}

/**
 * Backward of {@link ffnForward}: overwrites dx [N, d] (and dpre [N, H1], the gradient of pre)
 * and ACCUMULATES into grads (grads.w1 += dW1, ...), so gradients of replicas and accumulation
 * steps add up: zero them first for a plain gradient. Stream-ordered.
 *
 * @param dy [N, d] gradient of y.
 * @param saved pre and act from the forward of the same x, params and rowsPerExpert.
 * @param grads gradient tensors shaped like params.
 */
export function ffnBackward(
  dy: Tensor<'f32'>,
  x: Tensor<'f32'>,
  rowsPerExpert: Int32Array | readonly number[],
  params: FfnParams,
  saved: FfnSaved,
  grads: FfnParams,
  options: FfnBackwardOptions = {},
): { dx: Tensor<'f32'>; dpre: Tensor<'f32'> } {
  // Step 1: shapes and the stream.
  const dims = checkDims(x, rowsPerExpert, params, options);
  const stream = streamOn(x.device, options.stream);
  const { numExperts: e, numRows: n, dModel: d, hidden: h, hiddenIn: h1 } = dims;
  checkShapeEquals('dy', checkF32('dy', dy, 2), [n, d]);
  if (saved === null || typeof saved !== 'object') throw invalidType('saved', 'FfnSaved object', saved);
  if (grads === null || typeof grads !== 'object') throw invalidType('grads', 'FfnParams object', grads);
  const inputs: [string, Tensor<'f32'>, number[]][] = [
    ['saved.pre', saved.pre, [n, h1]], ['saved.act', saved.act, [n, h]],
    ['grads.w1', grads.w1, [e, d, h1]], ['grads.b1', grads.b1, [e, h1]],
    ['grads.w2', grads.w2, [e, h, d]], ['grads.b2', grads.b2, [e, d]],
  ];
  for (const [name, tensor, shape] of [['dy', dy, [n, d]] as [string, Tensor<'f32'>, number[]], ...inputs]) {
    checkF32(name, tensor, shape.length);
    checkShapeEquals(name, tensor, shape);
    checkDevice(name, tensor, x.device);
  }
  // Step 2: outputs.
  const dx = outputTensor('options.out.dx', options.out?.dx, [n, d], x);
  const dpre = outputTensor('options.out.dpre', options.out?.dpre, [n, h1], x);
  checkNoAliasing(
    [['options.out.dx', dx], ['options.out.dpre', dpre], ['grads.w1', grads.w1], ['grads.b1', grads.b1], ['grads.w2', grads.w2], ['grads.b2', grads.b2]],
    [['dy', dy], ['x', x], ['params.w1', params.w1], ['params.w2', params.w2], ['saved.pre', saved.pre], ['saved.act', saved.act]],
  );
  // Step 3: queue the kernel.
  guard(() =>
    addon().ffnBackward(dims.rowsPerExpert, d, h, ACTIVATIONS.indexOf(dims.activation), dims.gated,
      dy.storage, x.storage, params.w1.storage, params.w2.storage, saved.pre.storage, saved.act.storage,
      dx.storage, dpre.storage, grads.w1.storage, grads.b1.storage, grads.w2.storage, grads.b2.storage,
      stream.native),
  );
  return { dx, dpre };
}
