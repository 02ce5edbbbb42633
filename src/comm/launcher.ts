/**
 * The launcher behind `prophet launch`: starts this node's ranks with torchrun's environment,
 * prefixes their output with `[rank R]`, and stops every rank when one fails or when the
 * launcher is interrupted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';

import { checkInteger, invalidType, invalidValue } from '../errors.js';
import { defaultMasterPort, type Environment } from './env.js';

export interface LaunchOptions {
  /** The rank script, run with this Node (process.execPath). */
  readonly script: string;
  /** Arguments passed to every rank's script. */
  readonly args?: readonly string[];
  /** Processes on this node (default 1). */
  readonly nprocPerNode?: number;
  /** Nodes in the job (default 1). */
  readonly nnodes?: number;
  /** This node's index in [0, nnodes) (default 0). */
  readonly nodeRank?: number;
  /** Host of global rank 0 (default 127.0.0.1; required with several nodes). */
  readonly masterAddr?: string;
  /** Store port (default 29500); 0 or 'auto' picks a free port (one node only). */
  readonly masterPort?: number | 'auto';
  /** Exported to ranks as PROPHET_TIMEOUT_MS: how long they wait for each other (ms). */
  readonly timeoutMs?: number;
  /** Base environment of the ranks (default process.env). */
  readonly env?: Environment;
  /** Options for Node before the script, e.g. ['--enable-source-maps']. */
  readonly nodeArgs?: readonly string[];
  /** Time between SIGTERM and SIGKILL when stopping ranks, in ms (default 5000). */
  readonly graceMs?: number;
  /** Where prefixed output goes (default process.stdout / process.stderr). */
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  /** Stop the ranks on SIGINT/SIGTERM to this process (default true). */
  readonly handleSignals?: boolean;
}

/** Why the job failed: the first rank that exited non-zero or died by a signal. */
export interface RankFailure {
  readonly rank: number;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The last lines the rank wrote to stderr (at most 20). */
  readonly stderrTail: readonly string[];
}

export interface LaunchResult {
  /** 0 when every rank exited 0; the failed rank's code (128 + signal for a signal); 128 +
   * signal when the launcher was interrupted. */
  readonly exitCode: number;
  readonly failedRank?: number;
  readonly failure?: RankFailure;
  /** The signal that interrupted the launcher, if any. */
  readonly interrupted?: NodeJS.Signals;
}

/** The settings of one job with defaults applied. */
export interface LaunchPlan {
  readonly nprocPerNode: number;
  readonly nnodes: number;
  readonly nodeRank: number;
  readonly masterAddr: string;
  /** 0 means "pick a free port" (resolved by launch()). */
  readonly masterPort: number;
}

const tailLines = 20;

/** Validates the options and applies defaults. Throws TypeError/RangeError naming the option. */
export function planLaunch(options: LaunchOptions): LaunchPlan {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'object', options);
  if (typeof options.script !== 'string' || options.script === '') throw invalidType('options.script', 'path of a script', options.script);
  if (!existsSync(options.script)) throw invalidValue('options.script', 'path of an existing script', options.script);
  const nprocPerNode = checkInteger('options.nprocPerNode', options.nprocPerNode ?? 1, 1, 4096);
  const nnodes = checkInteger('options.nnodes', options.nnodes ?? 1, 1, 65536);
  const nodeRank = checkInteger('options.nodeRank', options.nodeRank ?? 0, 0, nnodes - 1);
  if (nnodes > 1 && options.masterAddr === undefined) {
    throw invalidValue('options.masterAddr', 'host of rank 0 (required with several nodes)', options.masterAddr);
  }
  const masterAddr = options.masterAddr ?? '127.0.0.1';
  if (typeof masterAddr !== 'string' || masterAddr.trim() === '') throw invalidType('options.masterAddr', 'host name or address', masterAddr);
  const port = options.masterPort === 'auto' ? 0 : options.masterPort ?? defaultMasterPort;
  const masterPort = checkInteger('options.masterPort', port, nnodes > 1 ? 1 : 0, 65535);
  return { nprocPerNode, nnodes, nodeRank, masterAddr: masterAddr.trim(), masterPort };
}

/**
 * torchrun's variables for each local rank of this node, on top of `base`:
 * RANK = nodeRank·nprocPerNode + localRank, WORLD_SIZE = nnodes·nprocPerNode, and
 * OMP_NUM_THREADS = max(1, floor(cores / nprocPerNode)) unless `base` sets it.
 */
export function rankEnvironments(plan: LaunchPlan, base: Environment, numCores: number, timeoutMs?: number): Record<string, string>[] {
  const shared: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) if (value !== undefined) shared[name] = value;
  shared.WORLD_SIZE = String(plan.nnodes * plan.nprocPerNode);
  shared.LOCAL_WORLD_SIZE = String(plan.nprocPerNode);
  shared.MASTER_ADDR = plan.masterAddr;
  shared.MASTER_PORT = String(plan.masterPort);
  shared.GROUP_RANK = String(plan.nodeRank);
  if (base.OMP_NUM_THREADS === undefined) shared.OMP_NUM_THREADS = String(Math.max(1, Math.floor(numCores / plan.nprocPerNode)));
  if (timeoutMs !== undefined) shared.PROPHET_TIMEOUT_MS = String(timeoutMs);
  return Array.from({ length: plan.nprocPerNode }, (_, localRank) => ({
    ...shared,
    RANK: String(plan.nodeRank * plan.nprocPerNode + localRank),
    LOCAL_RANK: String(localRank),
  }));
}

