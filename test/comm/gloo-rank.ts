/**
 * One rank of the multi-process tests (run by gloo.test.ts as a child `node` process,
 * after transpiling). argv: rank size storePort prefix scenario. Every rank derives all ranks'
 * inputs from fixed seeds, so it checks its own results against the plain reference itself.
 * Prints one JSON line: { rank, ok, failures, error?: { code, message } }.
 */
import { createGlooCommunicator } from '../../src/comm/gloo.js';
import type { Communicator } from '../../src/comm/communicator.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { allToAllVReference, awkwardValues, randInt, randomMembers, seeded, sumInOrder } from './reference.js';

const [rank, size, port] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const prefix = process.argv[5] ?? 'test';
const scenario = process.argv[6] ?? 'collectives';
const failures: string[] = [];

function same(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  const a = Buffer.from(Float32Array.from(actual).buffer);
  const e = Buffer.from(Float32Array.from(expected).buffer);
  if (!a.equals(e)) failures.push(`${name}: got [${Array.from(actual).slice(0, 8)}…] expected [${Array.from(expected).slice(0, 8)}…]`);
}

async function read(comm: Communicator, t: Tensor): Promise<Float32Array> {
  if (t.numel === 0) return new Float32Array(0);
  return (await t.toArray({ stream: comm.defaultStream })) as Float32Array;
}

async function collectives(comm: Communicator): Promise<void> {
  const random = seeded(42); // the same sequence on every rank
  const s = comm.defaultStream;
  // allToAllV on random uneven splits, with zero-length blocks.
  for (let round = 0; round < 3; round++) {
    const counts = [...Array(size)].map((_, a) => [...Array(size)].map((__, b) => (round === 0 && a === b ? 0 : randInt(random, 3) === 0 ? 0 : randInt(random, 40))));
    const sends = counts.map((row) => Float32Array.from({ length: row.reduce((x, y) => x + y, 0) }, () => random()));
    const expected = allToAllVReference(sends, counts)[rank]!;
    const recv = Tensor.empty([expected.length]);
    comm.allToAllV(Tensor.from(sends[rank]!, [sends[rank]!.length], { stream: s }), counts[rank]!, recv, counts.map((row) => row[rank]!));
    await s.synchronize();
    same(`allToAllV round ${round}`, await read(comm, recv), expected);
  }
  // allGather.
  const pieces = [...Array(size)].map(() => awkwardValues(random, 17));
  const gathered = Tensor.empty([17 * size]);
  comm.allGather(Tensor.from(pieces[rank]!, [17], { stream: s }), gathered);
  // allReduce (uneven slices: 101 elements).
  const inputs = [...Array(size)].map(() => awkwardValues(random, 101));
  const reduced = Tensor.from(inputs[rank]!, [101], { stream: s });
  comm.allReduce(reduced);
  await s.synchronize();
  same('allGather', await read(comm, gathered), pieces.flatMap((p) => [...p]));
  same('allReduce', await read(comm, reduced), sumInOrder(inputs));
  // Collectives on two streams at once pair up by call order.
  const second = s.device.createStream();
  for (let round = 0; round < 5; round++) {
    const summed = [...Array(size)].map(() => awkwardValues(random, 64));
    const parts = [...Array(size)].map(() => awkwardValues(random, 9));
    const a = Tensor.from(summed[rank]!, [64], { stream: s });
    const b = Tensor.from(parts[rank]!, [9], { stream: second });
    const all = Tensor.empty([9 * size]);
    comm.allReduce(a);
    comm.allGather(b, all, { stream: second });
    await Promise.all([s.synchronize(), second.synchronize()]);
    same(`two streams round ${round} allReduce`, await read(comm, a), sumInOrder(summed));
    same(`two streams round ${round} allGather`, await read(comm, all), parts.flatMap((p) => [...p]));
  }
  second.dispose();
  // broadcast / reduce over random subsets; non-members keep their data.
  for (let round = 0; round < 6; round++) {
    const root = randInt(random, size);
    const members = randomMembers(random, size, root);
    const data = [...Array(size)].map(() => awkwardValues(random, 33));
    const t = Tensor.from(data[rank]!, [33], { stream: s });
    const isReduce = round % 2 === 0;
    if (isReduce) comm.reduce(t, { root, members });
    else comm.broadcast(t, { root, members });
    comm.barrier();
    await s.synchronize();
    let expected = data[rank]!;
    if (isReduce && rank === root) expected = sumInOrder(members.map((m) => data[m]!));
    if (!isReduce && members.includes(rank)) expected = data[root]!;
    same(`${isReduce ? 'reduce' : 'broadcast'} round ${round} root ${root} members [${members}]`, await read(comm, t), expected);
  }
}

async function main(): Promise<void> {
  const declaredSize = scenario === 'wrong-size' && rank === size - 1 ? size + 1 : size;
  let comm: Communicator | undefined;
  try {
    comm = await createGlooCommunicator({ rank, size: declaredSize, storeHost: '127.0.0.1', storePort: port, timeoutMs: scenario === 'wrong-size' ? 1500 : 20_000, prefix });
    if (scenario === 'collectives') await collectives(comm);
    if (scenario === 'absent' || scenario === 'exit') {
      // The last rank never calls (stays alive, or exits); the others must fail in time.
      if (rank === size - 1) {
        if (scenario === 'absent') await new Promise((r) => setTimeout(r, 2000));
      } else {
        const t = Tensor.from([1, 2, 3], [3], { stream: comm.defaultStream });
        comm.allReduce(t, { timeoutMs: 700 });
        await comm.defaultStream.synchronize();
        failures.push('allReduce without the last rank succeeded');
      }
    }
    console.log(JSON.stringify({ rank, ok: failures.length === 0, failures }));
  } catch (error) {
    const e = error as { code?: string; message?: string };
    console.log(JSON.stringify({ rank, ok: false, failures, error: { code: e.code, message: e.message } }));
  } finally {
    comm?.dispose();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
