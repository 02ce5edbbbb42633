import { describe, expect, it } from 'vitest';

import { ProphetError } from '../../src/errors.js';
import { crossEntropy, crossEntropyBackward } from '../../src/nn/cross_entropy.js';
import { Device } from '../../src/runtime/device.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { expectBitwiseEqual, expectClose, randomF32 } from '../kernels/util.js';
import { numericGradient, refCrossEntropy, weightedSum } from './reference/nn.js';

const i32 = (values: number[]) => Tensor.from(values, [values.length], { dtype: 'i32' });

describe('cross-entropy: forward against the float64 reference', () => {
  // fp32 logsumexp of C ≤ 256 terms with the max subtracted: ~C·2^-24 relative on the sum, so
  // lse (|lse| ≲ 10) is within ~2e-6 absolute; the loss is lse minus an exact logit.
  it.each([
    { N: 1, C: 1 },
    { N: 7, C: 5 },
    { N: 33, C: 256 },
  ])('N=$N C=$C', async ({ N, C }) => {
    const logits = randomF32(N * C, N + C, 4);
    const targets = Array.from({ length: N }, (_, n) => (n * 7 + 3) % C);
    const result = crossEntropy(Tensor.from(logits, [N, C]), i32(targets));
    const expected = refCrossEntropy(logits, targets, C);
    expectClose(await result.loss.toArray(), expected.loss, 1e-5, 1e-6, 'loss');
    expectClose(await result.lse.toArray(), expected.lse, 1e-5, 1e-6, 'lse');
    const mean = expected.loss.reduce((a, b) => a + b, 0) / N;
    expectClose(await result.meanLoss.toArray(), [mean], 1e-5, 1e-6, 'meanLoss');
  });

  it('uniform logits give ln C per token (the TSDoc example)', async () => {
    const result = crossEntropy(Tensor.zeros([1, 4]), i32([2]));
    expectClose(await result.loss.toArray(), [Math.log(4)], 0, 1e-6, 'loss');
  });

  it('N = 0: empty losses and a mean of 0', async () => {
    const result = crossEntropy(Tensor.zeros([0, 3]), Tensor.zeros([0], { dtype: 'i32' }));
    expect(Array.from(await result.meanLoss.toArray())).toEqual([0]);
    expect(crossEntropyBackward(Tensor.zeros([0, 3]), Tensor.zeros([0], { dtype: 'i32' }), result.lse).shape).toEqual([0, 3]);
    await Device.cpu().defaultStream.synchronize();
  });
});

describe('cross-entropy: backward', () => {
  // dLogits = (softmax − onehot)·scale exactly; finite differences of the float64 mean loss
  // (h = 1e-3, truncation ≲ 1e-7 for softmax curvature ≤ 1/4) against the fp32 softmax: 1e-5.
  it('matches finite differences of the mean loss (default scale 1/N)', async () => {
    const N = 4;
    const C = 6;
    const logits = randomF32(N * C, 51, 3);
    const targets = [5, 0, 2, 2];
    const x = Tensor.from(logits, [N, C]);
    const { lse } = crossEntropy(x, i32(targets));
    const dLogits = await crossEntropyBackward(x, i32(targets), lse).toArray();
    const meanLoss = (v: number[]) => refCrossEntropy(v, targets, C).loss.reduce((a, b) => a + b, 0) / N;
    expectClose(dLogits, numericGradient(meanLoss, logits, 1e-3), 1e-5, 1e-4, 'dLogits');
  });

  it('applies an explicit scale (per-token weights by finite differences)', async () => {
    const N = 3;
    const C = 4;
    const logits = randomF32(N * C, 52, 3);
    const targets = [1, 3, 0];
    const x = Tensor.from(logits, [N, C]);
    const { lse } = crossEntropy(x, i32(targets));
    const dLogits = await crossEntropyBackward(x, i32(targets), lse, { scale: 2.5 }).toArray();
    const total = (v: number[]) => weightedSum(refCrossEntropy(v, targets, C).loss, [2.5, 2.5, 2.5]);
    expectClose(dLogits, numericGradient(total, logits, 1e-3), 1e-5, 1e-4, 'dLogits');
  });
});

describe('cross-entropy: determinism and runtime errors', () => {
  it('re-runs are bitwise identical at a size that uses every thread', async () => {
    const N = 1024;
    const C = 256;
    const x = Tensor.from(randomF32(N * C, 61, 5), [N, C]);
    const targets = Tensor.from(Array.from({ length: N }, (_, n) => (n * 37) % C), [N], { dtype: 'i32' });
    const runOnce = async () => {
      const r = crossEntropy(x, targets);
      const d = crossEntropyBackward(x, targets, r.lse);
      return [await r.loss.toArray(), await r.lse.toArray(), await r.meanLoss.toArray(), await d.toArray()];
    };
    const first = await runOnce();
    const second = await runOnce();
    first.forEach((values, i) => expectBitwiseEqual(second[i] as Float32Array, values, `output ${i}`));
  });

  it('a target out of range fails the stream with EINVAL naming it; the stream recovers', async () => {
    const stream = Device.cpu().createStream();
    const x = Tensor.zeros([3, 4], { stream });
    crossEntropy(x, Tensor.from([0, 4, 1], [3], { dtype: 'i32', stream }), { stream });
    const error = await stream.synchronize().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProphetError);
    expect((error as ProphetError).code).toBe('EINVAL');
    expect((error as ProphetError).message).toBe(
      'stream synchronize failed on cpu: cross_entropy forward: targets[1] = 4 is outside [0, 4)',
    );
    const ok = crossEntropy(x, Tensor.from([0, 3, 1], [3], { dtype: 'i32', stream }), { stream });
    await stream.synchronize();
    expectClose(await ok.meanLoss.toArray({ stream }), [Math.log(4)], 0, 1e-6, 'meanLoss');
    stream.dispose();
  });
});

describe('cross-entropy: argument errors', () => {
  const x = Tensor.zeros([2, 3]);
  const t = i32([0, 1]);
  it.each([
    [() => crossEntropy('x' as never, t), TypeError, 'Expected f32 Tensor for logits but received "x" of type string'],
    [
      () => crossEntropy(Tensor.zeros([6]), t),
      RangeError,
      'Expected a shape [numRows, numClasses] with 1 <= numClasses < 2^31 for logits.shape but received [6] of type array',
    ],
    [
      () => crossEntropy(Tensor.zeros([2, 0]), t),
      RangeError,
      'Expected a shape [numRows, numClasses] with 1 <= numClasses < 2^31 for logits.shape but received [2, 0] of type array',
    ],
    [() => crossEntropy(x, Tensor.zeros([2]) as never), TypeError, `Expected 'i32' for targets.dtype but received "f32" of type string`],
    [() => crossEntropy(x, i32([0, 1, 2])), RangeError, 'Expected [2] for targets.shape but received [3] of type array'],
    [() => crossEntropyBackward(x, t, Tensor.zeros([3])), RangeError, 'Expected [2] for lse.shape but received [3] of type array'],
    [
      () => crossEntropyBackward(x, t, Tensor.zeros([2]), { scale: NaN }),
      RangeError,
      'Expected finite number for options.scale but received NaN of type number',
    ],
  ])('%#', (call, type, message) => {
    expect(call).toThrow(type);
    expect(call).toThrow(message);
  });
});
