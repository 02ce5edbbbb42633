/**
 * Optimizers and gradient utilities, stream-ordered, on the backend's `optim` kernels: SGD with
 * momentum and AdamW with PyTorch's semantics (fp32 states), gradient zeroing, global-norm
 * clipping, and fill/scale/axpy. Math in native/kernels/optim.h; semantics in
 * docs/kernels-ffn.md.
 */
import { checkInteger, checkNumber, invalidType, invalidValue } from '../errors.js';
import type { NativeStorage, NativeStream } from '../native.js';
import { addon } from '../native.js';
import { guard } from '../runtime/guard.js';
import type { Stream } from '../runtime/stream.js';
import { type StreamOption, Tensor } from '../runtime/tensor.js';
import { checkDevice, checkF32, streamOn } from './check.js';

declare module '../native.js' {
  interface NativeAddon {
    sgd(
      param: NativeStorage, grad: NativeStorage, momentumBuffer: NativeStorage | null, n: number,
      lr: number, momentum: number, dampening: number, weightDecay: number, nesterov: boolean,
      firstStep: boolean, stream: NativeStream,
    ): void;
    adamw(
      param: NativeStorage, grad: NativeStorage, m: NativeStorage, v: NativeStorage, n: number,
      lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number,
      stream: NativeStream,
    ): void;
    fill(x: NativeStorage, n: number, value: number, stream: NativeStream): void;
    scale(x: NativeStorage, n: number, alpha: number, stream: NativeStream): void;
    axpy(n: number, alpha: number, x: NativeStorage, y: NativeStorage, stream: NativeStream): void;
    sumSquares(tensors: NativeStorage[], sizes: number[], out: NativeStorage, stream: NativeStream): void;
    clipByNorm(tensors: NativeStorage[], sizes: number[], sumSquares: NativeStorage, maxNorm: number, stream: NativeStream): void;
  }
}

/** A parameter and its gradient (same shape, f32, same device). */
export interface ParamGrad {
  readonly param: Tensor<'f32'>;
  readonly grad: Tensor<'f32'>;
}

/** x[i] = value for every element. Stream-ordered. */
export function fill(x: Tensor<'f32'>, value: number, options: StreamOption = {}): void {
  checkF32('x', x);
  checkNumber('value', value);
  const stream = streamOn(x.device, options.stream);
  guard(() => addon().fill(x.storage, x.numel, value, stream.native));
}

/** x[i] *= alpha. Stream-ordered. */
export function scale(x: Tensor<'f32'>, alpha: number, options: StreamOption = {}): void {
  checkF32('x', x);
  checkNumber('alpha', alpha);
  const stream = streamOn(x.device, options.stream);
  guard(() => addon().scale(x.storage, x.numel, alpha, stream.native));
}

/** y[i] += alpha·x[i] (same element count). Stream-ordered. */
export function axpy(alpha: number, x: Tensor<'f32'>, y: Tensor<'f32'>, options: StreamOption = {}): void {
  checkNumber('alpha', alpha);
  checkF32('x', x);
  checkF32('y', y);
  checkDevice('y', y, x.device);
  if (y.numel !== x.numel) throw invalidValue('y', `a tensor of ${x.numel} elements`, y.shape);
  const stream = streamOn(x.device, options.stream);
  guard(() => addon().axpy(x.numel, alpha, x.storage, y.storage, stream.native));
}

/** Sets every gradient to zero (stream-ordered), before a new accumulation. */
export function zeroGrads(grads: readonly Tensor<'f32'>[], options: StreamOption = {}): void {
  checkTensorList('grads', grads).forEach((grad) => fill(grad, 0, options));
}

function checkTensorList(name: string, tensors: unknown): Tensor<'f32'>[] {
  if (!Array.isArray(tensors)) throw invalidType(name, 'array of f32 Tensors', tensors);
  const list = tensors.map((t, i) => checkF32(`${name}[${i}]`, t));
  const device = list[0]?.device;
  if (device !== undefined) list.forEach((t, i) => checkDevice(`${name}[${i}]`, t, device));
  return list;
}

/**
 * out[0] = Σ over all tensors of x² (fp64 accumulation in a fixed order, so re-runs are bitwise
 * identical; stored as fp32). Stream-ordered. Across ranks, all-reduce `out` before clipping.
 */
export function sumSquares(tensors: readonly Tensor<'f32'>[], out: Tensor<'f32'>, options: StreamOption = {}): void {
  const list = checkTensorList('tensors', tensors);
  checkF32('out', out);
  if (out.numel < 1) throw invalidValue('out', 'a tensor of at least 1 element', out.shape);
  const stream = streamOn(out.device, options.stream);
  list.forEach((t, i) => checkDevice(`tensors[${i}]`, t, out.device));
  guard(() => addon().sumSquares(list.map((t) => t.storage), list.map((t) => t.numel), out.storage, stream.native));
}

