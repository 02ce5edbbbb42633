/**
 * The block scheduler end to end (issue 7): training-step time of the example model on W = 2
 * in-process ranks with one hot expert, for
 *   (a) no balancing (policy 'none'),
 *   (b) the planner alone: its placements, Trans/Agg in line on the compute stream (overlap off),
 *   (c) planner + block scheduler: the same placements, Trans/Agg in two parts on the transfer
 *       streams (the split and fallback of `transfer-schedule.ts`),
 * and the share of the Trans+Agg time the scheduler hides: (T_b − T_c) / T_transfers, where
 * T_transfers is the in-line Trans+Agg time of (b) read from its timeline (the TRANS/AGG spans
 * of the slower rank, best of a few untimed steps), beside what the iteration simulator expects
 * with the calibrated costs (`overlapReport`, no interference).
 *
 * The hot expert: every byte's token embedding gets feature 0 = 8 and every MoE router maps
 * feature 0 to +4 for expert 0 (home: rank 0) and −4 for the others, so with top-1 routing
 * (nearly) every token of both ranks goes to expert 0. Learning rate 0 keeps it so: the
 * optimizer still runs (its time counts), but parameters and routing do not move.
 *
 * Measurement: the three setups (three worlds of two ranks, same model and data) take turns,
 * one training step each per round, the order rotating every round (abc, bca, cab), so that
 * slow spells of this shared machine fall on all of them alike. Ratios and differences are taken
 * per round (the setups of a round ran back to back, so a slow spell spanning the round cancels)
 * and the median over rounds is reported (it drops rounds where a spell hit one setup only);
 * each setup's median and minimum step time are printed too. A breakdown (expert compute,
 * non-MoE compute, exchanges incl. waiting, optimizer step, in-line transfers; slower rank) comes
 * from three recorded untimed steps per setup. One OpenMP thread per rank (OMP_NUM_THREADS = 1,
 * set before the addon loads unless given), so the two ranks use the two cores. The planner
 * and the schedule price with a quick calibration of this machine (`calibrate`), overlap costs
 * included: the fallback rule then decides per block and transfer whether to overlap, and the
 * rows count its decisions over the timed steps (`transfers_inline`, `transfers_overlapped`).
 *
 * Arguments: --rounds N (default 15), --layers L (default 2), --hidden h (default 2048),
 * --batch B (global sequences of 64 bytes, default 16), --quick (5 rounds), --interference x
 * (override the calibrated interference, e.g. 0 for the schedule as before calibration).
 */
import { calibrate } from '../src/balance/prophet/calibrate.js';
import { evaluatePlacement, type HardwareProfile } from '../src/balance/prophet/perfmodel.js';
import { overlapReport, type BlockCosts } from '../src/balance/prophet/scheduler.js';
import { emptyPlacement, type Placement } from '../src/balance/prophet/placement.js';
import { transferSchedule, type BlockTransfers, type TransferScheduleOptions } from '../src/balance/prophet/transfer-schedule.js';
import type { Communicator } from '../src/comm/communicator.js';
import { createLocalWorld } from '../src/comm/local.js';
import { BalancePlanner, type PolicyName } from '../src/model/balance.js';
import { resolveModelConfig, type ModelConfig } from '../src/model/config.js';
import { TextDataset, type Batch } from '../src/model/data.js';
import { Rng } from '../src/model/rng.js';
import { RankTrainer } from '../src/model/trainer.js';
import { Timeline } from '../src/runtime/timeline.js';
import type { Benchmark, BenchmarkResult } from './types.js';
import { integerOption as option, shareOption } from './util-args.js';

const NUM_RANKS = 2;
const HOT = 8; // feature 0 of every token embedding
const ROUTER_BIAS = 4; // router weight of feature 0: +4 for expert 0, −4 for the others

/** One setup: a world of W ranks training the same model under one policy and overlap mode. */
class Setup {
  readonly comms: Communicator[];
  readonly trainers: RankTrainer[];
  private readonly planner: BalancePlanner;
  private placements: Placement[];
  private schedules: BlockTransfers[] | null = null;
  /** The fallback rule's decisions over the steps run: non-empty transfers (a block's Trans or
   * Agg) in line on the compute stream, or overlapped on the transfer stream. */
  readonly decisions = { inline: 0, overlapped: 0 };

