/**
 * `prophet train`: trains the example byte-level MoE language model on the embedded text with W
 * in-process ranks; progress on stderr (a bar on a terminal, plain lines otherwise), one JSON
 * object on stdout with --json.
 */
import { Command, InvalidArgumentError } from 'commander';

import { loadProfileFile } from '../balance/prophet/profile-file.js';
import type { SplitMode, TransferScheduleOptions } from '../balance/prophet/transfer-schedule.js';
import { POLICIES, type PolicyName } from '../model/balance.js';
import { runTraining } from '../model/run.js';
import { trainProgress } from './progress.js';

/** A commander parser of integers >= `min` (shared by the subcommands). */
export function integer(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

/**
 * The model-shape options `train` and `calibrate` share, with the same defaults, so that a
 * profile calibrated with the defaults describes the model `train` runs with its defaults.
 */
export function withShapeOptions(command: Command): Command {
  return command
    .option('--ranks <W>', 'expert-parallel ranks (in-process)', integer(1), 2)
    .option('--experts <E>', 'experts per MoE layer (a multiple of W)', integer(1), 4)
    .option('--d-model <d>', 'model width', integer(1), 64)
    .option('--hidden <h>', 'expert hidden width', integer(1), 128)
    .option('--heads <n>', 'attention heads', integer(1), 4);
}

function number(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a non-negative number');
  return n;
}

function share(value: string): number {
  const n = number(value);
  if (n > 1) throw new InvalidArgumentError('expected a number in [0, 1]');
  return n;
}

function splitMode(value: string): SplitMode {
  if (value !== 'adaptive' && value !== 'paper') throw new InvalidArgumentError("expected 'adaptive' or 'paper'");
  return value;
}

/** The block scheduler's options from the flags: the interference only when given, so that
 * `runTraining` takes the profile's calibrated costs otherwise (explicit options win there). */
export function scheduleOptions(flags: Pick<TrainFlags, 'split' | 'interference'>): TransferScheduleOptions {
  return { split: flags.split, ...(flags.interference === undefined ? {} : { interference: flags.interference }) };
}

interface TrainFlags {
  ranks: number;
  experts: number;
  layers: number;
  topK: number;
  dModel: number;
  hidden: number;
  heads: number;
  steps: number;
  batch: number;
  seq: number;
  seed: number;
  lr: number;
  clip: number;
  auxLoss: number;
  capacity: 'dropless' | 'capacity';
  capacityFactor: number;
  policy: string;
  profile?: string;
  overlap: boolean;
  split: SplitMode;
  /** Absent unless given: the profile's calibrated value (or the default) then applies. */
  interference?: number;
  trace?: string;
  timeline?: string;
  save?: string;
  saveEvery?: number;
  resume?: string;
  json?: boolean;
}

export function registerTrain(program: Command): void {
  withShapeOptions(program.command('train').description('train the example MoE language model on the embedded text (Moby-Dick), W ranks in this process'))
    .option('--layers <L>', 'blocks, each with one MoE layer', integer(1), 2)
    .option('--top-k <k>', 'experts per token', integer(1), 2)
    .option('--steps <n>', 'training steps', integer(0), 200)
    .option('--batch <B>', 'sequences per step (global batch, a multiple of W)', integer(1), 8)
    .option('--seq <S>', 'bytes per sequence', integer(2), 64)
    .option('--seed <n>', 'seed of the initialisation and the data order', integer(0), 0)
    .option('--lr <x>', 'AdamW learning rate', number, 3e-3)
    .option('--clip <x>', 'global gradient-norm clip (0: off)', number, 1)
    .option('--aux-loss <x>', 'load-balancing loss coefficient (per-rank statistics)', number, 0)
    .option('--capacity <mode>', "'dropless' or 'capacity'", 'dropless')
    .option('--capacity-factor <x>', 'capacity factor of --capacity capacity', number, 1.25)
    .option('--policy <name>', "balance policy: 'none' (plain expert parallelism), 'prophet' (Pro-Prophet planner), 'prophet-paper' (its Algorithm 1)", 'none')
    .option('--profile <file>', 'hardware profile the policy plans with (from `prophet calibrate`); default: the released GPU constants')
    .option('--no-overlap', 'run Trans/Agg in line on the compute stream (the unscheduled path; same results)')
    .option('--split <mode>', "block scheduler split of Trans/Agg: 'adaptive' (from the plan's expected FEC) or 'paper' (offline)", splitMode, 'adaptive' as SplitMode)
    // No default: a default would override the profile's calibrated interference every time.
    .option('--interference <x>', "share of hidden transfer time the compute loses anyway, in [0, 1] (the fallback rule runs blocks in line where overlap cannot pay); default: the --profile's calibrated value, else 0", share)
    .option('--trace <dir>', 'write every iteration\'s count matrices to this folder (meta.json + counts; docs/traces.md)')
    .option('--timeline <file.svg>', "the last step's timeline: an SVG Gantt chart and Chrome trace JSON beside it")
    .option('--save <file>', 'save a checkpoint at the end')
    .option('--save-every <n>', 'also save every n steps', integer(1))
    .option('--resume <file>', 'resume from a checkpoint')
    .option('--json', 'print one JSON object on stdout')
    .action(async (flags: TrainFlags) => {
      if (!(POLICIES as readonly string[]).includes(flags.policy)) {
        throw new InvalidArgumentError(`unknown --policy '${flags.policy}' (available: ${POLICIES.join(', ')})`);
      }
      if (flags.capacity !== 'dropless' && flags.capacity !== 'capacity') throw new InvalidArgumentError("--capacity must be 'dropless' or 'capacity'");
      // Checked here too so that the message names the flags rather than the API options.
      if (flags.experts % flags.ranks !== 0) throw new InvalidArgumentError(`--experts ${flags.experts} is not a multiple of --ranks ${flags.ranks}`);
      if (flags.batch % flags.ranks !== 0) throw new InvalidArgumentError(`--batch ${flags.batch} is not a multiple of --ranks ${flags.ranks}`);
      const progress = trainProgress();
      try {
        const result = await runTraining(
          {
            ranks: flags.ranks,
            steps: flags.steps,
            batch: flags.batch,
            seed: flags.seed,
            lr: flags.lr,
            clip: flags.clip,
            policy: flags.policy as PolicyName,
            overlap: flags.overlap,
            schedule: scheduleOptions(flags),
            ...(flags.profile === undefined ? {} : { profile: await loadProfileFile(flags.profile) }),
            config: {
              dModel: flags.dModel,
              hidden: flags.hidden,
              numLayers: flags.layers,
              numHeads: flags.heads,
              numExperts: flags.experts,
              topK: flags.topK,
              seqLen: flags.seq,
              initSeed: flags.seed,
              moe: {
                renormalize: true,
                activation: 'gelu',
                auxLossCoef: flags.auxLoss,
                capacityMode: flags.capacity,
                capacityFactor: flags.capacityFactor,
              },
            },
            ...(flags.trace === undefined ? {} : { trace: flags.trace }),
            ...(flags.timeline === undefined ? {} : { timeline: flags.timeline }),
            ...(flags.save === undefined ? {} : { save: flags.save }),
            ...(flags.saveEvery === undefined ? {} : { saveEvery: flags.saveEvery }),
            ...(flags.resume === undefined ? {} : { resume: flags.resume }),
          },
          progress.onStep,
        );
        progress.stop();
        const summary = { losses: result.losses, first_step: result.firstStep, tokens_per_s: result.tokensPerS, balance: result.balance, policy: flags.policy, replicas: result.replicas, ranks: flags.ranks };
        if (flags.json) console.log(JSON.stringify(summary));
        else console.error(`final loss ${result.losses.at(-1)?.toFixed(4) ?? 'n/a'} nats/byte, ${Math.round(result.tokensPerS)} tokens/s, device max/mean per layer: ${result.balance.map((b) => b.toFixed(2)).join(' ')}`);
      } catch (error) {
        progress.stop();
        throw error;
      }
    });
}
