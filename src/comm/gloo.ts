/**
 * The multi-process CPU communicator (backend `gloo`): one process per rank, rendezvous through
 * the TCP store on storeHost:storePort (the wire protocol of docs/communication.md), then Gloo's
 * TCP transport between ranks. Takes explicit rank/size/address; `initProcessGroup` (reading
 * torchrun/Slurm/Open MPI environments) builds on the same native function.
 */
import { checkInteger, invalidType, ProphetError, settleNative } from '../errors.js';
import { addon } from '../native.js';
import type { Communicator } from './communicator.js';
import { DEFAULT_TIMEOUT_MS } from './local.js';
import './native-comm.js';
import { checkTimeout, NativeBackedCommunicator } from './native-communicator.js';

export interface GlooCommunicatorOptions {
  /** This process's rank in [0, size). */
  readonly rank: number;
  /** Number of processes in the group. */
  readonly size: number;
  /** Host and port of the rendezvous store (MASTER_ADDR, MASTER_PORT). */
  readonly storeHost: string;
  readonly storePort: number;
  /** Ms to reach the store and the peers, and the default timeout of collectives (60 000). */
  readonly timeoutMs?: number;
  /** Store key prefix, so that several groups can share one store (default 'prophet'). */
  readonly prefix?: string;
  /** Address this rank listens on for its peers. Default (chosen natively): 127.0.0.1 when
   * the store is on the loopback interface, else this machine's host name. */
  readonly hostname?: string;
}

/** True when the addon was built with the multi-process backend (Gloo). */
export function glooAvailable(): boolean {
  return typeof addon().createProcessGroupNative === 'function';
}

function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidType(name, 'non-empty string', value);
  return value;
}

/**
 * Joins the process group: resolves once every rank has connected to every other. Rejects with
 * ProphetError ETIMEDOUT when the store or a peer cannot be reached within `timeoutMs`, ECOMM
 * for a refused connection or a world size that differs between ranks, ENOTSUP when the addon
 * was built without Gloo.
 */
export async function createGlooCommunicator(options: GlooCommunicatorOptions): Promise<Communicator> {
  // Step 1: validate.
  if (options === null || typeof options !== 'object') throw invalidType('options', 'object', options);
  const size = checkInteger('options.size', options.size, 1);
  const rank = checkInteger('options.rank', options.rank, 0, size - 1);
  const storeHost = checkString('options.storeHost', options.storeHost);
  const storePort = checkInteger('options.storePort', options.storePort, 1, 65535);
  const timeoutMs = options.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : checkTimeout('options.timeoutMs', options.timeoutMs);
  const prefix = options.prefix === undefined ? 'prophet' : checkString('options.prefix', options.prefix);
  const hostname = options.hostname === undefined ? undefined : checkString('options.hostname', options.hostname);
  // Step 2: the backend must be built in.
  const create = addon().createProcessGroupNative;
  if (create === undefined) {
    throw new ProphetError(
      'ENOTSUP',
      'pro-prophet was built without a multi-process backend: install Gloo (apt-get install libgloo-dev) and rebuild the addon (npm run build:native)',
    );
  }
  // Step 3: connect off the JS thread.
  const stack = new Error().stack;
  const native = await settleNative(create({ rank, size, storeHost, storePort, timeoutMs, prefix, ...(hostname === undefined ? {} : { hostname }) }), stack);
  return new NativeBackedCommunicator(native, timeoutMs);
}
