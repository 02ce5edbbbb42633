import { describe, expect, it } from 'vitest';

import { backends, Device, ProphetError, Tensor } from '../../src/index.js';
import { fromNative, ProphetRangeError } from '../../src/errors.js';
import { addon } from '../../src/native.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('errors', () => {
  const device = Device.cpu();

  it('name the argument for wrong types and values', () => {
    expect(() => Tensor.empty('big' as never)).toThrow(
      new TypeError('Expected array of non-negative integers for shape but received "big" of type string'),
    );
    expect(() => Tensor.empty([2, -1])).toThrow(
      new RangeError('Expected non-negative integer for shape[1] but received -1 of type number'),
    );
    expect(() => Tensor.empty([2, 1.5])).toThrow(RangeError);
    expect(() => Tensor.empty([2], { dtype: 'f64' as never })).toThrow(
      new RangeError("Expected one of 'f32', 'i32', 'bf16' for options.dtype but received \"f64\" of type string"),
    );
    expect(() => Tensor.from([1, 2, 3], [2])).toThrow(
      new RangeError('Expected 2 elements (shape [2]) for data but received "3 elements" of type string'),
    );
    expect(() => Tensor.from(5 as never, [1])).toThrow(TypeError);
    expect(() => Tensor.empty([1]).reshape([2])).toThrow(RangeError);
    expect(() => device.createStream({ priority: 'urgent' as never })).toThrow(
      new TypeError('Expected \'normal\', \'high\' or an integer for options.priority but received "urgent" of type string'),
    );
    expect(() => Device.parse('tpu:0')).toThrow(RangeError);
  });

  it('check arguments in the addon too, with TypeError/RangeError naming them', () => {
    const native = addon();
    expect(() => new native.Storage('gpu' as never, 0, 4)).toThrow(RangeError);
    expect(() => new native.Storage('cpu', 0, -4)).toThrow(/Invalid bytes/);
    const storage = new native.Storage('cpu', 0, 8);
    expect(() => storage.write(new Float32Array(4), 0, device.defaultStream.native)).toThrow(RangeError);
    expect(() => storage.write(new Float32Array(1), 0, {} as never)).toThrow(new TypeError('Expected a Stream for stream'));
    expect(() => storage.write('x' as never, 0, device.defaultStream.native)).toThrow(TypeError);
    expect(() => storage.fill(4, 8, 0, device.defaultStream.native)).toThrow(/exceeds the 8-byte storage/);
    storage.dispose();
  });

  it('report use after dispose as EDISPOSED', async () => {
    const t = Tensor.from([1], [1]);
    t.dispose();
    expect(codeOf(() => t.view())).toBe('EDISPOSED');
    expect(codeOf(() => t.write([2]))).toBe('EDISPOSED');
    await expect(t.toArray()).rejects.toMatchObject({ code: 'EDISPOSED' });
    const stream = device.createStream();
    stream.dispose();
    expect(codeOf(() => stream.synchronizeSync())).toBe('EDISPOSED');
    expect(codeOf(() => Tensor.from([1], [1], { stream }))).toBe('EDISPOSED');
    const event = device.createEvent();
    event.dispose();
    expect(codeOf(() => event.record(device.defaultStream))).toBe('EDISPOSED');
    const error = (() => {
      try {
        t.view();
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ProphetError);
  });

  it('report event timing misuse with codes', async () => {
    const plain = device.createEvent().record(device.defaultStream);
    const timed = device.createEvent({ timing: true }).record(device.defaultStream);
    await device.defaultStream.synchronize();
    expect(codeOf(() => plain.elapsedMs(timed))).toBe('EINVAL');
    const never = device.createEvent({ timing: true });
    expect(codeOf(() => timed.elapsedMs(never))).toBe('EINVAL');
  });

  it('report elapsed time to an unfinished event as ENOTREADY, naming the event', async () => {
    const stream = device.createStream();
    const numel = (32 << 20) / 4;
    const [src, dst] = [Tensor.zeros([numel], { stream }), Tensor.empty([numel])];
    const start = stream.recordEvent({ timing: true });
    await stream.synchronize(); // start is complete: only `end` can be unfinished
    // The call races the stream: queue more work each round until the stream is still busy
    // when elapsedMs runs (at the first try, except on a machine far faster than this one).
    let error: unknown;
    for (let copies = 1; copies <= 64 && error === undefined; copies *= 2) {
      for (let i = 0; i < copies; i++) dst.copyFrom(src, { stream });
      const end = stream.recordEvent({ timing: true });
      try {
        start.elapsedMs(end);
      } catch (e) {
        error = e;
      }
      await end.synchronize();
      end.dispose();
    }
    expect(error).toBeInstanceOf(ProphetError);
    expect(error).toMatchObject({
      code: 'ENOTREADY',
      message: 'event elapsed time failed on cpu: end event not yet complete (synchronize it first)',
    });
    for (const handle of [src, dst, start, stream]) handle.dispose();
  });

  it('make a native EINVAL a RangeError that is still a coded ProphetError; other codes stay ProphetErrors', () => {
    const native = (code: string) => Object.assign(new Error(`op failed on cpu: ${code}`), { code });
    const invalid = fromNative(native('EINVAL'), new Error('caller').stack);
    expect(invalid).toBeInstanceOf(ProphetRangeError);
    expect(invalid).toBeInstanceOf(RangeError);
    expect(invalid).toBeInstanceOf(ProphetError);
    expect(invalid).toMatchObject({ code: 'EINVAL', message: 'op failed on cpu: EINVAL', name: 'ProphetRangeError' });
    expect((invalid as Error).stack).toMatch(/^ProphetRangeError: op failed on cpu: EINVAL\n/);
    const comm = fromNative(native('ECOMM'));
    expect(comm).toBeInstanceOf(ProphetError);
    expect(comm).not.toBeInstanceOf(RangeError);
    expect(comm).toMatchObject({ code: 'ECOMM' });
    // Only coded native failures pass the widened check, not every RangeError.
    expect(new RangeError('x')).not.toBeInstanceOf(ProphetError);
    expect(new ProphetError('ECOMM', 'x')).not.toBeInstanceOf(ProphetRangeError);
  });

  it('report CUDA as unavailable with the reason, and keep the CPU working', () => {
    const report = backends();
    expect(report.cpu.available).toBe(true);
    expect(report.cpu.devices.length).toBe(1);
    if (report.cuda.available) return; // a machine with a GPU and the CUDA library
    expect(report.cuda.reason).toMatch(/libprophet_cuda\.so/);
    expect(codeOf(() => Device.cuda())).toBe('ECUDA');
    expect(codeOf(() => new (addon().Storage)('cuda', 0, 4))).toBe('ECUDA');
    expect(Tensor.from([1], [1]).numel).toBe(1);
  });

  it('reject a stream of another device for tensor work', () => {
    const t = Tensor.from([1], [1]);
    const foreign = { device: { toString: () => 'cuda:0' } } as never;
    expect(() => t.zero({ stream: foreign })).toThrow(RangeError);
  });
});
