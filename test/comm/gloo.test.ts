/**
 * The multi-process (Gloo) backend: 2–4 `node` processes on loopback rendezvous through an
 * in-test store, or 4 started by `prophet launch` (launch()) through initProcessGroup, and check
 * collectives against the plain reference and failures. Skipped when the addon was built
 * without Gloo.
 */
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createGlooCommunicator, glooAvailable } from '../../src/comm/gloo.js';
import { launch, type LaunchOptions } from '../../src/comm/launcher.js';
import { startTestStore, type TestStore } from './store-server.js';
import { repoRoot, transpileForChildren } from './transpile.js';

interface RankResult {
  rank: number;
  ok: boolean;
  failures: string[];
  error?: { code?: string; message?: string };
  elapsedMs?: number;
}

const available = glooAvailable();
let store: TestStore;
let script: string;
let numGroups = 0;

beforeAll(async () => {
  if (!available) return;
  [script] = transpileForChildren(['test/comm/gloo-rank.ts', 'test/comm/reference.ts']) as [string];
  store = await startTestStore();
});

afterAll(async () => {
  await store?.close();
});

/** Runs `size` ranks of the scenario; each must exit within the time limit. */
async function runRanks(size: number, scenario: string): Promise<RankResult[]> {
  const prefix = `group${numGroups++}`;
  const runs = [...Array(size).keys()].map(
    (rank) =>
      new Promise<RankResult>((resolve, reject) => {
        const child = spawn(process.execPath, [script, String(rank), String(size), String(store.port), prefix, scenario], {
          cwd: repoRoot,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, OMP_NUM_THREADS: '1' },
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
        child.on('exit', (code) => {
          clearTimeout(killer);
          const line = out.trim().split('\n').pop() ?? '';
          try {
            resolve(JSON.parse(line) as RankResult);
          } catch {
            reject(new Error(`rank ${rank} exited with ${code}: ${out}\n${err}`));
          }
        });
      }),
  );
  return Promise.all(runs);
}

describe.skipIf(!available)('gloo process group', () => {
  it.each([2, 4])('%i processes: collectives match the plain reference', async (size) => {
    const results = await runRanks(size, 'collectives');
    for (const r of results) expect(r, JSON.stringify(r)).toMatchObject({ ok: true, failures: [] });
  });

  it('a rank that never calls gives ETIMEDOUT on the others', async () => {
    const started = Date.now();
    const results = await runRanks(3, 'absent');
    for (const r of results.slice(0, 2)) {
      expect(r.error?.code, JSON.stringify(r)).toBe('ETIMEDOUT');
      expect(r.error?.message).toMatch(/gloo allReduce #0 timed out after 700 ms on rank \d: ranks \[2\] never (sent|received)/);
    }
    expect(results[2]).toMatchObject({ ok: true });
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('a rank that exits makes the others fail with ETIMEDOUT or ECOMM', async () => {
    const results = await runRanks(3, 'exit');
    for (const r of results.slice(0, 2)) expect(['ETIMEDOUT', 'ECOMM'], JSON.stringify(r)).toContain(r.error?.code);
  });

  it('a wrong world size fails with a clear error', async () => {
    const results = await runRanks(2, 'wrong-size');
    expect(results[1]?.error, JSON.stringify(results)).toMatchObject({ code: 'ECOMM', message: expect.stringMatching(/rank 0 was started with world size 2 but this rank with 3/) });
    expect(results[0]?.error?.code).toBe('ETIMEDOUT');
  });

  it('an unreachable store gives ETIMEDOUT; bad options name the argument', async () => {
    await expect(createGlooCommunicator({ rank: 0, size: 2, storeHost: '127.0.0.1', storePort: 1, timeoutMs: 300 })).rejects.toMatchObject({
      code: 'ETIMEDOUT',
      message: expect.stringMatching(/cannot reach the rendezvous store at 127.0.0.1:1 within 300 ms/),
    });
    await expect(createGlooCommunicator({ rank: 2, size: 2, storeHost: '127.0.0.1', storePort: 1 })).rejects.toThrow(
      new RangeError('Expected integer in [0, 1] for options.rank but received 2 of type number'),
    );
    await expect(createGlooCommunicator({ rank: 0, size: 2, storeHost: '', storePort: 1 })).rejects.toThrow(TypeError);
  });
});

/** Runs the scenario under launch() with 4 ranks; returns its result, stderr and each rank's
 * JSON line (by rank; a rank that printed none is missing). */
async function launchRanks(scenario: string, options: Partial<LaunchOptions> = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const result = await launch({ script, args: [scenario], nprocPerNode: 4, masterPort: 'auto', timeoutMs: 20_000, handleSignals: false, stdout, stderr, ...options });
  const ranks = new Map<number, RankResult>();
  for (const match of out.matchAll(/^\[rank (\d+)\] (\{.*\})$/gm)) ranks.set(Number(match[1]), JSON.parse(match[2]!) as RankResult);
  return { result, stderr: err, ranks };
}

describe.skipIf(!available)('gloo under prophet launch, 4 processes', () => {
  it('collectives match the plain reference', async () => {
    const { result, stderr, ranks } = await launchRanks('collectives');
    expect(result, stderr).toEqual({ exitCode: 0 });
    expect([...ranks.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const r of ranks.values()) expect(r, JSON.stringify(r)).toMatchObject({ ok: true, failures: [] });
  });

  it('a rank killed mid-all-to-all makes the others fail within the timeout; the launcher names it', async () => {
    // The grace period only has to outlast the survivors' failure (2 s timeout) on a busy machine.
    const { result, stderr, ranks } = await launchRanks('killed', { graceMs: 10_000 });
    expect(result, stderr).toMatchObject({ exitCode: 137, failedRank: 3, failure: { signal: 'SIGKILL' } });
    expect(stderr).toContain('prophet launch: rank 3 was killed by SIGKILL; stopped the other ranks.');
    for (const rank of [0, 1, 2]) {
      const r = ranks.get(rank);
      expect(['ETIMEDOUT', 'ECOMM'], JSON.stringify(r)).toContain(r?.error?.code);
      // Detection is bounded by the 2 s per-call timeout; the rest is slack for a loaded machine.
      expect(r?.elapsedMs, JSON.stringify(r)).toBeLessThan(2000 + 5000);
    }
    expect(ranks.has(3)).toBe(false);
  });
});
