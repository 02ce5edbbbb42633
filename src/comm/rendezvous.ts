/**
 * Rendezvous: rank 0 hosts the store on MASTER_ADDR:MASTER_PORT, every rank connects and checks
 * in, and all wait until WORLD_SIZE ranks have arrived. Afterwards the store carries whatever
 * the backend needs to exchange (Gloo addresses, the NCCL unique id).
 */
import { isIP } from 'node:net';

import { checkInteger, invalidType, nativeFailure, ProphetError } from '../errors.js';
import type { LaunchEnv } from './env.js';
import { startStoreServer, StoreClient, type StoreServer } from './store.js';

export interface RendezvousOptions {
  /** Where this rank sits (from readLaunchEnv). */
  readonly launch: LaunchEnv;
  /** Bound on the whole rendezvous, in ms. */
  readonly timeoutMs: number;
  /** Namespace of this group's keys in the store (default 'prophet/pg'). */
  readonly prefix?: string;
}

/** A completed rendezvous: the store connection (and server, on rank 0). */
export interface Rendezvous {
  readonly launch: LaunchEnv;
  readonly prefix: string;
  readonly store: StoreClient;
  /** The port the store listens on (MASTER_PORT, or the one picked for port 0). */
  readonly storePort: number;
  /** Present on rank 0 only. */
  readonly server: StoreServer | undefined;
  /**
   * Waits (up to `timeoutMs`) until every rank has called barrier(name) too. Used after backend
   * creation so that rank 0 never closes the store while a peer still reads it.
   */
  barrier(name: string, timeoutMs: number): Promise<void>;
  /** Leaves: rank 0 waits up to `timeoutMs` for the others to leave, then stops the store. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * Meets the other ranks. Fails with ProphetError ECOMM when rank 0's port is taken or the ranks
 * disagree on WORLD_SIZE or two claim one rank, and with ETIMEDOUT naming expected vs arrived
 * ranks when not all arrive in time.
 */
export async function rendezvous(options: RendezvousOptions): Promise<Rendezvous> {
  const { launch } = options;
  const timeoutMs = checkInteger('options.timeoutMs', options.timeoutMs, 1);
  const prefix = options.prefix ?? 'prophet/pg';
  if (typeof prefix !== 'string') throw invalidType('options.prefix', 'string', prefix);
  const deadline = Date.now() + timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  // Step 1: rank 0 hosts the store.
  const server = launch.rank === 0 ? await hostStore(launch) : undefined;
  const port = server?.port ?? launch.masterPort;
  let store: StoreClient | undefined;
  try {
    // Step 2: connect (retrying until rank 0 listens).
    store = await StoreClient.connect(launch.masterAddr, port, { timeoutMs: remaining() });
    // Step 3: agree on the world size, claim the rank, count arrivals.
    await checkWorldSize(store, prefix, launch, remaining());
    await claimRank(store, prefix, launch, remaining());
    await arrive(store, prefix, launch, timeoutMs, remaining());
  } catch (error) {
    store?.close();
    await server?.close();
    throw error;
  }
  const client = store;
  return {
    launch,
    prefix,
    store: client,
    storePort: port,
    server,
    barrier: (name, ms) => storeBarrier(client, `${prefix}/barrier/${name}`, launch.worldSize, ms),
    async close(ms) {
      try {
        // Every rank counts itself out; the last one marks the group done. Only rank 0 waits,
        // because it must not stop the store while a peer still uses it.
        const left = await client.add(`${prefix}/left/count`, 1, { timeoutMs: ms });
        if (left === launch.worldSize) await client.set(`${prefix}/left/done`, '1', { timeoutMs: ms });
        else if (server !== undefined) await client.wait(`${prefix}/left/done`, { timeoutMs: ms });
      } catch {
        // Peers that died never leave; the store closes anyway.
      } finally {
        client.close();
        await server?.close();
      }
    },
  };
}

// Loopback stays loopback (nothing outside can reach it); any other MASTER_ADDR may name this
// host by an address or name that resolves differently here, so listen on every interface as
// torchrun's store does.
function bindHost(masterAddr: string): string {
  const loopback = masterAddr === 'localhost' || masterAddr === '::1' || (isIP(masterAddr) === 4 && masterAddr.startsWith('127.'));
  return loopback ? masterAddr : '0.0.0.0';
}

async function hostStore(launch: LaunchEnv): Promise<StoreServer> {
  try {
    return await startStoreServer({ host: bindHost(launch.masterAddr), port: launch.masterPort });
  } catch (error) {
    throw new ProphetError(
      'ECOMM',
      `rank 0 could not host the rendezvous store on MASTER_ADDR=${launch.masterAddr} MASTER_PORT=${launch.masterPort}: ` +
        `${(error as Error).message}`,
      { cause: error },
    );
  }
}

async function checkWorldSize(store: StoreClient, prefix: string, launch: LaunchEnv, timeoutMs: number): Promise<void> {
  const key = `${prefix}/world_size`;
  if (launch.rank === 0) {
    await store.set(key, String(launch.worldSize), { timeoutMs });
    return;
  }
  const theirs = Number(await store.getString(key, { timeoutMs }).catch((error: unknown) => {
    throw withContext(error, `rank ${launch.rank} waited for rank 0 to publish WORLD_SIZE`);
  }));
  if (theirs !== launch.worldSize) {
    throw new ProphetError('ECOMM', `WORLD_SIZE mismatch: rank ${launch.rank} has WORLD_SIZE=${launch.worldSize} but rank 0 has WORLD_SIZE=${theirs}`);
  }
}

async function claimRank(store: StoreClient, prefix: string, launch: LaunchEnv, timeoutMs: number): Promise<void> {
  const claims = await store.add(`${prefix}/rank/${launch.rank}`, 1, { timeoutMs });
  if (claims > 1) throw new ProphetError('ECOMM', `rank ${launch.rank} checked in twice: two processes have RANK=${launch.rank}`);
}

async function arrive(store: StoreClient, prefix: string, launch: LaunchEnv, totalMs: number, timeoutMs: number): Promise<void> {
  try {
    await storeBarrier(store, `${prefix}/arrived`, launch.worldSize, timeoutMs);
  } catch (error) {
    if ((error as ProphetError).code !== 'ETIMEDOUT') throw error;
    throw await arrivalTimeout(store, prefix, launch, totalMs, error);
  }
}

// Says who is missing: the arrival count and each rank's claim are still in the store.
async function arrivalTimeout(store: StoreClient, prefix: string, launch: LaunchEnv, totalMs: number, cause: unknown): Promise<ProphetError> {
  const arrived = await store.add(`${prefix}/arrived/count`, 0, { timeoutMs: 1000 }).catch(() => undefined);
  const missing: number[] = [];
  for (let rank = 0; rank < launch.worldSize && missing.length <= 16; rank++) {
    const present = await store.check(`${prefix}/rank/${rank}`, { timeoutMs: 1000 }).catch(() => true);
    if (!present) missing.push(rank);
  }
  const missingText = missing.length === 0 ? '' : ` (missing ranks: ${missing.slice(0, 16).join(', ')}${missing.length > 16 ? ', …' : ''})`;
  return new ProphetError(
    'ETIMEDOUT',
    `rendezvous at ${launch.masterAddr}:${store.port} timed out after ${totalMs} ms: expected WORLD_SIZE=${launch.worldSize} ranks, ` +
      `${arrived ?? 'an unknown number of'} arrived${missingText}. Check that every rank has the same WORLD_SIZE and was started.`,
    { cause },
  );
}

/**
 * A barrier of `numRanks` on the store: each adds to `${key}/count`; the last one sets
 * `${key}/done`, which the others wait for.
 */
export async function storeBarrier(store: StoreClient, key: string, numRanks: number, timeoutMs: number): Promise<void> {
  const count = await store.add(`${key}/count`, 1, { timeoutMs });
  if (count > numRanks) throw new ProphetError('ECOMM', `barrier '${key}': ${count} ranks arrived but WORLD_SIZE is ${numRanks}`);
  if (count === numRanks) await store.set(`${key}/done`, '1', { timeoutMs });
  else await store.wait(`${key}/done`, { timeoutMs });
}

function withContext(error: unknown, context: string): unknown {
  if (!(error instanceof ProphetError)) return error;
  return nativeFailure(error.code, `${context}: ${error.message}`, { cause: error });
}
