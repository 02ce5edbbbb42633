/** Plain float64 references of torch.optim.SGD, torch.optim.AdamW and clip_grad_norm_. */

export interface RefSgdOptions {
  readonly lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
}

/** One SGD step in place (torch semantics); `state.buf` is undefined before the first step. */
export function refSgdStep(p: Float64Array, grad: ArrayLike<number>, state: { buf?: Float64Array }, o: RefSgdOptions): void {
  const g = Float64Array.from(grad, (gi, i) => gi + o.weightDecay * (p[i] ?? 0));
  let d = g;
  if (o.momentum !== 0) {
    if (state.buf === undefined) state.buf = Float64Array.from(g);
    else state.buf = state.buf.map((b, i) => o.momentum * b + (1 - o.dampening) * (g[i] ?? 0));
    const buf = state.buf;
    d = o.nesterov ? g.map((gi, i) => gi + o.momentum * (buf[i] ?? 0)) : buf;
  }
  for (let i = 0; i < p.length; i++) p[i] = (p[i] ?? 0) - o.lr * (d[i] ?? 0);
}

export interface RefAdamWOptions {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
}

/** One AdamW step t (1-based) in place (torch semantics, amsgrad off). */
export function refAdamWStep(
  p: Float64Array, grad: ArrayLike<number>, m: Float64Array, v: Float64Array, t: number, o: RefAdamWOptions,
): void {
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  for (let i = 0; i < p.length; i++) {
    const g = grad[i] ?? 0;
    p[i] = (p[i] ?? 0) * (1 - o.lr * o.weightDecay);
    m[i] = o.beta1 * (m[i] ?? 0) + (1 - o.beta1) * g;
    v[i] = o.beta2 * (v[i] ?? 0) + (1 - o.beta2) * g * g;
    const mHat = (m[i] ?? 0) / bc1;
    const vHat = (v[i] ?? 0) / bc2;
    // torch computes sqrt(v) / sqrt(bc2) + eps, which is sqrt(vHat) + eps.
    p[i] = (p[i] ?? 0) - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
  }
}

/** L2 norm of all tensors together, and the factor clip_grad_norm_ scales by. */
export function refClip(tensors: readonly ArrayLike<number>[], maxNorm: number): { norm: number; coef: number } {
  let sum = 0;
  for (const t of tensors) for (let i = 0; i < t.length; i++) sum += (t[i] ?? 0) ** 2;
  const norm = Math.sqrt(sum);
  return { norm, coef: Math.min(1, maxNorm / (norm + 1e-6)) };
}
