/**
 * Calibration: micro-benchmarks of the running backend (CPU streams, the `local` communicator,
 * W ranks in one process) that fill a {@link HardwareProfile} for one model shape. This is the
 * I/O side (clock, native work, progress on stderr); the fits are pure (`calibration-fit.ts`)
 * and the model stays pure (`perfmodel.ts`).
 *
 * What is measured (each rank on its own stream):
 *  - A2A: an all-to-all-v where one rank receives `bytes` from the other ranks (no own block, no
 *    other receiver: Eq. 1 prices receivers independently), over a range of sizes → the
 *    bandwidth curve (x = R_i · size(input)); and the same with every rank receiving at once →
 *    the node's shared tier (`nodeA2a`, x = Σ_i R_i · size(input)): in-process ranks share the
 *    cores and memory bandwidth, so concurrent receivers slow each other down.
 *  - FEC / BEC: `ffnForward` / `ffnBackward` of one rank's E/W experts over n tokens, that rank
 *    alone → `expertSecondsPerToken`, and the measured backward/forward ratio (the paper assumes
 *    2). Alone, because Eq. 2 prices the busiest device, and devices do not share cores; W
 *    in-process ranks busy at once on a machine with fewer free cores would slow each other
 *    (on a shared 2-core box, by up to 2× depending on the other jobs).
 *  - Trans / Agg: `ExpertTransfer.trans` / `.agg` of one expert (the layer's own code path:
 *    pack, broadcast or reduce over the member subset, unpack) for group sizes 2..W → per-target
 *    bandwidth.
 *  - FNEC / BNEC: one block's attention + dense MLP forward / backward (as in `model.ts`).
 *  - Overlap costs (`profile.overlap`, what the block scheduler's fallback rule weighs): on every
 *    rank at once, the expert FFN forward alone (sized to take about as long as one expert's
 *    Trans, so neither hides the other entirely and the estimate is well conditioned), one
 *    expert's Trans to all ranks alone (in line), and both at once the way the executor overlaps
 *    one part (Trans on a high-priority transfer stream after an event from the compute stream,
 *    the FFN on the compute stream, which then waits for Trans's end event) → interference; and
 *    a tiny op's round trip through the transfer stream against the same ops in line → the
 *    hand-off cost per part (`fitInterference`, `fitSyncSeconds` give the derivation).
 *
 * Statistic: each figure is the *minimum* over timed runs, each run averaging enough back-to-back
 * iterations to last a few ms (short runs, many of them: a run either catches the machine quiet
 * or not). On a shared machine interference only adds time, so the minimum is the reproducible,
 * undisturbed cost (the median drifts with the other jobs' load); the error report
 * (`bench/perfmodel.ts`) measures with the same statistic.
 */
import { createLocalWorld } from '../../comm/local.js';
import type { Communicator } from '../../comm/communicator.js';
import { checkInteger, invalidType, invalidValue } from '../../errors.js';
import { ffnBackward, ffnForward, type FfnParams } from '../../kernels/ffn.js';
import { matmul } from '../../kernels/matmul.js';
import { ExpertTransfer } from '../../moe/transfer.js';
import { attention, attentionBackward } from '../../nn/attention.js';
import { rmsnorm, rmsnormBackward } from '../../nn/rmsnorm.js';
import { Tensor } from '../../runtime/tensor.js';
import {
  fitLatencyBandwidth,
  fitProportional,
  mergeSamples,
  overlapCostsFromSamples,
  profileFromSamples,
  type CalibrationSamples,
  type OverlapSamples,
  type Sample,
} from './calibration-fit.js';
import type { HardwareProfile } from './perfmodel.js';
import { emptyPlacement, type Placement } from './placement.js';

/** The model shape a profile is calibrated for. */
export interface CalibrationShape {
  readonly numRanks: number;
  readonly dModel: number;
  /** Expert hidden width h. */
  readonly hidden: number;
  readonly numExperts: number;
  readonly gated?: boolean;
  /** Non-MoE block (FNEC/BNEC): heads, dense MLP width, sequences per rank and their length. */
  readonly numHeads: number;
  readonly mlpHidden: number;
  readonly batchPerRank: number;
  readonly seqLen: number;
}