/**
 * Scales every tensor by min(1, maxNorm / (sqrt(sumSq[0]) + 1e-6)), torch.nn.utils'
 * clip_grad_norm_ factor; sumSq is read on the stream when the work runs. Stream-ordered.
 */
export function clipByNorm(tensors: readonly Tensor<'f32'>[], sumSq: Tensor<'f32'>, maxNorm: number, options: StreamOption = {}): void {
  const list = checkTensorList('tensors', tensors);
  checkF32('sumSq', sumSq);
  checkNumber('maxNorm', maxNorm, 0);
  const stream = streamOn(sumSq.device, options.stream);
  list.forEach((t, i) => checkDevice(`tensors[${i}]`, t, sumSq.device));
  guard(() => addon().clipByNorm(list.map((t) => t.storage), list.map((t) => t.numel), sumSq.storage, maxNorm, stream.native));
}

/**
 * torch.nn.utils.clip_grad_norm_ (L2, error_if_nonfinite=False): scales the gradients in place
 * so that their global L2 norm is at most maxNorm, and resolves with the norm before clipping.
 * A NaN/Inf norm propagates into the gradients, as in torch.
 */
export async function clipGradNorm(grads: readonly Tensor<'f32'>[], maxNorm: number, options: StreamOption = {}): Promise<number> {
  const list = checkTensorList('grads', grads);
  checkNumber('maxNorm', maxNorm, 0);
  const device = list[0]?.device;
  if (device === undefined) return 0;
  const stream = streamOn(device, options.stream);
  const sumSq = Tensor.empty([1], { device });
  try {
    sumSquares(list, sumSq, { stream });
    clipByNorm(list, sumSq, maxNorm, { stream });
    const [value = NaN] = await sumSq.toArray({ stream });
    return Math.sqrt(value);
  } finally {
    sumSq.dispose();
  }
}

function checkParams(params: unknown): ParamGrad[] {
  if (!Array.isArray(params)) throw invalidType('params', 'array of { param, grad }', params);
  return params.map((p: unknown, i) => {
    if (p === null || typeof p !== 'object') throw invalidType(`params[${i}]`, '{ param, grad }', p);
    const { param, grad } = p as ParamGrad;
    checkF32(`params[${i}].param`, param);
    checkF32(`params[${i}].grad`, grad);
    if (grad.numel !== param.numel) throw invalidValue(`params[${i}].grad`, `a tensor of ${param.numel} elements`, grad.shape);
    checkDevice(`params[${i}].grad`, grad, param.device);
    return { param, grad };
  });
}

function checkFlag(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidType(name, 'boolean', value);
  return value;
}

export interface SgdOptions {
  readonly lr: number;
  /** Default 0 (no momentum buffer). */
  readonly momentum?: number;
  /** Default 0. */
  readonly dampening?: number;
  /** L2 penalty added to the gradient. Default 0. */
  readonly weightDecay?: number;
  /** Default false; needs momentum > 0 and dampening 0. */
  readonly nesterov?: boolean;
}

/**
 * torch.optim.SGD over fp32 parameters: g = grad + wd·p; buf = g on the first step, then
 * buf = momentum·buf + (1 − dampening)·g; g = nesterov ? g + momentum·buf : buf; p −= lr·g.
 * Momentum buffers live on the parameters' device and are created on the first step.
 */
export class Sgd {
  /** Learning rate of the next step (a scheduler may change it). */
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly params: ParamGrad[];
  private buffers: Tensor<'f32'>[] | undefined;

  constructor(params: readonly ParamGrad[], options: SgdOptions) {
    this.params = checkParams(params);
    if (options === null || typeof options !== 'object') throw invalidType('options', 'SgdOptions', options);
    this.lr = checkNumber('options.lr', options.lr, 0);
    this.momentum = checkNumber('options.momentum', options.momentum ?? 0, 0);
    this.dampening = checkNumber('options.dampening', options.dampening ?? 0);
    this.weightDecay = checkNumber('options.weightDecay', options.weightDecay ?? 0, 0);
    this.nesterov = checkFlag('options.nesterov', options.nesterov ?? false);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw invalidValue('options.nesterov', 'false unless momentum > 0 and dampening = 0', true);
    }
  }

  /** One update of every parameter from its gradient. Stream-ordered. */
  step(options: StreamOption = {}): void {
    checkNumber('lr', this.lr, 0);
    const firstStep = this.buffers === undefined;
    if (this.momentum !== 0 && this.buffers === undefined) {
      // Uninitialised is fine: the first step writes buf = g without reading it.
      this.buffers = this.params.map(({ param }) => Tensor.empty(param.shape, { device: param.device }));
    }
    this.params.forEach(({ param, grad }, i) => {
      const stream = streamOn(param.device, options.stream);
      const buffer = this.buffers?.[i]?.storage ?? null;
      guard(() =>
        addon().sgd(param.storage, grad.storage, buffer, param.numel, this.lr, this.momentum, this.dampening,
          this.weightDecay, this.nesterov, firstStep, stream.native),
      );
    });
    this.buffers ??= [];
  }

  /** Frees the momentum buffers. Idempotent. */
  dispose(): void {
    this.buffers?.forEach((b) => b.dispose());
    this.buffers = undefined;
  }
}

