import { afterEach, describe, expect, it } from 'vitest';

import { createLocalWorld } from '../../src/comm/local.js';
import type { Communicator } from '../../src/comm/communicator.js';
import { ProphetError } from '../../src/errors.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { allToAllVReference, awkwardValues, randInt, randomMembers, seeded, sumInOrder } from './reference.js';

const NUM_RANKS = 4;
let world: Communicator[] = [];

function newWorld(timeoutMs = 10_000): Communicator[] {
  world = createLocalWorld(NUM_RANKS, { timeoutMs });
  return world;
}

afterEach(async () => {
  // Let failed or pending collectives finish before the streams go.
  await Promise.allSettled(world.filter((c) => !c.disposed).map((c) => c.defaultStream.synchronize()));
  for (const c of world) c.dispose();
  world = [];
});

function f32(comm: Communicator, data: ArrayLike<number>): Tensor<'f32'> {
  return Tensor.from(data, [data.length], { stream: comm.defaultStream });
}

async function read(comm: Communicator, tensor: Tensor): Promise<Float32Array | Int32Array> {
  // toArray() of an empty tensor hits a runtime bug (a detached ArrayBuffer); nothing to read.
  if (tensor.numel === 0) return tensor.dtype === 'i32' ? new Int32Array(0) : new Float32Array(0);
  return tensor.toArray({ stream: comm.defaultStream });
}

async function syncAll(comms: Communicator[]): Promise<void> {
  await Promise.all(comms.map((c) => c.defaultStream.synchronize()));
}

describe('local allToAllV', () => {
  it('matches the reference on random uneven splits, zero-length sends included', async () => {
    const comms = newWorld();
    const random = seeded(7);
    for (let round = 0; round < 6; round++) {
      // Round 0 has every block empty from rank 0 and to rank 3; later rounds are random.
      const counts = comms.map((_, s) =>
        comms.map((__, d) => (round === 0 && (s === 0 || d === 3) ? 0 : randInt(random, 3) === 0 ? 0 : randInt(random, 50))),
      );
      const sends = counts.map((row) => Float32Array.from({ length: row.reduce((a, b) => a + b, 0) }, () => random()));
      const expected = allToAllVReference(sends, counts);
      const recvs = comms.map((c, d) => Tensor.empty([counts.reduce((a, row) => a + (row[d] ?? 0), 0)]));
      comms.forEach((c, r) => {
        const recvCounts = counts.map((row) => row[r] ?? 0);
        c.allToAllV(f32(c, sends[r] ?? []), counts[r] ?? [], recvs[r]!, recvCounts);
      });
      await syncAll(comms);
      for (const [r, c] of comms.entries()) expect(await read(c, recvs[r]!)).toEqual(expected[r]);
    }
  });

  it('honours explicit offsets and leaves the gaps untouched (i32)', async () => {
    const comms = newWorld();
    // Rank s sends (s + 1) elements to every rank, valued 100 * s + d; blocks land 10 apart.
    const recvs = comms.map((c) => Tensor.from(new Int32Array(40).fill(-1), [40], { dtype: 'i32', stream: c.defaultStream }));
    comms.forEach((c, s) => {
      const data = comms.flatMap((_, d) => Array<number>(s + 1).fill(100 * s + d));
      const send = Tensor.from(data, [data.length], { dtype: 'i32', stream: c.defaultStream });
      c.allToAllV(send, comms.map(() => s + 1), recvs[s]!, comms.map((_, p) => p + 1), {
        recvOffsets: [0, 10, 20, 30],
      });
    });
    await syncAll(comms);
    for (const [d, c] of comms.entries()) {
      const expected = new Int32Array(40).fill(-1);
      for (let s = 0; s < NUM_RANKS; s++) expected.fill(100 * s + d, 10 * s, 10 * s + s + 1);
      expect(await read(c, recvs[d]!)).toEqual(expected);
    }
  });
});

