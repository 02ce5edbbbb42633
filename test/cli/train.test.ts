import { Command } from 'commander';
import { describe, expect, it } from 'vitest';

import { registerTrain, scheduleOptions } from '../../src/cli/train.js';

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
