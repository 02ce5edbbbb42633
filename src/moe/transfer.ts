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
 * itself), or on the stream a call names. Each call first waits for the work queued so far on the
 * compute stream (`comm.defaultStream`: the previous optimizer step and the exchange before it
 * for Trans, the backward FFN and the exchange after it for Agg) and records an event when done
 * that consumers wait on: the replicas' FFN after Trans, the optimizer step after Agg. Start and
 * end are timing events, for timelines.
 *
 * Parts: the block scheduler issues a transfer in two parts (a, b), each a subset of the
 * replicated experts given per call; every rank must name the same subsets in the same order.
 */
import type { Communicator } from '../comm/communicator.js';
import type { Placement } from '../balance/prophet/placement.js';
import type { FfnParams } from '../kernels/ffn.js';
import type { Event } from '../runtime/event.js';
import type { Stream } from '../runtime/stream.js';
import { invalidValue } from '../errors.js';
import { Tensor } from '../runtime/tensor.js';
import { traced, type Timeline } from '../runtime/timeline.js';

interface ExpertShape {
  readonly dModel: number;
  readonly hidden: number;
  readonly gated: boolean;
  readonly numExperts: number;
}

const KEYS = ['w1', 'b1', 'w2', 'b2'] as const;

interface SpanEvents {
  readonly start: Event;
  readonly end: Event;
}

/** One part of a transfer: which experts, on which stream, named how in timelines. */
export interface TransferPart {
  /** Replicated experts to move (default: all), in an order every rank shares. */
  readonly experts?: readonly number[];
  /** Default: the transfer's own stream. */
  readonly stream?: Stream;
  /** Suffix of the timeline span ('a', 'b'). */
  readonly name?: string;
}

/** Start of the first and end of the last of `parts`, or null when none. */
function span(parts: readonly SpanEvents[]): SpanEvents | null {
  const first = parts[0];
  const last = parts[parts.length - 1];
  return first === undefined || last === undefined ? null : { start: first.start, end: last.end };
}

export class ExpertTransfer {
  /** Experts with at least one replica, ascending: one broadcast and one reduce each. */
  readonly replicatedExperts: readonly number[];
  /** Experts this rank hosts as a replica, ascending (the order of replicaParams()). */
  readonly hostedExperts: readonly number[];
  private readonly sizes: Readonly<Record<(typeof KEYS)[number], number>>;
  private readonly params: FfnParams | null;
  private readonly grads: FfnParams | null;
  /** Timing events around each trans() and agg() part issued, in issue order. */
  private readonly transParts: SpanEvents[] = [];
  private readonly aggParts: SpanEvents[] = [];

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

  /** Start of the first and end of the last trans() part (null before any): the parts run in
   * issue order on one stream, so the last one's end is the end of all. */
  get transEvents(): SpanEvents | null {
    return span(this.transParts);
  }

  get aggEvents(): SpanEvents | null {
    return span(this.aggParts);
  }

  /** Trans: homes broadcast `homeParams` slots of their replicated experts (all, or
   * `part.experts`) to the replicas. */
  trans(homeParams: FfnParams, part: TransferPart = {}): void {
    this.transParts.push(
      this.onTransferStream('TRANS', part, (stream) =>
        this.forEachExpert(part.experts, (e, staging, members, home, hostedSlot) => {
          if (this.comm.rank === home) this.pack(staging, homeParams, this.homeSlot(e), stream);
          this.comm.broadcast(staging, { root: home, members, stream });
          if (hostedSlot >= 0) this.unpack(staging, this.params!, hostedSlot, stream);
        }),
      ),
    );
  }

