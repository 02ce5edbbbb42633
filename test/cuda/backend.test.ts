// The CPU-side dispatch logic around the CUDA backend: how the addon's registry finds and loads
// libprophet_cuda.so (PROPHET_CUDA_LIBRARY, then next to the addon), the reason it gives for each
// failed step, that CUDA requests fail with ECUDA while the CPU keeps working, and the library's
// export surface. The registry loads once per process, so each scenario runs in a child process.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { backends, Device, ProphetError } from '../../src/index.js';
import { packageRoot } from '../../src/native.js';

const addonDir = join(packageRoot, 'build', 'Release');
const library = join(addonDir, 'libprophet_cuda.so');
const libraryBuilt = existsSync(library);
// CI sets this after `npm run build:cuda`, so that a missing library fails instead of skipping.
const libraryExpected = process.env.PROPHET_EXPECT_CUDA_LIBRARY === '1';

interface ChildReport {
  readonly cuda: { available: boolean; reason: string; devices: { computeCapability: string }[] };
  readonly cpuAvailable: boolean;
  readonly storageError: { code?: string; message: string } | null;
  readonly cpuWorks: boolean;
}

// Loads the addon in a fresh process with `env` and reports what the registry said.
function probe(env: Record<string, string | undefined>): ChildReport {
  const script = `
    const addon = require('node-gyp-build')(${JSON.stringify(packageRoot)});
    const info = addon.backendInfo();
    let storageError = null;
    try { new addon.Storage('cuda', 0, 4).dispose(); } catch (e) { storageError = { code: e.code, message: e.message }; }
    const cpu = new addon.Storage('cpu', 0, 16);
    cpu.dispose();
    console.log(JSON.stringify({ cuda: info.cuda, cpuAvailable: info.cpu.available, storageError, cpuWorks: cpu.disposed }));
  `;
  const child = spawnSync(process.execPath, ['-e', script], {
    cwd: packageRoot,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as ChildReport;
}

describe('CUDA backend loading', () => {
  it('names every path tried and why it failed, then says how to fix it', () => {
    const report = probe({ PROPHET_CUDA_LIBRARY: '/nonexistent/libprophet_cuda.so' });
    const lines = report.cuda.reason.split('\n');
    expect(report.cuda.available).toBe(false);
    expect(lines[0]).toMatch(/^\/nonexistent\/libprophet_cuda\.so: dlopen failed: .*No such file or directory/);
    expect(lines[1]).toMatch(new RegExp(`^${addonDir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/libprophet_cuda\\.so: `));
    expect(lines.at(-1)).toBe(
      'build the CUDA backend with `npm run build:cuda` on a machine with nvcc, or set PROPHET_CUDA_LIBRARY to its path',
    );
    expect(report.storageError?.code).toBe('ECUDA');
    expect(report.storageError?.message).toMatch(/^CUDA backend unavailable: \/nonexistent/);
    expect(report.cpuAvailable).toBe(true);
    expect(report.cpuWorks).toBe(true);
  });

  it('refuses a shared library that is not a pro-prophet backend', () => {
    // The addon itself: a valid shared object without prophet_backend_score/init.
    const report = probe({ PROPHET_CUDA_LIBRARY: join(addonDir, 'prophet.node') });
    expect(report.cuda.reason.split('\n')[0]).toBe(
      `${join(addonDir, 'prophet.node')}: not a pro-prophet backend (missing prophet_backend_score/init)`,
    );
    expect(report.storageError?.code).toBe('ECUDA');
  });

  it('reports a file that is not a shared library as a dlopen failure', () => {
    const report = probe({ PROPHET_CUDA_LIBRARY: join(packageRoot, 'package.json') });
    expect(report.cuda.reason.split('\n')[0]).toMatch(/package\.json: dlopen failed: /);
    expect(report.cpuWorks).toBe(true);
  });

  it.skipIf(!libraryBuilt && !libraryExpected)(
    'loads the built library; without a driver or device it says so and CUDA requests throw ECUDA',
    () => {
      expect(libraryBuilt, `${library} is missing: run npm run build:cuda`).toBe(true);
      const report = probe({ PROPHET_CUDA_LIBRARY: library });
      if (report.cuda.available) {
        // A machine with a driver and a GPU.
        expect(report.cuda.devices.length).toBeGreaterThan(0);
        expect(report.cuda.devices[0]?.computeCapability).toMatch(/^\d+\.\d+$/);
        expect(report.storageError).toBeNull();
        return;
      }
      // Without a driver: cudaErrorInsufficientDriver; without a device: cudaErrorNoDevice.
      expect(report.cuda.reason.split('\n')[0]).toMatch(
        new RegExp(`^${library.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: no usable device: cudaGetDeviceCount (failed: .+ \\(cudaError\\w+\\)|found no CUDA device)$`),
      );
      expect(report.storageError?.code).toBe('ECUDA');
      expect(report.cpuWorks).toBe(true);
    },
  );

  it.skipIf(!libraryBuilt && !libraryExpected)('exports exactly the two backend entries', () => {
    const nm = spawnSync('nm', ['-D', '--defined-only', library], { encoding: 'utf8' });
    expect(nm.status, nm.stderr).toBe(0);
    const names = nm.stdout
      .trim()
      .split('\n')
      .map((line) => line.split(/\s+/).at(-1))
      .sort();
    expect(names).toEqual(['prophet_backend_init', 'prophet_backend_score']);
  });

  it('Device.cuda() throws ProphetError ECUDA when the backend is unavailable', () => {
    const report = backends();
    if (report.cuda.available) return; // a machine with a GPU and the library: nothing to refuse
    let thrown: unknown;
    try {
      Device.cuda();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ProphetError);
    expect((thrown as ProphetError).code).toBe('ECUDA');
    expect((thrown as Error).message).toBe(`cuda backend unavailable: ${report.cuda.reason}`);
    expect(Device.cpu().toString()).toBe('cpu:0');
  });
});

describe('scripts/build-cuda.mjs', () => {
  const script = join(packageRoot, 'scripts', 'build-cuda.mjs');
  const run = (args: string[]) =>
    spawnSync(process.execPath, [script, ...args], {
      cwd: packageRoot,
      env: { ...process.env, PROPHET_SKIP_CUDA: '1' },
      encoding: 'utf8',
    });

  it('at install, a skipped CUDA build is a notice, not a failure', () => {
    const child = run([]);
    expect(child.status).toBe(0);
    expect(child.stderr).toContain('CUDA backend not built (PROPHET_SKIP_CUDA=1); the CPU backend is ready.');
  });

  it('with --required (npm run build:cuda) the same condition fails', () => {
    const child = run(['--required']);
    expect(child.status).toBe(1);
    expect(child.stderr).toContain('cannot build the CUDA backend: PROPHET_SKIP_CUDA=1');
  });
});
