/**
 * A whole training run on W in-process ranks (the `local` communicator): what `prophet train`
 * does. Reports progress per step; can resume from and save checkpoints and record a routing
 * trace.
 */
import { createLocalWorld } from '../comm/local.js';
import { checkInteger } from '../errors.js';
import { saveCheckpoint, loadCheckpoint } from './checkpoint.js';
import { resolveModelConfig, type ModelConfig } from './config.js';
import { TextDataset } from './data.js';
import { Rng } from './rng.js';
import { TraceRecorder } from './trace.js';
import { Timeline, toChromeTrace, toSvg, type TimelineSpan } from '../runtime/timeline.js';
import { writeFileSync } from 'node:fs';
import type { HardwareProfile } from '../balance/prophet/perfmodel.js';
import { BalancePlanner, BalanceState, computedMaxOverMean, type PolicyName } from './balance.js';
import type { TransferScheduleOptions } from '../balance/prophet/transfer-schedule.js';
import { RankTrainer, type TrainOptions } from './trainer.js';

export interface RunOptions extends TrainOptions {
  readonly ranks: number;
  readonly steps: number;
  /** Seed of the data sampler (the model's initialisation seed is config.initSeed). */
  readonly seed?: number;
  readonly config?: Partial<ModelConfig>;
  /** Resume from this checkpoint (its step, parameters, optimizer and data state). */
  readonly resume?: string;
  /** Save a checkpoint here at the end (and every `saveEvery` steps when given). */
  readonly save?: string;
  readonly saveEvery?: number;
  /** Write the routing trace to this folder. */
  readonly trace?: string;
  /** Record the last step's timeline of every rank: an SVG Gantt chart at this path (.svg) and
   * Chrome trace JSON beside it (.json, for chrome://tracing or Perfetto). */
  readonly timeline?: string;
  /** Overlap Trans/Agg with compute on transfer streams (default true); false runs them in line
   * on the compute stream (the unscheduled path). */
  readonly overlap?: boolean;
  /** How the block scheduler splits each block's Trans and Agg into its two parts (see
   * `transfer-schedule.ts`), and what overlapping costs on this backend (the fallback rule runs
   * a block in line where overlapping would delay the critical path). Default: 'adaptive', and
   * per cost the profile's calibrated `overlap` (`profile`), else `DEFAULT_OVERLAP_COSTS`; each of
   * `syncSeconds` / `interference` given here wins over both. Ignored with `overlap: false`. */
  readonly schedule?: TransferScheduleOptions;
  readonly dataset?: TextDataset;
  /** Balance policy: 'none' (plain expert parallelism, default), 'prophet' (Pro-Prophet's
   * planner, improved search) or 'prophet-paper' (Algorithm 1 as published). */
  readonly policy?: PolicyName;
  /** Hardware constants the policy plans with (a calibrated profile); default: the released
   * code's GPU constants (`DEFAULT_HARDWARE_PROFILE`). */
  readonly profile?: HardwareProfile;
}

export interface StepProgress {
  readonly step: number;
  readonly steps: number;
  readonly loss: number;
  readonly tokensPerS: number;
  /** Per MoE layer, device max/mean of computed tokens this step. */
  readonly balance: readonly number[];
}

export interface RunResult {
  /** Loss of each step run here (after a resume: the steps after the checkpoint). */
  readonly losses: number[];
  readonly firstStep: number;
  readonly tokensPerS: number;
  /** Per MoE layer, device max/mean of computed tokens averaged over the steps. */
  readonly balance: number[];
  /** Replicas the policy placed, summed over steps and layers (0 for 'none'). */
  readonly replicas: number;
}

