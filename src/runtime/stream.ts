/**
 * A stream: an in-order queue of device work. Work on two streams may run concurrently; events
 * order it across streams. On the CPU backend a stream is a worker thread.
 */
import { invalidType, settleNative } from '../errors.js';
import { addon, type NativeStream } from '../native.js';
import type { Device } from './device.js';
import type { Event } from './event.js';
import { guard } from './guard.js';

export interface StreamOptions {
  /** 'high' for latency-critical transfers (Pro-Prophet's Trans/Agg), or a raw priority where
   * lower is more urgent, as in CUDA. Default 'normal'. */
  readonly priority?: 'normal' | 'high' | number;
}

export class Stream {
  private constructor(
    readonly device: Device,
    /** @internal */ readonly native: NativeStream,
  ) {}

  /** @internal Use {@link Device.createStream}. */
  static create(device: Device, options: StreamOptions): Stream {
    const priority = options.priority ?? 'normal';
    let raw: number;
    if (priority === 'normal') raw = 0;
    else if (priority === 'high') raw = -1;
    else if (typeof priority === 'number' && Number.isInteger(priority)) raw = priority;
    else throw invalidType('options.priority', "'normal', 'high' or an integer", priority);
    return new Stream(device, guard(() => new (addon().Stream)(device.backend, device.index, raw)));
  }

  /** The priority the backend applied (clamped to its range; lower is more urgent). */
  get priority(): number {
    return this.native.priority;
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  /** Resolves once all work queued so far has run; rejects with the first failure of that work
   * (a ProphetError with its code; a ProphetRangeError for a refused value, code 'EINVAL') and
   * clears it. Does not block the JS thread. */
  synchronize(): Promise<void> {
    const stack = new Error().stack;
    return settleNative(
      guard(() => this.native.synchronize()),
      stack,
    );
  }

  /** As {@link synchronize}, blocking the JS thread. For scripts and tests. */
  synchronizeSync(): void {
    guard(() => this.native.synchronizeSync());
  }

  /** True when all queued work has run. */
  query(): boolean {
    return guard(() => this.native.query());
  }

  /** Makes work queued on this stream from now on wait for `event` (the JS thread does not). */
  waitEvent(event: Event): void {
    event.waitOn(this);
  }

  /** Records a new event here: it completes when the work queued so far has run. */
  recordEvent(options: { readonly timing?: boolean } = {}): Event {
    const event = this.device.createEvent(options);
    event.record(this);
    return event;
  }

  /** Releases the stream after its queued work has run. Idempotent. */
  dispose(): void {
    this.native.dispose();
  }
}
