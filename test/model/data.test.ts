import { describe, expect, it } from 'vitest';

import { DEFAULT_TEXT_PATH, TextDataset, unigramEntropyBits } from '../../src/model/data.js';
import { Rng } from '../../src/model/rng.js';

describe('Rng (xoshiro128**)', () => {
  it('matches the reference generator from state [1, 2, 3, 4]', () => {
    // Hand-stepped from Blackman & Vigna's C code: 11520, 0, 5927040.
    const rng = Rng.fromState([1, 2, 3, 4]);
    expect([rng.nextU32(), rng.nextU32(), rng.nextU32()]).toEqual([11520, 0, 5927040]);
  });

  it('is deterministic per seed, differs across seeds, and restores its state exactly', () => {
    const draw = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.nextU32());
    expect(draw(Rng.fromSeed(7), 50)).toEqual(draw(Rng.fromSeed(7), 50));
    expect(draw(Rng.fromSeed(7), 50)).not.toEqual(draw(Rng.fromSeed(8), 50));
    const rng = Rng.fromSeed(123);
    draw(rng, 17);
    const saved = JSON.parse(JSON.stringify(rng.state())) as [number, number, number, number];
    const rest = draw(rng, 100);
    expect(draw(Rng.fromState(saved), 100)).toEqual(rest);
  });

  it('nextInt is in range and roughly uniform; nextFloat in [0, 1)', () => {
    const rng = Rng.fromSeed(1);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) {
      const v = rng.nextInt(6);
      counts[v] = (counts[v] ?? 0) + 1;
    }
    // Each count is Binomial(60000, 1/6): sd ≈ 91; 6 sd is a bound a correct generator never hits.
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(550);
    for (let i = 0; i < 1000; i++) {
      const f = rng.nextFloat();
      expect(f >= 0 && f < 1).toBe(true);
    }
    expect(rng.nextInt(1)).toBe(0);
  });

  it.each([
    [() => Rng.fromSeed(-1), RangeError, 'Expected integer in [0, 4294967295] for seed but received -1 of type number'],
    [() => Rng.fromState([0, 0, 0, 0]), RangeError, 'Expected an array of 4 uint32 words, not all 0 for state but received [0, 0, 0, 0] of type array'],
    [() => Rng.fromState([1, 2, 3] as never), RangeError, 'Expected an array of 4 uint32 words, not all 0 for state but received [1, 2, 3] of type array'],
    [() => Rng.fromSeed(1).nextInt(0), RangeError, 'Expected integer in [1, 4294967296] for n but received 0 of type number'],
  ])('argument error %#', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });
});

describe('TextDataset', () => {
  const dataset = TextDataset.load();

  it('loads the embedded Moby-Dick text', () => {
    expect(DEFAULT_TEXT_PATH.endsWith('data/moby-dick.txt.gz')).toBe(true);
    expect(dataset.bytes.length).toBeGreaterThan(1_000_000);
    const text = Buffer.from(dataset.bytes.subarray(0, 200_000)).toString('utf8');
    expect(text).toContain('Call me Ishmael');
  });

  it('samples windows whose targets are the inputs shifted by one', () => {
    const { inputs, targets, batch, seq } = dataset.sampleBatch(Rng.fromSeed(3), 4, 32);
    expect([batch, seq, inputs.length, targets.length]).toEqual([4, 32, 128, 128]);
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s + 1 < seq; s++) expect(targets[b * seq + s]).toBe(inputs[b * seq + s + 1]);
      // The row is a real window of the text.
      const row = Uint8Array.from(inputs.subarray(b * seq, (b + 1) * seq));
      expect(Buffer.from(dataset.bytes).indexOf(row)).toBeGreaterThanOrEqual(0);
    }
  });

  it('is deterministic per rng state, and a restored rng continues the same batches', () => {
    const a = Rng.fromSeed(9);
    const first = dataset.sampleBatch(a, 2, 16);
    const saved = a.state();
    const second = dataset.sampleBatch(a, 2, 16);
    expect(dataset.sampleBatch(Rng.fromSeed(9), 2, 16)).toEqual(first);
    expect(dataset.sampleBatch(Rng.fromState(saved), 2, 16)).toEqual(second);
    expect(second.inputs).not.toEqual(first.inputs);
  });

  it('covers every start of a tiny text, including the last one', () => {
    const tiny = new TextDataset(Uint8Array.from([10, 11, 12, 13]));
    const starts = new Set<number>();
    const rng = Rng.fromSeed(5);
    for (let i = 0; i < 200; i++) starts.add(tiny.sampleBatch(rng, 1, 2).inputs[0] ?? -1);
    expect([...starts].sort()).toEqual([10, 11]);
  });

  it('splits into a training head and a held-out tail', () => {
    const text = new TextDataset(Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const { train, valid } = text.split(0.25);
    expect(Array.from(train.bytes)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(Array.from(valid.bytes)).toEqual([7, 8, 9]);
    expect(text.split(0).valid.bytes.length).toBe(0);
    expect(() => text.split(1)).toThrow(new RangeError('Expected finite number in [0, 1) for validFraction but received 1 of type number'));
    expect(() => text.split(NaN)).toThrow(RangeError);
    expect(() => text.split(-0.5)).toThrow(new RangeError('Expected finite number in [0, 1) for validFraction but received -0.5 of type number'));
  });

  it.each([
    [() => dataset.sampleBatch({} as never, 1, 1), TypeError, 'Expected Rng for rng but received Object of type object'],
    [() => dataset.sampleBatch(Rng.fromSeed(1), 0, 1), RangeError, 'Expected integer >= 1 for batch but received 0 of type number'],
    [() => dataset.sampleBatch(Rng.fromSeed(1), 1, 1.5), RangeError, 'Expected integer >= 1 for seq but received 1.5 of type number'],
    [
      () => new TextDataset(Uint8Array.from([1, 2, 3])).sampleBatch(Rng.fromSeed(1), 1, 3),
      RangeError,
      'Expected integer in [1, 2] (text length − 1) for seq but received 3 of type number',
    ],
  ])('argument error %#', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });
});

describe('unigramEntropyBits', () => {
  it('gives the hand-computed examples', () => {
    // "aab": p = 2/3, 1/3 → −(2/3·log₂(2/3) + 1/3·log₂(1/3)) = log₂3 − 2/3.
    expect(unigramEntropyBits(Buffer.from('aab'))).toBeCloseTo(Math.log2(3) - 2 / 3, 12);
    // Four distinct bytes equally often: exactly 2 bits.
    expect(unigramEntropyBits(Uint8Array.from([0, 1, 2, 3, 3, 2, 1, 0]))).toBe(2);
    expect(unigramEntropyBits(Uint8Array.from([7, 7, 7]))).toBe(0);
    expect(unigramEntropyBits(new Uint8Array(0))).toBe(0);
  });

  it('is between 4 and 5 bits per byte for English text', () => {
    const h = unigramEntropyBits(TextDataset.load().bytes);
    expect(h).toBeGreaterThan(4);
    expect(h).toBeLessThan(5);
  });
});
