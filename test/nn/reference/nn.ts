/**
 * Plain-JS float64 references of the dense-layer kernels, written from the formulas in
 * docs/model.md (not from the C++), plus a central-difference gradient helper.
 */

/** out[n] = table[ids[n]] + (positions ? positions[n mod P] : 0); table [V, d]. */
export function refEmbedding(ids: ArrayLike<number>, table: ArrayLike<number>, d: number, positions?: ArrayLike<number>, P = 0): number[] {
  const out: number[] = [];
  for (let n = 0; n < ids.length; n++) {
    const v = ids[n] ?? 0;
    for (let i = 0; i < d; i++) out.push((table[v * d + i] ?? NaN) + (positions ? (positions[(n % P) * d + i] ?? NaN) : 0));
  }
  return out;
}

/** y = x / sqrt(mean(x²) + eps) · gain per row; also rstd. */
export function refRmsnorm(x: ArrayLike<number>, gain: ArrayLike<number>, d: number, eps: number): { y: number[]; rstd: number[] } {
  const y: number[] = [];
  const rstd: number[] = [];
  for (let n = 0; n < x.length / d; n++) {
    let sumSq = 0;
    for (let i = 0; i < d; i++) sumSq += (x[n * d + i] ?? NaN) ** 2;
    const r = 1 / Math.sqrt(sumSq / d + eps);
    rstd.push(r);
    for (let i = 0; i < d; i++) y.push((x[n * d + i] ?? NaN) * r * (gain[i] ?? NaN));
  }
  return { y, rstd };
}

export interface AttentionShape {
  readonly B: number;
  readonly S: number;
  readonly H: number;
  readonly dh: number;
}

/** Causal softmax(q·k/sqrt(dh))·v over packed qkv [B, S, 3, H, dh]; out [B, S, H, dh], lse [B, H, S]. */
export function refAttention(qkv: ArrayLike<number>, { B, S, H, dh }: AttentionShape): { out: number[]; lse: number[] } {
  const at = (b: number, s: number, part: number, h: number, c: number) => qkv[(((b * S + s) * 3 + part) * H + h) * dh + c] ?? NaN;
  const out = new Array<number>(B * S * H * dh).fill(0);
  const lse = new Array<number>(B * H * S).fill(0);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < S; i++) {
        const scores: number[] = [];
        for (let j = 0; j <= i; j++) {
          let dot = 0;
          for (let c = 0; c < dh; c++) dot += at(b, i, 0, h, c) * at(b, j, 1, h, c);
          scores.push(dot / Math.sqrt(dh));
        }
        const max = Math.max(...scores);
        const sum = scores.reduce((acc, s) => acc + Math.exp(s - max), 0);
        lse[(b * H + h) * S + i] = max + Math.log(sum);
        scores.forEach((s, j) => {
          const p = Math.exp(s - max) / sum;
          for (let c = 0; c < dh; c++) {
            const o = ((b * S + i) * H + h) * dh + c;
            out[o] = (out[o] ?? 0) + p * at(b, j, 2, h, c);
          }
        });
      }
    }
  }
  return { out, lse };
}

/** Per-row cross-entropy lse − logits[target] and lse; logits [N, C]. */
export function refCrossEntropy(logits: ArrayLike<number>, targets: ArrayLike<number>, C: number): { loss: number[]; lse: number[] } {
  const loss: number[] = [];
  const lse: number[] = [];
  for (let n = 0; n < targets.length; n++) {
    const row = Array.from({ length: C }, (_, c) => logits[n * C + c] ?? NaN);
    const max = Math.max(...row);
    const l = max + Math.log(row.reduce((acc, x) => acc + Math.exp(x - max), 0));
    lse.push(l);
    loss.push(l - (row[targets[n] ?? 0] ?? NaN));
  }
  return { loss, lse };
}

/** Σ_i weight[i] · values[i]: a scalar loss whose gradient with respect to values is `weight`. */
export function weightedSum(values: ArrayLike<number>, weight: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i] ?? NaN) * (weight[i] ?? NaN);
  return sum;
}

/** Central differences (f(x + h·e_i) − f(x − h·e_i)) / 2h of a float64 function, for every i. */
export function numericGradient(f: (x: number[]) => number, x: ArrayLike<number>, h: number): number[] {
  const base = Array.from(x);
  return base.map((value, i) => {
    const plus = [...base];
    const minus = [...base];
    plus[i] = value + h;
    minus[i] = value - h;
    return (f(plus) - f(minus)) / (2 * h);
  });
}
