// .ci/run always ends with the "N passed, N failed" line CI reads, whichever step fails. Each
// case runs a copy of the script in a scratch folder where the steps it calls are stand-ins
// (system-packages.sh, npm, the CUDA build) that succeed or fail on demand; nothing is installed.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { packageRoot } from '../../src/native.js';

interface Outcome {
  readonly status: number | null;
  readonly lines: string[];
}

interface StandIns {
  /** Exit status of .ci/system-packages.sh. */
  readonly systemPackages?: number;
  /** Exit status of `npm ci`. */
  readonly npmCi?: number;
  /** The report `npm test` writes (none when undefined), and its exit status. */
  readonly report?: object;
  readonly npmTest?: number;
}

const scratchFolders: string[] = [];
afterEach(() => {
  for (const dir of scratchFolders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function script(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

function runCi(standIns: StandIns): Outcome {
  const root = mkdtempSync(join(tmpdir(), 'prophet-ci-'));
  scratchFolders.push(root);
  for (const dir of ['.ci', 'bin', 'scripts', 'build/cuda']) mkdirSync(join(root, dir), { recursive: true });
  copyFileSync(join(packageRoot, '.ci', 'run'), join(root, '.ci', 'run'));
  script(join(root, '.ci', 'system-packages.sh'), `exit ${standIns.systemPackages ?? 0}\n`);
  // The CUDA step runs only where nvcc exists; its stand-ins succeed.
  writeFileSync(join(root, 'scripts', 'build-cuda.mjs'), '');
  script(join(root, 'build', 'cuda', 'prophet_cuda_test'), 'exit 0\n');
  // `npm test` writes the report to its --outputFile=<path> argument.
  const writeReport =
    standIns.report === undefined
      ? ''
      : `for arg; do case "$arg" in --outputFile=*) printf '%s' '${JSON.stringify(standIns.report)}' > "\${arg#--outputFile=}" ;; esac; done`;
  script(
    join(root, 'bin', 'npm'),
    `case "$1" in\n  ci) exit ${standIns.npmCi ?? 0} ;;\n  test) ${writeReport}\n    exit ${standIns.npmTest ?? 0} ;;\nesac\nexit 99\n`,
  );
  const child = spawnSync('bash', [join(root, '.ci', 'run')], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${join(root, 'bin')}:${process.env.PATH ?? ''}` },
    timeout: 30_000,
  });
  return { status: child.status, lines: child.stdout.trimEnd().split('\n') };
}

/** A vitest JSON report: `passed` and `failed` tests, and one file that failed to load. */
function vitestReport(passed: number, failed: number): object {
  return {
    numPassedTests: passed,
    numFailedTests: failed,
    numPendingTests: 2,
    numTodoTests: 1,
    testResults: [
      { status: failed > 0 ? 'failed' : 'passed', assertionResults: [{ status: failed > 0 ? 'failed' : 'passed' }] },
      { status: 'failed', assertionResults: [] },
    ],
  };
}

describe('.ci/run', () => {
  it('ends with the summary of the test report, and the tests’ exit status', () => {
    const { status, lines } = runCi({ report: vitestReport(7, 1), npmTest: 1 });
    expect(lines.at(-1)).toBe('7 passed, 2 failed, 3 skipped');
    expect(status).toBe(1);
  });

  it('reports a failed system-package step as one failure, naming the step', () => {
    const { status, lines } = runCi({ systemPackages: 3 });
    expect(lines.slice(-2)).toEqual(['CI stopped in step "system packages" (exit 3) before a test summary', '0 passed, 1 failed']);
    expect(status).toBe(3);
  });

  it('reports a failed npm ci as one failure, naming the step', () => {
    const { status, lines } = runCi({ npmCi: 1 });
    expect(lines.slice(-2)).toEqual([
      'CI stopped in step "npm ci (builds the addon with node-gyp, compiles TypeScript)" (exit 1) before a test summary',
      '0 passed, 1 failed',
    ]);
    expect(status).toBe(1);
  });

  it('reports a test run that wrote no report as one failure', () => {
    const { status, lines } = runCi({ npmTest: 0 });
    expect(lines.slice(-2)).toEqual([
      'CI stopped in step "tests (README: npm test)" (exit 1) before a test summary',
      '0 passed, 1 failed',
    ]);
    expect(status).toBe(1);
  });
});
