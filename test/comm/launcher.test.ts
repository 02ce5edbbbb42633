import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { launch, planLaunch, rankEnvironments, type LaunchOptions } from '../../src/comm/launcher.js';
import { transpileSources } from '../support/transpile.js';

const thisFile = fileURLToPath(import.meta.url);
let dir: string;
let compiled: string;
const pids: number[] = [];
const cleanups: (() => unknown)[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'launch-test-'));
  compiled = transpileSources();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(compiled, { recursive: true, force: true });
});
afterEach(async () => {
  // Whatever a failing test left running dies here.
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function script(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Runs launch() with captured output; records the ranks' pids (each script prints "pid N").
async function run(options: LaunchOptions) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (chunk: Buffer) => {
    out.push(chunk.toString());
    for (const match of chunk.toString().matchAll(/pid (\d+)/g)) pids.push(Number(match[1]));
  });
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString()));
  const result = await launch({ handleSignals: false, graceMs: 2000, masterPort: 'auto', ...options, stdout, stderr });
  return { result, stdout: out.join(''), stderr: err.join('') };
}

// Lets a rank wait until every rank has started (and installed its handlers), so that tests do
// not depend on how fast a loaded machine starts processes. Each rank marks itself ready with
// a file in READY_DIR.
const readiness = `
  import { existsSync, writeFileSync } from 'node:fs';
  const ready = (rank) => process.env.READY_DIR + '/ready-' + rank;
  const markReady = () => writeFileSync(ready(process.env.RANK), '');
  const allReady = async () => {
    const ranks = [...Array(Number(process.env.WORLD_SIZE)).keys()];
    while (!ranks.every((r) => existsSync(ready(r)))) await new Promise((r) => setTimeout(r, 20));
  };
`;

function readyEnv(): Record<string, string | undefined> {
  return { ...process.env, READY_DIR: mkdtempSync(join(dir, 'ready-')) };
}

// A rank that prints its pid and then waits forever (until killed).
const sleeper = "console.log('pid ' + process.pid); setInterval(() => {}, 1000);\n";

describe('rank environment', () => {
  it('follows torchrun for 2 nodes of 3', () => {
    const plan = planLaunch({ script: thisFile, nprocPerNode: 3, nnodes: 2, nodeRank: 1, masterAddr: 'head', masterPort: 1234 });
    const envs = rankEnvironments(plan, { PATH: '/bin' }, 16, 9000);
    expect(envs.map((e) => [e.RANK, e.LOCAL_RANK])).toEqual([['3', '0'], ['4', '1'], ['5', '2']]);
    for (const env of envs) {
      expect(env).toMatchObject({ WORLD_SIZE: '6', LOCAL_WORLD_SIZE: '3', MASTER_ADDR: 'head', MASTER_PORT: '1234', OMP_NUM_THREADS: '5', PATH: '/bin', PROPHET_TIMEOUT_MS: '9000' });
    }
    expect(rankEnvironments(plan, { OMP_NUM_THREADS: '2' }, 16)[0]!.OMP_NUM_THREADS).toBe('2');
    expect(rankEnvironments(plan, {}, 2)[0]!.OMP_NUM_THREADS).toBe('1');
  });

  it('rejects bad options naming them', () => {
    expect(() => planLaunch({ script: thisFile, nprocPerNode: 0 })).toThrow('Expected integer in [1, 4096] for options.nprocPerNode but received 0 of type number');
    expect(() => planLaunch({ script: thisFile, nnodes: 2, nodeRank: 1 })).toThrow('Expected host of rank 0 (required with several nodes) for options.masterAddr but received undefined');
    expect(() => planLaunch({ script: thisFile, nnodes: 2, nodeRank: 0, masterAddr: 'h', masterPort: 'auto' })).toThrow('Expected integer in [1, 65535] for options.masterPort but received 0');
    expect(() => planLaunch({ script: thisFile, nnodes: 2, nodeRank: 2, masterAddr: 'h' })).toThrow('Expected integer in [0, 1] for options.nodeRank but received 2');
    expect(() => planLaunch({ script: '/no/such/script.js' })).toThrow('Expected path of an existing script for options.script but received "/no/such/script.js"');
  });
});

