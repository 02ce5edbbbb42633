/**
 * Communicator benchmark: all-to-all-v bandwidth of the `local` backend at 4 ranks, as a ratio to
 * plain memcpy of the same bytes measured in the same run (and the multi-process backend beside
 * it when the addon was built with one).
 *
 * Definitions (per message size `bytes` = what each rank sends in total, split evenly among the
 * ranks, itself included):
 *  - gbps: bytes / seconds per all-to-all-v, i.e. per-rank bandwidth (1 GB = 1e9 bytes).
 *  - memcpy_gbps: the same for plain memcpys of the same bytes: each rank's stream copies the
 *    same blocks from the same peers' send buffers into its receive buffer, in the same order,
 *    with no rendezvous (W ranks at once, like the exchange). The ratio is then the cost of the
 *    communicator itself. For transparency, stderr also shows a copy of one whole own buffer per
 *    rank (better cache locality, no cross-core reads).
 *  - ratio: gbps / memcpy_gbps. Target >= 0.7 from 1 MiB up.
 *  - backend 'gloo' rows (when the addon has Gloo): W processes on loopback TCP, each time
 *    covering the slowest rank; memcpy_gbps is the local rows' reference of the same size.
 * Each figure is the best of a few repeats (a shared machine is noisy), each repeat timing enough
 * back-to-back iterations to fill about 0.05 s; repeats alternate between the two workloads.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createLocalWorld } from '../src/comm/local.js';
import type { Communicator } from '../src/comm/communicator.js';
import { glooAvailable } from '../src/comm/gloo.js';
import { startStoreServer } from '../src/comm/store-server.js';
import { addon } from '../src/native.js';
import { Tensor } from '../src/runtime/tensor.js';
import type { Benchmark, BenchmarkResult } from './types.js';

const NUM_RANKS = 4;
const KIB = 1024;
const SIZES = [64 * KIB, 256 * KIB, 1024 * KIB, 4096 * KIB, 16384 * KIB, 65536 * KIB];
const NUM_REPEATS = 5;
const TARGET_SECONDS = 0.05;

type Row = { backend: string; ranks: number; bytes: number; gbps: number; memcpy_gbps: number; ratio: number };

/** Seconds per iteration of `enqueue` (queued `iters` times on every rank, then awaited). */
async function timeOnce(comms: Communicator[], iters: number, enqueue: (rank: number) => void): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < iters; i++) comms.forEach((_, r) => enqueue(r));
  await Promise.all(comms.map((c) => c.defaultStream.synchronize()));
  return (performance.now() - started) / 1000 / iters;
}

/** Best seconds per iteration of each workload; repeats alternate between them so that both
 * see the same machine load. */
async function timeBest(comms: Communicator[], iters: number, workloads: ((rank: number) => void)[]): Promise<number[]> {
  const best = workloads.map(() => Infinity);
  for (let repeat = 0; repeat < NUM_REPEATS; repeat++) {
    for (const [k, enqueue] of workloads.entries()) best[k] = Math.min(best[k]!, await timeOnce(comms, iters, enqueue));
  }
  return best;
}

/** Iterations that take about TARGET_SECONDS, from one timed warm-up iteration. */
async function calibrate(comms: Communicator[], enqueue: (rank: number) => void): Promise<number> {
  const started = performance.now();
  comms.forEach((_, r) => enqueue(r));
  await Promise.all(comms.map((c) => c.defaultStream.synchronize()));
  const seconds = Math.max((performance.now() - started) / 1000, 1e-6);
  return Math.max(2, Math.min(2000, Math.round(TARGET_SECONDS / seconds)));
}

