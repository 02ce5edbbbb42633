/**
 * The `local` backend: W ranks as threads of one process, exchanging through shared memory at
 * about memcpy speed. Each rank's collectives run on that rank's own streams, so ranks overlap for
 * real. Used by tests, by single-machine training and by benchmarks.
 */
import { checkInteger, invalidType } from '../errors.js';
import { guard } from '../runtime/guard.js';
import { addon } from '../native.js';
import type { Communicator } from './communicator.js';
import './native-comm.js';
import { checkTimeout, NativeBackedCommunicator } from './native-communicator.js';

export interface LocalWorldOptions {
  /** Default timeout of every collective, ms (default 60 000). */
  readonly timeoutMs?: number;
}

/** Default timeout of collectives, ms. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * One communicator per rank (index = rank) of a new in-process world of `numRanks` ranks.
 * After a timeout or a mismatched call the world is unusable: every later collective fails with
 * ECOMM; create a new world. Give each rank its own streams to let ranks run concurrently (ranks
 * that share one stream run their collectives one after the other and wait on each other).
 *
 * Example: `const [a, b] = createLocalWorld(2, { timeoutMs: 5000 })`, then each rank calls
 * `allReduce(t, { stream: itsStream })`.
 */
export function createLocalWorld(numRanks: number, options: LocalWorldOptions = {}): Communicator[] {
  checkInteger('numRanks', numRanks, 1, 1024);
  if (options === null || typeof options !== 'object') throw invalidType('options', 'object', options);
  const timeoutMs = options.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : checkTimeout('options.timeoutMs', options.timeoutMs);
  return guard(() => addon().createLocalWorld(numRanks)).map((native) => new NativeBackedCommunicator(native, timeoutMs));
}
