/**
 * An event: a marker in a stream, with cudaEvent semantics. record() captures the work queued so
 * far; a stream that waits on the event runs later work only after that. Timing events measure
 * elapsed milliseconds between two records, also across streams.
 */
import { invalidType, settleNative } from '../errors.js';
import { addon, type NativeEvent } from '../native.js';
import type { Device } from './device.js';
import { guard } from './guard.js';
import type { Stream } from './stream.js';

export class Event {
  private constructor(
    readonly device: Device,
    readonly timing: boolean,
    /** @internal */ readonly native: NativeEvent,
  ) {}

  /** @internal Use {@link Device.createEvent}. */
  static create(device: Device, timing: boolean): Event {
    if (typeof timing !== 'boolean') throw invalidType('options.timing', 'boolean', timing);
    return new Event(device, timing, guard(() => new (addon().Event)(device.backend, device.index, timing)));
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  /** Marks the current end of `stream`'s queue. Re-recording moves the mark. */
  record(stream: Stream): this {
    guard(() => this.native.record(stream.native));
    return this;
  }

  /** @internal Use {@link Stream.waitEvent}. */
  waitOn(stream: Stream): void {
    guard(() => this.native.streamWait(stream.native));
  }

  /** Resolves when the recorded work has run (at once if never recorded). */
  synchronize(): Promise<void> {
    const stack = new Error().stack;
    return settleNative(
      guard(() => this.native.synchronize()),
      stack,
    );
  }

  /** True when the recorded work has run. */
  query(): boolean {
    return guard(() => this.native.query());
  }

  /** Milliseconds from this event to `end`; both complete timing events (ENOTREADY if not). */
  elapsedMs(end: Event): number {
    return guard(() => this.native.elapsedMs(end.native));
  }

  dispose(): void {
    this.native.dispose();
  }
}