describe('local allGather, allReduce, broadcast, reduce', () => {
  it('allGather concatenates every rank in rank order', async () => {
    const comms = newWorld();
    const random = seeded(11);
    const sends = comms.map(() => Float32Array.from({ length: 37 }, () => random()));
    const recvs = comms.map(() => Tensor.empty([37 * NUM_RANKS]));
    comms.forEach((c, r) => c.allGather(f32(c, sends[r]!), recvs[r]!));
    await syncAll(comms);
    const expected = Float32Array.from(sends.flatMap((s) => [...s]));
    for (const [r, c] of comms.entries()) expect(await read(c, recvs[r]!)).toEqual(expected);
  });

  it.each([1003, 3, 0])('allReduce of %i elements is the rank-order fp32 sum on every rank', async (n) => {
    const comms = newWorld();
    const random = seeded(n + 1);
    const inputs = comms.map(() => awkwardValues(random, n));
    const tensors = comms.map((c, r) => f32(c, inputs[r]!));
    comms.forEach((c, r) => c.allReduce(tensors[r]!));
    await syncAll(comms);
    const expected = sumInOrder(inputs);
    for (const [r, c] of comms.entries()) expect(Buffer.from((await read(c, tensors[r]!)).buffer)).toEqual(Buffer.from(expected.buffer));
  });

  it('broadcast and reduce over random subsets reach members only', async () => {
    const comms = newWorld();
    const random = seeded(3);
    for (let round = 0; round < 12; round++) {
      const root = randInt(random, NUM_RANKS);
      const members = randomMembers(random, NUM_RANKS, root);
      // Members are passed unsorted on odd rounds: order must not matter.
      const given = round % 2 === 1 ? [...members].reverse() : members;
      const n = 1 + randInt(random, 300);
      const inputs = comms.map(() => awkwardValues(random, n));
      const tensors = comms.map((c, r) => f32(c, inputs[r]!));
      const isReduce = round % 2 === 0;
      comms.forEach((c, r) => (isReduce ? c.reduce(tensors[r]!, { root, members: given }) : c.broadcast(tensors[r]!, { root, members: given })));
      await syncAll(comms);
      const reduced = sumInOrder(members.map((m) => inputs[m]!));
      for (const [r, c] of comms.entries()) {
        let expected = inputs[r]!;
        if (isReduce && r === root) expected = reduced;
        if (!isReduce && members.includes(r)) expected = inputs[root]!;
        expect(Buffer.from((await read(c, tensors[r]!)).buffer), `round ${round} rank ${r}`).toEqual(Buffer.from(expected.buffer));
      }
    }
  });

  it('pairs collectives by call order across streams, many queued without waiting', async () => {
    const comms = newWorld();
    const second = comms.map((c) => c.defaultStream.device.createStream());
    const sums = comms.map((c, r) => f32(c, [r, 10 * r]));
    const gathered = comms.map(() => Tensor.empty([NUM_RANKS]));
    const mine = comms.map((c, r) => f32(c, [r + 0.5]));
    await syncAll(comms);
    for (let i = 0; i < 20; i++) {
      comms.forEach((c, r) => {
        c.allReduce(sums[r]!);
        c.barrier();
      });
    }
    // Queued on a second stream per rank: pairs with the peers' call of the same order.
    comms.forEach((c, r) => c.allGather(mine[r]!, gathered[r]!, { stream: second[r]! }));
    await Promise.all([...second.map((s) => s.synchronize()), syncAll(comms)]);
    for (const [r, c] of comms.entries()) {
      expect(await read(c, sums[r]!)).toEqual(Float32Array.from([6 * 4 ** 19, 60 * 4 ** 19]));
      expect(await read(c, gathered[r]!)).toEqual(Float32Array.from([0.5, 1.5, 2.5, 3.5]));
    }
    for (const s of second) s.dispose();
  });
});

describe('local edge cases', () => {
  it('a world of one rank copies to itself', async () => {
    world = createLocalWorld(1);
    const [c] = world as [Communicator];
    const send = f32(c, [1, 2, 3]);
    const recv = Tensor.empty([3]);
    const sum = f32(c, [0.1, 0.2]);
    c.allToAllV(send, [3], recv, [3]);
    c.allReduce(sum);
    c.reduce(sum, { root: 0, members: [0] });
    c.barrier();
    await c.defaultStream.synchronize();
    expect(await read(c, recv)).toEqual(Float32Array.from([1, 2, 3]));
    expect(await read(c, sum)).toEqual(Float32Array.from([0.1, 0.2]));
  });

  it('a root-only subset touches nobody else; other ranks skip it', async () => {
    const comms = newWorld();
    const tensors = comms.map((c, r) => f32(c, [r, r]));
    comms.forEach((c, r) => c.broadcast(tensors[r]!, { root: 2, members: [2] }));
    comms.forEach((c, r) => c.allReduce(tensors[r]!)); // still pairs up: sequence numbers agree
    await syncAll(comms);
    for (const [r, c] of comms.entries()) expect(await read(c, tensors[r]!)).toEqual(Float32Array.from([6, 6]));
  });
});