async function measureLocal(bytes: number): Promise<Row> {
  const comms = createLocalWorld(NUM_RANKS, { timeoutMs: 60_000 });
  const numel = bytes / 4;
  const blockNumel = numel / NUM_RANKS;
  const counts = Array<number>(NUM_RANKS).fill(blockNumel);
  const sends = comms.map((c) => Tensor.zeros([numel], { stream: c.defaultStream }));
  const recvs = comms.map((c) => Tensor.zeros([numel], { stream: c.defaultStream }));
  try {
    const blockBytes = bytes / NUM_RANKS;
    const exchange = (r: number) => comms[r]!.allToAllV(sends[r]!, counts, recvs[r]!, counts);
    // The same blocks as the exchange moves, by plain memcpy, starting at the same peer.
    const copyBlocks = (r: number) => {
      for (let step = 0; step < NUM_RANKS; step++) {
        const p = (r + step) % NUM_RANKS;
        addon().copy(recvs[r]!.storage, p * blockBytes, sends[p]!.storage, r * blockBytes, blockBytes, comms[r]!.defaultStream.native);
      }
    };
    const copyOwn = (r: number) => recvs[r]!.copyFrom(sends[r]!, { stream: comms[r]!.defaultStream });
    const iters = await calibrate(comms, copyBlocks);
    await calibrate(comms, exchange); // warm-up: first touch of the receive pages
    const [memcpySeconds = Infinity, exchangeSeconds = Infinity, ownSeconds = Infinity] = await timeBest(comms, iters, [copyBlocks, exchange, copyOwn]);
    process.stderr.write(`comm:   memcpy of one own buffer per rank: ${(bytes / ownSeconds / 1e9).toFixed(3)} GB/s\n`);
    const gbps = bytes / exchangeSeconds / 1e9;
    const memcpyGbps = bytes / memcpySeconds / 1e9;
    return { backend: 'local', ranks: NUM_RANKS, bytes, gbps, memcpy_gbps: memcpyGbps, ratio: gbps / memcpyGbps };
  } finally {
    for (const t of [...sends, ...recvs]) t.dispose();
    for (const c of comms) c.dispose();
  }
}

/** Per-iteration seconds of a W-process Gloo all-to-all-v for each size (slowest rank). */
async function measureGloo(sizes: readonly number[]): Promise<number[]> {
  const store = await startStoreServer();
  const script = join(dirname(fileURLToPath(import.meta.url)), 'util-comm-rank.js');
  try {
    const outputs = await Promise.all(
      [...Array(NUM_RANKS).keys()].map(
        (rank) =>
          new Promise<number[]>((resolve, reject) => {
            const args = [script, String(rank), String(NUM_RANKS), String(store.port), 'bench', sizes.join(',')];
            const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, OMP_NUM_THREADS: '1' } });
            let out = '';
            child.stdout.on('data', (d: Buffer) => (out += d.toString()));
            child.on('exit', (code) => {
              if (code !== 0) return reject(new Error(`gloo rank ${rank} exited with ${code}`));
              resolve((JSON.parse(out.trim().split('\n').pop() ?? '{}') as { seconds: number[] }).seconds);
            });
          }),
      ),
    );
    return sizes.map((_, k) => Math.max(...outputs.map((o) => o[k] ?? Infinity)));
  } finally {
    await store.close();
  }
}

function parseSizes(args: readonly string[]): number[] {
  const flag = args.indexOf('--sizes');
  const list = flag >= 0 ? args[flag + 1] : undefined;
  if (list === undefined) return SIZES;
  return list.split(',').map((s) => {
    const kib = Number(s);
    if (!Number.isInteger(kib) || kib < 1) throw new RangeError(`Expected KiB counts for --sizes but received ${s}`);
    return kib * KIB;
  });
}

const bench: Benchmark = {
  name: 'comm',
  description: 'local (and multi-process) allToAllV GB/s at 4 ranks vs memcpy of the same bytes',
  async run(args: readonly string[]): Promise<BenchmarkResult> {
    const sizes = parseSizes(args);
    const rows: Row[] = [];
    for (const bytes of sizes) {
      process.stderr.write(`comm: local ${bytes} bytes\n`);
      rows.push(await measureLocal(bytes));
    }
    if (glooAvailable() && !args.includes('--local-only')) {
      process.stderr.write(`comm: gloo, ${NUM_RANKS} processes\n`);
      const seconds = await measureGloo(sizes);
      sizes.forEach((bytes, k) => {
        const memcpyGbps = rows[k]?.memcpy_gbps ?? NaN;
        const gbps = bytes / (seconds[k] ?? Infinity) / 1e9;
        rows.push({ backend: 'gloo', ranks: NUM_RANKS, bytes, gbps, memcpy_gbps: memcpyGbps, ratio: gbps / memcpyGbps });
      });
    }
    return { bench: 'comm', rows };
  },
};

export default bench;
