/** Plain float64 reference of C = alpha·op(A)·op(B) + beta·C (row-major). */
export function refMatmul(
  a: ArrayLike<number>, b: ArrayLike<number>, c: ArrayLike<number>,
  m: number, n: number, k: number, transA: boolean, transB: boolean, alpha: number, beta: number,
): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * m + i] : a[i * k + p];
        const bv = transB ? b[j * k + p] : b[p * n + j];
        s += (av ?? NaN) * (bv ?? NaN);
      }
      out[i * n + j] = alpha * s + (beta === 0 ? 0 : beta * (c[i * n + j] ?? NaN));
    }
  }
  return out;
}