export async function runTraining(options: RunOptions, onStep?: (p: StepProgress) => void): Promise<RunResult> {
  // Step 1: world, trainers, data.
  const ranks = checkInteger('options.ranks', options.ranks, 1);
  const steps = checkInteger('options.steps', options.steps, 0);
  const config = resolveModelConfig(options.config);
  const world = createLocalWorld(ranks, { timeoutMs: 120_000 });
  const trainers = world.map((comm) => new RankTrainer(comm, config, options));
  const dataset = options.dataset ?? TextDataset.load();
  let rng = Rng.fromSeed(checkInteger('options.seed', options.seed ?? 0, 0, 2 ** 32 - 1));
  let firstStep = 0;
  try {
    // Step 2: resume.
    if (options.resume !== undefined) {
      const meta = await loadCheckpoint(options.resume, trainers);
      firstStep = meta.step;
      rng = Rng.fromState(meta.dataRng);
    }
    // Step 3: train.
    const tokensPerStep = trainers[0]!.batch * config.seqLen;
    const trace =
      options.trace === undefined
        ? null
        : new TraceRecorder({ numLayers: config.numLayers, numRanks: ranks, numExperts: config.numExperts, topK: config.topK, tokensPerRank: tokensPerStep / ranks });
    const losses: number[] = [];
    const balanceSums = new Float64Array(config.numLayers);
    const planner = new BalancePlanner(options.policy ?? 'none', ranks, config, options.profile);
    const state = new BalanceState(planner, config.numLayers, config.numExperts, options);
    let replicas = 0;
    const start = performance.now();
    for (let step = firstStep; step < firstStep + steps; step++) {
      const batch = dataset.sampleBatch(rng, trainers[0]!.batch, config.seqLen);
      for (const t of trainers) state.applyTo(t.model);
      const timelines = options.timeline !== undefined && step === firstStep + steps - 1 ? trainers.map((t) => new Timeline(t.comm.rank)) : null;
      timelines?.forEach((tl, r) => {
        trainers[r]!.model.timeline = tl;
        tl.begin(trainers[r]!.model.stream);
      });
      const reports = await Promise.all(trainers.map((t) => t.step(batch)));
      if (timelines !== null) {
        const spans = (await Promise.all(timelines.map((tl) => tl.collect()))).flat();
        for (const t of trainers) t.model.timeline = null;
        writeTimeline(options.timeline!, spans);
      }
      const report = reports[0]!;
      losses.push(report.loss);
      const balance = report.countMatrices.map((m, l) => computedMaxOverMean(m, state.placements[l]!));
      replicas += state.replicaCount();
      // Locality: plan the next step from this step's routing (every rank could, identically).
      state.advance(report.countMatrices);
      balance.forEach((b, l) => (balanceSums[l] = (balanceSums[l] ?? 0) + b));
      trace?.record(step + 1, report.countMatrices);
      const seconds = (performance.now() - start) / 1000;
      onStep?.({ step: step + 1, steps: firstStep + steps, loss: report.loss, tokensPerS: ((step - firstStep + 1) * tokensPerStep) / seconds, balance });
      const every = options.saveEvery ?? 0;
      if (options.save !== undefined && every > 0 && (step + 1) % every === 0) {
        await saveCheckpoint(options.save, trainers, { step: step + 1, config, batch: trainers[0]!.batch, dataRng: rng.state() });
      }
    }
    const seconds = (performance.now() - start) / 1000;
    // Step 4: outputs.
    if (options.save !== undefined) {
      await saveCheckpoint(options.save, trainers, { step: firstStep + steps, config, batch: trainers[0]!.batch, dataRng: rng.state() });
    }
    trace?.write(options.trace!);
    return {
      losses,
      firstStep,
      tokensPerS: steps === 0 ? 0 : (steps * tokensPerStep) / seconds,
      balance: Array.from(balanceSums, (s) => (steps === 0 ? 1 : s / steps)),
      replicas,
    };
  } finally {
    for (const t of trainers) t.dispose();
    for (const c of world) c.dispose();
  }
}

/** Writes the SVG chart at `path` (adding .svg if missing) and the Chrome trace beside it. */
function writeTimeline(path: string, spans: readonly TimelineSpan[]): void {
  const base = path.endsWith('.svg') ? path.slice(0, -4) : path;
  writeFileSync(`${base}.svg`, toSvg(spans));
  writeFileSync(`${base}.json`, JSON.stringify(toChromeTrace(spans)));
}
