/**
 * NCCL, loaded at run time: finds libnccl.so.2, reports its version, makes unique ids and
 * creates communicators. The addon builds and runs without NCCL; only these calls need it.
 *
 * Search order (the first library that loads wins, and stays loaded for the process):
 * 1. `options.path`, else 2. `PROPHET_NCCL_LIBRARY` — when either is given, nothing else is
 *    tried, so a wrong explicit path is an error rather than a silent fallback;
 * 3. `NCCL_HOME/lib/libnccl.so.2`, `NCCL_ROOT/lib/libnccl.so.2`;
 * 4. the Python wheels `nvidia-nccl-cu12` / `nvidia-nccl-cu13` (`nvidia/nccl/lib/libnccl.so.2`
 *    under each site-packages folder python3 reports, plus VIRTUAL_ENV and CONDA_PREFIX);
 * 5. `libnccl.so.2` on the default library path (LD_LIBRARY_PATH, ldconfig).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

import { checkInteger, invalidType, ProphetError, settleNative } from '../errors.js';
import { addon } from '../native.js';
import { Device } from '../runtime/device.js';
import { guard } from '../runtime/guard.js';
import type { Communicator } from './communicator.js';
import type { Environment } from './env.js';
import type { NativeCommunicator } from './native-comm.js';
import { checkTimeout, NativeBackedCommunicator } from './native-communicator.js';

/** What the addon's ncclLoad reports. */
export interface NativeNcclLoadResult {
  readonly loaded: boolean;
  readonly path: string | null;
  readonly version: string | null;
  readonly hasCommSplit: boolean;
  /** "<candidate>: <reason>" for each candidate that failed, in order. */
  readonly failures: readonly string[];
}

/** One NCCL communicator (a rank of a group). */
export interface NcclComm {
  readonly rank: number;
  readonly size: number;
  readonly destroyed: boolean;
  /** Frees the communicator (ncclCommDestroy). Idempotent. */
  destroy(): void;
}

declare module '../native.js' {
  interface NativeAddon {
    ncclLoad(candidates: readonly string[]): NativeNcclLoadResult;
    ncclUniqueId(): Uint8Array;
    ncclInitRank(uniqueId: Uint8Array, rank: number, size: number, device: number): Promise<NcclComm>;
    /** Takes over `comm` (which then reads as destroyed); throws ECUDA without the CUDA backend. */
    ncclCommunicator(comm: NcclComm, device: number): NativeCommunicator;
  }
}

/** A place the loader looks, and the file it tries there. */
export interface NcclCandidate {
  /** The search step, e.g. "PROPHET_NCCL_LIBRARY" or "python wheel". */
  readonly step: string;
  readonly path: string;
}

export interface NcclSearch {
  /** Files to try in order. */
  readonly candidates: readonly NcclCandidate[];
  /** Steps that produced no file to try, with the reason. */
  readonly skipped: readonly string[];
}

export interface LoadNcclOptions {
  /** Exact path of libnccl.so.2; when set, nothing else is tried. */
  readonly path?: string;
  /** The environment to read (default process.env). */
  readonly env?: Environment;
}

/** The loaded NCCL. */
export interface NcclLibrary {
  /** The file loaded. */
  readonly path: string;
  /** "2.x.y". */
  readonly version: string;
  /** Whether ncclCommSplit exists (NCCL >= 2.18), for subset communicators. */
  readonly hasCommSplit: boolean;
  /** A new ncclUniqueId (128 bytes) for rank 0 to share; works without a GPU. */
  uniqueId(): Uint8Array;
}

export const ncclUniqueIdBytes = 128;
const libraryName = 'libnccl.so.2';
// Where the nvidia-nccl-cu12/cu13 wheels put the library inside site-packages.
const wheelRelativePaths = [join('nvidia', 'nccl', 'lib', libraryName)];

/**
 * The ordered list of files to try (pure: the environment and site-packages folders are
 * arguments). See the module comment for the order.
 */
