/** Plain-JS references and helpers shared by the communicator tests. */

/** A seeded generator of uniform numbers in [0, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n). */
export function randInt(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

/** A random subset of [0, size) containing `root`, sorted. */
export function randomMembers(random: () => number, size: number, root: number): number[] {
  const members = [...Array(size).keys()].filter((r) => r === root || random() < 0.5);
  return members;
}

/**
 * The all-to-all-v reference: `sendPerRank[s]` is rank s's buffer packed by destination with
 * `counts[s][d]` elements for d; returns what each rank receives, packed by source.
 */
export function allToAllVReference(sendPerRank: readonly Float32Array[], counts: readonly number[][]): Float32Array[] {
  const size = counts.length;
  return [...Array(size).keys()].map((d) => {
    const out: number[] = [];
    for (let s = 0; s < size; s++) {
      const row = counts[s] ?? [];
      const start = row.slice(0, d).reduce((a, b) => a + b, 0);
      out.push(...(sendPerRank[s] ?? new Float32Array()).subarray(start, start + (row[d] ?? 0)));
    }
    return Float32Array.from(out);
  });
}

/** Element-wise fp32 sum of `inputs` in the given order (the order the communicators promise). */
export function sumInOrder(inputs: readonly Float32Array[]): Float32Array {
  const first = inputs[0] ?? new Float32Array();
  const out = Float32Array.from(first);
  for (const input of inputs.slice(1)) {
    for (let i = 0; i < out.length; i++) out[i] = Math.fround((out[i] ?? 0) + (input[i] ?? 0));
  }
  return out;
}

/** Values whose fp32 sums depend on the order of summation, to catch a reordered reduction. */
export function awkwardValues(random: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => (random() - 0.5) * 10 ** randInt(random, 8));
}
