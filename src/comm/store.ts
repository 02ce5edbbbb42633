/**
 * The rendezvous store: a TCP key-value store that ranks use to find each other (addresses,
 * the NCCL unique id, arrival counters). {@link startStoreServer} hosts it (rank 0);
 * {@link StoreClient} talks to it. The wire protocol is in store-protocol.ts and docs/launch.md.
 */
import { connect as connectTcp, type Socket } from 'node:net';

import { checkInteger, invalidType, ProphetError } from '../errors.js';
import { encodeI64, encodeRequest, FrameReader, StoreOp, StoreStatus, type StoreResponse } from './store-protocol.js';

export { startStoreServer, type StoreServer, type StoreServerOptions } from './store-server.js';

export interface StoreClientOptions {
  /** Default timeout of every call and the bound on connection retries, in ms (default 30000). */
  readonly timeoutMs?: number;
}

/** Per-call override of the client's timeout, in ms. */
export interface StoreCallOptions {
  readonly timeoutMs?: number;
}

interface PendingCall {
  readonly describe: string;
  readonly resolve: (response: StoreResponse) => void;
  readonly reject: (error: Error) => void;
}

// Time the client grants the server beyond a call's own timeout before declaring it dead: the
// server answers timeouts itself, so this only catches a stalled server or network.
const watchdogSlackMs = 2000;
const firstRetryDelayMs = 20;
const maxRetryDelayMs = 500;

/**
 * An async client of the store. Calls may overlap; they are pipelined on one connection and
 * answered in order. Every call has a timeout: a blocking get/wait that runs out rejects with a
 * ProphetError ETIMEDOUT; a broken connection rejects every pending call with ECOMM.
 */
export class StoreClient {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  private readonly socket: Socket;
  private readonly reader = new FrameReader();
  private readonly pending: PendingCall[] = [];
  private watchdog: NodeJS.Timeout | undefined;
  private watchdogDeadline = 0;
  private failure: ProphetError | undefined;

