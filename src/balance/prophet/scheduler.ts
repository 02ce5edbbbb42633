/**
 * Pro-Prophet's block scheduler (§V) as data: the op graph of one training iteration over L MoE
 * blocks (a non-MoE layer + its MoE layer), with Trans and Agg split into two sub-operations
 * placed beside the neighbouring blocks' compute, and a pure list-scheduling simulator that
 * gives each op's start and end on three streams (compute, all-to-all, a high-priority transfer
 * stream). Pure functions: durations in, ops and times out; an executor issues the same graph on
 * real streams with events for the edges.
 *
 * Placement of the sub-operations (the paper's Fig. 9, and its constraints):
 *  - Trans(i) must end before FEC(i) (the replicas compute with those parameters) and never
 *    crosses the iteration boundary (parameters are updated by the previous step);
 *  - Trans(i+1) part A runs beside FNEC(i), part B beside FEC(i); each starts after the
 *    all-to-all before it, so transfers do not share the links with token exchanges;
 *  - Agg(i) part A runs beside BNEC(i) (its gradients are ready after BEC(i)), part B beside
 *    BEC(i-1), after the exchange before it; every Agg ends before the step. (The paper pairs
 *    Agg(i+1) with BEC(i) and BNEC(i); starting one window earlier hides more and keeps the
 *    same link-sharing rule.)
 */
import { checkChoice, checkNumber, invalidType } from '../../errors.js';

/** Seconds of each phase of one block, from the performance model (or measurements). */
export interface BlockCosts {
  readonly fnec: number; // non-MoE forward
  readonly bnec: number; // non-MoE backward
  readonly fec: number; // expert forward compute (busiest device)
  readonly bec: number; // expert backward compute
  readonly a2a: number; // one all-to-all (each block has two forward, two backward)
  readonly trans: number; // Trans of this block's placement (0: no replicas)
  readonly agg: number; // Agg of this block's placement
}

export type StreamName = 'compute' | 'a2a' | 'transfer';
export type OpKind = 'FNEC' | 'A2A' | 'FEC' | 'BEC' | 'BNEC' | 'TRANS' | 'AGG' | 'STEP';

export interface Op {
  readonly id: string;
  readonly kind: OpKind;
  readonly block: number;
  readonly stream: StreamName;
  readonly seconds: number;
  /** Ops that must end before this one starts. */
  readonly deps: readonly string[];
}

/**
 * 'none': Trans/Agg run on the compute stream's path (each Trans right before its FEC, each Agg
 * right after its BEC). 'paper': the offline split: part A = min(Trans, FNEC) and B the rest
 * (Agg likewise with BNEC). 'adaptive': part A fills what FNEC (BNEC) hides, part B what FEC
 * (BEC) of the previous block hides given the current placement's expected FEC, and the
 * remainder (which no split can hide) goes to A so that it starts as early as the constraints
 * allow: A = min(total, max(FNEC, total − FEC)). `transfer-schedule.ts` applies the same rules
 * to whole experts for the executor.
 */
export type OverlapMode = 'none' | 'paper' | 'adaptive';

export interface ScheduleOptions {
  readonly overlap?: OverlapMode;
}

const part = (total: number, first: number) => {
  const a = Math.min(total, Math.max(0, first));
  return [a, total - a] as const;
};

/** Sizes of the two parts of Trans(i) (beside FNEC(i-1), FEC(i-1)) and of Agg(i) (beside
 * BNEC(i), BEC(i-1)). Block 0 has one window for each. */
function splits(costs: readonly BlockCosts[], i: number, mode: OverlapMode) {
  const c = costs[i]!;
  const prev = costs[i - 1];
  if (mode === 'none') return { trans: [c.trans, 0] as const, agg: [c.agg, 0] as const };
  const trans = prev === undefined ? ([c.trans, 0] as const) : mode === 'paper' ? part(c.trans, prev.fnec) : part(c.trans, Math.max(prev.fnec, c.trans - prev.fec));
  // Agg(i): first window BNEC(i); the second, BEC(i-1), exists only for i > 0.
  const agg = prev === undefined ? ([c.agg, 0] as const) : mode === 'paper' ? part(c.agg, c.bnec) : part(c.agg, Math.max(c.bnec, c.agg - prev.bec));
  return { trans, agg };
}

/**
 * The op graph of one iteration over blocks 0..L-1 (costs[i] for block i), in issue order.
 * Ids: `FNEC:i`, `A2A:i:f1|f2|b1|b2`, `FEC:i`, `BEC:i`, `BNEC:i`, `TRANS:i:a|b`, `AGG:i:a|b`,
 * `STEP`. Zero-length parts are kept (they cost nothing) so ids are stable.
 */
