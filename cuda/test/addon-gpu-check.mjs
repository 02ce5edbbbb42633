// GPU checks of the addon itself (JavaScript -> N-API -> CUDA backend / NCCL), for a GPU machine
// with Node; gpu-check.sh runs it after building the CUDA library when `node` (or $PROPHET_NODE)
// is present. Each check compares with a plain JavaScript reference or a known error code.
//
//   PROPHET_CUDA_LIBRARY=build/cuda-check/lib/libprophet_cuda.so node cuda/test/addon-gpu-check.mjs
//
// Needs the compiled package (dist/, build/Release/prophet.node). NCCL checks need libnccl.so.2
// (found as the product finds it: PROPHET_NCCL_LIBRARY, NCCL_HOME, the Python wheel...). One GPU
// allows only one-rank NCCL communicators, so the collectives are checked at world size 1, and
// the watchdog through calls given a timeout far shorter than their copy takes.
import { setTimeout as sleep } from 'node:timers/promises';

const root = new URL('../../', import.meta.url);
const p = await import(new URL('dist/src/index.js', root).href);

let passed = 0;
let failed = 0;
let skipped = 0;
function report(ok, name, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
}
async function check(name, body) {
  try {
    const detail = await body();
    report(true, name, typeof detail === 'string' ? detail : '');
  } catch (error) {
    if (error?.skip === true) {
      skipped++;
      console.log(`SKIP ${name}: ${error.message}`);
      return;
    }
    report(false, name, `${error?.code ?? ''} ${error?.message ?? error}`.trim());
  }
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}
function close(actual, expected, tolerance, what) {
  assert(actual.length === expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(1, Math.abs(expected[i]));
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance * scale)) {
      throw new Error(`${what}[${i}] = ${actual[i]}, expected ${expected[i]}`);
    }
  }
}
function random(n, seed) {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}
// Rejects with a timeout error instead of hanging the whole check.
function within(ms, promise, what) {
  return Promise.race([promise, sleep(ms).then(() => { throw new Error(`${what}: no answer within ${ms} ms`); })]);
}

// --- the CUDA backend from JavaScript -------------------------------------------------------
const report0 = p.backends();
await check('backends() reports CUDA', () => {
  assert(report0.cuda.available, `cuda unavailable: ${report0.cuda.reason}`);
  return JSON.stringify(report0.cuda.devices?.[0] ?? {});
});
if (!report0.cuda.available) {
  console.log(`addon-gpu-check: ${passed} passed, ${failed} failed`);
  process.exit(1);
}
const cuda = p.Device.cuda(0);
const cpu = p.Device.cpu();

await check('tensor round trip through device memory', async () => {
  const data = random(1000, 1);
  const t = p.Tensor.from(data, [1000], { device: cuda });
  close(await t.toArray(), data, 0, 'round trip');
  t.dispose();
});

await check('matmul on CUDA against plain JS', async () => {
  const [m, n, k] = [33, 17, 29];
  const a = random(m * k, 2), b = random(k * n, 3);
  const c = p.matmul(p.Tensor.from(a, [m, k], { device: cuda }), p.Tensor.from(b, [k, n], { device: cuda }));
  const expected = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let l = 0; l < k; l++) expected[i * n + j] += a[i * k + l] * b[l * n + j];
  close(await c.toArray(), expected, 1e-4, 'c');
});

await check('gating on CUDA equals gating on the CPU', async () => {
  const [T, E] = [257, 16];
  const logits = random(T * E, 4);
  const run = async (device) => {
    const g = p.gating(p.Tensor.from(logits, [T, E], { device }), { k: 2 });
    await device.defaultStream.synchronize();
    const out = { index: await g.expertIndex.toArray(), weight: await g.weight.toArray(), counts: await g.countsPerExpert.toArray() };
    p.disposeGating(g);
    return out;
  };
  const [gpu, host] = [await run(cuda), await run(cpu)];
  assert(gpu.index.every((v, i) => v === host.index[i]), 'expert indices differ');
  assert(gpu.counts.every((v, i) => v === host.counts[i]), 'counts differ');
  close(gpu.weight, host.weight, 1e-6, 'weight');
});

await check('an nn op on CUDA fails with ENOTSUP (family not built for CUDA)', async () => {
  const a = p.Tensor.from(random(8, 5), [8], { device: cuda });
  try {
    p.add(a, a);
    await cuda.defaultStream.synchronize();
  } catch (error) {
    assert(error.code === 'ENOTSUP', `code ${error.code}: ${error.message}`);
    return error.message;
  }
  throw new Error('no error');
});

