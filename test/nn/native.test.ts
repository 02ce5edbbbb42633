/**
 * The native entries behind the TS ops refuse what could corrupt memory (undersized buffers, bad
 * shapes, a missing position table, wrong handle types) with an error, never a crash. These call
 * the addon directly, bypassing the TS checks.
 */
import { describe, expect, it } from 'vitest';

import { addon } from '../../src/native.js';
import { Device } from '../../src/runtime/device.js';
import { Tensor } from '../../src/runtime/tensor.js';

describe('nn native entries: defence behind the TS checks', () => {
  const a = addon();
  const s = Device.cpu().defaultStream.native;
  const tiny = Tensor.zeros([1]).storage; // 4 bytes
  const big = Tensor.zeros([4096]).storage;
  it.each([
    ['embedding forward', () => a.embeddingForward(4, 8, 2, 0, tiny, big, null, big, s), 'ids holds 4 bytes, needs 16'],
    ['embedding forward', () => a.embeddingForward(2, 8, 2, 3, big, big, null, big, s), 'pos_table is NULL but num_positions > 0'],
    ['embedding forward', () => a.embeddingForward(2, 0, 2, 0, big, big, null, big, s), 'invalid shape'],
    ['embedding backward', () => a.embeddingBackward(2, 8, 2, 3, big, big, big, tiny, s), 'd_pos holds 4 bytes, needs 24'],
    ['rmsnorm forward', () => a.rmsnormForward(2, 0, 1e-5, big, big, big, big, s), 'invalid shape'],
    ['rmsnorm forward', () => a.rmsnormForward(2, 2, 0, big, big, big, big, s), 'eps must be > 0'],
    ['rmsnorm backward', () => a.rmsnormBackward(2, 2, big, big, big, big, big, tiny, s), 'd_gain holds 4 bytes, needs 8'],
    ['attention forward', () => a.attentionForward(1, 2, 0, 2, big, big, big, s), 'invalid shape'],
    ['attention backward', () => a.attentionBackward(1, 2, 1, 2, big, big, big, big, tiny, s), 'd_qkv holds 4 bytes, needs 48'],
    ['cross_entropy forward', () => a.crossEntropyForward(2, 0, big, big, big, big, big, s), 'invalid shape'],
    ['cross_entropy forward', () => a.crossEntropyForward(2, 3, big, big, tiny, big, big, s), 'loss holds 4 bytes, needs 8'],
    ['cross_entropy backward', () => a.crossEntropyBackward(2, 3, 1, big, big, big, tiny, s), 'd_logits holds 4 bytes, needs 24'],
    ['add', () => a.add(2, big, tiny, big, s), 'b holds 4 bytes, needs 8'],
  ])('%s: %#', (kernel, call, message) => {
    expect(call).toThrow(expect.objectContaining({ code: 'EINVAL', message: `${kernel} failed on cpu: ${kernel}: ${message}` }));
  });

  it('wrong handle types are TypeErrors naming the argument', () => {
    expect(() => a.add(2, big, 'b' as never, big, s)).toThrow(TypeError);
    expect(() => a.add(2, big, 'b' as never, big, s)).toThrow(/\bb\b/);
    expect(() => a.attentionForward(1, 2, 1, 2, big, big, big, {} as never)).toThrow(/stream/);
  });
});