export interface CalibrationOptions {
  /** A few seconds: fewer sizes, shorter runs. */
  readonly quick?: boolean;
  /** Timed runs per figure (default 5, quick 3). */
  readonly repeats?: number;
  /**
   * Passes over all micro-benchmarks (default 1), merged by the fastest sample of each size: a
   * busy spell of a shared machine that lasts longer than one family's runs then spoils one pass.
   */
  readonly passes?: number;
  /** A2A bytes per receiver (from other ranks). */
  readonly a2aBytes?: readonly number[];
  /** Tokens per rank for FEC/BEC. */
  readonly tokens?: readonly number[];
  /** Progress lines (default: stderr). */
  readonly progress?: (line: string) => void;
}

/** A calibrated profile and the samples it came from. */
export interface Calibration {
  readonly profile: HardwareProfile;
  /** Measured BEC / FEC; the model (Eq. 3) uses 2 (see docs/planner.md, Calibration). */
  readonly backwardPerForward: number;
  /** What was measured (the fastest of each size over the passes); `profileFromSamples` fits it. */
  readonly samples: CalibrationSamples;
  /** Bytes of one expert's packed parameters [w1 | b1 | w2 | b2]. */
  readonly expertParamBytes: number;
  readonly elapsedSeconds: number;
}

const KIB = 1024;

/** Seconds per iteration of work queued on every rank (the slowest rank decides), best of
 * `repeats` runs of `iters` iterations each, after one untimed warm-up that also sizes iters. */
export async function timeWorld(comms: readonly Communicator[], enqueue: (rank: number) => void, repeats: number, targetSeconds: number): Promise<number> {
  const run = async (iters: number) => {
    comms.forEach((c) => c.barrier());
    await Promise.all(comms.map((c) => c.defaultStream.synchronize()));
    const started = performance.now();
    for (let i = 0; i < iters; i++) comms.forEach((_, r) => enqueue(r));
    await Promise.all(comms.map((c) => c.defaultStream.synchronize()));
    return (performance.now() - started) / 1000 / iters;
  };
  const warm = await run(1);
  const iters = Math.max(1, Math.min(200, Math.round(targetSeconds / Math.max(warm, 1e-6))));
  let best = Infinity;
  for (let k = 0; k < repeats; k++) best = Math.min(best, await run(iters));
  return best;
}

