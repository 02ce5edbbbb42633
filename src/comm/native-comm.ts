/**
 * Types of the communicator bindings (native/addon/comm_*.cpp), added to the addon's interface
 * by module augmentation. Sizes are bytes; every collective is stream-ordered and returns once
 * queued.
 */
import type { NativeStorage, NativeStream } from '../native.js';
import type { CommBackendName } from './communicator.js';

/** One rank's native communicator. Arguments are checked by the TypeScript layer first. */
export interface NativeCommunicator {
  readonly rank: number;
  readonly size: number;
  readonly backend: CommBackendName;
  readonly disposed: boolean;
  /** layout: [sendOffsets, sendBytes, recvOffsets, recvBytes], `size` entries each, in bytes. */
  allToAllV(send: NativeStorage, recv: NativeStorage, layout: Float64Array, stream: NativeStream, timeoutMs: number): void;
  allGather(send: NativeStorage, bytes: number, recv: NativeStorage, stream: NativeStream, timeoutMs: number): void;
  broadcast(data: NativeStorage, bytes: number, root: number, members: readonly number[], stream: NativeStream, timeoutMs: number): void;
  reduce(data: NativeStorage, count: number, root: number, members: readonly number[], stream: NativeStream, timeoutMs: number): void;
  allReduce(data: NativeStorage, count: number, stream: NativeStream, timeoutMs: number): void;
  barrier(stream: NativeStream, timeoutMs: number): void;
  dispose(): void;
}

/** Options of the native multi-process (Gloo) communicator. */
export interface NativeProcessGroupOptions {
  readonly rank: number;
  readonly size: number;
  readonly storeHost: string;
  readonly storePort: number;
  /** Rendezvous and connection timeout, ms. */
  readonly timeoutMs: number;
  /** Key prefix in the store, so that several groups can share one store. */
  readonly prefix: string;
  /** Address this rank listens on for its peers. Default: 127.0.0.1 when storeHost is a
   * loopback address, else this machine's host name. */
  readonly hostname?: string;
}

declare module '../native.js' {
  interface NativeAddon {
    /** One communicator per rank of a new in-process world. */
    createLocalWorld(size: number): NativeCommunicator[];
    /** Present only when the addon was built with Gloo. Rendezvous through the TCP store. */
    readonly createProcessGroupNative?: (options: NativeProcessGroupOptions) => Promise<NativeCommunicator>;
  }
}
