/**
 * Reads a rank's place in the job from the environment its launcher set: torchrun (and
 * `prophet launch`), Slurm's srun, or Open MPI's mpirun, tried in that order. Pure: takes the
 * environment as an argument and touches nothing else.
 */
import { invalidType, invalidValue } from '../errors.js';

/** An environment: variable name → value (process.env has this shape). */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Which launcher's variables were read; 'none' is a single process started by hand. */
export type LaunchSource = 'torchrun' | 'slurm' | 'openmpi' | 'none';

/** Where this process sits in the job. */
export interface LaunchEnv {
  readonly source: LaunchSource;
  /** Global rank in [0, worldSize). */
  readonly rank: number;
  /** Rank among the processes of this node, in [0, localWorldSize). */
  readonly localRank: number;
  /** Number of processes in the job. */
  readonly worldSize: number;
  /** Number of processes on this node. */
  readonly localWorldSize: number;
  /** Host of rank 0, where the rendezvous store listens. */
  readonly masterAddr: string;
  /** TCP port of the rendezvous store; 0 only for a job of one process (any free port). */
  readonly masterPort: number;
}

/** The port torchrun and `prophet launch` use when none is given. */
export const defaultMasterPort = 29500;

/**
 * The launch environment. torchrun's RANK/WORLD_SIZE win over Slurm's SLURM_PROCID, which wins
 * over Open MPI's OMPI_COMM_WORLD_RANK; with none of them this is rank 0 of a job of one.
 * Throws TypeError/RangeError naming the variable when a value is malformed or inconsistent.
 *
 * @example readLaunchEnv({ RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: 'h0', MASTER_PORT: '29500' })
 *   // → { source: 'torchrun', rank: 1, localRank: 1, worldSize: 2, localWorldSize: 2, masterAddr: 'h0', masterPort: 29500 }
 */
export function readLaunchEnv(env: Environment): LaunchEnv {
  if (env === null || typeof env !== 'object') throw invalidType('env', 'object of environment variables', env);
  const launch =
    env.RANK !== undefined || env.WORLD_SIZE !== undefined
      ? fromTorchrun(env)
      : env.SLURM_PROCID !== undefined
        ? fromSlurm(env)
        : env.OMPI_COMM_WORLD_RANK !== undefined
          ? fromOpenMpi(env)
          : single(env);
  return checkConsistent(launch);
}

// torchrun sets all six; LOCAL_* default to one node for jobs started by hand.
function fromTorchrun(env: Environment): LaunchEnv {
  const rank = readInteger(env, 'RANK', 0);
  const worldSize = readInteger(env, 'WORLD_SIZE', 1);
  return {
    source: 'torchrun',
    rank,
    worldSize,
    localRank: env.LOCAL_RANK === undefined ? rank : readInteger(env, 'LOCAL_RANK', 0),
    localWorldSize: env.LOCAL_WORLD_SIZE === undefined ? worldSize : readInteger(env, 'LOCAL_WORLD_SIZE', 1),
    masterAddr: readHost(env, 'MASTER_ADDR', 'torchrun and prophet launch set it'),
    masterPort: readPort(env, worldSize, defaultMasterPort, true),
  };
}

// srun gives ranks but no store address: rank 0 runs on the first node of the step, and the
// port is derived from the job id so that concurrent jobs on one node do not collide.
// (SLURM_LAUNCH_NODE_IPADDR is not used: it names the node srun ran on, which may be a login
// node that hosts no rank.)
function fromSlurm(env: Environment): LaunchEnv {
  const worldSize = readInteger(env, env.SLURM_NTASKS !== undefined ? 'SLURM_NTASKS' : 'SLURM_NPROCS', 1);
  const nodeList = env.SLURM_STEP_NODELIST ?? env.SLURM_JOB_NODELIST ?? env.SLURM_NODELIST;
  const jobId = env.SLURM_JOB_ID === undefined ? undefined : readInteger(env, 'SLURM_JOB_ID', 0);
  return {
    source: 'slurm',
    rank: readInteger(env, 'SLURM_PROCID', 0),
    worldSize,
    localRank: env.SLURM_LOCALID === undefined ? 0 : readInteger(env, 'SLURM_LOCALID', 0),
    localWorldSize: slurmTasksOnThisNode(env, worldSize),
    masterAddr:
      env.MASTER_ADDR !== undefined
        ? readHost(env, 'MASTER_ADDR', '')
        : nodeList !== undefined
          ? firstSlurmHost(nodeList)
          : readHost(env, 'MASTER_ADDR', 'Slurm did not set SLURM_JOB_NODELIST either'),
    masterPort: readPort(env, worldSize, jobId === undefined ? defaultMasterPort : 20000 + (jobId % 10000), false),
  };
}