/** Deterministic values in [-1, 1) (an LCG; calibration needs data, not randomness). */
export function pseudoRandom(count: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** E/W experts' parameters of `shape` on `comm`'s stream (values irrelevant to timing). */
export function expertParams(comm: Communicator, shape: CalibrationShape, seed: number): FfnParams {
  const { dModel: d, hidden: h, numExperts, numRanks } = shape;
  const n = numExperts / numRanks;
  const h1 = shape.gated === true ? 2 * h : h;
  const stream = comm.defaultStream;
  const scaled = (count: number, bound: number) => pseudoRandom(count, seed).map((v) => v * bound);
  return {
    w1: Tensor.from(scaled(n * d * h1, 1 / Math.sqrt(d)), [n, d, h1], { stream }),
    b1: Tensor.zeros([n, h1], { stream }),
    w2: Tensor.from(scaled(n * h * d, 1 / Math.sqrt(h)), [n, h, d], { stream }),
    b2: Tensor.zeros([n, d], { stream }),
  };
}

/** Tokens split as evenly as possible over `numExperts` experts (the first ones get the rest). */
export function evenRows(tokens: number, numExperts: number): Int32Array {
  return Int32Array.from({ length: numExperts }, (_, e) => Math.floor(tokens / numExperts) + (e < tokens % numExperts ? 1 : 0));
}

function disposeAll(tensors: Iterable<Tensor>): true {
  for (const t of tensors) t.dispose();
  return true;
}

/**
 * A2A samples, x = bytes received from other ranks: by one receiver (`'one'`, x per receiver) or
 * by every rank at once (`'all'`, x = the node's total).
 */
async function measureA2A(comms: readonly Communicator[], sizes: readonly number[], receivers: 'one' | 'all', repeats: number, target: number, log: (l: string) => void): Promise<Sample[]> {
  const w = comms.length;
  const samples: Sample[] = [];
  const receives = (r: number) => receivers === 'all' || r === 0;
  for (const bytes of sizes) {
    const block = Math.max(1, Math.round(bytes / 4 / Math.max(1, w - 1)));
    // 'one': rank 0 gets a block from every other rank (Eq. 1 prices each receiver on its own:
    // devices have their own links). 'all': every rank does at once, so the receivers contend
    // for what a node shares (the shared tier). Nobody keeps an own block: Eq. 1 counts rows from
    // other ranks only. With W = 1 the own block is all there is.
    const sendCountsOf = (r: number) => Array.from({ length: w }, (_, p) => (w === 1 || (receives(p) && p !== r) ? block : 0));
    const recvCountsOf = (r: number) => Array.from({ length: w }, (_, p) => (w === 1 || (receives(r) && p !== r) ? block : 0));
    const sends = comms.map((c) => Tensor.zeros([w * block], { stream: c.defaultStream }));
    const recvs = comms.map((c) => Tensor.zeros([w * block], { stream: c.defaultStream }));
    const seconds = await timeWorld(comms, (r) => comms[r]!.allToAllV(sends[r]!, sendCountsOf(r), recvs[r]!, recvCountsOf(r)), repeats, target);
    const perReceiver = block * 4 * Math.max(1, w - 1);
    const x = receivers === 'all' ? perReceiver * w : perReceiver;
    log(`calibrate: a2a ${perReceiver} B per receiver, ${receivers === 'all' ? `all ${w} ranks` : 'one rank'} receiving: ${(seconds * 1e6).toFixed(1)} us`);
    samples.push({ x, seconds });
    disposeAll([...sends, ...recvs]);
  }
  return samples;
}

/** FEC and BEC samples: x = tokens per rank over its E/W experts. The repeats go round the
 * sizes (one timed run of each size per round) so that a busy spell of the shared machine
 * cannot spoil every run of one size. */
async function measureExperts(comms: readonly Communicator[], shape: CalibrationShape, tokensList: readonly number[], repeats: number, target: number, log: (l: string) => void) {
  const params = comms.map((c, r) => expertParams(c, shape, 100 + r));
  const grads = comms.map((c, r) => expertParams(c, shape, 200 + r));
  const ffn = { gated: shape.gated === true };
  const cases = tokensList.map((tokens) => {
    const rows = evenRows(tokens, shape.numExperts / shape.numRanks);
    const xs = comms.map((c, r) => Tensor.from(pseudoRandom(tokens * shape.dModel, r + 1), [tokens, shape.dModel], { stream: c.defaultStream }));
    const saved = comms.map((c, r) => ffnForward(xs[r]!, rows, params[r]!, { ...ffn, stream: c.defaultStream }));
    // Outputs are allocated per call and freed once queued, as the layer does.
    // Rank 0 alone: Eq. 2 is the busiest *device's* time, and devices do not share cores; W
    // in-process ranks on fewer free cores than W would (see the module comment).
    const forward = (r: number) => r === 0 && disposeAll(Object.values(ffnForward(xs[r]!, rows, params[r]!, { ...ffn, stream: comms[r]!.defaultStream })));
    const backward = (r: number) =>
      r === 0 && disposeAll(Object.values(ffnBackward(xs[r]!, xs[r]!, rows, params[r]!, saved[r]!, grads[r]!, { ...ffn, stream: comms[r]!.defaultStream })));
    return { tokens, xs, saved, forward, backward, bestForward: Infinity, bestBackward: Infinity };
  });
  for (let round = 0; round < repeats; round++) {
    for (const c of cases) {
      c.bestForward = Math.min(c.bestForward, await timeWorld(comms, c.forward, 1, target));
      c.bestBackward = Math.min(c.bestBackward, await timeWorld(comms, c.backward, 1, target));
    }
  }
  const fec: Sample[] = [];
  const bec: Sample[] = [];
  for (const c of cases) {
    log(`calibrate: experts ${c.tokens} tokens/rank: forward ${(c.bestForward * 1e3).toFixed(2)} ms, backward ${(c.bestBackward * 1e3).toFixed(2)} ms`);
    fec.push({ x: c.tokens, seconds: c.bestForward });
    bec.push({ x: c.tokens, seconds: c.bestBackward });
    disposeAll([...c.xs, ...c.saved.flatMap((f) => [f.y, f.pre, f.act])]);
  }
  disposeAll([...params, ...grads].flatMap((p) => Object.values(p) as Tensor[]));
  return { fec, bec };
}

/** A placement replicating expert 0 (home 0) on ranks 1..groupSize−1. */
export function groupPlacement(numRanks: number, numExperts: number, groupSize: number): Placement {
  const empty = emptyPlacement(numRanks, numExperts);
  return { ...empty, replicas: empty.replicas.map((r, e) => (e === 0 ? Array.from({ length: groupSize - 1 }, (_, i) => i + 1) : r)) };
}

/** Trans and Agg samples: x = group size (home + replicas) of one expert. */
async function measureTransfers(comms: readonly Communicator[], shape: CalibrationShape, repeats: number, target: number, log: (l: string) => void) {
  const params = comms.map((c, r) => expertParams(c, shape, 300 + r));
  const trans: Sample[] = [];
  const agg: Sample[] = [];
  const transferShape = { dModel: shape.dModel, hidden: shape.hidden, gated: shape.gated === true, numExperts: shape.numExperts };
  for (let group = 2; group <= comms.length; group++) {
    const placement = groupPlacement(comms.length, shape.numExperts, group);
    const transfers = comms.map((c) => new ExpertTransfer(c, transferShape, placement));
    const t = await timeWorld(comms, (r) => transfers[r]!.trans(params[r]!), repeats, target);
    const a = await timeWorld(comms, (r) => transfers[r]!.agg(params[r]!), repeats, target);
    log(`calibrate: one expert to a group of ${group}: trans ${(t * 1e3).toFixed(3)} ms, agg ${(a * 1e3).toFixed(3)} ms`);
    trans.push({ x: group, seconds: t });
    agg.push({ x: group, seconds: a });
    for (const tr of transfers) tr.dispose();
  }
  disposeAll(params.flatMap((p) => Object.values(p) as Tensor[]));
  return { trans, agg };
}

/** FNEC / BNEC: one block's attention + dense MLP (norms, qkv, attention, proj, MLP, residuals). */
async function measureBlock(comms: readonly Communicator[], shape: CalibrationShape, repeats: number, target: number, log: (l: string) => void) {
  const { dModel: d, numHeads: heads, batchPerRank: b, seqLen: s, mlpHidden } = shape;
  const n = b * s;
  const mlpShape = { ...shape, numExperts: comms.length, hidden: mlpHidden, gated: false };
  const state = comms.map((c, r) => {
    const stream = c.defaultStream;
    const w = (count: number, shapeOf: number[], seed: number) => Tensor.from(pseudoRandom(count, seed).map((v) => v / Math.sqrt(d)), shapeOf, { stream });
    return {
      x: w(n * d, [n, d], 400 + r),
      gain: Tensor.from(new Float32Array(d).fill(1), [d], { stream }),
      dGain: Tensor.zeros([d], { stream }),
      qkvW: w(d * 3 * d, [d, 3 * d], 500 + r),
      projW: w(d * d, [d, d], 600 + r),
      mlp: expertParams(c, mlpShape, 700 + r),
      mlpGrads: expertParams(c, mlpShape, 800 + r),
    };
  });
  const forward = (r: number) => {
    const p = state[r]!;
    const stream = comms[r]!.defaultStream;
    const n1 = rmsnorm(p.x, p.gain, { stream });
    const qkv = matmul(n1.y, p.qkvW, { stream }).reshape([b, s, 3, heads, d / heads]);
    const att = attention(qkv, { stream });
    const x1 = matmul(att.out.reshape([n, d]), p.projW, { stream });
    const n2 = rmsnorm(x1, p.gain, { stream });
    const mlp = ffnForward(n2.y, [n], p.mlp, { stream });
    return { n1, qkv, att, x1, n2, mlp };
  };
  const saved = comms.map((_, r) => forward(r));
  const fwd = await timeWorld(comms, (r) => disposeForward(forward(r)), repeats, target);
  const backward = (r: number) => {
    const p = state[r]!;
    const f = saved[r]!;
    const stream = comms[r]!.defaultStream;
    const { dx: dN2, dpre } = ffnBackward(p.x, f.n2.y, [n], p.mlp, f.mlp, p.mlpGrads, { stream });
    const dX1 = rmsnormBackward(dN2, f.x1, p.gain, f.n2.rstd, p.dGain, { stream });
    const dProjW = matmul(f.att.out.reshape([n, d]), dX1, { transA: true, stream });
    const dAtt = matmul(dX1, p.projW, { transB: true, stream });
    const dQkv = attentionBackward(dAtt.reshape(f.att.out.shape), f.qkv, f.att, { stream }).reshape([n, 3 * d]);
    const dQkvW = matmul(f.n1.y, dQkv, { transA: true, stream });
    const dN1 = matmul(dQkv, p.qkvW, { transB: true, stream });
    const dX = rmsnormBackward(dN1, p.x, p.gain, f.n1.rstd, p.dGain, { stream });
    disposeAll([dN2, dpre, dX1, dProjW, dAtt, dQkv, dQkvW, dN1, dX]);
  };
  const bwd = await timeWorld(comms, backward, repeats, target);
  log(`calibrate: block (attention + MLP) of ${n} tokens/rank: forward ${(fwd * 1e3).toFixed(2)} ms, backward ${(bwd * 1e3).toFixed(2)} ms`);
  const fnec: Sample[] = [{ x: n, seconds: fwd }];
  const bnec: Sample[] = [{ x: n, seconds: bwd }];
  saved.forEach(disposeForward);
  for (const p of state) disposeAll([p.x, p.gain, p.dGain, p.qkvW, p.projW, ...(Object.values(p.mlp) as Tensor[]), ...(Object.values(p.mlpGrads) as Tensor[])]);
  return { fnec, bnec };
}

function disposeForward(f: { n1: { y: Tensor; rstd: Tensor }; qkv: Tensor; att: { out: Tensor; lse: Tensor }; x1: Tensor; n2: { y: Tensor; rstd: Tensor }; mlp: { y: Tensor; pre: Tensor; act: Tensor } }): void {
  disposeAll([f.n1.y, f.n1.rstd, f.qkv, f.att.out, f.att.lse, f.x1, f.n2.y, f.n2.rstd, f.mlp.y, f.mlp.pre, f.mlp.act]);
}

/**
 * The overlap micro-benchmark (see the module comment) with the FFN over `tokens` tokens per
 * rank. The five figures take turns within each of `repeats` rounds, the fastest of each kept, so
 * that a busy spell of the machine cannot fall on one figure only.
 */
async function measureOverlap(comms: readonly Communicator[], shape: CalibrationShape, tokens: number, repeats: number, target: number, log: (l: string) => void): Promise<OverlapSamples> {
  const w = comms.length;
  const params = comms.map((c, r) => expertParams(c, shape, 900 + r));
  const rows = evenRows(tokens, shape.numExperts / w);
  const xs = comms.map((c, r) => Tensor.from(pseudoRandom(tokens * shape.dModel, 950 + r), [tokens, shape.dModel], { stream: c.defaultStream }));
  const tiny = comms.map((c) => Tensor.zeros([1], { stream: c.defaultStream }));
  // The layer's own transfer stream: one per rank, high priority (as `MoELayer` creates it).
  const side = comms.map((c) => c.defaultStream.device.createStream({ priority: 'high' }));
  const placement = groupPlacement(w, shape.numExperts, w);
  const transferShape = { dModel: shape.dModel, hidden: shape.hidden, gated: shape.gated === true, numExperts: shape.numExperts };
  const ffn = (r: number) => disposeAll(Object.values(ffnForward(xs[r]!, rows, params[r]!, { gated: shape.gated === true, stream: comms[r]!.defaultStream })));
  const best = { computeSeconds: Infinity, transferSeconds: Infinity, bothSeconds: Infinity, inlinePairSeconds: Infinity, handoffPairSeconds: Infinity };
  for (let round = 0; round < repeats; round++) {
    // Fresh transfers each round: every trans() keeps its timing events until dispose().
    const inline = comms.map((c) => new ExpertTransfer(c, transferShape, placement));
    const overlapped = comms.map((c, r) => new ExpertTransfer(c, transferShape, placement, side[r]!));
    const both = (r: number) => {
      overlapped[r]!.trans(params[r]!); // first: it waits only for the work queued before it
      ffn(r);
      comms[r]!.defaultStream.waitEvent(overlapped[r]!.transEvents!.end);
    };
    const handoff = (r: number) => {
      const compute = comms[r]!.defaultStream;
      tiny[r]!.zero({ stream: compute });
      const ready = compute.recordEvent();
      side[r]!.waitEvent(ready);
      tiny[r]!.zero({ stream: side[r]! });
      const done = side[r]!.recordEvent();
      compute.waitEvent(done);
      ready.dispose(); // the waits hold what they need
      done.dispose();
    };
    const pair = (r: number) => (tiny[r]!.zero({ stream: comms[r]!.defaultStream }), tiny[r]!.zero({ stream: comms[r]!.defaultStream }));
    best.computeSeconds = Math.min(best.computeSeconds, await timeWorld(comms, ffn, 1, target));
    best.transferSeconds = Math.min(best.transferSeconds, await timeWorld(comms, (r) => inline[r]!.trans(params[r]!), 1, target));
    best.bothSeconds = Math.min(best.bothSeconds, await timeWorld(comms, both, 1, target));
    best.inlinePairSeconds = Math.min(best.inlinePairSeconds, await timeWorld(comms, pair, 1, 0.002));
    best.handoffPairSeconds = Math.min(best.handoffPairSeconds, await timeWorld(comms, handoff, 1, 0.002));
    await Promise.all(side.map((s) => s.synchronize()));
    for (const t of [...inline, ...overlapped]) t.dispose();
  }
  const costs = overlapCostsFromSamples(best);
  log(
    `calibrate: overlap: ffn ${tokens} tokens/rank ${(best.computeSeconds * 1e3).toFixed(3)} ms, trans ${(best.transferSeconds * 1e3).toFixed(3)} ms, ` +
      `both ${(best.bothSeconds * 1e3).toFixed(3)} ms → interference ${costs.interference.toFixed(2)}; hand-off ${(costs.syncSeconds * 1e6).toFixed(1)} us per part`,
  );
  disposeAll([...xs, ...tiny, ...params.flatMap((p) => Object.values(p) as Tensor[])]);
  for (const s of side) s.dispose();
  return best;
}

/** FFN tokens per rank whose forward takes about `seconds` at the measured slope (at least 16). */
function tokensFor(seconds: number, fec: readonly Sample[]): number {
  return Math.max(16, Math.min(1 << 16, Math.round(seconds / fitProportional(fec, 'samples.fec'))));
}

/** One pass over the five families of micro-benchmarks. */
async function measurePass(
  comms: readonly Communicator[],
  shape: CalibrationShape,
  a2aBytes: readonly number[],
  tokens: readonly number[],
  repeats: number,
  target: number,
  log: (l: string) => void,
): Promise<CalibrationSamples> {
  // Transfers are short: many runs of a few ms each cost little and let the minimum settle.
  const a2a = await measureA2A(comms, a2aBytes, 'one', 5 * repeats, 0.005, log);
  // W = 1 has nobody to contend with: no shared tier.
  const a2aAll = comms.length > 1 ? await measureA2A(comms, a2aBytes, 'all', 5 * repeats, 0.005, log) : [];
  // The FFN slope prices every layer: three times the rounds, so one busy spell cannot set it.
  const { fec, bec } = await measureExperts(comms, shape, tokens, 3 * repeats, target, log);
  const transfers = comms.length > 1 ? await measureTransfers(comms, shape, 5 * repeats, 0.005, log) : { trans: [], agg: [] };
  const { fnec, bnec } = await measureBlock(comms, shape, repeats, target, log);
  // W = 1 has nothing to transfer, so nothing to overlap.
  const largest = transfers.trans.at(-1);
  if (largest === undefined) return { a2a, a2aAll, fec, bec, ...transfers, fnec, bnec };
  // Interference is a difference of figures of similar size, so it needs their minima settled:
  // many short rounds, as for the transfers.
  const overlap = await measureOverlap(comms, shape, tokensFor(largest.seconds, fec), 5 * repeats, Math.min(target, 0.01), log);
  return { a2a, a2aAll, fec, bec, ...transfers, fnec, bnec, overlap };
}

function checkShape(shape: CalibrationShape): void {
  if (shape === null || typeof shape !== 'object') throw invalidType('shape', 'CalibrationShape', shape);
  const w = checkInteger('shape.numRanks', shape.numRanks, 1, 1024);
  const d = checkInteger('shape.dModel', shape.dModel, 1);
  checkInteger('shape.hidden', shape.hidden, 1);
  checkInteger('shape.numExperts', shape.numExperts, w);
  if (shape.numExperts % w !== 0) throw invalidValue('shape.numExperts', `a multiple of shape.numRanks (${w})`, shape.numExperts);
  const heads = checkInteger('shape.numHeads', shape.numHeads, 1);
  if (d % heads !== 0) throw invalidValue('shape.numHeads', `a divisor of shape.dModel (${d})`, heads);
  checkInteger('shape.mlpHidden', shape.mlpHidden, 1);
  checkInteger('shape.batchPerRank', shape.batchPerRank, 1);
  checkInteger('shape.seqLen', shape.seqLen, 1);
}

/** Bytes of one expert's packed parameters (the Trans message; Agg's is the same size). */
export function packedExpertBytes(shape: Pick<CalibrationShape, 'dModel' | 'hidden' | 'gated'>): number {
  const h1 = shape.gated === true ? 2 * shape.hidden : shape.hidden;
  return 4 * (shape.dModel * h1 + h1 + shape.hidden * shape.dModel + shape.dModel);
}

/**
 * Measures the backend and returns a validated profile for `shape` (one node: the in-process
 * world has one link tier, so intraNode = interNode). Creates and disposes its own local world
 * of `shape.numRanks` ranks. Yields to the event loop while work runs; takes about 2.5 s with
 * `quick` and 13 s without for the bench's shape (d = 256, W = 2) on a 2-core machine, plus about
 * 1 s (quick) for the overlap figures; the untimed warm-up comes on top.
 */
export async function calibrate(shape: CalibrationShape, options: CalibrationOptions = {}): Promise<Calibration> {
  checkShape(shape);
  const started = performance.now();
  const quick = options.quick === true;
  const repeats = checkInteger('options.repeats', options.repeats ?? (quick ? 3 : 5), 1, 100);
  const target = quick ? 0.01 : 0.04;
  const log = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Sizes a factor 2 apart (quick: 4) up to 4 MiB per receiver: the rate has a knee where what
  // one core touches outgrows its L2 cache (1–2 MiB here), and with every rank receiving the
  // contention appears only past it; a sparser grid interpolates across the knee.
  const a2aBytes = options.a2aBytes ?? (quick ? [16, 128, 512, 2048] : [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]).map((k) => k * KIB);
  const tokens = options.tokens ?? (quick ? [256, 1024] : [256, 512, 1024, 2048, 4096]);
  const passes = checkInteger('options.passes', options.passes ?? 1, 1, 100);
  const comms = createLocalWorld(shape.numRanks, { timeoutMs: 120_000 });
  try {
    // Step 1: an untimed warm-up pass: the transfers' JavaScript (argument checks, packing) runs
    // cold at first, and V8 needs some hundreds of calls to compile it; a young process also
    // pays first-touch page faults.
    const quiet = () => undefined;
    await measureA2A(comms, a2aBytes.slice(0, 2), 'one', 10, 0.02, quiet);
    if (comms.length > 1) await measureTransfers(comms, shape, 10, 0.02, quiet);
    await measureExperts(comms, shape, tokens.slice(-1), 2, target, quiet);
    // Step 2: the micro-benchmarks, `passes` times, merged by the fastest sample of each size.
    const measured: CalibrationSamples[] = [];
    for (let pass = 0; pass < passes; pass++) measured.push(await measurePass(comms, shape, a2aBytes, tokens, repeats, target, log));
    const samples = mergeSamples(measured);
    // Step 3: fits (pure). One world = one node, so both tiers are the same links.
    const expertBytes = packedExpertBytes(shape);
    const { profile, backwardPerForward } = profileFromSamples(samples, expertBytes, comms.length);
    // The α–β summary of the A2A samples, for the log only: the curve itself keeps every point.
    if (samples.a2a.length > 1) {
      const ab = fitLatencyBandwidth(samples.a2a, 'a2a');
      log(`calibrate: a2a ≈ ${(ab.latencySeconds * 1e6).toFixed(1)} us + bytes / ${(ab.bytesPerSecond / 1e9).toFixed(2)} GB/s`);
    }
    const seconds = (performance.now() - started) / 1000;
    if (profile.overlap !== undefined) {
      log(`calibrate: overlap costs: interference ${profile.overlap.interference.toFixed(2)}, hand-off ${(profile.overlap.syncSeconds * 1e6).toFixed(1)} us per part`);
    }
    log(`calibrate: ${(profile.expertSecondsPerToken * 1e6).toFixed(3)} us/token forward, backward/forward ${backwardPerForward.toFixed(2)}, done in ${seconds.toFixed(1)} s`);
    return { profile, backwardPerForward, samples, expertParamBytes: expertBytes, elapsedSeconds: seconds };
  } finally {
    for (const c of comms) c.dispose();
  }
}