export function buildIteration(costs: readonly BlockCosts[], options: ScheduleOptions = {}): Op[] {
  if (!Array.isArray(costs) || costs.length === 0) throw invalidType('costs', 'non-empty array of BlockCosts', costs);
  costs.forEach((c, i) => {
    for (const key of ['fnec', 'bnec', 'fec', 'bec', 'a2a', 'trans', 'agg'] as const) checkNumber(`costs[${i}].${key}`, c[key], 0);
  });
  const mode = checkChoice('options.overlap', options.overlap ?? 'adaptive', ['none', 'paper', 'adaptive'] as const);
  const numBlocks = costs.length;
  const ops: Op[] = [];
  const add = (id: string, kind: OpKind, block: number, stream: StreamName, seconds: number, deps: string[]) =>
    ops.push({ id, kind, block, stream, seconds, deps });
  // Step 1: forward, block by block.
  for (let i = 0; i < numBlocks; i++) {
    const c = costs[i]!;
    const s = splits(costs, i, mode);
    if (mode === 'none') {
      add(`TRANS:${i}:a`, 'TRANS', i, 'compute', s.trans[0], i > 0 ? [`A2A:${i - 1}:f2`] : []);
      add(`TRANS:${i}:b`, 'TRANS', i, 'compute', 0, [`TRANS:${i}:a`]);
    } else if (i === 0) {
      add(`TRANS:0:a`, 'TRANS', 0, 'transfer', s.trans[0], []);
      add(`TRANS:0:b`, 'TRANS', 0, 'transfer', 0, ['TRANS:0:a']);
    }
    add(`FNEC:${i}`, 'FNEC', i, 'compute', c.fnec, i > 0 ? [`A2A:${i - 1}:f2`] : []);
    // Trans(i+1) part A beside FNEC(i): starts once block i-1's last exchange is done.
    if (mode !== 'none' && i + 1 < numBlocks) {
      const next = splits(costs, i + 1, mode);
      add(`TRANS:${i + 1}:a`, 'TRANS', i + 1, 'transfer', next.trans[0], i > 0 ? [`A2A:${i - 1}:f2`] : []);
    }
    add(`A2A:${i}:f1`, 'A2A', i, 'a2a', c.a2a, [`FNEC:${i}`]);
    if (mode !== 'none' && i + 1 < numBlocks) {
      const next = splits(costs, i + 1, mode);
      add(`TRANS:${i + 1}:b`, 'TRANS', i + 1, 'transfer', next.trans[1], [`A2A:${i}:f1`, `TRANS:${i + 1}:a`]);
    }
    add(`FEC:${i}`, 'FEC', i, 'compute', c.fec, [`A2A:${i}:f1`, `TRANS:${i}:b`]);
    add(`A2A:${i}:f2`, 'A2A', i, 'a2a', c.a2a, [`FEC:${i}`]);
  }
  // Step 2: backward, last block first; Agg(i) follows BEC(i).
  let pendingAggB: { block: number; seconds: number } | null = null;
  for (let i = numBlocks - 1; i >= 0; i--) {
    const c = costs[i]!;
    const first = i === numBlocks - 1 ? [`A2A:${i}:f2`] : [`BNEC:${i + 1}`];
    add(`A2A:${i}:b1`, 'A2A', i, 'a2a', c.a2a, first);
    // Part B of Agg(i+1) beside BEC(i): after block i's first backward exchange.
    if (pendingAggB !== null) {
      add(`AGG:${pendingAggB.block}:b`, 'AGG', pendingAggB.block, 'transfer', pendingAggB.seconds, [`AGG:${pendingAggB.block}:a`, `A2A:${i}:b1`]);
      pendingAggB = null;
    }
    add(`BEC:${i}`, 'BEC', i, 'compute', c.bec, [`A2A:${i}:b1`]);
    add(`A2A:${i}:b2`, 'A2A', i, 'a2a', c.a2a, [`BEC:${i}`]);
    const s = splits(costs, i, mode);
    const aggStream: StreamName = mode === 'none' ? 'compute' : 'transfer';
    // Agg(i) part A beside BEC(i-1), part B beside BNEC(i-1); with 'none' right after BEC(i).
    add(`AGG:${i}:a`, 'AGG', i, aggStream, s.agg[0], [`BEC:${i}`, `A2A:${i}:b2`]);
    add(`BNEC:${i}`, 'BNEC', i, 'compute', c.bnec, [`A2A:${i}:b2`]);
    if (i === 0 || mode === 'none') add(`AGG:${i}:b`, 'AGG', i, aggStream, s.agg[1], [`AGG:${i}:a`]);
    else pendingAggB = { block: i, seconds: s.agg[1] };
  }
  // Step 3: the optimizer step after every Agg and the last backward compute.
  add('STEP', 'STEP', -1, 'compute', 0, ['BNEC:0', ...Array.from({ length: numBlocks }, (_, i) => `AGG:${i}:b`)]);
  return ops;
}

export interface Interval {
  readonly start: number;
  readonly end: number;
}

/**
 * List scheduling: every stream runs its ops in issue order; an op starts when its stream is
 * free and all its deps have ended. Returns each op's interval (seconds from iteration start).
 */
export function simulate(ops: readonly Op[]): Map<string, Interval> {
  const times = new Map<string, Interval>();
  const streamFree = new Map<StreamName, number>();
  for (const op of ops) {
    let start = streamFree.get(op.stream) ?? 0;
    for (const dep of op.deps) {
      const t = times.get(dep);
      if (t === undefined) throw invalidType(`ops[${op.id}].deps`, `ids of earlier ops`, dep);
      start = Math.max(start, t.end);
    }
    const interval = { start, end: start + op.seconds };
    times.set(op.id, interval);
    streamFree.set(op.stream, interval.end);
  }
  return times;
}

/** Iteration time and the share of Trans+Agg time hidden behind other work. */
export function overlapReport(costs: readonly BlockCosts[], options: ScheduleOptions = {}): { readonly seconds: number; readonly hiddenFraction: number } {
  const seconds = simulate(buildIteration(costs, options)).get('STEP')!.end;
  const without = simulate(buildIteration(costs.map((c) => ({ ...c, trans: 0, agg: 0 })), options)).get('STEP')!.end;
  const transfer = costs.reduce((s, c) => s + c.trans + c.agg, 0);
  return { seconds, hiddenFraction: transfer === 0 ? 1 : 1 - (seconds - without) / transfer };
}
