/**
 * Dispatch (permute token rows into an expert-contiguous buffer, the layout all-to-all-v sends)
 * and combine (the weighted un-permute back), with their backward passes. Stream-ordered.
 * Slot (t, j) with position >= 0 maps to row rowOffsetPerExpert[expertIndex[t, j]] +
 * position[t, j]; a dropped slot (position -1) maps to nothing. A row out of range or mapped by
 * two slots makes the queued work fail (ProphetRangeError, code 'EINVAL', at the next synchronize()).
 * Semantics are in docs/kernels.md ("Dispatch and combine").
 */
import { checkInteger } from '../errors.js';
import { guard } from '../runtime/guard.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import type { NativeStorage, NativeStream } from '../native.js';
import { addon } from '../native.js';
import { checkDevice, checkRank, checkShapeEquals, checkTensor, streamOn } from './check.js';

type PermuteHead = [
  numTokens: number,
  k: number,
  numExperts: number,
  numFeatures: number,
  numRows: number,
  expertIndex: NativeStorage,
  position: NativeStorage,
  rowOffsetPerExpert: NativeStorage,
];

declare module '../native.js' {
  interface NativeAddon {
    permuteDispatch(...args: [...PermuteHead, x: NativeStorage, out: NativeStorage, stream: NativeStream]): void;
    permuteCombine(
      ...args: [...PermuteHead, y: NativeStorage, weight: NativeStorage, out: NativeStorage, stream: NativeStream]
    ): void;
    permuteDispatchBackward(
      ...args: [...PermuteHead, dOut: NativeStorage, dx: NativeStorage, stream: NativeStream]
    ): void;
    permuteCombineBackward(
      ...args: [
        ...PermuteHead,
        dOut: NativeStorage,
        y: NativeStorage,
        weight: NativeStorage,
        dY: NativeStorage,
        dWeight: NativeStorage,
        stream: NativeStream,
      ]
    ): void;
  }
}

/** Which row of the permuted buffer each slot uses (see the module comment). */
export interface PermuteRouting {
  /** [T, k] i32 */
  readonly expertIndex: Tensor<'i32'>;
  /** [T, k] i32, -1 for a dropped slot */
  readonly position: Tensor<'i32'>;
  /** [E] i32, the first row of each expert's block (see dispatchLayout) */
  readonly rowOffsetPerExpert: Tensor<'i32'>;
}

export interface PermuteOptions {
  readonly stream?: Stream;
}

export interface PermuteOutOptions<Out> extends PermuteOptions {
  /** Write here instead of a new tensor (rows no slot maps to are then left as they are). */
  readonly out?: Out;
}

interface Checked {
  readonly numTokens: number;
  readonly k: number;
  readonly numExperts: number;
  readonly stream: Stream;
  readonly head: (numFeatures: number, numRows: number) => PermuteHead;
}

function checkRouting(routing: PermuteRouting, stream: Stream | undefined): Checked {
  const expertIndex = checkTensor('routing.expertIndex', routing?.expertIndex, 'i32');
  checkRank('routing.expertIndex', expertIndex, 2, 'a shape [numTokens, k] with k >= 1');
  const [numTokens = 0, k = 0] = expertIndex.shape;
  checkInteger('routing.expertIndex.shape[1]', k, 1);
  const position = checkTensor('routing.position', routing.position, 'i32');
  checkShapeEquals('routing.position', position, expertIndex.shape);
  const rowOffsetPerExpert = checkTensor('routing.rowOffsetPerExpert', routing.rowOffsetPerExpert, 'i32');
  checkRank('routing.rowOffsetPerExpert', rowOffsetPerExpert, 1, 'a shape [numExperts] with numExperts >= 1');
  const numExperts = rowOffsetPerExpert.shape[0] ?? 0;
  checkInteger('routing.rowOffsetPerExpert.shape[0]', numExperts, 1);
  const device = expertIndex.device;
  checkDevice('routing.position', position, device);
  checkDevice('routing.rowOffsetPerExpert', rowOffsetPerExpert, device);
  return {
    numTokens,
    k,
    numExperts,
    stream: streamOn(device, stream),
    head: (numFeatures, numRows) => [
      numTokens,
      k,
      numExperts,
      numFeatures,
      numRows,
      expertIndex.storage,
      position.storage,
      rowOffsetPerExpert.storage,
    ],
  };
}

/**
 * An f32 [numRows, numFeatures] tensor argument on the routing's device. `numRows` and
 * `numFeatures` are checked when given; returns the tensor and its two dimensions.
 */
function checkMatrix(
  name: string,
  value: unknown,
  r: Checked,
  expected: { readonly numRows?: number; readonly numFeatures?: number } = {},
): { readonly tensor: Tensor<'f32'>; readonly numRows: number; readonly numFeatures: number } {
  const tensor = checkTensor(name, value, 'f32');
  checkRank(name, tensor, 2, `a shape [${expected.numRows ?? 'numRows'}, ${expected.numFeatures ?? 'numFeatures'}]`);
  const [numRows = 0, numFeatures = 0] = tensor.shape;
  checkShapeEquals(name, tensor, [expected.numRows ?? numRows, expected.numFeatures ?? numFeatures]);
  checkDevice(name, tensor, r.stream.device);
  return { tensor, numRows, numFeatures };
}

