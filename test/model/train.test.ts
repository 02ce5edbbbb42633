import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

import { TextDataset, unigramEntropyBits } from '../../src/model/data.js';
import { runTraining, type RunOptions } from '../../src/model/run.js';
import { transpileSources } from '../support/transpile.js';

// A small model so that 600 training steps fit the test budget on 2 cores.
const small: RunOptions = {
  ranks: 2,
  steps: 200,
  batch: 8,
  seed: 3,
  lr: 3e-3,
  config: { dModel: 32, hidden: 64, mlpHidden: 64, numHeads: 2, numLayers: 2, numExperts: 4, topK: 2, seqLen: 32, initSeed: 3 },
};

const dir = mkdtempSync(join(tmpdir(), 'prophet-train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const dataset = TextDataset.load();
let twoRanks: number[] = [];

describe('training the example model', () => {
  it('lowers the loss well below the unigram entropy of the text, and W = 4 gives the same curve', async () => {
    const two = await runTraining({ ...small, dataset, trace: join(dir, 'trace') });
    const four = await runTraining({ ...small, ranks: 4, dataset });
    twoRanks = two.losses;
    // A model that only learned byte frequencies would sit at the unigram entropy (nats/byte).
    const unigram = unigramEntropyBits(dataset.bytes) * Math.LN2;
    const last = two.losses.slice(-20).reduce((a, b) => a + b, 0) / 20;
    expect(two.losses[0]).toBeGreaterThan(unigram);
    expect(last).toBeLessThan(0.85 * unigram);
    // Same batches, same initialisation, routing independent of W: only fp32 summation order
    // (all-reduce of partial gradients) differs, amplified a little by 200 AdamW steps.
    const worst = two.losses.reduce((m, l, i) => Math.max(m, Math.abs(l - (four.losses[i] ?? NaN))), 0);
    expect(worst).toBeLessThan(2e-3);
    expect(two.balance.every((b) => b >= 1 && b <= 2)).toBe(true);
  });

  it('trains to the same loss curve with the Pro-Prophet policy, computing on balanced devices', async () => {
    const options: RunOptions = { ...small, ranks: 4, steps: 200, config: { ...small.config, numExperts: 8 } };
    const plain = await runTraining({ ...options, dataset });
    const prophet = await runTraining({ ...options, dataset, policy: 'prophet' });
    expect(plain.replicas).toBe(0);
    expect(prophet.replicas).toBeGreaterThan(0);
    // Placement changes where slots are computed, never which expert computes them: only the
    // fp32 order of the replica-gradient sums (Agg) differs. Such rounding differences start at
    // ~1e-7 and grow only through training's chaos (measured: 0 for the first 10 steps, ~1e-4 at
    // step 20, up to ~1e-2 later), while a slot computed by a wrong expert or a lost replica
    // gradient shows from the second step on. So: tight early, loose late.
    const gaps = plain.losses.map((l, i) => Math.abs(l - (prophet.losses[i] ?? NaN)));
    expect(Math.max(...gaps.slice(0, 10))).toBeLessThan(1e-5);
    expect(Math.max(...gaps)).toBeLessThan(3e-2);
    const tail = (losses: number[]) => losses.slice(-20).reduce((a, b) => a + b, 0) / 20;
    expect(Math.abs(tail(prophet.losses) - tail(plain.losses))).toBeLessThan(0.01 * tail(plain.losses));
    prophet.balance.forEach((b, l) => expect(b).toBeLessThan(plain.balance[l]!));
  });

  it('writes the routing trace in the shared layout: every rank routes k slots per token', () => {
    const meta = JSON.parse(readFileSync(join(dir, 'trace', 'meta.json'), 'utf8')) as { shape: number[]; iterations: number[] };
    expect(meta.shape).toEqual([200, 2, 2, 1, 4]);
    expect(meta.iterations[0]).toBe(1);
    const counts = new Uint16Array(new Uint8Array(gunzipSync(readFileSync(join(dir, 'trace', 'counts.u16.gz')))).buffer);
    expect(counts.length).toBe(200 * 2 * 2 * 4);
    // Conservation: each (iteration, layer, rank) row sums to its tokens × k (dropless).
    const tokensPerRank = (8 / 2) * 32;
    for (let row = 0; row < counts.length / 4; row++) {
      expect(counts.slice(row * 4, row * 4 + 4).reduce((a, b) => a + b, 0)).toBe(tokensPerRank * 2);
    }
  });

  it('resumes from a checkpoint at step 100 with exactly the losses of the uninterrupted run', async () => {
    const path = join(dir, 'ckpt.bin');
    const first = await runTraining({ ...small, steps: 100, dataset, save: path });
    expect(first.losses).toEqual(twoRanks.slice(0, 100));
    const rest = await runTraining({ ...small, steps: 100, dataset, resume: path });
    expect(rest.firstStep).toBe(100);
    expect(rest.losses).toEqual(twoRanks.slice(100, 200));
  });

  it('refuses truncated, foreign and mismatched checkpoints, and never tears a saved one', async () => {
    const path = join(dir, 'ckpt.bin');
    const copy = join(dir, 'truncated.bin');
    writeFileSync(copy, readFileSync(path));
    truncateSync(copy, readFileSync(path).length - 100);
    await expect(runTraining({ ...small, steps: 1, dataset, resume: copy })).rejects.toMatchObject({ code: 'ECHECKPOINT' });
    const foreign = join(dir, 'foreign.bin');
    writeFileSync(foreign, 'not a checkpoint at all');
    await expect(runTraining({ ...small, steps: 1, dataset, resume: foreign })).rejects.toThrow(/wrong magic bytes/);
    await expect(
      runTraining({ ...small, steps: 1, dataset, resume: path, config: { ...small.config, dModel: 16 } }),
    ).rejects.toThrow(/saved with \(32\) for config.dModel but received 16/);
    // Saving goes through a temporary file: no stray file is left, the checkpoint stays whole.
    expect(existsSync(`${path}.tmp-${process.pid}`)).toBe(false);
    await expect(runTraining({ ...small, steps: 0, dataset, resume: path })).resolves.toMatchObject({ firstStep: 100 });
  });

  // Runs `options` as two processes through `prophet launch` (Gloo); rank 0's result.
  async function launchTwoRanks(options: object): Promise<{ losses: number[]; replicas: number }> {
    const compiled = transpileSources();
    const script = join(compiled, 'rank.mjs');
    writeFileSync(
      script,
      `import { trainDistributed } from './src/model/distributed.js';
const r = await trainDistributed(${JSON.stringify(options)});
if (r.rank === 0) console.log('RESULT ' + JSON.stringify(r));\n`,
    );
    const { stdout } = await promisify(execFile)(process.execPath, [join(compiled, 'src', 'cli', 'main.js'), 'launch', '--nproc-per-node', '2', '--master-port', '0', script], {
      timeout: 120_000,
    });
    const line = stdout.split('\n').find((l) => l.includes('RESULT '));
    return JSON.parse(line!.slice(line!.indexOf('RESULT ') + 7)) as { losses: number[]; replicas: number };
  }

  it('trains through `prophet launch --nproc-per-node 2` (Gloo) with the losses of the local run', async () => {
    const { losses, replicas } = await launchTwoRanks({ ...small, steps: 5 });
    expect(replicas).toBe(0);
    expect(losses.length).toBe(5);
    losses.forEach((l, i) => expect(Math.abs(l - twoRanks[i]!)).toBeLessThan(1e-5));
  }, 180_000);

  it('balances across processes too: --policy prophet over Gloo, Trans/Agg on the transfer streams, same losses', async () => {
    const steps = 8;
    const local = await runTraining({ ...small, steps, dataset, policy: 'prophet' });
    const { losses, replicas } = await launchTwoRanks({ ...small, steps, policy: 'prophet' });
    // Every rank planned the same placements as the in-process run, and they moved experts.
    expect(local.replicas).toBeGreaterThan(0);
    expect(replicas).toBe(local.replicas);
    expect(losses.length).toBe(steps);
    losses.forEach((l, i) => expect(Math.abs(l - local.losses[i]!)).toBeLessThan(1e-5));
  }, 180_000);
});