/**
 * Runs this node's ranks until all exit. When one rank exits non-zero or dies by a signal, the
 * others get SIGTERM, then SIGKILL after `graceMs`; the result names the rank, and a message
 * with its exit code/signal and last stderr lines goes to `stderr`. SIGINT/SIGTERM to this
 * process stop all ranks the same way. Never rejects once the ranks started.
 */
export async function launch(options: LaunchOptions): Promise<LaunchResult> {
  // Step 1: validate and resolve the port.
  const plan = planLaunch(options);
  const graceMs = checkInteger('options.graceMs', options.graceMs ?? 5000, 0);
  const timeoutMs = options.timeoutMs === undefined ? undefined : checkInteger('options.timeoutMs', options.timeoutMs, 1);
  const resolved = plan.masterPort === 0 ? { ...plan, masterPort: await freePort(plan.masterAddr) } : plan;
  // Step 2: start the ranks.
  const envs = rankEnvironments(resolved, options.env ?? process.env, availableParallelism(), timeoutMs);
  const out = options.stdout ?? process.stdout;
  const err = options.stderr ?? process.stderr;
  const nodeArgs = options.nodeArgs ?? [];
  const ranks = envs.map((env) => startRank(Number(env.RANK), spawn(process.execPath, [...nodeArgs, options.script, ...(options.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] }), out, err));
  // Step 3: supervise until every rank has exited.
  const result = await supervise(ranks, graceMs, options.handleSignals ?? true);
  if (result.failure !== undefined) err.write(failureMessage(result.failure));
  else if (result.interrupted !== undefined) err.write(`prophet launch: interrupted by ${result.interrupted}; stopped all ranks\n`);
  return result;
}

interface RunningRank {
  readonly rank: number;
  readonly child: ChildProcess;
  readonly stderrTail: string[];
  /** Resolves when the process has exited and its output is drained. */
  readonly closed: Promise<void>;
  exited: boolean;
}

function startRank(rank: number, child: ChildProcess, out: Writable, err: Writable): RunningRank {
  const stderrTail: string[] = [];
  const prefix = `[rank ${rank}] `;
  createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', (line) => out.write(prefix + line + '\n'));
  createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', (line) => {
    err.write(prefix + line + '\n');
    stderrTail.push(line);
    if (stderrTail.length > tailLines) stderrTail.shift();
  });
  const running: RunningRank = { rank, child, stderrTail, exited: false, closed: new Promise((resolve) => child.once('close', () => resolve())) };
  child.once('exit', () => (running.exited = true));
  // A spawn failure (e.g. no such executable) arrives as 'error' and then 'close'.
  child.once('error', (error) => stderrTail.push(`failed to start: ${error.message}`));
  return running;
}

// Waits for all ranks; the first failure or an interrupt stops the rest.
async function supervise(ranks: RunningRank[], graceMs: number, handleSignals: boolean): Promise<LaunchResult> {
  let failure: RankFailure | undefined;
  let interrupted: NodeJS.Signals | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const stopAll = () => {
    if (killTimer !== undefined) return;
    for (const r of ranks) if (!r.exited) r.child.kill('SIGTERM');
    killTimer = setTimeout(() => {
      for (const r of ranks) if (!r.exited) r.child.kill('SIGKILL');
    }, graceMs);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted !== undefined) {
      for (const r of ranks) if (!r.exited) r.child.kill('SIGKILL'); // a second Ctrl-C: no more grace
      return;
    }
    interrupted = signal;
    stopAll();
  };
  if (handleSignals) for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, onSignal);
  for (const r of ranks) {
    r.child.once('exit', (code, signal) => {
      const failed = (code !== null && code !== 0) || signal !== null;
      // Ranks exiting while we stop them are not the cause; only the first failure counts.
      if (!failed || failure !== undefined || killTimer !== undefined) return;
      failure = { rank: r.rank, exitCode: code, signal, stderrTail: r.stderrTail };
      stopAll();
    });
  }
  try {
    await Promise.all(ranks.map((r) => r.closed));
  } finally {
    clearTimeout(killTimer);
    if (handleSignals) for (const signal of ['SIGINT', 'SIGTERM'] as const) process.off(signal, onSignal);
  }
  if (failure !== undefined) return { exitCode: exitCodeOf(failure.exitCode, failure.signal), failedRank: failure.rank, failure };
  if (interrupted !== undefined) return { exitCode: exitCodeOf(null, interrupted), interrupted };
  return { exitCode: 0 };
}

// Shell convention: 128 + the signal's number.
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null && code !== 0) return code;
  return signal === null ? 1 : 128 + (constants.signals[signal] ?? 0);
}

function failureMessage(failure: RankFailure): string {
  const how = failure.signal !== null ? `was killed by ${failure.signal}` : `exited with code ${failure.exitCode}`;
  const tail = failure.stderrTail.length === 0 ? ' It wrote nothing to stderr.\n' : ` Last lines of its stderr:\n${failure.stderrTail.map((line) => `  ${line}`).join('\n')}\n`;
  return `prophet launch: rank ${failure.rank} ${how}; stopped the other ranks.${tail}`;
}

/** A port that was free a moment ago on `host` (the usual small race is accepted). */
async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error(`could not find a free port on ${host}`);
  return address.port;
}