// mpirun says nothing about where rank 0 runs: MASTER_ADDR is needed unless all ranks share
// this node, where loopback is right.
function fromOpenMpi(env: Environment): LaunchEnv {
  const worldSize = readInteger(env, 'OMPI_COMM_WORLD_SIZE', 1);
  const localWorldSize =
    env.OMPI_COMM_WORLD_LOCAL_SIZE === undefined ? worldSize : readInteger(env, 'OMPI_COMM_WORLD_LOCAL_SIZE', 1);
  const oneNode = localWorldSize === worldSize;
  return {
    source: 'openmpi',
    rank: readInteger(env, 'OMPI_COMM_WORLD_RANK', 0),
    worldSize,
    localRank: env.OMPI_COMM_WORLD_LOCAL_RANK === undefined ? 0 : readInteger(env, 'OMPI_COMM_WORLD_LOCAL_RANK', 0),
    localWorldSize,
    masterAddr:
      env.MASTER_ADDR === undefined && oneNode
        ? '127.0.0.1'
        : readHost(env, 'MASTER_ADDR', 'Open MPI does not say where rank 0 runs: pass it with mpirun -x MASTER_ADDR=<host of rank 0>'),
    masterPort: readPort(env, worldSize, defaultMasterPort, false),
  };
}

function single(env: Environment): LaunchEnv {
  return {
    source: 'none',
    rank: 0,
    localRank: 0,
    worldSize: 1,
    localWorldSize: 1,
    masterAddr: env.MASTER_ADDR === undefined ? '127.0.0.1' : readHost(env, 'MASTER_ADDR', ''),
    masterPort: readPort(env, 1, 0, false),
  };
}

// The values may be well-formed one by one and still contradict each other.
function checkConsistent(launch: LaunchEnv): LaunchEnv {
  const names = variableNames(launch.source);
  if (launch.rank >= launch.worldSize) {
    throw invalidValue(names.rank, `integer in [0, ${launch.worldSize - 1}] (${names.worldSize} is ${launch.worldSize})`, launch.rank);
  }
  if (launch.localWorldSize > launch.worldSize) {
    throw invalidValue(names.localWorldSize, `integer in [1, ${launch.worldSize}] (${names.worldSize} is ${launch.worldSize})`, launch.localWorldSize);
  }
  if (launch.localRank >= launch.localWorldSize) {
    throw invalidValue(names.localRank, `integer in [0, ${launch.localWorldSize - 1}] (${names.localWorldSize} is ${launch.localWorldSize})`, launch.localRank);
  }
  return launch;
}

function variableNames(source: LaunchSource): Record<'rank' | 'localRank' | 'worldSize' | 'localWorldSize', string> {
  const prefix = 'environment variable ';
  const table = {
    torchrun: ['RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE'],
    none: ['RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE'],
    slurm: ['SLURM_PROCID', 'SLURM_LOCALID', 'SLURM_NTASKS', 'SLURM_NTASKS_PER_NODE'],
    openmpi: ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_LOCAL_RANK', 'OMPI_COMM_WORLD_SIZE', 'OMPI_COMM_WORLD_LOCAL_SIZE'],
  }[source];
  const [rank, localRank, worldSize, localWorldSize] = table.map((name) => prefix + name) as [string, string, string, string];
  return { rank, localRank, worldSize, localWorldSize };
}