function outOrZeros(name: string, out: Tensor<'f32'> | undefined, shape: readonly number[], r: Checked): Tensor<'f32'> {
  if (out === undefined) return Tensor.zeros(shape, { device: r.stream.device, stream: r.stream });
  const tensor = checkTensor(name, out, 'f32');
  checkShapeEquals(name, tensor, shape);
  checkDevice(name, tensor, r.stream.device);
  return tensor;
}

/**
 * out[row(t, j)] = x[t] for every kept slot: x [T, d] → out [numRows, d]. A new `out` starts at
 * zeros, so rows no slot maps to (capacity padding) read 0.
 */
export function dispatch(
  x: Tensor<'f32'>,
  routing: PermuteRouting,
  numRows: number,
  options: PermuteOutOptions<Tensor<'f32'>> = {},
): Tensor<'f32'> {
  const r = checkRouting(routing, options.stream);
  checkInteger('numRows', numRows, 0, 2 ** 31 - 1);
  const { tensor: input, numFeatures: d } = checkMatrix('x', x, r, { numRows: r.numTokens });
  const out = outOrZeros('options.out', options.out, [numRows, d], r);
  guard(() => addon().permuteDispatch(...r.head(d, numRows), input.storage, out.storage, r.stream.native));
  return out;
}

/**
 * out[t] = Σ_j weight[t, j] · y[row(t, j)], j = 0..k-1 in order, kept slots only:
 * y [R, d], weight [T, k] → out [T, d] (overwritten; a token with no kept slot gets zeros).
 */
export function combine(
  y: Tensor<'f32'>,
  weight: Tensor<'f32'>,
  routing: PermuteRouting,
  options: PermuteOutOptions<Tensor<'f32'>> = {},
): Tensor<'f32'> {
  const r = checkRouting(routing, options.stream);
  const { tensor: rows, numRows, numFeatures: d } = checkMatrix('y', y, r);
  checkWeight(weight, r);
  const out = outOrZeros('options.out', options.out, [r.numTokens, d], r);
  guard(() => addon().permuteCombine(...r.head(d, numRows), rows.storage, weight.storage, out.storage, r.stream.native));
  return out;
}

function checkWeight(weight: unknown, r: Checked): void {
  const tensor = checkTensor('weight', weight, 'f32');
  checkShapeEquals('weight', tensor, [r.numTokens, r.k]);
  checkDevice('weight', tensor, r.stream.device);
}

/** Backward of dispatch: dx[t] = Σ_j dOut[row(t, j)] over kept slots. dOut [R, d] → dx [T, d]. */
export function dispatchBackward(dOut: Tensor<'f32'>, routing: PermuteRouting, options: PermuteOptions = {}): Tensor<'f32'> {
  const r = checkRouting(routing, options.stream);
  const { tensor: grad, numRows, numFeatures: d } = checkMatrix('dOut', dOut, r);
  const dx = Tensor.empty([r.numTokens, d], { device: r.stream.device });
  guard(() => addon().permuteDispatchBackward(...r.head(d, numRows), grad.storage, dx.storage, r.stream.native));
  return dx;
}

/**
 * Backward of combine: dY[row(t, j)] = weight[t, j] · dOut[t] and dWeight[t, j] =
 * ⟨dOut[t], y[row(t, j)]⟩ (0 for a dropped slot). dOut [T, d], y [R, d], weight [T, k].
 * A new dY starts at zeros, so rows no slot maps to get gradient 0.
 */
export function combineBackward(
  dOut: Tensor<'f32'>,
  y: Tensor<'f32'>,
  weight: Tensor<'f32'>,
  routing: PermuteRouting,
  options: PermuteOutOptions<Tensor<'f32'>> = {},
): { readonly dY: Tensor<'f32'>; readonly dWeight: Tensor<'f32'> } {
  const r = checkRouting(routing, options.stream);
  const { tensor: grad, numFeatures: d } = checkMatrix('dOut', dOut, r, { numRows: r.numTokens });
  const { tensor: rows, numRows } = checkMatrix('y', y, r, { numFeatures: d });
  checkWeight(weight, r);
  const dY = outOrZeros('options.out', options.out, [numRows, d], r);
  const dWeight = Tensor.empty([r.numTokens, r.k], { device: r.stream.device });
  guard(() =>
    addon().permuteCombineBackward(
      ...r.head(d, numRows),
      grad.storage,
      rows.storage,
      weight.storage,
      dY.storage,
      dWeight.storage,
      r.stream.native,
    ),
  );
  return { dY, dWeight };
}