export interface AdamWOptions {
  /** Default 1e-3. */
  readonly lr?: number;
  /** Default [0.9, 0.999]. */
  readonly betas?: readonly [number, number];
  /** Default 1e-8. */
  readonly eps?: number;
  /** Decoupled weight decay. Default 1e-2 (torch's default). */
  readonly weightDecay?: number;
}

/**
 * torch.optim.AdamW (amsgrad off) with fp32 states m, v on the parameters' device (created as
 * zeros on the first step's stream): p *= 1 − lr·wd; m = lerp(m, g, 1 − β1);
 * v = β2·v + (1 − β2)·g²; p −= lr/(1 − β1ᵗ) · m / (sqrt(v)/sqrt(1 − β2ᵗ) + eps).
 */
export class AdamW {
  /** Learning rate of the next step (a scheduler may change it). */
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Steps taken so far (t of the last update). */
  stepCount = 0;
  private readonly params: ParamGrad[];
  private states: { m: Tensor<'f32'>; v: Tensor<'f32'> }[] | undefined;

  constructor(params: readonly ParamGrad[], options: AdamWOptions = {}) {
    this.params = checkParams(params);
    if (options === null || typeof options !== 'object') throw invalidType('options', 'AdamWOptions', options);
    this.lr = checkNumber('options.lr', options.lr ?? 1e-3, 0);
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2) throw invalidType('options.betas', '[beta1, beta2]', betas);
    this.beta1 = checkBeta('options.betas[0]', betas[0]);
    this.beta2 = checkBeta('options.betas[1]', betas[1]);
    this.eps = checkNumber('options.eps', options.eps ?? 1e-8, 0);
    this.weightDecay = checkNumber('options.weightDecay', options.weightDecay ?? 1e-2, 0);
  }

  /** One update of every parameter from its gradient. Stream-ordered. */
  step(options: StreamOption = {}): void {
    checkNumber('lr', this.lr, 0);
    this.states ??= this.params.map(({ param }) => ({
      m: Tensor.zeros(param.shape, { device: param.device, stream: streamOn(param.device, options.stream) }),
      v: Tensor.zeros(param.shape, { device: param.device, stream: streamOn(param.device, options.stream) }),
    }));
    const step = this.stepCount + 1;
    const states = this.states;
    this.params.forEach(({ param, grad }, i) => {
      const stream: Stream = streamOn(param.device, options.stream);
      const state = states[i];
      if (state === undefined) return;
      guard(() =>
        addon().adamw(param.storage, grad.storage, state.m.storage, state.v.storage, param.numel, this.lr,
          this.beta1, this.beta2, this.eps, this.weightDecay, step, stream.native),
      );
    });
    this.stepCount = step;
  }

  /** The fp32 first and second moments of parameter i (undefined before the first step). */
  state(i: number): { readonly m: Tensor<'f32'>; readonly v: Tensor<'f32'> } | undefined {
    return this.states?.[i];
  }

  /**
   * Restores a saved optimizer (checkpoint resume): the step count and each parameter's m and v,
   * in the order of the parameters given to the constructor. Stream-ordered copies.
   */
  loadState(stepCount: number, states: readonly { readonly m: Float32Array; readonly v: Float32Array }[], options: StreamOption = {}): void {
    checkInteger('stepCount', stepCount, 0);
    if (!Array.isArray(states) || states.length !== this.params.length) {
      throw invalidValue('states', `${this.params.length} {m, v} pairs`, states);
    }
    const loaded = this.params.map(({ param }, i) => {
      const stream = streamOn(param.device, options.stream);
      const state = states[i]!;
      if (state.m.length !== param.numel || state.v.length !== param.numel) {
        throw invalidValue(`states[${i}]`, `m and v of ${param.numel} elements`, `${state.m.length} and ${state.v.length}`);
      }
      return {
        m: Tensor.from(state.m, param.shape, { device: param.device, stream }),
        v: Tensor.from(state.v, param.shape, { device: param.device, stream }),
      };
    });
    this.dispose();
    this.states = loaded;
    this.stepCount = stepCount;
  }

  /** Frees the states. Idempotent. */
  dispose(): void {
    this.states?.forEach(({ m, v }) => {
      m.dispose();
      v.dispose();
    });
    this.states = undefined;
  }
}

function checkBeta(name: string, value: unknown): number {
  const beta = checkNumber(name, value, 0, 1);
  if (beta === 1) throw invalidValue(name, 'finite number in [0, 1)', value);
  return beta;
}
