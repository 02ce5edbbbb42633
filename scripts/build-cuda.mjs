#!/usr/bin/env node
// Builds the optional CUDA backend (cuda/) when nvcc is found. Run by `npm install` (where its
// absence is a one-line notice, never a failure) and by `npm run build:cuda` (--required: any
// problem fails the command).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const required = process.argv.includes('--required');

function skip(reason) {
  if (required) {
    console.error(`pro-prophet: cannot build the CUDA backend: ${reason}`);
    process.exit(1);
  }
  console.error(`pro-prophet: CUDA backend not built (${reason}); the CPU backend is ready.`);
  process.exit(0);
}

function findNvcc() {
  const candidates = [process.env.CUDACXX, process.env.CUDA_HOME && join(process.env.CUDA_HOME, 'bin/nvcc'), '/usr/local/cuda/bin/nvcc'];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  const which = spawnSync('sh', ['-c', 'command -v nvcc'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

if (process.env.PROPHET_SKIP_CUDA === '1') skip('PROPHET_SKIP_CUDA=1');
const nvcc = findNvcc();
if (nvcc === undefined) skip('nvcc not found');
if (!existsSync(join(root, 'cuda', 'CMakeLists.txt'))) skip('this version ships no CUDA sources yet');

const cmakeJs = join(root, 'node_modules', '.bin', 'cmake-js');
if (!existsSync(cmakeJs)) skip('cmake-js is not installed');
const result = spawnSync(cmakeJs, ['compile', '-d', 'cuda', '-O', 'build/cuda', '--CDCMAKE_CUDA_COMPILER=' + nvcc], {
  cwd: root,
  stdio: 'inherit',
});
if (result.status !== 0) {
  if (required) process.exit(result.status ?? 1);
  console.error('pro-prophet: CUDA backend build failed (see above); the CPU backend is ready.');
}