describe('launch', () => {
  it('starts 3 ranks with torchrun variables and prefixed output', async () => {
    const printEnv = script('env.mjs', `
      const keys = ['RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'OMP_NUM_THREADS'];
      console.log(JSON.stringify({ ...Object.fromEntries(keys.map((k) => [k, process.env[k]])), args: process.argv.slice(2) }));
      console.error('to stderr');
    `);
    const { result, stdout, stderr } = await run({ script: printEnv, args: ['--lr', '0.1'], nprocPerNode: 3, masterPort: 23456, env: { PATH: process.env.PATH } });
    expect(result).toEqual({ exitCode: 0 });
    const lines = stdout.trim().split('\n').sort();
    expect(lines).toHaveLength(3);
    const threads = String(Math.max(1, Math.floor(availableParallelism() / 3)));
    for (const [rank, line] of lines.entries()) {
      expect(line.startsWith(`[rank ${rank}] `)).toBe(true);
      expect(JSON.parse(line.slice(`[rank ${rank}] `.length))).toEqual({
        RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: '3', LOCAL_WORLD_SIZE: '3',
        MASTER_ADDR: '127.0.0.1', MASTER_PORT: '23456', OMP_NUM_THREADS: threads, args: ['--lr', '0.1'],
      });
    }
    expect(stderr.trim().split('\n').sort()).toEqual(['[rank 0] to stderr', '[rank 1] to stderr', '[rank 2] to stderr']);
  });

  it('picks a free port with masterPort auto', async () => {
    const printPort = script('port.mjs', 'console.log(process.env.MASTER_PORT);');
    const { stdout } = await run({ script: printPort, nprocPerNode: 2, masterPort: 'auto' });
    const ports = stdout.trim().split('\n').map((line) => Number(line.split('] ')[1]));
    expect(ports[0]).toBeGreaterThan(0);
    expect(ports[0]).toBe(ports[1]);
  });

  it('stops the others and names the rank, its code and stderr when one exits 3', async () => {
    const failing = script('fail.mjs', `${readiness}
      console.log('pid ' + process.pid);
      markReady();
      if (process.env.RANK === '1') { await allReady(); console.error('loss is NaN at step 7'); process.exit(3); }
      else setInterval(() => {}, 1000);
    `);
    const start = Date.now();
    const { result, stderr } = await run({ script: failing, nprocPerNode: 3, env: readyEnv() });
    expect(Date.now() - start).toBeLessThan(10_000);
    expect(result.exitCode).toBe(3);
    expect(result.failedRank).toBe(1);
    expect(result.failure).toMatchObject({ rank: 1, exitCode: 3, signal: null, stderrTail: ['loss is NaN at step 7'] });
    expect(stderr).toContain('prophet launch: rank 1 exited with code 3; stopped the other ranks. Last lines of its stderr:\n  loss is NaN at step 7\n');
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('kills a rank that ignores SIGTERM after the grace period', async () => {
    const stubborn = script('stubborn.mjs', `${readiness}
      console.log('pid ' + process.pid);
      process.on('SIGTERM', () => console.log('ignoring SIGTERM at ' + Date.now()));
      markReady();
      if (process.env.RANK === '0') { await allReady(); console.log('failing at ' + Date.now()); process.exit(1); }
      else setInterval(() => {}, 1000);
    `);
    const start = Date.now();
    const { result, stdout } = await run({ script: stubborn, nprocPerNode: 2, graceMs: 400, env: readyEnv() });
    const end = Date.now();
    expect(result).toMatchObject({ exitCode: 1, failedRank: 0 });
    expect(stdout).toContain('[rank 1] ignoring SIGTERM');
    // SIGKILL came only after the grace period, counted from rank 0's failure.
    const failedAt = Number(/failing at (\d+)/.exec(stdout)?.[1]);
    expect(end - failedAt).toBeGreaterThanOrEqual(400);
    expect(end - start).toBeLessThan(10_000);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('reports a rank killed by a signal as 128 + its number', async () => {
    const killed = script('killed.mjs', `${readiness}
      console.log('pid ' + process.pid);
      markReady();
      if (process.env.RANK === '1') { await allReady(); process.kill(process.pid, 'SIGKILL'); }
      else setInterval(() => {}, 1000);
    `);
    const { result, stderr } = await run({ script: killed, nprocPerNode: 2, env: readyEnv() });
    expect(result).toMatchObject({ exitCode: 137, failedRank: 1, failure: { signal: 'SIGKILL', exitCode: null } });
    expect(stderr).toContain('prophet launch: rank 1 was killed by SIGKILL; stopped the other ranks. It wrote nothing to stderr.');
  });

  it('runs a 4-rank rendezvous across processes on loopback', async () => {
    const meet = script('meet.mjs', `
      import { readLaunchEnv } from '${compiled}/src/comm/env.js';
      import { rendezvous } from '${compiled}/src/comm/rendezvous.js';
      const launch = readLaunchEnv(process.env);
      const group = await rendezvous({ launch, timeoutMs: 10000 });
      await group.store.set('value/' + launch.rank, String(launch.rank * launch.rank));
      const seen = [];
      for (let r = 0; r < launch.worldSize; r++) seen.push(await group.store.getString('value/' + r));
      const total = await group.store.add('sum', launch.rank + 1);
      await group.barrier('added', 10000);
      console.log(JSON.stringify({ seen, sum: await group.store.add('sum', 0) }));
      await group.close(10000);
    `);
    const { result, stdout, stderr } = await run({ script: meet, nprocPerNode: 4 });
    expect(stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(JSON.parse(line.slice(line.indexOf('] ') + 2))).toEqual({ seen: ['0', '1', '4', '9'], sum: 10 });
  });

  it('joins a process group in every rank or fails on every rank with the reason', async () => {
    // Gloo when the addon has it; otherwise the clear "not built" error, on every rank.
    const join = script('group.mjs', `
      import { initProcessGroup } from '${compiled}/src/comm/process-group.js';
      try {
        const group = await initProcessGroup({ backend: 'gloo', timeoutMs: 10000 });
        console.log('joined ' + group.rank + '/' + group.worldSize);
        await group.destroy();
      } catch (error) {
        console.error(error.code + ': ' + error.message);
        process.exit(2);
      }
    `);
    const { result, stdout, stderr } = await run({ script: join, nprocPerNode: 2 });
    if (result.exitCode === 0) {
      expect(stdout.trim().split('\n').sort()).toEqual(['[rank 0] joined 0/2', '[rank 1] joined 1/2']);
    } else {
      expect(result).toMatchObject({ exitCode: 2 });
      expect(stderr).toContain("ECOMM: the multi-process CPU backend ('gloo') is not built into this addon");
    }
  });

  it('exchanges the NCCL id across processes; without a GPU every rank fails with NCCL\'s message', async (context) => {
    if (existsSync('/dev/nvidia0')) context.skip('a GPU is present: covered by the GPU suite');
    const nccl = script('nccl.mjs', `
      import { initProcessGroup } from '${compiled}/src/comm/process-group.js';
      try {
        await initProcessGroup({ backend: 'nccl', timeoutMs: 10000 });
        console.log('unexpected success');
      } catch (error) {
        console.log(error.code + ': ' + error.message.split('\\n')[0]);
      }
    `);
    const { result, stdout } = await run({ script: nccl, nprocPerNode: 2 });
    expect(result.exitCode).toBe(0);
    const lines = stdout.trim().split('\n').sort();
    if (lines[0]!.includes('Could not load libnccl.so.2')) context.skip('NCCL is not installed (pip install nvidia-nccl-cu13)');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[rank 0\] ENCCL: ncclCommInitRank failed \(rank 0 of 2\): \S/);
    expect(lines[1]).toMatch(/^\[rank 1\] ENCCL: ncclCommInitRank failed \(rank 1 of 2\): \S/);
  });

  it('fails clearly when MASTER_PORT is taken', async () => {
    // Another service on the port: it accepts connections and never answers.
    const held: Socket[] = [];
    const blocker: Server = createServer((socket) => held.push(socket.resume()));
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => { held.forEach((socket) => socket.destroy()); blocker.close(resolve); }));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const meet = script('meet-taken.mjs', `
      import { readLaunchEnv } from '${compiled}/src/comm/env.js';
      import { rendezvous } from '${compiled}/src/comm/rendezvous.js';
      console.log('pid ' + process.pid);
      try {
        await rendezvous({ launch: readLaunchEnv(process.env), timeoutMs: 20000 });
      } catch (error) {
        console.error(error.code + ': ' + error.message);
        process.exit(1);
      }
    `);
    const { result, stderr } = await run({ script: meet, nprocPerNode: 2, masterPort: port });
    expect(result).toMatchObject({ exitCode: 1, failedRank: 0 });
    expect(stderr).toContain(`prophet launch: rank 0 exited with code 1; stopped the other ranks. Last lines of its stderr:\n  ECOMM: rank 0 could not host the rendezvous store on MASTER_ADDR=127.0.0.1 MASTER_PORT=${port}: `);
    expect(stderr).toContain(`port ${port} is already in use`);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('stops all ranks when the launcher gets SIGINT', async () => {
    const ready = script('ready.mjs', sleeper);
    const stdout = new PassThrough();
    let text = '';
    stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      for (const match of chunk.toString().matchAll(/pid (\d+)/g)) pids.push(Number(match[1]));
    });
    const running = launch({ script: ready, nprocPerNode: 2, masterPort: 'auto', graceMs: 2000, stdout, stderr: new PassThrough() });
    for (let i = 0; i < 100 && pids.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(pids).toHaveLength(2);
    process.emit('SIGINT', 'SIGINT');
    const result = await running;
    expect(result).toEqual({ exitCode: 130, interrupted: 'SIGINT' });
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(text).toContain('[rank 0] pid ');
    // The launcher's handlers are gone again.
    expect(process.listeners('SIGINT')).toHaveLength(0);
  });
});
