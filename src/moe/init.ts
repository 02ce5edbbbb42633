/**
 * Parameter initialisation that depends only on (seed, layer, which parameter), never on the
 * number of ranks or on where a parameter lives, so that every parallel layout starts from the
 * same model.
 */
import { Rng } from '../model/rng.js';

/** A deterministic sub-seed in [0, 2^32) for one named parameter block. */
export function subSeed(seed: number, layer: number, block: number): number {
  // Three odd multipliers spread the fields; >>> 0 keeps the uint32 range Rng.fromSeed wants.
  return (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(layer + 1, 0x85ebca6b) ^ Math.imul(block + 1, 0xc2b2ae35)) >>> 0;
}

/** `count` values uniform in [-bound, bound) from the generator of `seed`. */
export function uniform(seed: number, count: number, bound: number): Float32Array {
  const rng = Rng.fromSeed(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (2 * rng.nextFloat() - 1) * bound;
  return out;
}
