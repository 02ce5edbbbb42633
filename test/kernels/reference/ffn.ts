/**
 * Plain float64 reference of the grouped expert FFN (forward and backward), written
 * independently of the native code: GELU in its textbook tanh form, derivatives by hand.
 */
export type RefActivation = 'relu' | 'gelu' | 'silu';

export interface RefFfnDims {
  readonly numExperts: number;
  readonly dModel: number;
  readonly hidden: number;
  readonly gated: boolean;
  readonly activation: RefActivation;
}

export interface RefFfnParams {
  readonly w1: ArrayLike<number>; // [E, d, H1]
  readonly b1: ArrayLike<number>; // [E, H1]
  readonly w2: ArrayLike<number>; // [E, h, d]
  readonly b2: ArrayLike<number>; // [E, d]
}

const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

export function refActivate(name: RefActivation, x: number): number {
  if (name === 'relu') return x > 0 ? x : 0;
  if (name === 'gelu') return 0.5 * x * (1 + Math.tanh(GELU_K * (x + GELU_C * x ** 3)));
  return x / (1 + Math.exp(-x));
}

export function refActivateGrad(name: RefActivation, x: number): number {
  if (name === 'relu') return x > 0 ? 1 : 0;
  if (name === 'gelu') {
    const t = Math.tanh(GELU_K * (x + GELU_C * x ** 3));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_K * (1 + 3 * GELU_C * x * x);
  }
  const s = 1 / (1 + Math.exp(-x));
  return s + x * s * (1 - s);
}

function at(a: ArrayLike<number>, i: number): number {
  return a[i] ?? NaN;
}

/** Forward: y [N, d], pre [N, H1], act [N, h]. */
export function refFfnForward(x: ArrayLike<number>, rowsPerExpert: readonly number[], p: RefFfnParams, dims: RefFfnDims) {
  const { dModel: d, hidden: h, gated, activation } = dims;
  const h1 = gated ? 2 * h : h;
  const n = rowsPerExpert.reduce((a, b) => a + b, 0);
  const pre = new Float64Array(n * h1), act = new Float64Array(n * h), y = new Float64Array(n * d);
  let row = 0;
  rowsPerExpert.forEach((rows, e) => {
    for (let r = row; r < row + rows; r++) {
      for (let j = 0; j < h1; j++) {
        let s = at(p.b1, e * h1 + j);
        for (let k = 0; k < d; k++) s += at(x, r * d + k) * at(p.w1, (e * d + k) * h1 + j);
        pre[r * h1 + j] = s;
      }
      for (let j = 0; j < h; j++) {
        const z = at(pre, r * h1 + j);
        act[r * h + j] = gated ? refActivate(activation, z) * at(pre, r * h1 + h + j) : refActivate(activation, z);
      }
      for (let c = 0; c < d; c++) {
        let s = at(p.b2, e * d + c);
        for (let j = 0; j < h; j++) s += at(act, r * h + j) * at(p.w2, (e * h + j) * d + c);
        y[r * d + c] = s;
      }
    }
    row += rows;
  });
  return { y, pre, act };
}

/** Backward: dx [N, d] and the (non-accumulated) parameter gradients. */
export function refFfnBackward(
  dy: ArrayLike<number>, x: ArrayLike<number>, rowsPerExpert: readonly number[], p: RefFfnParams, dims: RefFfnDims,
) {
  const { numExperts: numE, dModel: d, hidden: h, gated, activation } = dims;
  const h1 = gated ? 2 * h : h;
  const { pre, act } = refFfnForward(x, rowsPerExpert, p, dims);
  const n = rowsPerExpert.reduce((a, b) => a + b, 0);
  const dx = new Float64Array(n * d);
  const dw1 = new Float64Array(numE * d * h1), db1 = new Float64Array(numE * h1);
  const dw2 = new Float64Array(numE * h * d), db2 = new Float64Array(numE * d);
  let row = 0;
  rowsPerExpert.forEach((rows, e) => {
    for (let r = row; r < row + rows; r++) {
      const dpre = new Float64Array(h1);
      for (let j = 0; j < h; j++) {
        let dact = 0;
        for (let c = 0; c < d; c++) dact += at(dy, r * d + c) * at(p.w2, (e * h + j) * d + c);
        const z = at(pre, r * h1 + j);
        if (gated) {
          const up = at(pre, r * h1 + h + j);
          dpre[j] = dact * up * refActivateGrad(activation, z);
          dpre[h + j] = dact * refActivate(activation, z);
        } else {
          dpre[j] = dact * refActivateGrad(activation, z);
        }
      }
      for (let c = 0; c < d; c++) {
        const g = at(dy, r * d + c);
        db2[e * d + c] = at(db2, e * d + c) + g;
        for (let j = 0; j < h; j++) dw2[(e * h + j) * d + c] = at(dw2, (e * h + j) * d + c) + at(act, r * h + j) * g;
      }
      for (let j = 0; j < h1; j++) {
        const g = at(dpre, j);
        db1[e * h1 + j] = at(db1, e * h1 + j) + g;
        for (let k = 0; k < d; k++) {
          dw1[(e * d + k) * h1 + j] = at(dw1, (e * d + k) * h1 + j) + at(x, r * d + k) * g;
          dx[r * d + k] = at(dx, r * d + k) + g * at(p.w1, (e * d + k) * h1 + j);
        }
      }
    }
    row += rows;
  });
  return { dx, dw1, db1, dw2, db2 };
}