describe('local failures', () => {
  it('a rank that never calls gives ETIMEDOUT on every waiting rank, then ECOMM', async () => {
    const comms = newWorld(250);
    const tensors = comms.map((c) => f32(c, [1, 2, 3]));
    await syncAll(comms);
    const started = Date.now();
    comms.slice(0, 3).forEach((c, r) => c.allReduce(tensors[r]!));
    const results = await Promise.allSettled(comms.slice(0, 3).map((c) => c.defaultStream.synchronize()));
    expect(Date.now() - started).toBeLessThan(5_000);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      const error = (result as PromiseRejectedResult).reason as ProphetError;
      expect(error).toBeInstanceOf(ProphetError);
      expect(error.code).toBe('ETIMEDOUT');
      expect(error.message).toMatch(/allReduce #0 timed out after 250 ms .*ranks \[3\] never arrived/);
    }
    // The world is poisoned: rank 3's late call and any later call fail at once with ECOMM.
    comms.forEach((c, r) => c.barrier({ timeoutMs: 60_000 }));
    const later = await Promise.allSettled(comms.map((c) => c.defaultStream.synchronize()));
    for (const result of later) {
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'ECOMM', message: expect.stringMatching(/unusable after an earlier failure/) });
    }
  });

  it('mismatched collectives fail with ECOMM on every rank', async () => {
    const comms = newWorld();
    const tensors = comms.map((c) => f32(c, [1, 2]));
    comms.forEach((c, r) => (r === 2 ? c.broadcast(tensors[r]!, { root: 0 }) : c.allReduce(tensors[r]!)));
    const results = await Promise.allSettled(comms.map((c) => c.defaultStream.synchronize()));
    for (const result of results) {
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'ECOMM', message: expect.stringMatching(/mismatched calls: .*called/) });
    }
  });

  it('members that differ between ranks fail with ECOMM', async () => {
    const comms = newWorld();
    const tensors = comms.map((c) => f32(c, [1]));
    comms.forEach((c, r) => c.broadcast(tensors[r]!, { root: 0, members: r === 1 ? [0, 1] : [0, 1, 2, 3] }));
    const results = await Promise.allSettled(comms.map((c) => c.defaultStream.synchronize()));
    const codes = results.map((x) => (x.status === 'rejected' ? (x.reason as ProphetError).code : 'ok'));
    // Whoever arrives second among ranks 0 and 1 sees the other list; every rank that waited fails.
    expect(codes.filter((code) => code === 'ECOMM').length).toBeGreaterThanOrEqual(2);
    expect(codes.every((code) => code === 'ECOMM')).toBe(true);
  });

  it('mismatched all-to-all splits fail with ECOMM naming the ranks', async () => {
    const comms = newWorld();
    comms.forEach((c, r) => {
      const recvCounts = r === 1 ? [1, 1, 2, 1] : [1, 1, 1, 1];
      c.allToAllV(f32(c, [0, 0, 0, 0]), [1, 1, 1, 1], Tensor.empty([5]), recvCounts);
    });
    const results = await Promise.allSettled(comms.map((c) => c.defaultStream.synchronize()));
    for (const result of results) {
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'ECOMM', message: expect.stringMatching(/rank 2 sends 4 bytes to rank 1, which expects 8/) });
    }
  });
});

describe('local argument errors', () => {
  it('name the argument and what was expected', () => {
    const [c] = newWorld();
    const t = Tensor.zeros([4]);
    const i = Tensor.zeros([4], { dtype: 'i32' });
    expect(() => createLocalWorld(0)).toThrow(new RangeError('Expected integer in [1, 1024] for numRanks but received 0 of type number'));
    expect(() => createLocalWorld(2, { timeoutMs: 0 })).toThrow(new RangeError(`Expected integer in [1, 2147483647] for options.timeoutMs but received 0 of type number`));
    expect(() => c!.allToAllV(t, [1, 1, 1], Tensor.zeros([4]), [1, 1, 1, 1])).toThrow(RangeError);
    expect(() => c!.allToAllV(t, [1, 1, 1], Tensor.zeros([4]), [1, 1, 1, 1])).toThrow(/for sendCounts but received \[1, 1, 1\]/);
    expect(() => c!.allToAllV(t, [1, 1, 1, -1], Tensor.zeros([4]), [1, 1, 1, 1])).toThrow('Expected integer >= 0 for sendCounts[3] but received -1 of type number');
    expect(() => c!.allToAllV(t, [2, 1, 1, 1], Tensor.zeros([4]), [1, 1, 1, 1])).toThrow('Expected a tensor of at least 5 elements (block of rank 3) for send but received "4 elements" of type string');
    expect(() => c!.allToAllV(t, [1, 1, 1, 1], i, [1, 1, 1, 1])).toThrow("Expected 'f32' (the dtype of send) for recv.dtype");
    expect(() => c!.allToAllV(t, [1, 1, 1, 1], t, [1, 1, 1, 1])).toThrow('Expected a tensor other than send for recv');
    expect(() => c!.allToAllV([] as unknown as Tensor, [1, 1, 1, 1], t, [1, 1, 1, 1])).toThrow(TypeError);
    expect(() => c!.allGather(t, Tensor.zeros([15]))).toThrow('Expected a tensor of 16 elements (size * send.numel) for recv');
    expect(() => c!.broadcast(t, { root: 4 })).toThrow('Expected integer in [0, 3] for options.root but received 4 of type number');
    expect(() => c!.broadcast(t, { root: 1, members: [0, 2] })).toThrow('Expected ranks that include the root 1 for options.members but received [0, 2] of type array');
    expect(() => c!.reduce(t, { root: 0, members: [0, 0] })).toThrow('Expected distinct ranks for options.members');
    expect(() => c!.reduce(i as unknown as Tensor<'f32'>, { root: 0 })).toThrow("Expected 'f32' for tensor.dtype but received \"i32\" of type string");
    expect(() => c!.allReduce(t, { timeoutMs: 1.5 })).toThrow(RangeError);
    expect(() => c!.allReduce(t, { stream: 'x' as never })).toThrow('Expected Stream for options.stream');
  });

  it('a disposed communicator refuses work with EDISPOSED', () => {
    const [c] = newWorld();
    c!.dispose();
    expect(c!.disposed).toBe(true);
    expect(() => c!.barrier()).toThrow(expect.objectContaining({ code: 'EDISPOSED' }));
  });
});
