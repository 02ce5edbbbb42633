/**
 * The expert-parallel MoE layer: E experts over the W ranks of a communicator, E / W per rank.
 *
 * forward:  router (x·Wg) → top-k gating → count matrix all-gathered → dispatch → all-to-all-v →
 *           regroup expert-major → expert FFN → regroup rank-major → all-to-all-v → combine
 * backward: the reverse, giving dx and accumulating expert and router gradients.
 *
 * Every rank runs its own MoELayer on its own stream (`comm.defaultStream`): inputs must be
 * ordered on that stream, and results are. The router weight is replicated (data parallel): its
 * gradient is this rank's share, to be all-reduced with the other replicated parameters before
 * the optimizer step. Routing never depends on W, so W = 1 and W = 4 compute the same function.
 */
import type { Communicator } from '../comm/communicator.js';
import { invalidType, invalidValue } from '../errors.js';
import { ffnBackward, ffnForward, type FfnParams, type FfnSaved } from '../kernels/ffn.js';
import { disposeGating, gating, gatingAuxLoss, gatingBackward, type Gating } from '../kernels/gating.js';
import { matmul } from '../kernels/matmul.js';
import { axpy } from '../kernels/optim.js';
import { combine, combineBackward, dispatch, dispatchBackward, type PermuteRouting } from '../kernels/permute.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import { traced, type Timeline } from '../runtime/timeline.js';
import { planExchange, type ExchangePlan } from './exchange.js';
import { emptyPlacement, rankLoads, validatePlacement, type Placement } from '../balance/prophet/placement.js';
import type { BlockTransfers, TransferParts } from '../balance/prophet/transfer-schedule.js';
import { ExpertTransfer } from './transfer.js';
import { subSeed, uniform } from './init.js';
import { resolveMoEOptions, type MoELayerOptions, type ResolvedMoEOptions } from './options.js';

/** A trainable tensor and its gradient; `replicated` ones need an all-reduce of the gradient. */
export interface Parameter {
  readonly name: string;
  readonly value: Tensor<'f32'>;
  readonly grad: Tensor<'f32'>;
  readonly replicated: boolean;
}

/** What one forward keeps for its backward. */
interface ForwardContext {
  readonly x: Tensor<'f32'>;
  readonly gating: Gating;
  readonly routing: PermuteRouting;
  readonly plan: ExchangePlan;
  /** Inputs and saved activations of the two FFN groups: home experts, hosted replicas. */
  readonly home: GroupContext;
  readonly replica: GroupContext | null;
  /** Parameters (received by Trans) and gradients (sent by Agg) of the hosted replicas. */
  readonly transfer: ScheduledTransfer;
  readonly yBack: Tensor<'f32'>;
}

/** One forward's ExpertTransfer with the parts the block schedule gave it, and which parts of
 * Trans and Agg are issued so far. */
interface ScheduledTransfer {
  readonly transfer: ExpertTransfer;
  readonly trans: TransferParts;
  readonly agg: TransferParts;
  readonly issued: Set<string>;
}

/** Options of forward() and backward(). */
export interface PassOptions {
  /** Called once the first exchange (A2A f1, or b1 backward) is queued on the compute stream:
   * where the block schedule issues the next block's Trans part b (the previous block's Agg
   * part b backward), so that it never shares the links with the exchange. */
  readonly onDispatched?: () => void;
}

interface GroupContext {
  readonly x: Tensor<'f32'>;
  readonly saved: FfnSaved;
}

