#!/usr/bin/env node
/**
 * The `prophet` command. Each subcommand lives in its own file and registers itself here with
 * one line.
 */
import { Command } from 'commander';

import { ProphetError } from '../errors.js';
import { registerCalibrate } from './calibrate.js';
import { registerLaunch } from './launch.js';
import { registerTrain } from './train.js';

const subcommands: readonly ((program: Command) => void)[] = [
  registerTrain,
  registerLaunch,
  registerCalibrate,
];

const program = new Command('prophet')
  .description('pro-prophet: expert-parallel Mixture-of-Experts training')
  // Lets `launch` hand the options after its script to the script untouched.
  .enablePositionalOptions();
for (const register of subcommands) register(program);
try {
  await program.parseAsync(process.argv);
} catch (error) {
  // An error thrown inside a subcommand's action: one line, not a stack trace (commander
  // reports its own parse errors itself). PROPHET_DEBUG=1 keeps the stack for bug reports.
  process.stderr.write(`${describeError(error)}\n`);
  if (process.env['PROPHET_DEBUG'] === '1' && error instanceof Error && error.stack !== undefined) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}

/** "prophet: <message>", with the code of a ProphetError: "prophet: ECHECKPOINT: <message>". */
function describeError(error: unknown): string {
  if (error instanceof ProphetError) return `prophet: ${error.code}: ${error.message}`;
  if (error instanceof Error) return `prophet: ${error.message}`;
  return `prophet: ${String(error)}`;
}
