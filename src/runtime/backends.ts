/** What this process can compute on. */
import { addon, type NativeBackendEntry, type NativeMemoryStats, type BackendName } from '../native.js';
import { checkChoice } from '../errors.js';

export interface BackendsReport {
  /** The CPU backend, always available. */
  readonly cpu: NativeBackendEntry;
  /** The CUDA backend: available only with the CUDA library built and a device present;
   * otherwise `reason` lists every path tried and why it failed. */
  readonly cuda: NativeBackendEntry;
  /** Version of the backend ABI the addon was built with. */
  readonly apiVersion: number;
}

/** Reports the backends and their devices. */
export function backends(): BackendsReport {
  const info = addon().backendInfo();
  return { cpu: info.cpu, cuda: info.cuda, apiVersion: info.apiVersion };
}

/** The backend allocator's own counters (live buffers and bytes, allocations so far) and the
 * number of live stream and event handles. */
export function memoryStats(backend: BackendName = 'cpu'): NativeMemoryStats {
  return addon().memoryStats(checkChoice('backend', backend, ['cpu', 'cuda'] as const));
}