export class MoELayer {
  readonly options: ResolvedMoEOptions;
  readonly expertsPerRank: number;
  /** This rank's experts, global ids [rank·E/W, (rank+1)·E/W). */
  readonly expertParams: FfnParams;
  readonly expertGrads: FfnParams;
  /** Router weight Wg [d, E] (replicated) and its gradient. */
  readonly routerWeight: Tensor<'f32'>;
  readonly routerGrad: Tensor<'f32'>;
  /** [W·E] count matrix of the last forward (row p = rank p's kept slots per expert). */
  lastCountMatrix: Int32Array | null = null;
  private lastPlacement: Placement | null = null;
  /** Where experts are computed: replicas per expert (Pro-Prophet's lightweight placement). The
   * empty placement is plain expert parallelism. Set by a balance policy between iterations;
   * every rank must hold the same placement. */
  private placementOf: Placement;
  /** High-priority stream for Trans and Agg, so they overlap the compute stream's work. */
  readonly transferStream: Stream;
  /** Trans started by startTrans() for the next forward; Agg of a deferred backward. */
  private pendingTrans: ScheduledTransfer | null = null;
  private pendingAgg: ScheduledTransfer | null = null;
  /** The block schedule's parts of this layer's Trans and Agg for the next forward (see
   * `balance/prophet/transfer-schedule.ts`), set with the placement; null: each in one part, on
   * the transfer stream. Their experts must be exactly the placement's replicated experts. */
  transferSchedule: BlockTransfers | null = null;
  /** When set, the layer's phases are recorded as spans (see runtime/timeline.ts). */
  timeline: Timeline | null = null;
  /** Run Trans/Agg on the transfer stream (true, default) or in line on the compute stream
   * (false: the unscheduled path, same results bit for bit). */
  overlapTransfers = true;
  private context: ForwardContext | null = null;
  private lastAuxLosses: Tensor<'f32'> | null = null;

  constructor(
    readonly comm: Communicator,
    options: MoELayerOptions,
  ) {
    if (comm === null || typeof comm !== 'object' || typeof comm.allToAllV !== 'function') {
      throw invalidType('comm', 'Communicator', comm);
    }
    this.options = resolveMoEOptions(options, comm.size);
    this.expertsPerRank = this.options.numExperts / comm.size;
    this.expertParams = this.initExperts();
    this.expertGrads = mapParams(this.expertParams, (t) => Tensor.zeros(t.shape, { stream: this.stream }) as Tensor<'f32'>);
    const { dModel: d, numExperts: e, initSeed, layerIndex } = this.options;
    // Block 0 is the router; experts use blocks 1 + 4·e + j.
    this.routerWeight = Tensor.from(uniform(subSeed(initSeed, layerIndex, 0), d * e, 1 / Math.sqrt(d)), [d, e], { stream: this.stream });
    this.routerGrad = Tensor.zeros([d, e], { stream: this.stream });
    this.placementOf = emptyPlacement(comm.size, e);
    this.transferStream = comm.defaultStream.device.createStream({ priority: 'high' });
  }

  get placement(): Placement {
    return this.placementOf;
  }

  /** Sets the placement of the next forward passes (validated; the same on every rank). Not
   * between startTrans() and the forward it prepares: that Trans already moves parameters. */
  set placement(placement: Placement) {
    if (this.pendingTrans !== null) {
      throw invalidValue('placement', 'no change between startTrans() and forward()', 'a new placement');
    }
    this.placementOf = validatePlacement(placement, 'placement', { numRanks: this.comm.size, numExperts: this.options.numExperts });
  }

  /** The stream all of this rank's layer work is ordered on. */
  get stream(): Stream {
    return this.comm.defaultStream;
  }

  /** Trainable parameters: the router (replicated) and this rank's experts (local). */
  parameters(): Parameter[] {
    const experts = (['w1', 'b1', 'w2', 'b2'] as const).map((key) => ({
      name: `experts.${key}`,
      value: this.expertParams[key],
      grad: this.expertGrads[key],
      replicated: false,
    }));
    return [{ name: 'router.weight', value: this.routerWeight, grad: this.routerGrad, replicated: true }, ...experts];
  }

  /**
   * Issues part a, part b or both ('all') of the Trans of the current placement on the transfer
   * stream now, so that it overlaps the compute queued next (the block schedule issues Trans(i+1)
   * part a before FNEC(i), part b after A2A(i, f1)). Each part waits for the work already queued
   * on the compute stream (the previous optimizer step, the exchange before it). Parts the
   * schedule runs in line are left to forward(), right before the experts. Optional: forward()
   * issues what was not started. Idempotent per part.
   */
  startTrans(part: 'a' | 'b' | 'all' = 'all'): void {
    const pending = (this.pendingTrans ??= this.newTransfer());
    if (!pending.trans.inline) for (const p of part === 'all' ? (['a', 'b'] as const) : [part]) this.issue(pending, 'trans', p);
  }

