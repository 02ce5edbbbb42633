/**
 * A compute device ('cpu:0', 'cuda:1') and the factory of its streams and events.
 */
import { checkInteger, invalidValue, ProphetError } from '../errors.js';
import { addon, type BackendName, type NativeDeviceInfo } from '../native.js';
import { Event } from './event.js';
import { Stream, type StreamOptions } from './stream.js';

export class Device {
  /** One Device object per physical device, so that its default stream is shared. */
  private static readonly known = new Map<string, Device>();

  private defaultStreamOf: Stream | undefined;

  private constructor(
    readonly backend: BackendName,
    readonly index: number,
  ) {}

  /** The CPU device (the CPU backend has exactly one). */
  static cpu(): Device {
    return Device.get('cpu', 0);
  }

  /** A CUDA device; throws ProphetError ECUDA when CUDA or the device is unavailable. */
  static cuda(index = 0): Device {
    return Device.get('cuda', index);
  }

  /** Parses 'cpu', 'cpu:0', 'cuda', 'cuda:3'. */
  static parse(spec: string): Device {
    const match = /^(cpu|cuda)(?::(\d+))?$/.exec(spec);
    if (match === null) throw invalidValue('device', "'cpu', 'cuda' or 'cuda:N'", spec);
    return Device.get(match[1] as BackendName, Number(match[2] ?? 0));
  }

  private static get(backend: BackendName, index: number): Device {
    checkInteger('index', index, 0);
    const key = `${backend}:${index}`;
    const existing = Device.known.get(key);
    if (existing !== undefined) return existing;
    const entry = addon().backendInfo()[backend];
    if (!entry.available) {
      throw new ProphetError('ECUDA', `${backend} backend unavailable: ${entry.reason}`);
    }
    if (index >= entry.devices.length) {
      throw invalidValue('index', `integer in [0, ${entry.devices.length - 1}]`, index);
    }
    const device = new Device(backend, index);
    Device.known.set(key, device);
    return device;
  }

  /** Name, memory and core count as the backend reports them. */
  get info(): NativeDeviceInfo {
    const info = addon().backendInfo()[this.backend].devices[this.index];
    if (info === undefined) throw new ProphetError('EDEVICE', `device ${this} disappeared`);
    return info;
  }

  /** A stream created on first use and shared by work that names no stream. */
  get defaultStream(): Stream {
    if (this.defaultStreamOf === undefined || this.defaultStreamOf.disposed) {
      this.defaultStreamOf = this.createStream();
    }
    return this.defaultStreamOf;
  }

  createStream(options: StreamOptions = {}): Stream {
    return Stream.create(this, options);
  }

  /** An event; with `timing: true` it can measure elapsed time between two records. */
  createEvent(options: { readonly timing?: boolean } = {}): Event {
    return Event.create(this, options.timing ?? false);
  }

  toString(): string {
    return `${this.backend}:${this.index}`;
  }
}
