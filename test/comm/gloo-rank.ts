/**
 * One rank of the multi-process tests (run by gloo.test.ts as a child `node` process, after
 * transpiling), started one of two ways:
 *  - directly, argv: rank size storePort prefix scenario (the communicator comes from
 *    createGlooCommunicator against the test's store);
 *  - by `prophet launch` (RANK set), argv: scenario (the communicator comes from
 *    initProcessGroup({ backend: 'gloo' }), which reads the launcher's environment).
 * Every rank derives all ranks' inputs from fixed seeds, so it checks its own results against
 * the plain reference itself. Prints one JSON line: { rank, ok, failures, error?: { code,
 * message }, elapsedMs? }.
 */
import { createGlooCommunicator } from '../../src/comm/gloo.js';
import type { Communicator } from '../../src/comm/communicator.js';
import { initProcessGroup } from '../../src/comm/process-group.js';
import { Tensor } from '../../src/runtime/tensor.js';
import { allToAllVReference, awkwardValues, randInt, randomMembers, seeded, sumInOrder } from './reference.js';

const launched = process.env.RANK !== undefined;
const argv = process.argv.slice(2);
const scenario = (launched ? argv[0] : argv[4]) ?? 'collectives';
const failures: string[] = [];
// Per-call timeout of the 'killed' scenario (ms).
const killedTimeoutMs = 2000;

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
  const { rank, size } = comm;
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

// The last rank never calls (stays alive, or exits); the others must fail in time.
async function absent(comm: Communicator): Promise<void> {
  if (comm.rank === comm.size - 1) {
    if (scenario === 'absent') await new Promise((r) => setTimeout(r, 2000));
    return;
  }
  const t = Tensor.from([1, 2, 3], [3], { stream: comm.defaultStream });
  comm.allReduce(t, { timeoutMs: 700 });
  await comm.defaultStream.synchronize();
  failures.push('allReduce without the last rank succeeded');
}

// Every rank loops a 4 MiB all-to-all-v; after a few rounds the last rank SIGKILLs itself with
// its next one under way. The others must fail that round (or the next) with ETIMEDOUT or
// ECOMM; the thrown error carries `elapsedMs`, the time since that round was enqueued.
async function killed(comm: Communicator): Promise<void> {
  const numel = 1 << 20;
  const counts = Array<number>(comm.size).fill(numel / comm.size);
  const send = Tensor.zeros([numel], { stream: comm.defaultStream });
  const recv = Tensor.zeros([numel], { stream: comm.defaultStream });
  // The launcher answers the death with SIGTERM to everyone else; staying alive (until its
  // SIGKILL after the grace period) lets this rank see and report its own failure.
  process.on('SIGTERM', () => {});
  for (let round = 0; round < 1000; round++) {
    const started = Date.now();
    comm.allToAllV(send, counts, recv, counts, { timeoutMs: killedTimeoutMs });
    if (round === 5 && comm.rank === comm.size - 1) process.kill(process.pid, 'SIGKILL');
    try {
      await comm.defaultStream.synchronize();
    } catch (error) {
      throw Object.assign(error as Error, { elapsedMs: Date.now() - started });
    }
  }
  failures.push('1000 rounds passed without the killed rank');
}

interface Connection {
  comm: Communicator;
  /** Leaves in order (all ranks do it after a success). */
  close(): Promise<void>;
}

async function connect(): Promise<Connection> {
  if (launched) {
    const group = await initProcessGroup({ backend: 'gloo' });
    return { comm: group.communicator, close: () => group.destroy() };
  }
  const [rank, size, port] = argv.slice(0, 3).map(Number) as [number, number, number];
  const declaredSize = scenario === 'wrong-size' && rank === size - 1 ? size + 1 : size;
  const comm = await createGlooCommunicator({ rank, size: declaredSize, storeHost: '127.0.0.1', storePort: port, timeoutMs: scenario === 'wrong-size' ? 1500 : 20_000, prefix: argv[3] ?? 'test' });
  return { comm, close: async () => comm.dispose() };
}

async function main(): Promise<void> {
  const rank = Number(launched ? process.env.RANK : argv[0]);
  let connection: Connection | undefined;
  let failed = true;
  try {
    connection = await connect();
    const { comm } = connection;
    if (scenario === 'collectives') await collectives(comm);
    if (scenario === 'absent' || scenario === 'exit') await absent(comm);
    if (scenario === 'killed') await killed(comm);
    failed = failures.length > 0;
    console.log(JSON.stringify({ rank, ok: !failed, failures }));
  } catch (error) {
    const e = error as { code?: string; message?: string; elapsedMs?: number };
    console.log(JSON.stringify({ rank, ok: false, failures, error: { code: e.code, message: e.message }, elapsedMs: e.elapsedMs }));
  } finally {
    // After a failure a peer may be gone for good: only free the communicator, because an
    // orderly leave would have rank 0 wait for that peer at the store.
    if (failed) connection?.comm.dispose();
    else await connection?.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
