import { defineConfig } from 'vitest/config';

// Native addons and worker threads crash vitest's threads pool: run test files in forks.
export default defineConfig({
  test: {
    pool: 'forks',
    // --expose-gc lets the finalizer tests prove that unreachable tensors free their memory.
    execArgv: ['--expose-gc'],
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
