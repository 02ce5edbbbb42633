import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';

import { registerTrain, scheduleOptions } from '../../src/cli/train.js';
import { transpileSources } from '../support/transpile.js';

describe('prophet train: the block scheduler flags', () => {
  it('gives --interference no default, so the profile\'s calibrated value applies unless given', () => {
    const program = new Command('prophet');
    registerTrain(program);
    const train = program.commands.find((c) => c.name() === 'train')!;
    const option = train.options.find((o) => o.long === '--interference')!;
    expect(option.defaultValue).toBeUndefined();
    expect(train.options.find((o) => o.long === '--split')!.defaultValue).toBe('adaptive');
  });

  it('passes the interference on only when given (explicit options win in transferSchedule)', () => {
    expect(scheduleOptions({ split: 'adaptive' })).toEqual({ split: 'adaptive' });
    expect('interference' in scheduleOptions({ split: 'paper' })).toBe(false);
    expect(scheduleOptions({ split: 'paper', interference: 0 })).toEqual({ split: 'paper', interference: 0 });
  });
});

describe('prophet train: the command', () => {
  let main = '';
  beforeAll(() => {
    main = join(transpileSources(), 'src', 'cli', 'main.js');
  });
  // A small shape so that two steps take well under a second.
  const small = ['--ranks', '2', '--experts', '2', '--layers', '3', '--d-model', '16', '--hidden', '16', '--heads', '2', '--batch', '2', '--seq', '8'];
  const prophet = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });

  it('--json prints one object: a finite loss per step, tokens/s, a device max/mean >= 1 per layer', () => {
    const { status, stdout, stderr } = prophet(['train', '--steps', '2', '--json', ...small]);
    expect(status, stderr).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines.length).toBe(1);
    const result = JSON.parse(lines[0]!) as { losses: number[]; tokens_per_s: number; balance: number[] };
    expect(result.losses.length).toBe(2);
    result.losses.forEach((l) => expect(Number.isFinite(l)).toBe(true));
    expect(result.tokens_per_s).toBeGreaterThan(0);
    expect(result.balance.length).toBe(3);
    result.balance.forEach((b) => expect(b).toBeGreaterThanOrEqual(1));
    // stderr is a pipe here, not a terminal: plain progress lines instead of a bar.
    expect(stderr.match(/^train step \d+\/2 \| loss \d+\.\d{4} \|/gm)).toEqual([expect.stringContaining('step 1/2'), expect.stringContaining('step 2/2')]);
  });

  it('reports a bad argument in one line naming it, exit status 1, no stack trace', () => {
    const { status, stdout, stderr } = prophet(['train', '--steps', '1', '--experts', '3', '--ranks', '2']);
    expect(status).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe('prophet: --experts 3 is not a multiple of --ranks 2\n');
    // PROPHET_DEBUG=1 adds the stack for bug reports.
    const debug = prophet(['train', '--steps', '1', '--experts', '3', '--ranks', '2'], { PROPHET_DEBUG: '1' });
    expect(debug.status).toBe(1);
    expect(debug.stderr).toMatch(/^prophet: --experts 3 is not a multiple of --ranks 2\n.*\n\s+at /);
  });

  it('reports a runtime error with its code', () => {
    const foreign = join(mkdtempSync(join(tmpdir(), 'prophet-cli-')), 'foreign.bin');
    writeFileSync(foreign, 'not a checkpoint at all');
    const { status, stderr } = prophet(['train', '--steps', '1', ...small, '--resume', foreign]);
    expect(status).toBe(1);
    expect(stderr).toMatch(/^prophet: ECHECKPOINT: .*wrong magic bytes/m);
    expect(stderr).not.toMatch(/^\s+at /m);
    rmSync(dirname(foreign), { recursive: true, force: true });
  });
});