export function ncclSearchOrder(options: LoadNcclOptions, env: Environment, sitePackages: readonly string[]): NcclSearch {
  if (options.path !== undefined) return { candidates: [{ step: 'options.path', path: options.path }], skipped: [] };
  const explicit = env.PROPHET_NCCL_LIBRARY;
  if (explicit !== undefined && explicit !== '') {
    return { candidates: [{ step: 'PROPHET_NCCL_LIBRARY', path: explicit }], skipped: [] };
  }
  const candidates: NcclCandidate[] = [];
  const skipped: string[] = [];
  for (const name of ['NCCL_HOME', 'NCCL_ROOT']) {
    const root = env[name];
    if (root !== undefined && root !== '') candidates.push({ step: name, path: join(root, 'lib', libraryName) });
    else skipped.push(`${name}: not set`);
  }
  const wheelFiles = sitePackages.flatMap((dir) => wheelRelativePaths.map((rel) => join(dir, rel))).filter((file) => existsSync(file));
  for (const path of [...new Set(wheelFiles)]) candidates.push({ step: 'python wheel nvidia-nccl-cu12/cu13', path });
  if (wheelFiles.length === 0) {
    const where = sitePackages.length === 0 ? 'no site-packages folder found' : `not in ${sitePackages.join(', ')}`;
    skipped.push(`python wheel nvidia-nccl-cu12/cu13: ${wheelRelativePaths[0]} ${where} (pip install nvidia-nccl-cu13)`);
  }
  candidates.push({ step: 'default library path', path: libraryName });
  return { candidates, skipped };
}

/**
 * site-packages folders of the Python in PATH (python3 asked once, with a 5 s limit; none if
 * python3 is missing), of VIRTUAL_ENV and of CONDA_PREFIX.
 */
export function pythonSitePackages(env: Environment): string[] {
  const folders: string[] = [];
  const script = 'import site,sys\nfor p in site.getsitepackages()+[site.getusersitepackages()]+sys.path: print(p)';
  try {
    const output = execFileSync('python3', ['-c', script], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'], env: { ...env } });
    folders.push(...output.split('\n').filter((line) => line.endsWith('-packages')));
  } catch {
    // No python3: the wheel step lists no folder and the search goes on.
  }
  for (const prefix of [env.VIRTUAL_ENV, env.CONDA_PREFIX]) {
    if (prefix === undefined || prefix === '') continue;
    const lib = join(prefix, 'lib');
    for (const version of ['3.8', '3.9', '3.10', '3.11', '3.12', '3.13', '3.14']) folders.push(join(lib, `python${version}`, 'site-packages'));
  }
  return [...new Set(folders)];
}

/**
 * Finds and loads libnccl.so.2. Throws ProphetError ENCCL listing every step of the search and
 * why each failed when no library loads, or when another NCCL is already loaded.
 *
 * @example const nccl = loadNccl(); nccl.version // → '2.30.7'
 */
export function loadNccl(options: LoadNcclOptions = {}): NcclLibrary {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'object', options);
  if (options.path !== undefined && (typeof options.path !== 'string' || options.path === '')) {
    throw invalidType('options.path', 'non-empty string', options.path);
  }
  const env = options.env ?? process.env;
  const native = addon();
  // Once loaded, NCCL stays for the process: skip the search (and its python3 call).
  let result = guard(() => native.ncclLoad([]));
  if (!result.loaded) {
    const needsPython = options.path === undefined && (env.PROPHET_NCCL_LIBRARY ?? '') === '';
    const search = ncclSearchOrder(options, env, needsPython ? pythonSitePackages(env) : []);
    result = guard(() => native.ncclLoad(search.candidates.map((c) => c.path)));
    if (!result.loaded) throw notFound(search, result.failures);
  }
  if (result.path === null || result.version === null) throw new ProphetError('ENCCL', 'the addon reported NCCL loaded without a path or version');
  if (options.path !== undefined && !samePath(options.path, result.path)) {
    throw new ProphetError('ENCCL', `NCCL is already loaded from ${result.path}; a process can load only one NCCL, so options.path ${options.path} was not loaded`);
  }
  return {
    path: result.path,
    version: result.version,
    hasCommSplit: result.hasCommSplit,
    uniqueId: () => guard(() => native.ncclUniqueId()),
  };
}