  constructor(
    readonly name: string,
    policy: PolicyName,
    readonly overlap: boolean,
    readonly config: ModelConfig,
    profile: HardwareProfile,
    readonly batch: number,
    /** Overrides of the profile's overlap costs (none: the calibrated ones). */
    private readonly scheduleOptions: TransferScheduleOptions = {},
  ) {
    this.comms = createLocalWorld(NUM_RANKS, { timeoutMs: 120_000 });
    this.trainers = this.comms.map((comm) => new RankTrainer(comm, config, { batch, lr: 0 }));
    this.planner = new BalancePlanner(policy, NUM_RANKS, config, profile);
    this.placements = Array.from({ length: config.numLayers }, () => emptyPlacement(NUM_RANKS, config.numExperts));
  }

  /** Makes expert 0 hot (see the module comment). */
  async forceHotExpert(): Promise<void> {
    for (const t of this.trainers) {
      for (const p of t.parameters()) {
        if (p.name === 'embedding.token') {
          const table = await p.value.toArray({ stream: t.model.stream });
          const d = this.config.dModel;
          for (let row = 0; row < table.length / d; row++) table[row * d] = HOT;
          p.value.write(table, { stream: t.model.stream });
        } else if (p.name.endsWith('moe.router.weight')) {
          const w = await p.value.toArray({ stream: t.model.stream });
          for (let e = 0; e < this.config.numExperts; e++) w[e] = e === 0 ? ROUTER_BIAS : -ROUTER_BIAS; // row 0 = feature 0
          p.value.write(w, { stream: t.model.stream });
        }
      }
    }
  }

  /** One training step on every rank, then the next step's placements (and schedule). Returns
   * wall ms, and the ranks' timeline spans when asked. */
  async step(batch: Batch, record = false): Promise<{ ms: number; spans: SpanMs[] }> {
    for (const t of this.trainers) {
      t.model.moeLayers.forEach((layer, l) => {
        layer.placement = this.placements[l]!;
        layer.transferSchedule = this.schedules?.[l] ?? null;
        layer.overlapTransfers = this.overlap;
      });
    }
    const timelines = record ? this.trainers.map((t) => new Timeline(t.comm.rank)) : null;
    timelines?.forEach((tl, r) => {
      this.trainers[r]!.model.timeline = tl;
      tl.begin(this.trainers[r]!.model.stream);
    });
    this.count(this.schedules);
    const start = performance.now();
    const reports = await Promise.all(this.trainers.map((t) => t.step(batch)));
    const ms = performance.now() - start;
    const spans = timelines === null ? [] : (await Promise.all(timelines.map((tl) => tl.collect()))).flat();
    for (const t of this.trainers) t.model.timeline = null;
    const counts = reports[0]!.countMatrices;
    this.placements = this.planner.next(counts);
    const matrices = counts.map((data) => ({ numRanks: NUM_RANKS, numExperts: this.config.numExperts, data }));
    this.schedules = transferSchedule(matrices, this.placements, this.planner.model, this.scheduleOptions);
    return { ms, spans: spans.map((s) => ({ rank: s.rank, name: s.name, ms: s.endMs - s.startMs })) };
  }

  /** Counts how the step about to run issues its transfers (overlap off: all in line). */
  private count(schedules: readonly BlockTransfers[] | null): void {
    for (const block of schedules ?? []) {
      for (const p of [block.trans, block.agg]) {
        if (p.a.length + p.b.length === 0) continue;
        if (this.overlap && !p.inline) this.decisions.overlapped++;
        else this.decisions.inline++;
      }
    }
  }

  /** What the iteration simulator (scheduler.ts) expects of the last step's placements under
   * this setup's calibrated model: the share of Trans+Agg hidden with the 'adaptive' split. */
  modelledHiddenFraction(): number {
    const { profile } = this.planner.model;
    const costs: BlockCosts[] = this.trainers[0]!.model.moeLayers.map((layer, l) => {
      const counts = { numRanks: NUM_RANKS, numExperts: this.config.numExperts, data: layer.lastCountMatrix! };
      const c = evaluatePlacement(counts, this.placements[l]!, this.planner.model);
      return { fnec: profile.fnecSeconds, bnec: profile.bnecSeconds, fec: c.fec, bec: c.bec, a2a: c.a2a, trans: c.trans, agg: c.agg };
    });
    return overlapReport(costs, { overlap: 'adaptive' }).hiddenFraction;
  }

