/** Test helpers: a seeded generator and an element-wise comparison that names the first miss. */

/** mulberry32: deterministic uniform numbers in [lo, hi). */
export function seededRandom(seed: number): (lo?: number, hi?: number) => number {
  let s = seed >>> 0;
  return (lo = -1, hi = 1) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return lo + (hi - lo) * u;
  };
}

export function randomArray(rand: (lo?: number, hi?: number) => number, n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rand(lo, hi));
}

/**
 * Largest |actual − expected| / (absTol + relTol·|expected|) over all elements; <= 1 means every
 * element is within tolerance. Throws on a length mismatch.
 */
export function worstError(actual: ArrayLike<number>, expected: ArrayLike<number>, absTol: number, relTol: number): { ratio: number; index: number } {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let ratio = 0, index = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] ?? NaN, e = expected[i] ?? NaN;
    const r = Math.abs(a - e) / (absTol + relTol * Math.abs(e));
    if (!(r <= ratio)) {
      ratio = Number.isNaN(r) ? Infinity : r;
      index = i;
    }
  }
  return { ratio, index };
}

/** Asserts all elements within tolerance, with a message naming the worst element. */
export function expectClose(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, absTol: number, relTol: number): void {
  const { ratio, index } = worstError(actual, expected, absTol, relTol);
  if (ratio > 1) {
    throw new Error(`${label}: element ${index} is ${actual[index]} but expected ${expected[index]} (error ${ratio.toFixed(2)}× tolerance)`);
  }
}