  /**
   * Issues part a, part b or both of the last deferred backward's Agg on the transfer stream
   * (the block schedule issues Agg(i) part b after A2A(i-1, b1)); each waits for the compute
   * stream's queued work. Idempotent per part; no-op without a deferred Agg.
   */
  startAgg(part: 'a' | 'b' | 'all' = 'all'): void {
    const pending = this.pendingAgg;
    if (pending !== null) for (const p of part === 'all' ? (['a', 'b'] as const) : [part]) this.issue(pending, 'agg', p);
  }

  /**
   * y = MoE(x) for this rank's tokens x [T, d]. Resolves once the exchange plan is known (the
   * count all-gather is read on the host); the returned tensor is ordered on {@link stream}.
   */
  async forward(x: Tensor<'f32'>, options: PassOptions = {}): Promise<Tensor<'f32'>> {
    const { dModel: d } = this.options;
    if (!(x instanceof Tensor) || x.dtype !== 'f32') throw invalidType('x', 'f32 Tensor [numTokens, dModel]', x);
    if (x.shape.length !== 2 || x.shape[1] !== d) throw invalidValue('x.shape', `[numTokens, ${d}]`, x.shape);
    this.releaseContext();
    const stream = this.stream;
    const l = this.options.layerIndex;
    const tl = this.timeline;
    // Step 1: route.
    const logits = traced(tl, `gate:${l}`, 'compute', stream, () => matmul(x, this.routerWeight, { stream }));
    const g = gating(logits, {
      k: this.options.topK,
      renormalize: this.options.renormalize,
      capacityMode: this.options.capacityMode,
      capacityFactor: this.options.capacityFactor,
      minCapacity: this.options.minCapacity,
      seed: this.options.capacitySeed,
      stream,
    });
    logits.dispose();
    this.lastAuxLosses?.dispose();
    this.lastAuxLosses = gatingAuxLoss(g, { stream });
    // Step 2: Trans parts startTrans() did not issue: replicas receive their experts' parameters
    // from the homes, on the transfer stream.
    this.startTrans();
    const transfer = this.pendingTrans!;
    this.pendingTrans = null;
    // Step 3: every rank learns every rank's counts, and plans its exchange.
    const countMatrix = await this.allGatherCounts(g.countsPerExpert);
    const plan = planExchange(countMatrix, this.comm.size, this.comm.rank, this.placementOf);
    const routing: PermuteRouting = {
      expertIndex: g.expertIndex,
      position: g.position,
      rowOffsetPerExpert: Tensor.from(plan.rowOffsetPerExpert, [this.options.numExperts], { dtype: 'i32', stream }),
    };
    // Step 4: tokens to where they are computed, split into the two FFN groups.
    const [xHome, xReplica] = traced(tl, `A2A:${l}:f1`, 'compute', stream, () =>
      this.split(this.exchange(dispatch(x, routing, plan.numSendRows, { stream }), plan, 'toExperts'), plan),
    );
    options.onDispatched?.();
    // In line (the schedule's fallback, or overlap off): Trans on the compute path before FEC.
    if (transfer.trans.inline) this.issue(transfer, 'trans', 'a');
    // Step 5: the experts: this rank's home experts, then the replicas it hosts.
    const ffn = { activation: this.options.activation, gated: this.options.gated, stream };
    const { home, replica } = traced(tl, `FEC:${l}`, 'compute', stream, () => {
      const homeOut = ffnForward(xHome, plan.rowsPerLocalExpert, this.expertParams, ffn);
      if (plan.replicaExperts.length > 0) transfer.transfer.waitForTrans(); // replicas need their parameters
      const replicaOut = plan.replicaExperts.length === 0 ? null : ffnForward(xReplica, plan.rowsPerReplica, transfer.transfer.replicaParams(), ffn);
      return { home: homeOut, replica: replicaOut };
    });
    if (replica === null) xReplica.dispose();
    // Step 6: results back to the tokens' ranks, weighted and summed over the k slots.
    const yBack = traced(tl, `A2A:${l}:f2`, 'compute', stream, () => this.exchange(this.merge(home.y, replica?.y ?? null, plan), plan, 'toTokens'));
    const y = combine(yBack, g.weight, routing, { stream });
    this.lastCountMatrix = countMatrix;
    this.lastPlacement = this.placementOf;
    this.context = {
      x,
      gating: g,
      routing,
      plan,
      home: { x: xHome, saved: { pre: home.pre, act: home.act } },
      replica: replica === null ? null : { x: xReplica, saved: { pre: replica.pre, act: replica.act } },
      transfer,
      yBack,
    };
    return y;
  }

