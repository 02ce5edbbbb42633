/**
 * Plain-JS reference of dispatch/combine and their backward passes, in double precision, from
 * the spec in docs/kernels.md (row(t, j) = rowOffsetPerExpert[e] + position, -1 = dropped).
 */
export interface RefRouting {
  readonly T: number;
  readonly k: number;
  readonly expertIndex: ArrayLike<number>;
  readonly position: ArrayLike<number>;
  readonly rowOffsetPerExpert: ArrayLike<number>;
}

export function refRow(r: RefRouting, t: number, j: number): number {
  const p = r.position[t * r.k + j] ?? -1;
  if (p < 0) return -1;
  return (r.rowOffsetPerExpert[r.expertIndex[t * r.k + j] ?? 0] ?? NaN) + p;
}

/** Exclusive prefix sum of the counts. */
export function refRowOffsets(countsPerExpert: readonly number[]): number[] {
  let sum = 0;
  return countsPerExpert.map((c) => {
    const start = sum;
    sum += c;
    return start;
  });
}

export function refDispatch(x: ArrayLike<number>, d: number, r: RefRouting, numRows: number): number[] {
  const out = new Array<number>(numRows * d).fill(0);
  for (let t = 0; t < r.T; t++) {
    for (let j = 0; j < r.k; j++) {
      const row = refRow(r, t, j);
      if (row < 0) continue;
      for (let i = 0; i < d; i++) out[row * d + i] = x[t * d + i] ?? NaN;
    }
  }
  return out;
}

export function refCombine(y: ArrayLike<number>, weight: ArrayLike<number>, d: number, r: RefRouting): number[] {
  const out = new Array<number>(r.T * d).fill(0);
  for (let t = 0; t < r.T; t++) {
    for (let j = 0; j < r.k; j++) {
      const row = refRow(r, t, j);
      if (row < 0) continue;
      const w = weight[t * r.k + j] ?? NaN;
      for (let i = 0; i < d; i++) out[t * d + i] = (out[t * d + i] ?? 0) + w * (y[row * d + i] ?? NaN);
    }
  }
  return out;
}

export function refDispatchBackward(dOut: ArrayLike<number>, d: number, r: RefRouting): number[] {
  const dx = new Array<number>(r.T * d).fill(0);
  for (let t = 0; t < r.T; t++) {
    for (let j = 0; j < r.k; j++) {
      const row = refRow(r, t, j);
      if (row < 0) continue;
      for (let i = 0; i < d; i++) dx[t * d + i] = (dx[t * d + i] ?? 0) + (dOut[row * d + i] ?? NaN);
    }
  }
  return dx;
}

export function refCombineBackward(
  dOut: ArrayLike<number>,
  y: ArrayLike<number>,
  weight: ArrayLike<number>,
  d: number,
  r: RefRouting,
  numRows: number,
): { dY: number[]; dWeight: number[] } {
  const dY = new Array<number>(numRows * d).fill(0);
  const dWeight = new Array<number>(r.T * r.k).fill(0);
  for (let t = 0; t < r.T; t++) {
    for (let j = 0; j < r.k; j++) {
      const row = refRow(r, t, j);
      if (row < 0) continue;
      let dot = 0;
      for (let i = 0; i < d; i++) {
        dot += (dOut[t * d + i] ?? NaN) * (y[row * d + i] ?? NaN);
        dY[row * d + i] = (weight[t * r.k + j] ?? NaN) * (dOut[t * d + i] ?? NaN);
      }
      dWeight[t * r.k + j] = dot;
    }
  }
  return { dY, dWeight };
}
