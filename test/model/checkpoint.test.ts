/**
 * Checkpoints refuse a run whose options differ from the saved ones (naming the option), and a
 * failed save leaves no temporary file behind.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TextDataset } from '../../src/model/data.js';
import { runTraining, type RunOptions } from '../../src/model/run.js';

const dir = mkdtempSync(join(tmpdir(), 'prophet-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const dataset = TextDataset.load();
const tiny: RunOptions = {
  ranks: 2,
  steps: 1,
  batch: 4,
  seed: 2,
  dataset,
  config: { dModel: 16, hidden: 16, mlpHidden: 16, numHeads: 2, numLayers: 1, numExperts: 2, topK: 1, seqLen: 8, initSeed: 2 },
};
const path = join(dir, 'ckpt.bin');

describe('checkpoints', () => {
  beforeAll(async () => {
    await runTraining({ ...tiny, save: path });
  });

  it('refuses to resume with another batch or model shape, naming the option', async () => {
    await expect(runTraining({ ...tiny, batch: 2, resume: path })).rejects.toThrow(
      new RangeError(`Expected the value ${path} was saved with (4) for options.batch but received 2 of type number`),
    );
    await expect(runTraining({ ...tiny, resume: path, config: { ...tiny.config, seqLen: 16 } })).rejects.toThrow(
      new RangeError(`Expected the value ${path} was saved with (8) for config.seqLen but received 16 of type number`),
    );
    await expect(runTraining({ ...tiny, resume: path, config: { ...tiny.config, numExperts: 4 } })).rejects.toThrow(/for config\.numExperts but received 4/);
    // The same options resume.
    await expect(runTraining({ ...tiny, resume: path })).resolves.toMatchObject({ firstStep: 1 });
  });

  it('removes its temporary file when the save fails', async () => {
    // A folder in the way: the temporary file is written, the rename onto the folder fails.
    const blocked = join(dir, 'blocked');
    mkdirSync(blocked);
    writeFileSync(join(blocked, 'keep'), 'x');
    await expect(runTraining({ ...tiny, save: blocked })).rejects.toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect(readdirSync(dir).filter((name) => name.includes('.tmp-'))).toEqual([]);
    expect(existsSync(join(blocked, 'keep'))).toBe(true);
  });
});
