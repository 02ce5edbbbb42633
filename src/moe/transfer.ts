/**
 * Pro-Prophet's Trans and Agg for one MoE layer and one placement (§IV-A): Trans broadcasts each
 * replicated expert's parameters from its home rank to the ranks hosting a replica; Agg sums the
 * replicas' gradients back into the home's gradient, before any optimizer step. Replicas hold
 * parameters and gradients only, never optimizer state. Every rank calls trans() and agg()
 * (collectives over member subsets; the same sequence on every rank).
 *
 * An expert's parameters travel as one packed vector [w1 | b1 | w2 | b2] (one collective per
 * expert), staged through a contiguous buffer.
 *
 * Streams: Trans and Agg run on `stream` (a high-priority transfer stream, or the compute stream
 * itself). Each first waits for the work queued so far on the compute stream (`comm.defaultStream`:
 * the previous optimizer step before Trans, the backward FFN before Agg) and records an event
 * when done (`transDone`, `aggDone`) that consumers wait on: the replicas' FFN after Trans, the
 * optimizer step after Agg. Start and end are timing events, for timelines.
 */
import type { Communicator } from '../comm/communicator.js';
import type { Placement } from '../balance/prophet/placement.js';
import type { FfnParams } from '../kernels/ffn.js';
import type { Event } from '../runtime/event.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import { traced, type Timeline } from '../runtime/timeline.js';

interface ExpertShape {
  readonly dModel: number;
  readonly hidden: number;
  readonly gated: boolean;
  readonly numExperts: number;
}

const KEYS = ['w1', 'b1', 'w2', 'b2'] as const;

export class ExpertTransfer {
  /** Experts with at least one replica, ascending: one broadcast and one reduce each. */
  readonly replicatedExperts: readonly number[];
  /** Experts this rank hosts as a replica, ascending (the order of replicaParams()). */
  readonly hostedExperts: readonly number[];
  private readonly sizes: Readonly<Record<(typeof KEYS)[number], number>>;
  private readonly params: FfnParams | null;
  private readonly grads: FfnParams | null;
  /** Timing events around the last trans() and agg() (null before they are issued). */
  transEvents: { readonly start: Event; readonly end: Event } | null = null;
  aggEvents: { readonly start: Event; readonly end: Event } | null = null;

  constructor(
    readonly comm: Communicator,
    readonly shape: ExpertShape,
    readonly placement: Placement,
    readonly stream: Stream = comm.defaultStream,
    /** Records TRANS/AGG spans on the transfer lane when given. */
    readonly timeline: Timeline | null = null,
    readonly layerIndex = 0,
  ) {
    const { dModel: d, hidden: h, gated } = shape;
    const h1 = gated ? 2 * h : h;
    this.sizes = { w1: d * h1, b1: h1, w2: h * d, b2: d };
    this.replicatedExperts = placement.replicas.flatMap((r, e) => (r.length > 0 ? [e] : []));
    this.hostedExperts = this.replicatedExperts.filter((e) => placement.replicas[e]!.includes(comm.rank));
    const n = this.hostedExperts.length;
    // Zero-filled on the compute stream: the backward FFN accumulates into the gradients there,
    // and Trans (which overwrites the parameters) waits for the compute stream first.
    const compute = { stream: comm.defaultStream };
    const make = () => ({
      w1: Tensor.zeros([n, d, h1], compute) as Tensor<'f32'>,
      b1: Tensor.zeros([n, h1], compute) as Tensor<'f32'>,
      w2: Tensor.zeros([n, h, d], compute) as Tensor<'f32'>,
      b2: Tensor.zeros([n, d], compute) as Tensor<'f32'>,
    });
    this.params = n === 0 ? null : make();
    this.grads = n === 0 ? null : make();
  }

  /** Parameters of the hosted replicas, stacked in hostedExperts order (after trans()). */
  replicaParams(): FfnParams {
    if (this.params === null) throw new RangeError('Expected hosted replicas for replicaParams but received none');
    return this.params;
  }

  /** Gradients of the hosted replicas (zeros until the backward pass accumulates into them). */
  replicaGrads(): FfnParams {
    if (this.grads === null) throw new RangeError('Expected hosted replicas for replicaGrads but received none');
    return this.grads;
  }