/** Reads a decimal integer >= min; missing or malformed values throw naming the variable. */
function readInteger(env: Environment, name: string, min: number): number {
  const value: unknown = env[name];
  const expected = `decimal integer >= ${min}`;
  if (typeof value !== 'string') throw invalidType(`environment variable ${name}`, expected, value);
  const trimmed = value.trim();
  const parsed = /^\d+$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min) throw invalidValue(`environment variable ${name}`, expected, value);
  return parsed;
}

function readHost(env: Environment, name: string, hint: string): string {
  const value: unknown = env[name];
  const expected = `host name or address${hint === '' ? '' : ` (${hint})`}`;
  if (value === undefined) throw invalidValue(`environment variable ${name}`, expected, value);
  if (typeof value !== 'string') throw invalidType(`environment variable ${name}`, expected, value);
  if (value.trim().length === 0 || /\s/.test(value.trim())) throw invalidValue(`environment variable ${name}`, expected, value);
  return value.trim();
}

// Port 0 ("any free port") is only usable when no other rank has to find the store.
function readPort(env: Environment, worldSize: number, fallback: number, required: boolean): number {
  const min = worldSize > 1 ? 1 : 0;
  const name = 'environment variable MASTER_PORT';
  if (env.MASTER_PORT === undefined) {
    if (required && worldSize > 1) throw invalidValue(name, 'integer in [1, 65535] (torchrun and prophet launch set it)', undefined);
    return fallback;
  }
  const port = readInteger(env, 'MASTER_PORT', 0);
  if (port < min || port > 65535) {
    throw invalidValue(name, `integer in [${min}, 65535]${min === 1 ? ' (port 0 only works for a job of one process)' : ''}`, env.MASTER_PORT);
  }
  return port;
}

// SLURM_NTASKS_PER_NODE is set only with --ntasks-per-node; SLURM_TASKS_PER_NODE always is,
// in the compressed form "2(x3),1" (three nodes with 2 tasks, then one with 1).
function slurmTasksOnThisNode(env: Environment, worldSize: number): number {
  if (env.SLURM_NTASKS_PER_NODE !== undefined) return readInteger(env, 'SLURM_NTASKS_PER_NODE', 1);
  if (env.SLURM_TASKS_PER_NODE === undefined) return worldSize;
  const perNode = expandSlurmTasksPerNode(env.SLURM_TASKS_PER_NODE);
  const nodeId = env.SLURM_NODEID === undefined ? 0 : readInteger(env, 'SLURM_NODEID', 0);
  const tasks = perNode[nodeId];
  if (tasks === undefined) {
    throw invalidValue('environment variable SLURM_NODEID', `integer in [0, ${perNode.length - 1}] (SLURM_TASKS_PER_NODE lists ${perNode.length} nodes)`, env.SLURM_NODEID);
  }
  return tasks;
}

/** "2(x3),1" → [2, 2, 2, 1]. */
export function expandSlurmTasksPerNode(value: string): number[] {
  const counts: number[] = [];
  for (const part of value.split(',')) {
    const match = /^(\d+)(?:\(x(\d+)\))?$/.exec(part.trim());
    if (match === null) throw invalidValue('environment variable SLURM_TASKS_PER_NODE', 'list like "2(x3),1"', value);
    for (let i = 0; i < Number(match[2] ?? 1); i++) counts.push(Number(match[1]));
  }
  return counts;
}

/**
 * The first host of a Slurm node list in compressed form.
 * @example firstSlurmHost('gpu[007-010,012],cpu1') // → 'gpu007'
 */
export function firstSlurmHost(nodeList: string): string {
  const match = /^([^,[\s]+)(?:\[([^\]]+)\])?/.exec(nodeList.trim());
  if (match === null) throw invalidValue('environment variable SLURM_JOB_NODELIST', 'Slurm node list like "node[01-04]"', nodeList);
  const prefix = match[1]!;
  const ranges = match[2];
  if (ranges === undefined) return prefix;
  // The first element of the bracket, keeping its zero padding ("007-010" → "007").
  const first = ranges.split(',')[0]!.split('-')[0]!;
  return prefix + first;
}