  /**
   * dx for dy [T, d] = dLoss/dy of the last forward; accumulates expert gradients and this
   * rank's share of the router gradient (including the aux and z losses' terms).
   */
  async backward(dy: Tensor<'f32'>, options: PassOptions & { readonly deferAgg?: boolean } = {}): Promise<Tensor<'f32'>> {
    const ctx = this.context;
    if (ctx === null) throw invalidValue('backward', 'a preceding forward()', 'no saved forward');
    if (!(dy instanceof Tensor) || dy.dtype !== 'f32') throw invalidType('dy', 'f32 Tensor', dy);
    if (dy.shape.length !== 2 || dy.shape[0] !== ctx.x.shape[0] || dy.shape[1] !== this.options.dModel) {
      throw invalidValue('dy.shape', `[${ctx.x.shape[0]}, ${this.options.dModel}]`, dy.shape);
    }
    const stream = this.stream;
    const l = this.options.layerIndex;
    const tl = this.timeline;
    // Step 1: combine' gives the experts' output gradient (rank-major) and the weights' gradient.
    const { dY: dYBack, dWeight } = combineBackward(dy, ctx.yBack, ctx.gating.weight, ctx.routing, { stream });
    // Step 2: to where the slots were computed, and through the two FFN groups.
    const [dYHome, dYReplica] = traced(tl, `A2A:${l}:b1`, 'compute', stream, () => this.split(this.exchange(dYBack, ctx.plan, 'toExperts'), ctx.plan));
    options.onDispatched?.();
    const ffn = { activation: this.options.activation, gated: this.options.gated, stream };
    const { home, replica } = traced(tl, `BEC:${l}`, 'compute', stream, () => ({
      home: ffnBackward(dYHome, ctx.home.x, ctx.plan.rowsPerLocalExpert, this.expertParams, ctx.home.saved, this.expertGrads, ffn),
      replica:
        ctx.replica === null
          ? null
          : ffnBackward(dYReplica, ctx.replica.x, ctx.plan.rowsPerReplica, ctx.transfer.transfer.replicaParams(), ctx.replica.saved, ctx.transfer.transfer.replicaGrads(), ffn),
    }));
    for (const t of [dYHome, dYReplica, home.dpre, ...(replica === null ? [] : [replica.dpre])]) t.dispose();
    // Step 3: Agg: replica gradients summed into the homes' before any optimizer step. In line
    // (or not deferred) right after BEC on the compute path; deferred, part a goes on the
    // transfer stream after the exchange below, part b when the caller starts it (startAgg) or
    // at waitForAgg(), which the caller calls before the step. Then the input gradients back to
    // the tokens, summed over slots.
    this.pendingAgg = ctx.transfer;
    if (ctx.transfer.agg.inline || options.deferAgg !== true) this.waitForAgg();
    const dSend = traced(tl, `A2A:${l}:b2`, 'compute', stream, () => this.exchange(this.merge(home.dx, replica?.dx ?? null, ctx.plan), ctx.plan, 'toTokens'));
    this.startAgg('a');
    const dx = dispatchBackward(dSend, ctx.routing, { stream });
    dSend.dispose();
    // Step 4: through the router: dLogits, then dWg += xᵀ·dLogits and dx += dLogits·Wgᵀ.
    const dLogits = gatingBackward(ctx.gating, dWeight, { auxCoef: this.options.auxLossCoef, zCoef: this.options.zLossCoef, stream });
    dWeight.dispose();
    matmul(ctx.x, dLogits, { transA: true, beta: 1, out: this.routerGrad, stream });
    const dxRouter = matmul(dLogits, this.routerWeight, { transB: true, stream });
    axpy(1, dxRouter, dx, { stream });
    dLogits.dispose();
    dxRouter.dispose();
    this.releaseContext();
    return dx;
  }