// --- NCCL, one rank ----------------------------------------------------------------------
let nccl;
await check('loadNccl() finds libnccl.so.2', () => {
  nccl = p.loadNccl();
  return `${nccl.version} at ${nccl.path}, commSplit ${nccl.hasCommSplit}`;
});
if (nccl !== undefined) {
  let comm;
  await check('ncclInitRank + createNcclCommunicator (1 rank)', async () => {
    const raw = await within(60_000, p.ncclInitRank({ uniqueId: nccl.uniqueId(), rank: 0, size: 1, device: 0 }), 'ncclInitRank');
    comm = p.createNcclCommunicator(raw, { device: 0, timeoutMs: 30_000 });
    assert(raw.destroyed, 'the NcclComm reads as destroyed once taken over');
    assert(comm.backend === 'nccl' && comm.rank === 0 && comm.size === 1, 'rank/size/backend');
  });
  if (comm !== undefined) {
    const stream = comm.defaultStream;
    const data = random(1024, 6);
    const onGpu = (values) => p.Tensor.from(values, [values.length], { device: cuda, stream });
    await check('allToAllV to self', async () => {
      const send = onGpu(data), recv = onGpu(new Float32Array(1024));
      comm.allToAllV(send, [1024], recv, [1024]);
      await within(30_000, stream.synchronize(), 'synchronize');
      close(await recv.toArray({ stream }), data, 0, 'recv');
    });
    await check('allToAllV with offsets', async () => {
      const send = onGpu(data), recv = onGpu(new Float32Array(1024));
      comm.allToAllV(send, [100], recv, [100], { sendOffsets: [10], recvOffsets: [500] });
      await within(30_000, stream.synchronize(), 'synchronize');
      const got = await recv.toArray({ stream });
      close(got.subarray(500, 600), data.subarray(10, 110), 0, 'block');
      assert(got[499] === 0 && got[600] === 0, 'outside the block untouched');
    });
    await check('allGather, broadcast, reduce, allReduce, barrier (1 rank)', async () => {
      const send = onGpu(data), gathered = onGpu(new Float32Array(1024));
      comm.allGather(send, gathered);
      const b = onGpu(data), r = onGpu(data), a = onGpu(data);
      comm.broadcast(b, { root: 0, members: [0] });
      comm.reduce(r, { root: 0 });
      comm.allReduce(a);
      comm.barrier();
      await within(30_000, stream.synchronize(), 'synchronize');
      for (const [name, t] of [['allGather', gathered], ['broadcast', b], ['reduce', r], ['allReduce', a]]) {
        close(await t.toArray({ stream }), data, 0, name);
      }
    });
    await check('a CPU tensor is refused with a RangeError naming it', () => {
      try {
        comm.allReduce(p.Tensor.from(data, [1024]));
      } catch (error) {
        assert(error instanceof RangeError && error.message.includes('tensor.device'), error.message);
        return error.message;
      }
      throw new Error('no error');
    });
    await check('watchdog: calls running past their timeout are aborted; synchronize rejects ETIMEDOUT, then ECOMM', async () => {
      // 8 GiB each way through NCCL's self send/receive takes milliseconds; a 1 ms timeout
      // cannot be met, so the watchdog must abort the communicator mid-copy and the stream drain.
      const numel = 2 ** 31;
      const big = p.Tensor.empty([numel], { device: cuda }), bigOut = p.Tensor.empty([numel], { device: cuda });
      await within(30_000, stream.synchronize(), 'synchronize before');
      const started = Date.now();
      for (let i = 0; i < 3; i++) comm.allToAllV(big, [numel], bigOut, [numel], { timeoutMs: 1 });
      const queuedMs = Date.now() - started;
      const outcome = await within(30_000, stream.synchronize().then(() => null, (e) => e), 'synchronize after the timeout');
      const elapsed = Date.now() - started;
      if (outcome === null && queuedMs >= 0.8 * elapsed) {
        // NCCL ran the copies inside ncclGroupEnd: nothing was left for the watchdog to see.
        throw Object.assign(new Error(`not exercisable here: the three calls took ${queuedMs} of ${elapsed} ms to queue`), { skip: true });
      }
      assert(outcome !== null, `all three 8 GiB calls finished within their 1 ms timeouts (queued in ${queuedMs} ms, done in ${elapsed} ms)`);
      assert(outcome.code === 'ETIMEDOUT', `code ${outcome.code}: ${outcome.message}`);
      let later;
      try {
        comm.allReduce(onGpu(data));
      } catch (error) {
        later = error;
      }
      assert(later?.code === 'ECOMM', `the next call: ${later?.code} ${later?.message}`);
      big.dispose();
      bigOut.dispose();
      return `ETIMEDOUT after ${elapsed} ms (${outcome.message}); next call ${later.code}: ${later.message}`;
    });
    await check('a receive that no send matches is refused by NCCL when queued (ECOMM)', async () => {
      // A fresh communicator: the one above is aborted by now.
      const raw = await within(60_000, p.ncclInitRank({ uniqueId: nccl.uniqueId(), rank: 0, size: 1, device: 0 }), 'ncclInitRank');
      const fresh = p.createNcclCommunicator(raw, { device: 0 });
      const send = onGpu(data), recv = onGpu(new Float32Array(1024));
      try {
        fresh.allToAllV(send, [0], recv, [256]);
      } catch (error) {
        assert(error.code === 'ECOMM', `code ${error.code}`);
        return error.message;
      } finally {
        fresh.dispose();
      }
      throw new Error('queued without error');
    });
    comm.dispose();
  }
}

console.log(`addon-gpu-check: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 ? 0 : 1);
