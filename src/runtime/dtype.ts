/** Element types of tensors. bf16 is stored as raw 16-bit words (the top half of an fp32). */
export type DType = 'f32' | 'i32' | 'bf16';

export const DTYPES: readonly DType[] = ['f32', 'i32', 'bf16'];

/** Bytes per element of each dtype. */
export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = { f32: 4, i32: 4, bf16: 2 };

/** The typed array that views raw storage of a dtype. */
export type RawArray<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : Uint16Array;

/** The typed array values of a dtype are read as (bf16 widens to fp32). */
export type ValueArray<D extends DType> = D extends 'i32' ? Int32Array : Float32Array;

export function rawView<D extends DType>(dtype: D, buffer: ArrayBuffer, byteOffset: number, length: number): RawArray<D> {
  if (dtype === 'f32') return new Float32Array(buffer, byteOffset, length) as RawArray<D>;
  if (dtype === 'i32') return new Int32Array(buffer, byteOffset, length) as RawArray<D>;
  return new Uint16Array(buffer, byteOffset, length) as RawArray<D>;
}

/** fp32 → bf16 with round-to-nearest-even; NaN stays a quiet NaN. */
export function f32ToBf16(values: ArrayLike<number>): Uint16Array {
  const f32 = Float32Array.from(values);
  const bits = new Uint32Array(f32.buffer);
  const out = new Uint16Array(f32.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i] ?? 0;
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x007fffff) !== 0) {
      out[i] = (x >>> 16) | 0x0040; // quiet NaN
    } else {
      const roundingBias = 0x7fff + ((x >>> 16) & 1);
      out[i] = ((x + roundingBias) >>> 16) & 0xffff;
    }
  }
  return out;
}

/** bf16 words → fp32 values (exact). */
export function bf16ToF32(words: Uint16Array): Float32Array {
  const bits = new Uint32Array(words.length);
  for (let i = 0; i < words.length; i++) bits[i] = (words[i] ?? 0) << 16;
  return new Float32Array(bits.buffer);
}