  /** Share of routed slots that went to expert 0 in the last step, and the schedule's parts. */
  describe(): { hotShare: number; replicas: number; schedule: string } {
    const counts = this.trainers[0]!.model.moeLayers.map((l) => l.lastCountMatrix!);
    const e = this.config.numExperts;
    const hot = counts.reduce((s, m) => s + m.filter((_, i) => i % e === 0).reduce((a, b) => a + b, 0), 0);
    const all = counts.reduce((s, m) => s + m.reduce((a, b) => a + b, 0), 0);
    const replicas = this.placements.reduce((n, p) => n + p.replicas.reduce((k, r) => k + r.length, 0), 0);
    const part = (p: BlockTransfers['trans']) => (p.a.length + p.b.length === 0 ? '-' : p.inline ? `in line [${p.a.join(' ')}]` : `a[${p.a.join(' ')}] b[${p.b.join(' ')}]`);
    const schedule = (this.schedules ?? []).map((s, l) => `L${l} trans ${part(s.trans)}, agg ${part(s.agg)}`).join('; ');
    return { hotShare: all === 0 ? 0 : hot / all, replicas, schedule };
  }

  dispose(): void {
    for (const t of this.trainers) t.dispose();
    for (const c of this.comms) c.dispose();
  }
}

/** The q-quantile (0..1) of xs, linear between order statistics. */
const quantile = (xs: readonly number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = q * (s.length - 1);
  const lo = Math.floor(at);
  return s[lo]! + (at - lo) * ((s[Math.min(lo + 1, s.length - 1)] ?? s[lo]!) - s[lo]!);
};
const median = (xs: readonly number[]) => quantile(xs, 0.5);

type SpanMs = { rank: number; name: string; ms: number };

/** Per-rank ms of each phase family in one recorded step: the slower rank's figure. */
function phases(spans: readonly SpanMs[]): Record<'expert_ms' | 'non_moe_ms' | 'a2a_ms' | 'step_ms' | 'transfer_ms', number> {
  const sum = (pattern: RegExp) =>
    Math.max(...Array.from({ length: NUM_RANKS }, (_, r) => spans.filter((s) => s.rank === r && pattern.test(s.name)).reduce((t, s) => t + s.ms, 0)));
  return {
    expert_ms: sum(/^(FEC|BEC):/),
    non_moe_ms: sum(/^(FNEC|BNEC):/),
    a2a_ms: sum(/^A2A:/),
    step_ms: sum(/^STEP$/),
    transfer_ms: sum(/^(TRANS|AGG):/),
  };
}

