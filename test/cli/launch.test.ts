import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { transpileSources } from '../support/transpile.js';

let dir: string;
let compiled: string;
const children: ChildProcess[] = [];
const pids: number[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
  compiled = transpileSources();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(compiled, { recursive: true, force: true });
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Run {
  readonly child: ChildProcess;
  readonly output: { stdout: string; stderr: string };
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

// Runs the compiled `prophet` CLI; output accumulates as it arrives; killed after 20 s at most.
function prophet(args: string[]): Run {
  const child = spawn(process.execPath, [join(compiled, 'src', 'cli', 'main.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (chunk: Buffer) => {
    output.stdout += chunk.toString();
    for (const match of chunk.toString().matchAll(/pid (\d+)/g)) pids.push(Number(match[1]));
  });
  child.stderr!.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    }),
  );
  return { child, output, done };
}

function script(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

describe('prophet launch', () => {
  it('lists launch in the help', async () => {
    const run = prophet(['--help']);
    expect((await run.done).code).toBe(0);
    expect(run.output.stdout).toContain('launch [options] <script> [args...]');
  });

  it('passes options after the script to the script and exits 0', async () => {
    const echo = script('echo.mjs', 'console.log(process.env.RANK + "/" + process.env.WORLD_SIZE + " " + process.argv.slice(2).join(" "));');
    const run = prophet(['launch', '--nproc-per-node', '2', '--master-port', 'auto', echo, '--nproc-per-node', '9', 'x']);
    expect((await run.done).code).toBe(0);
    expect(run.output.stdout.trim().split('\n').sort()).toEqual(['[rank 0] 0/2 --nproc-per-node 9 x', '[rank 1] 1/2 --nproc-per-node 9 x']);
  });

  it('exports --timeout as PROPHET_TIMEOUT_MS', async () => {
    const echo = script('timeout.mjs', 'console.log(process.env.PROPHET_TIMEOUT_MS);');
    const run = prophet(['launch', '--timeout', '2.5', '--master-port', 'auto', echo]);
    expect((await run.done).code).toBe(0);
    expect(run.output.stdout).toBe('[rank 0] 2500\n');
  });

  it('exits with the failed rank\'s code and names it', async () => {
    const failing = script('fail.mjs', `
      console.log('pid ' + process.pid);
      if (process.env.RANK === '2') { console.error('out of memory'); process.exit(3); }
      setInterval(() => {}, 1000);
    `);
    const run = prophet(['launch', '--nproc-per-node', '3', '--master-port', 'auto', '--grace', '1', failing]);
    expect((await run.done).code).toBe(3);
    expect(run.output.stderr).toContain('prophet launch: rank 2 exited with code 3; stopped the other ranks. Last lines of its stderr:\n  out of memory');
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('stops every rank on SIGINT and exits 130', async () => {
    const sleeper = script('sleep.mjs', "console.log('pid ' + process.pid); setInterval(() => {}, 1000);");
    const run = prophet(['launch', '--nproc-per-node', '2', '--master-port', 'auto', sleeper]);
    for (let i = 0; i < 200 && pids.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(pids).toHaveLength(2);
    run.child.kill('SIGINT');
    const { code } = await run.done;
    expect(code).toBe(130);
    expect(run.output.stderr).toContain('prophet launch: interrupted by SIGINT; stopped all ranks');
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });

  it('reports bad option values', async () => {
    const echo = script('noop.mjs', '');
    const zero = prophet(['launch', '--nproc-per-node', '0', echo]);
    expect((await zero.done).code).toBe(2);
    expect(zero.output.stderr).toContain('error: Expected integer in [1, 4096] for options.nprocPerNode but received 0 of type number');
    const word = prophet(['launch', '--nnodes', 'two', echo]);
    expect((await word.done).code).toBe(1);
    expect(word.output.stderr).toContain("error: option '--nnodes <m>' argument 'two' is invalid. Expected a non-negative integer.");
  });
});