  private constructor(socket: Socket, host: string, port: number, timeoutMs: number) {
    this.socket = socket;
    this.host = host;
    this.port = port;
    this.timeoutMs = timeoutMs;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(`lost the connection to the store at ${this.address}: ${error.message}`));
    socket.on('close', () => this.fail(`the store at ${this.address} closed the connection`));
  }

  /**
   * Connects to a store server, retrying with backoff until it appears (ranks may start before
   * rank 0 listens). Rejects with ETIMEDOUT after `options.timeoutMs` naming host:port and the
   * last connection error.
   */
  static async connect(host: string, port: number, options: StoreClientOptions = {}): Promise<StoreClient> {
    if (typeof host !== 'string' || host.length === 0) throw invalidType('host', 'non-empty string', host);
    checkInteger('port', port, 1, 65535);
    const timeoutMs = checkInteger('options.timeoutMs', options.timeoutMs ?? 30_000, 1);
    const deadline = Date.now() + timeoutMs;
    let delayMs = firstRetryDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const socket = await connectOnce(host, port, deadline - Date.now());
        return new StoreClient(socket, host, port, timeoutMs);
      } catch (error) {
        const remainingMs = deadline - Date.now();
        if (remainingMs <= 0) {
          throw new ProphetError(
            'ETIMEDOUT',
            `could not connect to the store at ${host}:${port} within ${timeoutMs} ms ` +
              `(${attempt} attempts; last error: ${(error as Error).message})`,
            { cause: error },
          );
        }
        await sleep(Math.min(delayMs, remainingMs));
        delayMs = Math.min(delayMs * 2, maxRetryDelayMs);
      }
    }
  }

  private get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Stores `value` (bytes, or a string as UTF-8) under `key`, overwriting. */
  async set(key: string, value: Uint8Array | string, options?: StoreCallOptions): Promise<void> {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : checkBytes('value', value);
    await this.call(StoreOp.set, key, bytes, options);
  }

  /** The value of `key`, waiting until some rank sets it. timeoutMs 0: do not wait. */
  async get(key: string, options?: StoreCallOptions): Promise<Uint8Array> {
    return this.call(StoreOp.get, key, Buffer.alloc(0), options);
  }

  /** As get, as a UTF-8 string. */
  async getString(key: string, options?: StoreCallOptions): Promise<string> {
    return Buffer.from(await this.get(key, options)).toString('utf8');
  }

  /** Waits until `key` exists. */
  async wait(key: string, options?: StoreCallOptions): Promise<void> {
    await this.call(StoreOp.wait, key, Buffer.alloc(0), options);
  }

  /** Atomically adds `delta` to the i64 counter `key` (created at 0); returns the new value. */
  async add(key: string, delta: number, options?: StoreCallOptions): Promise<number> {
    checkInteger('delta', delta, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    const body = await this.call(StoreOp.add, key, encodeI64(BigInt(delta)), options);
    const value = body.length === 8 ? body.readBigInt64LE(0) : undefined;
    if (value === undefined || value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new ProphetError('ECOMM', `store add('${key}') returned ${value ?? `${body.length} bytes`}, not a safe integer`);
    }
    return Number(value);
  }

  /** Whether `key` exists; never blocks on the server. */
  async check(key: string, options?: StoreCallOptions): Promise<boolean> {
    return (await this.call(StoreOp.check, key, Buffer.alloc(0), options))[0] === 1;
  }

  /** Deletes `key`; true if it existed. */
  async delete(key: string, options?: StoreCallOptions): Promise<boolean> {
    return (await this.call(StoreOp.delete, key, Buffer.alloc(0), options))[0] === 1;
  }

  /** Closes the connection; pending calls reject with ECOMM. Idempotent. */
  close(): void {
    this.fail('the store client was closed');
    this.socket.destroy();
  }

  private call(op: number, key: string, value: Buffer, options: StoreCallOptions | undefined): Promise<Buffer> {
    if (typeof key !== 'string') return Promise.reject(invalidType('key', 'string', key));
    const timeoutMs = checkInteger('options.timeoutMs', options?.timeoutMs ?? this.timeoutMs, 0, 0xffffffff);
    const name = Object.keys(StoreOp).find((k) => StoreOp[k as keyof typeof StoreOp] === op) ?? String(op);
    const describe = `store ${name}('${key}')`;
    if (this.failure !== undefined) return Promise.reject(new ProphetError('ECOMM', `${describe}: ${this.failure.message}`));
    return new Promise<StoreResponse>((resolve, reject) => {
      this.pending.push({ describe, resolve, reject });
      this.armWatchdog(timeoutMs);
      this.socket.write(encodeRequest({ op, key, value, timeoutMs }));
    }).then((response) => {
      if (response.status === StoreStatus.ok) return response.body;
      const message = `${describe}: ${response.body.toString('utf8')}`;
      if (response.status === StoreStatus.timeout) {
        throw new ProphetError('ETIMEDOUT', `${message} (timeout ${timeoutMs} ms, store ${this.address})`);
      }
      throw new ProphetError('ECOMM', message);
    });
  }

  // Responses come in order, so a call's answer cannot come before those queued ahead of it:
  // one timer tracks the latest deadline of all pending calls.
  private armWatchdog(timeoutMs: number): void {
    const deadline = Math.max(this.watchdogDeadline, Date.now() + timeoutMs + watchdogSlackMs);
    if (deadline === this.watchdogDeadline && this.watchdog !== undefined) return;
    clearTimeout(this.watchdog);
    this.watchdogDeadline = deadline;
    this.watchdog = setTimeout(() => {
      const waitedMs = timeoutMs + watchdogSlackMs;
      this.fail(`the store at ${this.address} did not answer within ${waitedMs} ms`, 'ETIMEDOUT');
      this.socket.destroy();
    }, Math.min(deadline - Date.now(), 2 ** 31 - 1));
  }

  private onData(chunk: Buffer): void {
    this.reader.push(chunk);
    for (let response = this.reader.nextResponse(); response !== undefined; response = this.reader.nextResponse()) {
      const call = this.pending.shift();
      if (call === undefined) {
        this.fail(`the store at ${this.address} sent an unexpected response`);
        this.socket.destroy();
        return;
      }
      call.resolve(response);
    }
    if (this.pending.length === 0) {
      clearTimeout(this.watchdog);
      this.watchdog = undefined;
      this.watchdogDeadline = 0;
    }
  }

  private fail(reason: string, code: 'ECOMM' | 'ETIMEDOUT' = 'ECOMM'): void {
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    this.failure ??= new ProphetError(code, reason);
    for (const call of this.pending.splice(0)) {
      call.reject(new ProphetError(code, `${call.describe}: ${reason}`));
    }
  }
}

function connectOnce(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect timed out after ${timeoutMs} ms`));
    }, Math.max(1, timeoutMs));
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

function checkBytes(name: string, value: unknown): Buffer {
  if (!(value instanceof Uint8Array)) throw invalidType(name, 'Uint8Array or string', value);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
