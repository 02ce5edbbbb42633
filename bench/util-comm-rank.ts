/**
 * One rank of the multi-process part of the comm benchmark (spawned by bench/comm.ts; the `util`
 * prefix keeps it off the benchmark list). argv: rank size storePort prefix bytes[,bytes...]
 * Prints one JSON line: { rank, seconds: [per-iteration seconds for each size] }.
 */
import { createGlooCommunicator } from '../src/comm/gloo.js';
import { Tensor } from '../src/runtime/tensor.js';

const TARGET_SECONDS = 0.1;

async function main(): Promise<void> {
  const [rank, size, port] = process.argv.slice(2, 5).map(Number) as [number, number, number];
  const prefix = process.argv[5] ?? 'bench';
  const sizes = (process.argv[6] ?? '').split(',').map(Number);
  const comm = await createGlooCommunicator({ rank, size, storeHost: '127.0.0.1', storePort: port, timeoutMs: 120_000, prefix });
  const stream = comm.defaultStream;
  const seconds: number[] = [];
  for (const bytes of sizes) {
    const numel = bytes / 4;
    const counts = Array<number>(size).fill(numel / size);
    const send = Tensor.zeros([numel], { stream });
    const recv = Tensor.zeros([numel], { stream });
    const timed = async (iters: number) => {
      comm.barrier();
      await stream.synchronize();
      const started = performance.now();
      for (let i = 0; i < iters; i++) comm.allToAllV(send, counts, recv, counts);
      comm.barrier(); // every rank's time covers the slowest rank
      await stream.synchronize();
      return (performance.now() - started) / 1000 / iters;
    };
    // Every rank must run the same number of iterations: rank 0's calibration is shared by an
    // all-reduce of the counts (rank 0's value, others 0).
    const warm = await timed(1);
    const proposal = Tensor.from([rank === 0 ? Math.max(2, Math.min(50, Math.round(TARGET_SECONDS / warm))) : 0], [1], { stream });
    comm.allReduce(proposal);
    const iters = ((await proposal.toArray({ stream })) as Float32Array)[0] ?? 2;
    let best = Infinity;
    for (let repeat = 0; repeat < 3; repeat++) best = Math.min(best, await timed(iters));
    seconds.push(best);
    send.dispose();
    recv.dispose();
  }
  console.log(JSON.stringify({ rank, seconds }));
  comm.dispose();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
