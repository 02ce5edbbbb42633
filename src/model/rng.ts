/**
 * A small seeded PRNG (xoshiro128**, Blackman & Vigna 2018) whose whole state is four uint32
 * words, so a checkpoint can save it and a resumed run draws exactly the same numbers. Seeds are
 * expanded with splitmix32, so nearby seeds give unrelated streams. Not cryptographic.
 */
import { checkInteger, invalidType, invalidValue } from '../errors.js';

/** The generator's complete state: four uint32 words, not all zero. */
export type RngState = readonly [number, number, number, number];

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** splitmix32: the seed expander (a bijective mix of a Weyl sequence). */
function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private readonly s: Uint32Array;

  private constructor(state: ArrayLike<number>) {
    this.s = Uint32Array.from(state);
  }

  /** A generator seeded by an integer in [0, 2^32). */
  static fromSeed(seed: number): Rng {
    const next = splitmix32(checkInteger('seed', seed, 0, 2 ** 32 - 1));
    // splitmix32 is a bijection of its counter, so four consecutive outputs are never all zero.
    return new Rng([next(), next(), next(), next()]);
  }

  /** A generator continuing exactly from a state returned by {@link state}. */
  static fromState(state: RngState): Rng {
    const expected = 'an array of 4 uint32 words, not all 0';
    if (!Array.isArray(state)) throw invalidType('state', expected, state);
    const valid = state.length === 4 && state.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff);
    if (!valid || state.every((w) => w === 0)) throw invalidValue('state', expected, state);
    return new Rng(state);
  }

  /** A copy of the current state (plain numbers, JSON-safe). */
  state(): RngState {
    const [a = 0, b = 0, c = 0, d = 0] = this.s;
    return [a, b, c, d];
  }

  /** The next uint32. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1] ?? 0, 5) >>> 0, 7), 9) >>> 0;
    const t = ((s[1] ?? 0) << 9) >>> 0;
    s[2] = (s[2] ?? 0) ^ (s[0] ?? 0);
    s[3] = (s[3] ?? 0) ^ (s[1] ?? 0);
    s[1] = (s[1] ?? 0) ^ (s[2] ?? 0);
    s[0] = (s[0] ?? 0) ^ (s[3] ?? 0);
    s[2] = (s[2] ?? 0) ^ t;
    s[3] = rotl(s[3] ?? 0, 11);
    return result;
  }

  /** A uniform float in [0, 1) with 32 random bits. */
  nextFloat(): number {
    return this.nextU32() / 2 ** 32;
  }

  /** A uniform integer in [0, n), n an integer in [1, 2^32], without modulo bias (rejection). */
  nextInt(n: number): number {
    checkInteger('n', n, 1, 2 ** 32);
    // Largest multiple of n that fits in 2^32; draws at or above it are rejected.
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }
}
