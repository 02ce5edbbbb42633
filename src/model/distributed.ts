/**
 * Training as one rank of a multi-process job (`prophet launch script.js`, torchrun, Slurm,
 * Open MPI): joins the process group from the environment, trains, and returns the losses.
 * Every rank samples the same global batches, so the losses equal an in-process run's. With a
 * balance policy, every rank plans the next step's placements from the all-gathered counts it
 * already has (the same on every rank, so no extra communication), as `runTraining` does.
 */
import { initProcessGroup, type ProcessGroupOptions } from '../comm/process-group.js';
import type { HardwareProfile } from '../balance/prophet/perfmodel.js';
import { checkInteger } from '../errors.js';
import { BalancePlanner, BalanceState, type ExecutionOptions, type PolicyName } from './balance.js';
import { resolveModelConfig, type ModelConfig } from './config.js';
import { TextDataset } from './data.js';
import { Rng } from './rng.js';
import { RankTrainer, type TrainOptions } from './trainer.js';

export interface DistributedRunOptions extends TrainOptions, ExecutionOptions {
  readonly steps: number;
  /** Balance policy, as `RunOptions.policy` (default 'none'). */
  readonly policy?: PolicyName;
  /** Hardware constants the policy plans with, as `RunOptions.profile`. */
  readonly profile?: HardwareProfile;
  readonly seed?: number;
  readonly config?: Partial<ModelConfig>;
  /** Process-group options (backend 'gloo' by default; the environment gives rank and world). */
  readonly processGroup?: Partial<ProcessGroupOptions>;
}

/** Trains `steps` steps on this process's rank; resolves with the global losses (every rank). */
export async function trainDistributed(
  options: DistributedRunOptions,
): Promise<{ readonly rank: number; readonly losses: number[]; readonly replicas: number }> {
  const steps = checkInteger('options.steps', options.steps, 0);
  const group = await initProcessGroup({ backend: 'gloo', ...options.processGroup });
  const comm = group.communicator;
  const config = resolveModelConfig(options.config);
  const trainer = new RankTrainer(comm, config, options);
  const dataset = TextDataset.load();
  const rng = Rng.fromSeed(checkInteger('options.seed', options.seed ?? 0, 0, 2 ** 32 - 1));
  try {
    const planner = new BalancePlanner(options.policy ?? 'none', comm.size, config, options.profile);
    const state = new BalanceState(planner, config.numLayers, config.numExperts, options);
    const losses: number[] = [];
    let replicas = 0;
    for (let step = 0; step < steps; step++) {
      state.applyTo(trainer.model);
      const report = await trainer.step(dataset.sampleBatch(rng, trainer.batch, config.seqLen));
      losses.push(report.loss);
      replicas += state.replicaCount();
      state.advance(report.countMatrices);
    }
    return { rank: group.rank, losses, replicas };
  } finally {
    trainer.dispose();
    await group.destroy();
  }
}