  /** Makes the compute stream wait for the last backward's Agg (a deferred one): call it
   * before reading this rank's expert gradients or stepping the optimizer. */
  waitForAgg(): void {
    const pending = this.pendingAgg;
    if (pending === null) return;
    for (const p of ['a', 'b'] as const) this.issue(pending, 'agg', p);
    pending.transfer.waitForAgg();
    pending.transfer.dispose();
    this.pendingAgg = null;
  }

  /** Timing events (on the transfer stream) of the latest Trans and Agg still held by the
   * layer, for timelines; null where none was issued. */
  transferEvents(): { readonly trans: ExpertTransfer['transEvents']; readonly agg: ExpertTransfer['aggEvents'] } {
    const current = this.context?.transfer ?? null;
    return {
      trans: (this.pendingTrans ?? current)?.transfer.transEvents ?? null,
      agg: (this.pendingAgg ?? current)?.transfer.aggEvents ?? null,
    };
  }

  /** [L_aux, L_z] of the last forward (unscaled, this rank's tokens), ordered on the stream. */
  auxLosses(): Tensor<'f32'> | null {
    return this.lastAuxLosses;
  }

  /** Rows each rank computed in the last forward ([W]) under the placement it ran with: the
   * per-device load H of Pro-Prophet's model. */
  computedRowsPerRank(): Int32Array | null {
    const counts = this.lastCountMatrix;
    if (counts === null || this.lastPlacement === null) return null;
    const matrix = { numRanks: this.comm.size, numExperts: this.options.numExperts, data: counts };
    return Int32Array.from(rankLoads(matrix, this.lastPlacement).computed);
  }

  /** Frees parameters, gradients and saved activations. Idempotent. */
  dispose(): void {
    this.releaseContext();
    this.waitForAgg();
    this.pendingTrans?.transfer.dispose();
    this.pendingTrans = null;
    this.transferStream.dispose();
    this.lastAuxLosses?.dispose();
    this.lastAuxLosses = null;
    for (const t of [...Object.values(this.expertParams), ...Object.values(this.expertGrads), this.routerWeight, this.routerGrad]) {
      (t as Tensor).dispose();
    }
  }

  private releaseContext(): void {
    const ctx = this.context;
    if (ctx === null) return;
    disposeGating(ctx.gating);
    if (ctx.transfer !== this.pendingAgg) ctx.transfer.transfer.dispose();
    const groups = ctx.replica === null ? [ctx.home] : [ctx.home, ctx.replica];
    for (const t of [ctx.routing.rowOffsetPerExpert, ctx.yBack, ...groups.flatMap((g) => [g.x, g.saved.pre, g.saved.act])]) t.dispose();
    this.context = null;
  }

  /** The ExpertTransfer of the current placement with its parts: the block schedule's, or one
   * part (in line when overlap is off). */
  private newTransfer(): ScheduledTransfer {
    const transfer = new ExpertTransfer(this.comm, this.options, this.placementOf, this.transferStream, this.timeline, this.options.layerIndex);
    const all = transfer.replicatedExperts;
    const one: TransferParts = { inline: !this.overlapTransfers, a: all, b: [] };
    const schedule = this.overlapTransfers ? this.transferSchedule : null;
    for (const kind of ['trans', 'agg'] as const) {
      const parts = schedule?.[kind];
      if (parts !== undefined && [...parts.a, ...parts.b].join() !== all.join()) {
        transfer.dispose();
        throw invalidValue(`transferSchedule.${kind}`, `parts a, b covering the replicated experts [${all.join(', ')}] in order`, `[${parts.a.join(', ')}], [${parts.b.join(', ')}]`);
      }
    }
    return { transfer, trans: schedule?.trans ?? one, agg: schedule?.agg ?? one, issued: new Set() };
  }

  /** Issues one part of Trans or Agg once: on the compute stream when the schedule runs it in
   * line (all of it, as part a), else on the transfer stream. Empty parts issue nothing. */
  private issue(pending: ScheduledTransfer, kind: 'trans' | 'agg', part: 'a' | 'b'): void {
    const key = `${kind}:${part}`;
    if (pending.issued.has(key)) return;
    pending.issued.add(key);
    const parts = pending[kind];
    const experts = parts[part];
    if (experts.length === 0) return;
    const target = parts.inline ? { experts, stream: this.stream } : { experts, stream: this.transferStream, name: part };
    if (kind === 'trans') pending.transfer.trans(this.expertParams, target);
    else pending.transfer.agg(this.expertGrads, target);
  }

