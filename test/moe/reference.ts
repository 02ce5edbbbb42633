/** A plain float64 MoE layer (router → softmax → top-k → capacity → weighted expert FFNs), the
 * reference the native expert-parallel layer is checked against. Written from the documented
 * semantics (docs/kernels.md, "Gating"), not from the kernels. */

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
  /** Expert activation; default 'silu'. */
  readonly activation?: 'silu' | 'gelu';
  /** 'capacity' mode, decided per rank as the layer does: the tokens split into `ranks`
   * contiguous equal groups, each keeping C = max(ceil(k·T/E·cf), minCapacity) slots per expert
   * in (choice rank, token) order. Absent: dropless. */
  readonly capacity?: { readonly factor: number; readonly minCapacity?: number; readonly ranks: number };
}

const silu = (v: number) => v / (1 + Math.exp(-v));
/** GELU, tanh approximation (PyTorch's approximate='tanh'). */
const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));

/** Per token, its k (probability, expert) choices, best first, and their renormaliser. */
function route(m: RefMoE, x: Float64Array): { choices: (readonly [number, number])[][]; norms: number[] } {
  const { d, numExperts: E, k } = m;
  const choices: (readonly [number, number])[][] = [];
  const norms: number[] = [];
  for (let t = 0; t < x.length / d; t++) {
    const row = x.subarray(t * d, (t + 1) * d);
    const logits = Array.from({ length: E }, (_, e) => row.reduce((s, v, i) => s + v * (m.routerWeight[i * E + e] ?? 0), 0));
    const max = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - max));
    const total = exps.reduce((a, b) => a + b, 0);
    const probs = exps.map((v) => v / total);
    const order = probs.map((p, e) => [p, e] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k);
    choices.push(order);
    // Renormalised over all k choices, before any drop (GShard).
    norms.push(m.renormalize ? order.reduce((s, [p]) => s + p, 0) : 1);
  }
  return { choices, norms };
}

/** kept[t][j]: whether token t's j-th choice survives the capacity (all true when dropless). */
export function refKept(m: RefMoE, x: Float64Array): boolean[][] {
  const { choices } = route(m, x);
  const kept = choices.map((c) => c.map(() => true));
  if (m.capacity === undefined) return kept;
  const perGroup = choices.length / m.capacity.ranks;
  for (let g = 0; g < m.capacity.ranks; g++) {
    const C = Math.max(Math.ceil(((m.k * perGroup) / m.numExperts) * m.capacity.factor), m.capacity.minCapacity ?? 0);
    const used = new Array<number>(m.numExperts).fill(0);
    for (let j = 0; j < m.k; j++) {
      for (let t = g * perGroup; t < (g + 1) * perGroup; t++) {
        const e = choices[t]![j]![1];
        if (used[e]! < C) used[e]!++;
        else kept[t]![j] = false;
      }
    }
  }
  return kept;
}

/** y [T, d] for x [T, d]; ties in top-k go to the lower expert index. */
export function refForward(m: RefMoE, x: Float64Array): Float64Array {
  const { d, h } = m;
  const act = m.activation === 'gelu' ? gelu : silu;
  const { choices, norms } = route(m, x);
  const kept = refKept(m, x);
  const y = new Float64Array(x.length);
  choices.forEach((order, t) => {
    const row = x.subarray(t * d, (t + 1) * d);
    order.forEach(([p, e], j) => {
      if (!kept[t]![j]) return; // a dropped slot contributes nothing
      const ex = m.experts[e]!;
      const hidden = Array.from({ length: h }, (_, c) => act(row.reduce((s, v, i) => s + v * (ex.w1[i * h + c] ?? 0), ex.b1[c] ?? 0)));
      for (let o = 0; o < d; o++) {
        const out = hidden.reduce((s, v, c) => s + v * (ex.w2[c * d + o] ?? 0), ex.b2[o] ?? 0);
        y[t * d + o] = (y[t * d + o] ?? 0) + (p / norms[t]!) * out;
      }
    });
  });
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