  /** Agg: homes receive their gradient plus every replica's, summed (in rank order), for all
   * replicated experts or `part.experts`. */
  agg(homeGrads: FfnParams, part: TransferPart = {}): void {
    this.aggParts.push(
      this.onTransferStream('AGG', part, (stream) =>
        this.forEachExpert(part.experts, (e, staging, members, home, hostedSlot) => {
          if (this.comm.rank === home) this.pack(staging, homeGrads, this.homeSlot(e), stream);
          if (hostedSlot >= 0) this.pack(staging, this.grads!, hostedSlot, stream);
          this.comm.reduce(staging, { root: home, members, stream });
          if (this.comm.rank === home) this.unpack(staging, homeGrads, this.homeSlot(e), stream);
        }),
      ),
    );
  }

  /** Makes work queued on the compute stream from now on wait for every trans() part. */
  waitForTrans(): void {
    this.waitFor(this.transParts);
  }

  /** Makes work queued on the compute stream from now on wait for every agg() part. */
  waitForAgg(): void {
    this.waitFor(this.aggParts);
  }

  dispose(): void {
    for (const set of [this.params, this.grads]) if (set !== null) for (const key of KEYS) set[key].dispose();
    for (const events of [...this.transParts, ...this.aggParts]) {
      events.start.dispose();
      events.end.dispose();
    }
    this.transParts.length = 0;
    this.aggParts.length = 0;
  }

  /** Runs `issue` on the part's stream after the compute stream's queued work; the span is
   * named `TRANS:layer[:part]` / `AGG:layer[:part]`. */
  private onTransferStream(kind: 'TRANS' | 'AGG', part: TransferPart, issue: (stream: Stream) => void): SpanEvents {
    const compute = this.comm.defaultStream;
    const stream = part.stream ?? this.stream;
    if (stream !== compute) {
      const ready = compute.recordEvent();
      stream.waitEvent(ready);
      ready.dispose(); // the wait holds what it needs
    }
    const start = stream.recordEvent({ timing: true });
    const name = part.name === undefined ? `${kind}:${this.layerIndex}` : `${kind}:${this.layerIndex}:${part.name}`;
    traced(this.timeline, name, stream === compute ? 'compute' : 'transfer', stream, () => issue(stream));
    return { start, end: stream.recordEvent({ timing: true }) };
  }

  private waitFor(parts: readonly SpanEvents[]): void {
    const compute = this.comm.defaultStream;
    for (const p of parts) compute.waitEvent(p.end);
  }

  private get packedSize(): number {
    return KEYS.reduce((n, key) => n + this.sizes[key], 0);
  }

  private homeSlot(expert: number): number {
    return expert % (this.shape.numExperts / this.comm.size);
  }

  /** Runs `fn` for each of `experts` (default: every replicated expert), in the given order
   * (the same on every rank). */
  private forEachExpert(
    experts: readonly number[] | undefined,
    fn: (expert: number, staging: Tensor<'f32'>, members: number[], home: number, hostedSlot: number) => void,
  ): void {
    const expertsPerRank = this.shape.numExperts / this.comm.size;
    for (const e of experts ?? this.replicatedExperts) {
      if (!this.replicatedExperts.includes(e)) throw invalidValue('part.experts', 'replicated experts of the placement', e);
      const home = Math.floor(e / expertsPerRank);
      const members = [home, ...this.placement.replicas[e]!].sort((a, b) => a - b);
      const staging = Tensor.empty([this.packedSize]) as Tensor<'f32'>;
      fn(e, staging, members, home, this.hostedExperts.indexOf(e));
      staging.dispose(); // freed once the queued work is done
    }
  }

  private pack(staging: Tensor<'f32'>, from: FfnParams, slot: number, stream: Stream): void {
    let at = 0;
    for (const key of KEYS) {
      const n = this.sizes[key];
      staging.copyFrom(from[key], { srcOffset: slot * n, dstOffset: at, count: n, stream });
      at += n;
    }
  }

  private unpack(staging: Tensor<'f32'>, to: FfnParams, slot: number, stream: Stream): void {
    let at = 0;
    for (const key of KEYS) {
      const n = this.sizes[key];
      to[key].copyFrom(staging, { srcOffset: at, dstOffset: slot * n, count: n, stream });
      at += n;
    }
  }
}
