/**
 * initProcessGroup: the entry point of a rank script started by `prophet launch`, torchrun,
 * srun or mpirun. It reads the environment, meets the other ranks through the rendezvous store
 * and creates the backend's communicator.
 */
import { checkChoice, checkInteger, invalidType, ProphetError } from '../errors.js';
import { addon } from '../native.js';
import { readLaunchEnv, type Environment, type LaunchEnv } from './env.js';
import type { Communicator } from './communicator.js';
import { createNcclCommunicator, loadNccl, ncclInitRank, ncclUniqueIdBytes } from './nccl.js';
import { rendezvous, type Rendezvous } from './rendezvous.js';
import { NativeBackedCommunicator } from './native-communicator.js';
import type { NativeCommunicator, NativeProcessGroupOptions } from './native-comm.js';

/** Multi-process backends: Gloo over TCP on CPUs, NCCL on GPUs. */
export type ProcessGroupBackend = 'gloo' | 'nccl';

export interface ProcessGroupOptions {
  /** Default 'gloo'. */
  readonly backend?: ProcessGroupBackend;
  /** Bound on the rendezvous and on backend creation, in ms. Default: PROPHET_TIMEOUT_MS from
   * the environment (`prophet launch --timeout`), else 300000. */
  readonly timeoutMs?: number;
  /** The environment to read (default process.env). */
  readonly env?: Environment;
  /** Namespace of this group's keys in the store (default 'prophet/pg'). */
  readonly prefix?: string;
}

/** A process group: this rank's place, its communicator and the store. */
export interface ProcessGroup {
  readonly backend: ProcessGroupBackend;
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly localWorldSize: number;
  /** This rank's communicator: CPU tensors for 'gloo', CUDA tensors of device LOCAL_RANK for
   * 'nccl'. */
  readonly communicator: Communicator;
  /** The rendezvous (store connection), for exchanging small values between ranks. */
  readonly rendezvous: Rendezvous;
  /** Frees the communicator and leaves the store; rank 0 waits up to 30 s (or the timeout,
   * if shorter) for the others to leave, then stops it. Idempotent. */
  destroy(): Promise<void>;
}

const defaultTimeoutMs = 300_000;
// How long rank 0's destroy() waits for the other ranks to leave before stopping the store: a
// peer that exited without destroy() must not hold rank 0 for the full timeout.
const leaveWaitMs = 30_000;

/**
 * Joins the process group described by the environment (torchrun, Slurm or Open MPI variables;
 * see readLaunchEnv). Steps: check the backend is built, rendezvous, create the communicator,
 * barrier. Fails with ProphetError ECOMM when the backend is not built into the addon (no
 * fallback), when rank 0's port is taken or ranks disagree; ETIMEDOUT when ranks are missing.
 */
export async function initProcessGroup(options: ProcessGroupOptions = {}): Promise<ProcessGroup> {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'object', options);
  const env = options.env ?? process.env;
  const backend = checkChoice('options.backend', options.backend ?? 'gloo', ['gloo', 'nccl'] as const);
  const timeoutMs = checkInteger('options.timeoutMs', options.timeoutMs ?? timeoutFromEnv(env), 1);
  const launch = readLaunchEnv(env);
  // Step 1: fail before meeting anyone if this addon cannot create the communicator.
  const create = backend === 'gloo' ? glooFactory() : ncclFactory();
  // Step 2: meet every rank.
  const met = await rendezvous({ launch, timeoutMs, prefix: options.prefix ?? 'prophet/pg' });
  let communicator: Communicator | undefined;
  try {
    // Step 3: the communicator, then a barrier so no rank leaves while others still use the store.
    communicator = await create(met, launch, timeoutMs);
    await met.barrier('created', timeoutMs);
  } catch (error) {
    communicator?.dispose();
    await met.close(Math.min(timeoutMs, 2000));
    throw error;
  }
  return groupOf(backend, launch, met, communicator, timeoutMs);
}

function groupOf(backend: ProcessGroupBackend, launch: LaunchEnv, met: Rendezvous, communicator: Communicator, timeoutMs: number): ProcessGroup {
  let destroyed: Promise<void> | undefined;
  return {
    backend,
    rank: launch.rank,
    worldSize: launch.worldSize,
    localRank: launch.localRank,
    localWorldSize: launch.localWorldSize,
    communicator,
    rendezvous: met,
    destroy() {
      destroyed ??= (async () => {
        communicator.dispose();
        await met.close(Math.min(timeoutMs, leaveWaitMs));
      })();
      return destroyed;
    },
  };
}

type Factory = (met: Rendezvous, launch: LaunchEnv, timeoutMs: number) => Promise<Communicator>;

// The Gloo backend is compiled only where libgloo was found at build time.
function glooFactory(): Factory {
  // The export exists only in addons built with Gloo.
  const createNative = addon().createProcessGroupNative;
  if (typeof createNative !== 'function') {
    throw new ProphetError(
      'ECOMM',
      "the multi-process CPU backend ('gloo') is not built into this addon: install Gloo " +
        '(Debian: apt-get install libgloo-dev) and rebuild with `npm run build:native`',
    );
  }
  return async (met, launch, timeoutMs) => {
    const nativeOptions: NativeProcessGroupOptions = {
      rank: launch.rank,
      size: launch.worldSize,
      storeHost: launch.masterAddr,
      storePort: met.storePort,
      timeoutMs,
      prefix: `${met.prefix}/gloo`,
    };
    const native: unknown = await createNative(nativeOptions);
    if (native === null || typeof native !== 'object') {
      throw new ProphetError('ECOMM', `createProcessGroupNative returned ${String(native)}, not a communicator`);
    }
    // The same typed, validating Communicator that createLocalWorld and createGlooCommunicator give.
    return new NativeBackedCommunicator(native as NativeCommunicator, timeoutMs);
  };
}

// NCCL: rank 0 makes the unique id, the store carries it to the others.
function ncclFactory(): Factory {
  const nccl = loadNccl();
  return async (met, launch, timeoutMs): Promise<Communicator> => {
    const key = `${met.prefix}/nccl/unique_id`;
    const uniqueId = launch.rank === 0 ? nccl.uniqueId() : await met.store.get(key, { timeoutMs });
    if (launch.rank === 0) await met.store.set(key, uniqueId, { timeoutMs });
    if (uniqueId.length !== ncclUniqueIdBytes) {
      throw new ProphetError('ECOMM', `store key '${key}' holds ${uniqueId.length} bytes, not an NCCL unique id`);
    }
    // One GPU per local rank, as torchrun scripts do with set_device(LOCAL_RANK).
    const device = launch.localRank;
    const comm = await ncclInitRank({ uniqueId: new Uint8Array(uniqueId), rank: launch.rank, size: launch.worldSize, device });
    try {
      return createNcclCommunicator(comm, { device, timeoutMs });
    } catch (error) {
      comm.destroy();
      throw error;
    }
  };
}

function timeoutFromEnv(env: Environment): number {
  const value = env.PROPHET_TIMEOUT_MS;
  if (value === undefined || value === '') return defaultTimeoutMs;
  const parsed = /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  return checkInteger('environment variable PROPHET_TIMEOUT_MS', Number.isNaN(parsed) ? value : parsed, 1);
}