  private async allGatherCounts(countsPerExpert: Tensor<'i32'>): Promise<Int32Array> {
    const gathered = Tensor.empty([this.comm.size * this.options.numExperts], { dtype: 'i32' });
    this.comm.allGather(countsPerExpert, gathered, { stream: this.stream });
    const counts = await gathered.toArray({ stream: this.stream });
    gathered.dispose();
    return counts;
  }

  /** All-to-all-v of rows: 'toExperts' sends sendRowsPerRank, 'toTokens' the reverse; consumes
   * (disposes) `rows` once the exchange is queued. */
  private exchange(rows: Tensor<'f32'>, plan: ExchangePlan, direction: 'toExperts' | 'toTokens'): Tensor<'f32'> {
    const d = this.options.dModel;
    const [sendRows, recvRows] =
      direction === 'toExperts' ? [plan.sendRowsPerRank, plan.recvRowsPerRank] : [plan.recvRowsPerRank, plan.sendRowsPerRank];
    const numOut = direction === 'toExperts' ? plan.numRecvRows : plan.numSendRows;
    const out = Tensor.empty([numOut, d]) as Tensor<'f32'>;
    this.comm.allToAllV(rows, Array.from(sendRows, (r) => r * d), out, Array.from(recvRows, (r) => r * d), { stream: this.stream });
    rows.dispose();
    return out;
  }

  /** Splits rank-major rows into the home and replica FFN inputs; consumes `rows`. */
  private split(rows: Tensor<'f32'>, plan: ExchangePlan): [Tensor<'f32'>, Tensor<'f32'>] {
    const d = this.options.dModel;
    const groups = { home: Tensor.empty([plan.numHomeRows, d]) as Tensor<'f32'>, replica: Tensor.empty([plan.numReplicaRows, d]) as Tensor<'f32'> };
    for (const b of plan.blocks) {
      groups[b.group].copyFrom(rows, { srcOffset: b.rankMajorRow * d, dstOffset: b.groupRow * d, count: b.numRows * d, stream: this.stream });
    }
    rows.dispose();
    return [groups.home, groups.replica];
  }

  /** The inverse of {@link split}: group outputs back into rank-major rows; consumes them. */
  private merge(home: Tensor<'f32'>, replica: Tensor<'f32'> | null, plan: ExchangePlan): Tensor<'f32'> {
    const d = this.options.dModel;
    const out = Tensor.empty([plan.numRecvRows, d]) as Tensor<'f32'>;
    for (const b of plan.blocks) {
      const source = b.group === 'home' ? home : replica;
      if (source === null) continue;
      out.copyFrom(source, { srcOffset: b.groupRow * d, dstOffset: b.rankMajorRow * d, count: b.numRows * d, stream: this.stream });
    }
    home.dispose();
    replica?.dispose();
    return out;
  }

  private initExperts(): FfnParams {
    const { dModel: d, hidden: h, gated, initSeed, layerIndex } = this.options;
    const h1 = gated ? 2 * h : h;
    const first = this.comm.rank * this.expertsPerRank;
    const block = (e: number, j: number) => subSeed(initSeed, layerIndex, 1 + 4 * (first + e) + j);
    const stack = (j: number, size: number, bound: number) => {
      const out = new Float32Array(this.expertsPerRank * size);
      for (let e = 0; e < this.expertsPerRank; e++) out.set(uniform(block(e, j), size, bound), e * size);
      return out;
    };
    const n = this.expertsPerRank;
    const stream = this.stream;
    return {
      w1: Tensor.from(stack(0, d * h1, 1 / Math.sqrt(d)), [n, d, h1], { stream }),
      b1: Tensor.zeros([n, h1], { stream }),
      w2: Tensor.from(stack(2, h * d, 1 / Math.sqrt(h)), [n, h, d], { stream }),
      b2: Tensor.zeros([n, d], { stream }),
    };
  }
}

function mapParams(params: FfnParams, fn: (t: Tensor<'f32'>) => Tensor<'f32'>): FfnParams {
  return { w1: fn(params.w1), b1: fn(params.b1), w2: fn(params.w2), b2: fn(params.b2) };
}
