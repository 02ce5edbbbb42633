import { describe, expect, it } from 'vitest';

import { expandSlurmTasksPerNode, firstSlurmHost, readLaunchEnv, type Environment, type LaunchEnv } from '../../src/comm/env.js';

type Row = [string, Environment, Omit<LaunchEnv, 'source'> & { source: LaunchEnv['source'] }];

const valid: Row[] = [
  [
    'torchrun, second node',
    { RANK: '5', LOCAL_RANK: '1', WORLD_SIZE: '8', LOCAL_WORLD_SIZE: '4', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29400' },
    { source: 'torchrun', rank: 5, localRank: 1, worldSize: 8, localWorldSize: 4, masterAddr: '10.0.0.1', masterPort: 29400 },
  ],
  [
    'torchrun by hand without LOCAL_*',
    { RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: 'localhost', MASTER_PORT: '1234' },
    { source: 'torchrun', rank: 1, localRank: 1, worldSize: 2, localWorldSize: 2, masterAddr: 'localhost', masterPort: 1234 },
  ],
  [
    'torchrun wins over Slurm and Open MPI',
    { RANK: '0', WORLD_SIZE: '1', MASTER_ADDR: 'h', MASTER_PORT: '5', SLURM_PROCID: '3', SLURM_NTASKS: '4', OMPI_COMM_WORLD_RANK: '2' },
    { source: 'torchrun', rank: 0, localRank: 0, worldSize: 1, localWorldSize: 1, masterAddr: 'h', masterPort: 5 },
  ],
  [
    'Slurm with --ntasks-per-node, port from the job id',
    { SLURM_PROCID: '6', SLURM_LOCALID: '2', SLURM_NTASKS: '8', SLURM_NTASKS_PER_NODE: '4', SLURM_JOB_NODELIST: 'gpu[007-008]', SLURM_JOB_ID: '123456' },
    { source: 'slurm', rank: 6, localRank: 2, worldSize: 8, localWorldSize: 4, masterAddr: 'gpu007', masterPort: 23456 },
  ],
  [
    'Slurm, uneven SLURM_TASKS_PER_NODE, step node list first, MASTER_PORT given',
    { SLURM_PROCID: '4', SLURM_LOCALID: '0', SLURM_NTASKS: '5', SLURM_TASKS_PER_NODE: '2(x2),1', SLURM_NODEID: '2', SLURM_STEP_NODELIST: 'a1,b[3-4]', SLURM_JOB_NODELIST: 'z9', MASTER_PORT: '4000' },
    { source: 'slurm', rank: 4, localRank: 0, worldSize: 5, localWorldSize: 1, masterAddr: 'a1', masterPort: 4000 },
  ],
  [
    'Slurm with MASTER_ADDR override and no job id',
    { SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_NODELIST: 'n1', MASTER_ADDR: '192.168.1.9' },
    { source: 'slurm', rank: 0, localRank: 0, worldSize: 2, localWorldSize: 2, masterAddr: '192.168.1.9', masterPort: 29500 },
  ],
  [
    'Open MPI on one node: loopback',
    { OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '2', OMPI_COMM_WORLD_LOCAL_SIZE: '4' },
    { source: 'openmpi', rank: 2, localRank: 2, worldSize: 4, localWorldSize: 4, masterAddr: '127.0.0.1', masterPort: 29500 },
  ],
  [
    'Open MPI on two nodes with MASTER_ADDR',
    { OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_RANK: '1', OMPI_COMM_WORLD_LOCAL_SIZE: '2', MASTER_ADDR: 'head', MASTER_PORT: '7000' },
    { source: 'openmpi', rank: 3, localRank: 1, worldSize: 4, localWorldSize: 2, masterAddr: 'head', masterPort: 7000 },
  ],
  [
    'nothing set: one process, any port',
    { PATH: '/usr/bin' },
    { source: 'none', rank: 0, localRank: 0, worldSize: 1, localWorldSize: 1, masterAddr: '127.0.0.1', masterPort: 0 },
  ],
];

const invalid: [string, Environment, new (...args: never[]) => Error, string][] = [
  ['rank >= world size', { RANK: '4', WORLD_SIZE: '4', MASTER_ADDR: 'h', MASTER_PORT: '1' }, RangeError,
    'Expected integer in [0, 3] (environment variable WORLD_SIZE is 4) for environment variable RANK but received 4 of type number'],
  ['missing master address', { RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '1' }, RangeError,
    'Expected host name or address (torchrun and prophet launch set it) for environment variable MASTER_ADDR but received undefined of type undefined'],
  ['missing master port with several ranks', { RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: 'h' }, RangeError,
    'Expected integer in [1, 65535] (torchrun and prophet launch set it) for environment variable MASTER_PORT but received undefined'],
  ['port 0 with several ranks', { RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: 'h', MASTER_PORT: '0' }, RangeError,
    'Expected integer in [1, 65535] (port 0 only works for a job of one process) for environment variable MASTER_PORT but received "0"'],
  ['port out of range', { RANK: '0', WORLD_SIZE: '1', MASTER_ADDR: 'h', MASTER_PORT: '70000' }, RangeError,
    'for environment variable MASTER_PORT but received "70000"'],
  ['malformed rank', { RANK: 'one', WORLD_SIZE: '2', MASTER_ADDR: 'h', MASTER_PORT: '1' }, RangeError,
    'Expected decimal integer >= 0 for environment variable RANK but received "one" of type string'],
  ['world size 0', { RANK: '0', WORLD_SIZE: '0', MASTER_ADDR: 'h', MASTER_PORT: '1' }, RangeError,
    'Expected decimal integer >= 1 for environment variable WORLD_SIZE but received "0"'],
  ['missing WORLD_SIZE', { RANK: '0', MASTER_ADDR: 'h', MASTER_PORT: '1' }, TypeError,
    'Expected decimal integer >= 1 for environment variable WORLD_SIZE but received undefined'],
  ['local rank >= local world size', { RANK: '2', LOCAL_RANK: '2', WORLD_SIZE: '4', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'h', MASTER_PORT: '1' }, RangeError,
    'Expected integer in [0, 1] (environment variable LOCAL_WORLD_SIZE is 2) for environment variable LOCAL_RANK but received 2'],
  ['local world larger than world', { RANK: '0', WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '3', MASTER_ADDR: 'h', MASTER_PORT: '1' }, RangeError,
    'Expected integer in [1, 2] (environment variable WORLD_SIZE is 2) for environment variable LOCAL_WORLD_SIZE but received 3'],
  ['Slurm rank >= ntasks', { SLURM_PROCID: '2', SLURM_NTASKS: '2', SLURM_NODELIST: 'n1' }, RangeError,
    'Expected integer in [0, 1] (environment variable SLURM_NTASKS is 2) for environment variable SLURM_PROCID but received 2'],
  ['Slurm without node list or MASTER_ADDR', { SLURM_PROCID: '0', SLURM_NTASKS: '2' }, RangeError,
    'Slurm did not set SLURM_JOB_NODELIST either) for environment variable MASTER_ADDR'],
  ['Slurm node id outside the tasks list', { SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_NODELIST: 'n1', SLURM_TASKS_PER_NODE: '2', SLURM_NODEID: '1' }, RangeError,
    'Expected integer in [0, 0] (SLURM_TASKS_PER_NODE lists 1 nodes) for environment variable SLURM_NODEID but received "1"'],
  ['Open MPI across nodes without MASTER_ADDR', { OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_LOCAL_SIZE: '2' }, RangeError,
    'Open MPI does not say where rank 0 runs: pass it with mpirun -x MASTER_ADDR=<host of rank 0>) for environment variable MASTER_ADDR'],
  ['Open MPI rank >= size', { OMPI_COMM_WORLD_RANK: '4', OMPI_COMM_WORLD_SIZE: '4' }, RangeError,
    'for environment variable OMPI_COMM_WORLD_RANK but received 4'],
  ['a non-string value', { RANK: 1 as unknown as string, WORLD_SIZE: '2', MASTER_ADDR: 'h', MASTER_PORT: '1' }, TypeError,
    'Expected decimal integer >= 0 for environment variable RANK but received 1 of type number'],
  ['blank MASTER_ADDR', { RANK: '0', WORLD_SIZE: '1', MASTER_ADDR: '  ', MASTER_PORT: '1' }, RangeError,
    'for environment variable MASTER_ADDR but received "  "'],
];

describe('readLaunchEnv', () => {
  it.each(valid)('%s', (_, env, expected) => {
    expect(readLaunchEnv(env)).toEqual(expected);
  });

  it.each(invalid)('rejects %s', (_, env, kind, message) => {
    expect(() => readLaunchEnv(env)).toThrow(kind);
    expect(() => readLaunchEnv(env)).toThrow(message);
  });

  it('rejects a non-object env', () => {
    expect(() => readLaunchEnv(null as unknown as Environment)).toThrow('Expected object of environment variables for env but received null');
  });
});

describe('Slurm list formats', () => {
  it.each([
    ['n1', 'n1'],
    ['gpu[007-010,012],cpu1', 'gpu007'],
    ['node[3,5-6]', 'node3'],
    ['a-b-1,c', 'a-b-1'],
  ])('first host of %s is %s', (list, host) => {
    expect(firstSlurmHost(list)).toBe(host);
  });

  it.each([
    ['4', [4]],
    ['2(x3),1', [2, 2, 2, 1]],
    ['1,3(x2)', [1, 3, 3]],
  ])('tasks per node %s', (value, counts) => {
    expect(expandSlurmTasksPerNode(value)).toEqual(counts);
  });

  it('rejects a malformed tasks list', () => {
    expect(() => expandSlurmTasksPerNode('2(y3)')).toThrow('Expected list like "2(x3),1" for environment variable SLURM_TASKS_PER_NODE');
  });
});
