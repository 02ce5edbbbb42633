/**
 * `prophet launch`: starts a rank script on this node with torchrun's environment.
 *
 *   prophet launch [--nproc-per-node N] [--nnodes M --node-rank R --master-addr A --master-port P]
 *                  [--timeout S] script.js [args...]
 */
import { InvalidArgumentError, type Command } from 'commander';

import { launch } from '../comm/launcher.js';
import { ProphetError } from '../errors.js';

function integer(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('Expected a non-negative integer.');
  return Number(value);
}

function port(value: string): number | 'auto' {
  return value === 'auto' ? 'auto' : integer(value);
}

function seconds(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError('Expected a positive number of seconds.');
  return parsed;
}

interface LaunchFlags {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr?: string;
  masterPort?: number | 'auto';
  timeout?: number;
  grace: number;
}

/** Adds the `launch` subcommand to `program`. */
export function registerLaunch(program: Command): void {
  program
    .command('launch')
    .description('run a script as several ranks with torchrun-style environment (RANK, WORLD_SIZE, MASTER_ADDR, ...)')
    .option('--nproc-per-node <n>', 'processes on this node', integer, 1)
    .option('--nnodes <m>', 'nodes in the job', integer, 1)
    .option('--node-rank <r>', "this node's index in [0, nnodes)", integer, 0)
    .option('--master-addr <host>', 'host of rank 0 (default 127.0.0.1; required with several nodes)')
    .option('--master-port <port>', "rendezvous port (default 29500; 0 or 'auto': a free port, one node only)", port)
    .option('--timeout <s>', 'seconds ranks wait for each other (exported as PROPHET_TIMEOUT_MS)', seconds)
    .option('--grace <s>', 'seconds between SIGTERM and SIGKILL when stopping ranks', seconds, 5)
    .argument('<script>', 'the rank script (run with this Node)')
    .argument('[args...]', "the script's arguments")
    .passThroughOptions()
    .action(async (script: string, args: string[], flags: LaunchFlags, command: Command) => {
      try {
        const result = await launch({
          script,
          args,
          nprocPerNode: flags.nprocPerNode,
          nnodes: flags.nnodes,
          nodeRank: flags.nodeRank,
          ...(flags.masterAddr !== undefined && { masterAddr: flags.masterAddr }),
          ...(flags.masterPort !== undefined && { masterPort: flags.masterPort }),
          ...(flags.timeout !== undefined && { timeoutMs: Math.round(flags.timeout * 1000) }),
          graceMs: Math.round(flags.grace * 1000),
        });
        process.exitCode = result.exitCode;
      } catch (error) {
        // Bad option values: say which, the way commander reports its own errors.
        // (Not a native EINVAL, which is also a RangeError but no fault of the options.)
        const nativeFailure = error instanceof ProphetError;
        if (!nativeFailure && (error instanceof TypeError || error instanceof RangeError)) command.error(`error: ${error.message}`, { exitCode: 2 });
        throw error;
      }
    });
}
