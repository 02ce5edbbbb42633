#!/usr/bin/env node
// Builds the optional CUDA backend (cuda/) when nvcc is found. Run by `npm install` (where its
// absence is a one-line notice, never a failure) and by `npm run build:cuda` (--required: any
// problem fails the command).
//
// It runs CMake itself rather than through cmake-js: cmake-js treats a source folder whose
// package.json lacks `binary.napi_versions` (cuda/ has none: it is no Node addon) as a NAN/V8
// project and downloads Node's headers first, which fails without a network at install time.
// libprophet_cuda.so needs no Node header at all, and plain CMake is also how
// cuda/test/gpu-check.sh builds it on GPU machines that have no Node.
//
//   node scripts/build-cuda.mjs [--required] [--tests]
//   env: PROPHET_SKIP_CUDA=1, PROPHET_CUDA_ARCHS="80;90", PROPHET_CUDA_JOBS=N, CUDACXX, CUDA_HOME
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const required = process.argv.includes('--required');
const withTests = process.argv.includes('--tests');

function skip(reason) {
  if (required) {
    console.error(`pro-prophet: cannot build the CUDA backend: ${reason}`);
    process.exit(1);
  }
  console.error(`pro-prophet: CUDA backend not built (${reason}); the CPU backend is ready.`);
  process.exit(0);
}

function onPath(command) {
  const which = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

function findNvcc() {
  const candidates = [
    process.env.CUDACXX,
    process.env.CUDA_HOME && join(process.env.CUDA_HOME, 'bin/nvcc'),
    '/usr/local/cuda/bin/nvcc',
  ];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  return onPath('nvcc');
}

function run(args) {
  console.error(`pro-prophet: cmake ${args.join(' ')}`);
  return spawnSync('cmake', args, { cwd: root, stdio: 'inherit' }).status;
}

if (process.env.PROPHET_SKIP_CUDA === '1') skip('PROPHET_SKIP_CUDA=1');
const nvcc = findNvcc();
if (nvcc === undefined) skip('nvcc not found');
if (!existsSync(join(root, 'cuda', 'CMakeLists.txt'))) skip('this version ships no CUDA sources yet');
if (onPath('cmake') === undefined) skip('cmake not found (CMake >= 3.24 builds the CUDA backend)');

const buildDir = join('build', 'cuda');
const configure = ['-S', 'cuda', '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release', `-DCMAKE_CUDA_COMPILER=${nvcc}`];
if (process.env.PROPHET_CUDA_ARCHS) configure.push(`-DCMAKE_CUDA_ARCHITECTURES=${process.env.PROPHET_CUDA_ARCHS}`);
configure.push(`-DPROPHET_CUDA_TESTS=${withTests ? 'ON' : 'OFF'}`);
const jobs = process.env.PROPHET_CUDA_JOBS ?? String(Math.min(availableParallelism(), 8));

let status = run(configure);
if (status === 0) status = run(['--build', buildDir, '--parallel', jobs]);
if (status !== 0) {
  if (required) process.exit(status ?? 1);
  console.error('pro-prophet: CUDA backend build failed (see above); the CPU backend is ready.');
  process.exit(0);
}
console.error('pro-prophet: built build/Release/libprophet_cuda.so');