const benchmark: Benchmark = {
  name: 'scheduler',
  description: 'training step with a hot expert: no balancing vs planner (in line) vs planner + block scheduler, W = 2',
  async run(args): Promise<BenchmarkResult> {
    const quick = args.includes('--quick');
    const rounds = option(args, '--rounds', quick ? 5 : 15);
    const numLayers = option(args, '--layers', 2);
    const hidden = option(args, '--hidden', 2048);
    const batch = option(args, '--batch', 16);
    const interference = shareOption(args, '--interference');
    const config = resolveModelConfig({ dModel: 256, hidden, mlpHidden: 64, numHeads: 4, numLayers, numExperts: 4, topK: 1, seqLen: 64, initSeed: 1 });
    const log = (line: string) => process.stderr.write(`${line}\n`);
    // Step 1: this machine's profile for the shape (the planner and the schedule price with it).
    const { profile, samples } = await calibrate(
      { numRanks: NUM_RANKS, dModel: 256, hidden, numExperts: 4, numHeads: 4, mlpHidden: 64, batchPerRank: batch / NUM_RANKS, seqLen: 64 },
      { quick: true, progress: () => undefined },
    );
    const overlap = profile.overlap!; // W = 2: calibration measured it
    log(
      `scheduler: calibrated (FNEC ${(profile.fnecSeconds * 1e3).toFixed(2)} ms, ${(profile.expertSecondsPerToken * 1e6).toFixed(1)} µs/token; ` +
        `interference ${overlap.interference.toFixed(2)}, hand-off ${(overlap.syncSeconds * 1e6).toFixed(1)} µs per part` +
        `${interference === undefined ? '' : `; the schedule uses interference ${interference} (--interference)`})`,
    );
    const scheduleOptions = interference === undefined ? {} : { interference };
    // Step 2: three setups, forced hot expert, two warm-up steps (the first plans the second's
    // placement; the second runs it once untimed).
    const setups = [new Setup('none', 'none', true, config, profile, batch), new Setup('planner', 'prophet', false, config, profile, batch), new Setup('planner+scheduler', 'prophet', true, config, profile, batch, scheduleOptions)];
    const dataset = TextDataset.load();
    let rng = Rng.fromSeed(1);
    try {
      for (const s of setups) await s.forceHotExpert();
      const batches = Array.from({ length: rounds + 2 }, () => dataset.sampleBatch(rng, batch, config.seqLen));
      for (const batch of batches.slice(0, 2)) for (const s of setups) await s.step(batch);
      // Step 3: interleaved rounds, the order rotating; the fallback's decisions counted there.
      for (const s of setups) Object.assign(s.decisions, { inline: 0, overlapped: 0 });
      const times = setups.map(() => [] as number[]);
      for (let round = 0; round < rounds; round++) {
        for (let k = 0; k < setups.length; k++) {
          const i = (round + k) % setups.length;
          times[i]!.push((await setups[i]!.step(batches[round + 2]!)).ms);
        }
      }
      const decisions = setups.map((s) => ({ ...s.decisions }));
      // Step 4: where the time goes: the best of three recorded (untimed) steps of each setup.
      // The in-line Trans+Agg time of the planner-alone setup is the hidden fraction's divisor.
      rng = Rng.fromSeed(2);
      const breakdown: ReturnType<typeof phases>[] = [];
      for (const s of setups) {
        let best = { ms: Infinity, spans: [] as SpanMs[] };
        for (let k = 0; k < 3; k++) {
          const run = await s.step(dataset.sampleBatch(rng, batch, config.seqLen), true);
          if (run.ms < best.ms) best = run;
        }
        breakdown.push(phases(best.spans));
      }
      const transfers = breakdown[1]!.transfer_ms;
      // Step 5: rows and targets.
      // Paired per round: the setups of one round ran back to back, so a slow spell spanning
      // the round cancels in its ratio and difference, and the median drops rounds where one
      // hit only one setup.
      const [none, planner, scheduled] = times as [number[], number[], number[]];
      const perRound = (f: (k: number) => number) => median(none.map((_, k) => f(k)));
      const rows = setups.map((s, i) => {
        const d = s.describe();
        const mine = times[i]!;
        const made = decisions[i]!;
        log(
          `${s.name}: median ${median(mine).toFixed(1)} ms, min ${Math.min(...mine).toFixed(1)} ms; hot share ${d.hotShare.toFixed(3)}, replicas ${d.replicas}; ` +
            `transfers in line ${made.inline}, overlapped ${made.overlapped} over ${rounds} steps${s.overlap && d.replicas > 0 ? `; ${d.schedule}` : ''}`,
        );
        return {
          setup: s.name,
          median_ms: median(mine),
          min_ms: Math.min(...mine),
          vs_none: perRound((k) => mine[k]! / none[k]!),
          hot_share: d.hotShare,
          replicas_per_step: d.replicas,
          transfers_inline: made.inline,
          transfers_overlapped: made.overlapped,
          ...breakdown[i]!,
        };
      });
      const saved = none.map((_, k) => planner[k]! - scheduled[k]!);
      const hidden_fraction = median(saved) / transfers;
      // How far one round's paired difference strays: the quartiles, as shares of the transfers.
      const hiddenQuartiles = [quantile(saved, 0.25) / transfers, quantile(saved, 0.75) / transfers];
      const scheduledVsNone = rows[2]!.vs_none;
      const modelled = setups[2]!.modelledHiddenFraction();
      log(
        `in-line Trans+Agg ${transfers.toFixed(1)} ms per step; hidden ${(100 * hidden_fraction).toFixed(0)}% (median paired difference; ` +
          `quartiles ${hiddenQuartiles.map((q) => `${(100 * q).toFixed(0)}%`).join(' .. ')}; the simulator expects ${(100 * modelled).toFixed(0)}% without interference); ` +
          `planner+scheduler / none ${scheduledVsNone.toFixed(3)}`,
      );
      return {
        bench: 'scheduler',
        rows,
        transfers_ms: transfers,
        rounds,
        overlap_costs: { calibrated: overlap, samples: samples.overlap ?? null, interference_used: interference ?? overlap.interference },
        config: { numRanks: NUM_RANKS, dModel: 256, hidden, numLayers, numExperts: 4, topK: 1, globalBatch: batch, seqLen: 64, ompThreads: process.env.OMP_NUM_THREADS ?? null },
        targets: {
          hidden_fraction: { target: 0.5, measured: hidden_fraction, quartiles: hiddenQuartiles, modelled, met: hidden_fraction >= 0.5 },
          scheduled_vs_none: { target: 0.65, measured: scheduledVsNone, met: scheduledVsNone <= 0.65 },
        },
      };
    } finally {
      for (const s of setups) s.dispose();
    }
  },
};

// One OpenMP thread per rank, read once when the addon loads (below this module's imports,
// which do not load it).
process.env.OMP_NUM_THREADS ??= '1';

export default benchmark;
