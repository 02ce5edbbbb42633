/** A plain float64 MoE layer (router → softmax → top-k → weighted expert FFNs), the reference
 * the native expert-parallel layer is checked against. */

export interface RefExpert {
  readonly w1: Float64Array; // [d, h]
  readonly b1: Float64Array; // [h]
  readonly w2: Float64Array; // [h, d]
  readonly b2: Float64Array; // [d]
}

export interface RefMoE {
  readonly d: number;
  readonly h: number;
  readonly numExperts: number;
  readonly k: number;
  readonly renormalize: boolean;
  readonly routerWeight: Float64Array; // [d, E]
  readonly experts: readonly RefExpert[];
}

const silu = (v: number) => v / (1 + Math.exp(-v));

/** y [T, d] for x [T, d]; ties in top-k go to the lower expert index. */
export function refForward(m: RefMoE, x: Float64Array): Float64Array {
  const { d, h, numExperts: E, k } = m;
  const numTokens = x.length / d;
  const y = new Float64Array(x.length);
  for (let t = 0; t < numTokens; t++) {
    const row = x.subarray(t * d, (t + 1) * d);
    const logits = Array.from({ length: E }, (_, e) => row.reduce((s, v, i) => s + v * (m.routerWeight[i * E + e] ?? 0), 0));
    const max = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - max));
    const total = exps.reduce((a, b) => a + b, 0);
    const probs = exps.map((v) => v / total);
    const order = probs.map((p, e) => [p, e] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k);
    const norm = m.renormalize ? order.reduce((s, [p]) => s + p, 0) : 1;
    for (const [p, e] of order) {
      const ex = m.experts[e]!;
      const hidden = Array.from({ length: h }, (_, j) => silu(row.reduce((s, v, i) => s + v * (ex.w1[i * h + j] ?? 0), ex.b1[j] ?? 0)));
      for (let o = 0; o < d; o++) {
        const out = hidden.reduce((s, v, j) => s + v * (ex.w2[j * d + o] ?? 0), ex.b2[o] ?? 0);
        y[t * d + o] = (y[t * d + o] ?? 0) + (p / norm) * out;
      }
    }
  }
  return y;
}

/** dL/dθ by central differences of L = Σ dOut·y in float64, for one coordinate `at` of `theta`. */
export function refGradient(m: RefMoE, x: Float64Array, dOut: Float64Array, theta: Float64Array, at: number, eps = 1e-6): number {
  const loss = () => refForward(m, x).reduce((s, v, i) => s + v * (dOut[i] ?? 0), 0);
  const saved = theta[at] ?? 0;
  theta[at] = saved + eps;
  const plus = loss();
  theta[at] = saved - eps;
  const minus = loss();
  theta[at] = saved;
  return (plus - minus) / (2 * eps);
}
