#!/usr/bin/env node
/**
 * The `prophet` command. Each subcommand lives in its own file and registers itself here with
 * one line.
 */
import { Command } from 'commander';

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
await program.parseAsync(process.argv);
