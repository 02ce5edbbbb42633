import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { readLaunchEnv, type Environment } from '../../src/comm/env.js';
import { initProcessGroup } from '../../src/comm/process-group.js';
import { rendezvous, type Rendezvous } from '../../src/comm/rendezvous.js';
import { StoreClient } from '../../src/comm/store.js';
import { addon } from '../../src/native.js';
import { Tensor } from '../../src/runtime/tensor.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  await new Promise((r) => server.close(r));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

function envOf(rank: number, worldSize: number, port: number): Environment {
  return { RANK: String(rank), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) };
}

// Starts ranks as concurrent calls in this process; settles with each result or error.
async function meet(envs: Environment[], timeoutMs: number): Promise<(Rendezvous | Error)[]> {
  const results = await Promise.all(
    envs.map((env) => rendezvous({ launch: readLaunchEnv(env), timeoutMs }).catch((error: unknown) => error as Error)),
  );
  for (const result of results) if (!(result instanceof Error)) cleanups.push(() => result.close(500));
  return results;
}

describe('rendezvous', () => {
  it('meets 3 ranks, shares the store, and rank 0 stops it after everyone left', async () => {
    const port = await freePort();
    // Start the non-zero ranks first: they must retry until rank 0 listens.
    const late = meet([envOf(1, 3, port), envOf(2, 3, port)], 5000);
    await new Promise((r) => setTimeout(r, 200));
    const [zero] = await meet([envOf(0, 3, port)], 5000);
    const [one, two] = await late;
    for (const r of [zero, one, two]) expect(r).not.toBeInstanceOf(Error);
    const groups = [zero, one, two] as Rendezvous[];
    expect(groups.map((g) => g.server !== undefined)).toEqual([true, false, false]);
    await groups[1]!.store.set('hello', 'from 1');
    expect(await groups[2]!.store.getString('hello')).toBe('from 1');
    await Promise.all(groups.map((g) => g.barrier('b', 2000)));
    await Promise.all(groups.map((g) => g.close(2000)));
    await expect(StoreClient.connect('127.0.0.1', port, { timeoutMs: 100 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  });

  it('names expected vs arrived ranks when WORLD_SIZE is larger than the ranks started', async () => {
    const port = await freePort();
    const start = Date.now();
    // 3 s: long enough for both ranks to check in on a loaded machine (they must be counted),
    // short enough to show the timeout ends the wait.
    const results = await meet([envOf(0, 3, port), envOf(1, 3, port)], 3000);
    expect(Date.now() - start).toBeLessThan(10_000);
    for (const result of results) {
      expect(result).toMatchObject({ code: 'ETIMEDOUT' });
      expect((result as Error).message).toContain(`rendezvous at 127.0.0.1:${port} timed out after 3000 ms: expected WORLD_SIZE=3 ranks, 2 arrived (missing ranks: 2)`);
    }
  });

  it('reports ranks that disagree on WORLD_SIZE', async () => {
    const port = await freePort();
    const [zero, one] = await meet([envOf(0, 2, port), envOf(1, 3, port)], 600);
    expect(one).toMatchObject({ code: 'ECOMM', message: 'WORLD_SIZE mismatch: rank 1 has WORLD_SIZE=3 but rank 0 has WORLD_SIZE=2' });
    expect(zero).toMatchObject({ code: 'ETIMEDOUT' });
  });

  it('reports two processes with one rank', async () => {
    const port = await freePort();
    const results = await meet([envOf(0, 3, port), envOf(1, 3, port), envOf(1, 3, port)], 2000);
    expect(results.filter((r) => r instanceof Error && r.message === 'rank 1 checked in twice: two processes have RANK=1')).toHaveLength(1);
  });

  it('reports a taken MASTER_PORT clearly', async () => {
    const held: Socket[] = [];
    const blocker: Server = createServer((socket) => held.push(socket.resume()));
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => { held.forEach((socket) => socket.destroy()); blocker.close(r); }));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const [zero] = await meet([envOf(0, 2, port)], 500);
    expect(zero).toMatchObject({ code: 'ECOMM' });
    expect((zero as Error).message).toBe(
      `rank 0 could not host the rendezvous store on MASTER_ADDR=127.0.0.1 MASTER_PORT=${port}: ` +
        `store server could not listen on 127.0.0.1:${port}: port ${port} is already in use on 127.0.0.1 (another job or store holds it; pick another MASTER_PORT)`,
    );
  });
});

const hasGloo = typeof Reflect.get(addon(), 'createProcessGroupNative') === 'function';

describe('initProcessGroup', () => {
  it('validates its options', async () => {
    await expect(initProcessGroup({ backend: 'mpi' as 'gloo' })).rejects.toThrow("Expected one of 'gloo', 'nccl' for options.backend but received \"mpi\" of type string");
    await expect(initProcessGroup({ timeoutMs: 0 })).rejects.toThrow('Expected integer >= 1 for options.timeoutMs but received 0');
    await expect(initProcessGroup({ env: { PROPHET_TIMEOUT_MS: 'soon' } })).rejects.toThrow('for environment variable PROPHET_TIMEOUT_MS but received "soon"');
    await expect(initProcessGroup({ env: { RANK: '2', WORLD_SIZE: '2', MASTER_ADDR: 'h', MASTER_PORT: '1' } })).rejects.toThrow(RangeError);
  });

  it.skipIf(hasGloo)('says the multi-process CPU backend is not built, before meeting anyone', async () => {
    const port = await freePort();
    const error = await initProcessGroup({ backend: 'gloo', timeoutMs: 500, env: envOf(0, 2, port) }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ECOMM' });
    expect((error as Error).message).toContain("the multi-process CPU backend ('gloo') is not built into this addon");
    // Nothing was left listening.
    await expect(StoreClient.connect('127.0.0.1', port, { timeoutMs: 100 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  });

  it.runIf(hasGloo)('creates a Gloo group of 2 in-process ranks', async () => {
    const port = await freePort();
    const groups = await Promise.all([0, 1].map((rank) => initProcessGroup({ backend: 'gloo', timeoutMs: 10_000, env: envOf(rank, 2, port) })));
    expect(groups.map((g) => [g.rank, g.worldSize])).toEqual([[0, 2], [1, 2]]);
    // The group's communicator is the typed Communicator: an allReduce against the plain sum.
    const communicators = groups.map((g) => g.communicator);
    const tensors = communicators.map((c) => Tensor.from([c.rank + 1, 10 * (c.rank + 1)], [2], { stream: c.defaultStream }));
    communicators.forEach((c, i) => c.allReduce(tensors[i]!));
    const sums = await Promise.all(communicators.map((c, i) => tensors[i]!.toArray({ stream: c.defaultStream })));
    expect(sums.map((a) => Array.from(a))).toEqual([[3, 30], [3, 30]]);
    await Promise.all(groups.map((g) => g.destroy()));
  });

  it('exchanges the NCCL unique id and fails init with ENCCL on every rank without a GPU', async (context) => {
    let hasNccl = true;
    try {
      (await import('../../src/comm/nccl.js')).loadNccl();
    } catch {
      hasNccl = false;
    }
    const { existsSync } = await import('node:fs');
    if (!hasNccl || existsSync('/dev/nvidia0')) context.skip('needs NCCL installed and no GPU');
    const port = await freePort();
    const results = await Promise.all(
      [0, 1].map((rank) => initProcessGroup({ backend: 'nccl', timeoutMs: 15_000, env: envOf(rank, 2, port) }).catch((e: unknown) => e as Error)),
    );
    for (const [rank, result] of results.entries()) {
      expect(result).toMatchObject({ code: 'ENCCL' });
      expect((result as Error).message).toContain(`ncclCommInitRank failed (rank ${rank} of 2): `);
    }
  });
});
