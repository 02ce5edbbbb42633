/**
 * Loads the prophet addon (prebuilt or built by node-gyp at install) and types its surface.
 * Everything native goes through the object returned by {@link addon}; no other file requires
 * the binary.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Backend names the addon understands. */
export type BackendName = 'cpu' | 'cuda';

/** Static facts about one device, as the backend reports them. */
export interface NativeDeviceInfo {
  readonly index: number;
  readonly name: string;
  /** CUDA compute capability "major.minor"; "0.0" for the CPU. */
  readonly computeCapability: string;
  /** Bytes of device memory (system memory for the CPU). */
  readonly totalMemory: number;
  /** Streaming multiprocessors on a GPU, hardware threads on the CPU. */
  readonly cores: number;
}

export interface NativeBackendEntry {
  readonly available: boolean;
  readonly devices: readonly NativeDeviceInfo[];
  /** Why the backend is unavailable; empty when available. */
  readonly reason: string;
}

export interface NativeBackendInfo {
  readonly apiVersion: number;
  readonly cpu: NativeBackendEntry;
  readonly cuda: NativeBackendEntry;
}

export interface NativeMemoryStats {
  readonly liveBuffers: number;
  readonly liveBytes: number;
  readonly totalAllocs: number;
  /** Stream and event handles not yet freed (disposed, or collected and finalized). */
  readonly liveStreams: number;
  readonly liveEvents: number;
}

/** Device memory. Offsets and sizes are bytes; every method except hostView is stream-ordered. */
export interface NativeStorage {
  readonly bytes: number;
  readonly backend: BackendName;
  readonly disposed: boolean;
  /** Device address of the allocation (for alignment checks and debugging). */
  readonly address: bigint;
  fill(offset: number, bytes: number, value: number, stream: NativeStream): void;
  write(source: ArrayBufferView, dstOffset: number, stream: NativeStream): void;
  read(srcOffset: number, bytes: number, stream: NativeStream): Promise<ArrayBuffer>;
  hostView(): ArrayBuffer;
  dispose(): void;
}

export interface NativeStream {
  readonly priority: number;
  readonly disposed: boolean;
  synchronize(): Promise<void>;
  synchronizeSync(): void;
  query(): boolean;
  dispose(): void;
}

export interface NativeEvent {
  readonly disposed: boolean;
  record(stream: NativeStream): void;
  streamWait(stream: NativeStream): void;
  synchronize(): Promise<void>;
  query(): boolean;
  elapsedMs(end: NativeEvent): number;
  dispose(): void;
}

/** The addon's exports. Later issues append to this interface as they add bindings. */
export interface NativeAddon {
  readonly Storage: new (backend: BackendName, device: number, bytes: number) => NativeStorage;
  readonly Stream: new (backend: BackendName, device: number, priority: number) => NativeStream;
  readonly Event: new (backend: BackendName, device: number, timing: boolean) => NativeEvent;
  backendInfo(): NativeBackendInfo;
  memoryStats(backend: BackendName): NativeMemoryStats;
  copy(
    dst: NativeStorage,
    dstOffset: number,
    src: NativeStorage,
    srcOffset: number,
    bytes: number,
    stream: NativeStream,
  ): void;
}

/** The package root: the nearest folder above this file with a package.json (this file runs
 * as dist/src/native.js when installed and as src/native.ts under the test runner). */
export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'binding.gyp'))) return dir;
    if (dirname(dir) === dir) return start;
  }
}

let loaded: NativeAddon | undefined;

/**
 * The addon, loaded on first use. Throws an Error with code 'ENOADDON' that says how to build it
 * when no binary is found.
 */
export function addon(): NativeAddon {
  if (loaded !== undefined) return loaded;
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as (dir: string) => unknown;
  try {
    loaded = load(packageRoot) as NativeAddon;
  } catch (cause) {
    const error = new Error(
      `Could not load the pro-prophet native addon from ${packageRoot}.\n` +
        `Possible solutions:\n- run \`npm rebuild pro-prophet\` (needs python3, make and g++)\n` +
        `- in a checkout, run \`npm run build:native\``,
      { cause },
    ) as Error & { code: string };
    error.code = 'ENOADDON';
    throw error;
  }
  return loaded;
}