  /** Trans: homes broadcast `homeParams` slots of their replicated experts to the replicas. */
  trans(homeParams: FfnParams): void {
    this.transEvents = this.onTransferStream(`TRANS:${this.layerIndex}`, () =>
      this.forEachExpert((e, staging, members, home, hostedSlot) => {
        if (this.comm.rank === home) this.pack(staging, homeParams, this.homeSlot(e));
        this.comm.broadcast(staging, { root: home, members, stream: this.stream });
        if (hostedSlot >= 0) this.unpack(staging, this.params!, hostedSlot);
      }),
    );
  }

  /** Agg: homes receive their gradient plus every replica's, summed (in rank order). */
  agg(homeGrads: FfnParams): void {
    this.aggEvents = this.onTransferStream(`AGG:${this.layerIndex}`, () =>
      this.forEachExpert((e, staging, members, home, hostedSlot) => {
        if (this.comm.rank === home) this.pack(staging, homeGrads, this.homeSlot(e));
        if (hostedSlot >= 0) this.pack(staging, this.grads!, hostedSlot);
        this.comm.reduce(staging, { root: home, members, stream: this.stream });
        if (this.comm.rank === home) this.unpack(staging, homeGrads, this.homeSlot(e));
      }),
    );
  }

  /** Makes work queued on the compute stream from now on wait for the last trans(). */
  waitForTrans(): void {
    if (this.transEvents !== null) this.comm.defaultStream.waitEvent(this.transEvents.end);
  }

  /** Makes work queued on the compute stream from now on wait for the last agg(). */
  waitForAgg(): void {
    if (this.aggEvents !== null) this.comm.defaultStream.waitEvent(this.aggEvents.end);
  }

  dispose(): void {
    for (const set of [this.params, this.grads]) if (set !== null) for (const key of KEYS) set[key].dispose();
    for (const events of [this.transEvents, this.aggEvents]) {
      events?.start.dispose();
      events?.end.dispose();
    }
  }

  /** Runs `issue` on the transfer stream after the compute stream's queued work. */
  private onTransferStream(name: string, issue: () => void): { readonly start: Event; readonly end: Event } {
    const compute = this.comm.defaultStream;
    if (this.stream !== compute) {
      const ready = compute.recordEvent();
      this.stream.waitEvent(ready);
      ready.dispose(); // the wait holds what it needs
    }
    const start = this.stream.recordEvent({ timing: true });
    traced(this.timeline, name, this.stream === compute ? 'compute' : 'transfer', this.stream, issue);
    return { start, end: this.stream.recordEvent({ timing: true }) };
  }

  private get packedSize(): number {
    return KEYS.reduce((n, key) => n + this.sizes[key], 0);
  }

  private homeSlot(expert: number): number {
    return expert % (this.shape.numExperts / this.comm.size);
  }

  /** Runs `fn` for each replicated expert, in ascending order (the same on every rank). */
  private forEachExpert(fn: (expert: number, staging: Tensor<'f32'>, members: number[], home: number, hostedSlot: number) => void): void {
    const expertsPerRank = this.shape.numExperts / this.comm.size;
    for (const e of this.replicatedExperts) {
      const home = Math.floor(e / expertsPerRank);
      const members = [home, ...this.placement.replicas[e]!].sort((a, b) => a - b);
      const staging = Tensor.empty([this.packedSize]) as Tensor<'f32'>;
      fn(e, staging, members, home, this.hostedExperts.indexOf(e));
      staging.dispose(); // freed once the queued work is done
    }
  }

  private pack(staging: Tensor<'f32'>, from: FfnParams, slot: number): void {
    let at = 0;
    for (const key of KEYS) {
      const n = this.sizes[key];
      staging.copyFrom(from[key], { srcOffset: slot * n, dstOffset: at, count: n, stream: this.stream });
      at += n;
    }
  }

  private unpack(staging: Tensor<'f32'>, to: FfnParams, slot: number): void {
    let at = 0;
    for (const key of KEYS) {
      const n = this.sizes[key];
      to[key].copyFrom(staging, { srcOffset: at, dstOffset: slot * n, count: n, stream: this.stream });
      at += n;
    }
  }
}