function notFound(search: NcclSearch, failures: readonly string[]): ProphetError {
  const lines = search.candidates.map((candidate, i) => `- ${candidate.step}: ${failures[i] ?? `${candidate.path}: not tried`}`);
  lines.push(...search.skipped.map((line) => `- ${line}`));
  return new ProphetError(
    'ENCCL',
    `Could not load ${libraryName}. Tried:\n${lines.join('\n')}\n` +
      `Install NCCL (pip install nvidia-nccl-cu13, or your distribution's libnccl2) or point ` +
      `PROPHET_NCCL_LIBRARY at libnccl.so.2.`,
  );
}

function samePath(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return a === b;
  }
}

export interface NcclInitOptions {
  /** The 128-byte id rank 0 made with uniqueId() and shared through the store. */
  readonly uniqueId: Uint8Array;
  readonly rank: number;
  readonly size: number;
  /** CUDA device to initialize on (made current through the driver API); default: the current
   * device of the worker thread, i.e. device 0. initProcessGroup passes LOCAL_RANK. */
  readonly device?: number;
}

/**
 * Creates this rank's NCCL communicator (ncclCommInitRank on `options.device`, off the JS
 * thread). Every rank of the group must call it with the same id; NCCL blocks until all
 * have, so call it after the rendezvous has seen every rank. Rejects with ProphetError ENCCL
 * carrying NCCL's own message (e.g. without a GPU), or ECUDA when the driver refuses the
 * device; never crashes. Loads NCCL first if needed.
 */
export async function ncclInitRank(options: NcclInitOptions): Promise<NcclComm> {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'object', options);
  if (!(options.uniqueId instanceof Uint8Array) || options.uniqueId.length !== ncclUniqueIdBytes) {
    throw invalidType('options.uniqueId', `Uint8Array of ${ncclUniqueIdBytes} bytes`, options.uniqueId);
  }
  const size = checkInteger('options.size', options.size, 1, 2 ** 31 - 1);
  const rank = checkInteger('options.rank', options.rank, 0, size - 1);
  const device = options.device === undefined ? -1 : checkInteger('options.device', options.device, 0, 1023);
  loadNccl();
  const callerStack = new Error().stack;
  return settleNative(addon().ncclInitRank(options.uniqueId, rank, size, device), callerStack);
}

export interface NcclCommunicatorOptions {
  /** The CUDA device `comm` was initialised on (ncclInitRank's `device`); default 0. */
  readonly device?: number;
  /** Default timeout of collectives, ms (default 300000). */
  readonly timeoutMs?: number;
}

/**
 * The {@link Communicator} over an NCCL communicator: the same collectives as 'local' and 'gloo',
 * on CUDA tensors of `options.device`, queued on CUDA streams as NCCL kernels (allToAllV as
 * grouped ncclSend/ncclRecv; broadcast and reduce over a subset point-to-point from or to the
 * root, a subset reduce summed in ascending rank order as on the host backends). Takes over
 * `comm`, which then reads as destroyed; dispose() the communicator instead. `options.device`
 * must be the device `comm` was created on (a RangeError otherwise).
 *
 * Timeouts: a watchdog thread aborts this rank's NCCL communicators when a collective has run
 * longer than its timeout (a peer never arrived), so the stream drains, and its synchronize()
 * rejects with ETIMEDOUT; later calls fail with ECOMM. Reductions are NCCL's (identical on every
 * rank and from run to run, but for the whole world not summed in rank order as on the host
 * backends).
 */
export function createNcclCommunicator(comm: NcclComm, options: NcclCommunicatorOptions = {}): Communicator {
  if (comm === null || typeof comm !== 'object') throw invalidType('comm', 'NcclComm from ncclInitRank()', comm);
  if (options === null || typeof options !== 'object') throw invalidType('options', 'object', options);
  const device = checkInteger('options.device', options.device ?? 0, 0, 1023);
  const timeoutMs = checkTimeout('options.timeoutMs', options.timeoutMs ?? 300_000);
  const cuda = Device.cuda(device);
  const native = guard(() => addon().ncclCommunicator(comm, device));
  return new NativeBackedCommunicator(native, timeoutMs, cuda);
}
