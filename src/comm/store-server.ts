/**
 * The rendezvous store server: a key-value map behind the protocol of store-protocol.ts. Rank 0
 * hosts it on MASTER_ADDR:MASTER_PORT; every rank (and the C++ client of the multi-process
 * backend) connects to it to exchange addresses and the NCCL unique id.
 */
import { createServer, type Server, type Socket } from 'node:net';

import { checkInteger, invalidType, ProphetError } from '../errors.js';
import {
  encodeI64,
  encodeResponse,
  FrameReader,
  StoreOp,
  StoreStatus,
  type StoreRequest,
  type StoreStatusCode,
} from './store-protocol.js';

export interface StoreServerOptions {
  /** Address to listen on; '127.0.0.1' by default, '0.0.0.0' for every interface. */
  readonly host?: string;
  /** TCP port; 0 (the default) picks a free one. */
  readonly port?: number;
}

export interface StoreServer {
  /** The port actually listened on (useful with port 0). */
  readonly port: number;
  readonly host: string;
  /** Stops listening, drops every connection and cancels pending waits. Idempotent. */
  close(): Promise<void>;
}

interface Reply {
  readonly status: StoreStatusCode;
  readonly body: Buffer;
}

// A request blocked in get/wait until its key is set or its timer fires.
interface Waiter {
  readonly key: string;
  readonly wake: () => void;
  timer?: NodeJS.Timeout;
}

// setTimeout fires at once for delays above 2^31-1 ms; clamp (about 24.8 days).
const maxTimerMs = 2 ** 31 - 1;
const empty = Buffer.alloc(0);

/**
 * Starts a store server and resolves once it listens. A port that is taken rejects with a
 * ProphetError ECOMM naming host:port.
 */
export async function startStoreServer(options: StoreServerOptions = {}): Promise<StoreServer> {
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string') throw invalidType('options.host', 'string', host);
  const port = checkInteger('options.port', options.port ?? 0, 0, 65535);
  const store = new KeyValueStore();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveConnection(socket, store);
  });
  await listen(server, host, port);
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  let closing: Promise<void> | undefined;
  return {
    port: boundPort,
    host,
    close() {
      closing ??= new Promise<void>((resolve) => {
        store.cancelAll();
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === 'EADDRINUSE'
          ? `port ${port} is already in use on ${host} (another job or store holds it; pick another MASTER_PORT)`
          : error.message;
      reject(new ProphetError('ECOMM', `store server could not listen on ${host}:${port}: ${reason}`, { cause: error }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

// Answers one connection's requests strictly in order: a blocked get holds back later requests
// on the same connection, as the protocol promises in-order responses.
function serveConnection(socket: Socket, store: KeyValueStore): void {
  const reader = new FrameReader();
  const queue: StoreRequest[] = [];
  let pending: Waiter | undefined;
  let busy = false;
  let pumping = false;
  let broken = false; // after an oversized frame nothing more is read

  const onReply = (reply: Reply) => {
    pending = undefined;
    busy = false;
    if (!socket.destroyed) socket.write(encodeResponse(reply.status, reply.body));
    if (!pumping) pump(); // a wait that ended later: continue with the queued requests
  };
  const pump = () => {
    pumping = true;
    while (!busy && !socket.destroyed) {
      const request = queue.shift();
      if (request === undefined) break;
      busy = true;
      pending = store.handle(request, onReply);
    }
    pumping = false;
  };
  socket.on('data', (chunk: Buffer) => {
    if (broken) return;
    reader.push(chunk);
    try {
      for (let request = reader.nextRequest(); request !== undefined; request = reader.nextRequest()) {
        queue.push(request);
      }
    } catch (error) {
      // An oversized field: the stream cannot be resynchronized, so answer and hang up.
      broken = true;
      socket.end(encodeResponse(StoreStatus.error, Buffer.from((error as Error).message, 'utf8')));
      return;
    }
    pump();
  });
  socket.on('close', () => {
    if (pending !== undefined) store.cancel(pending);
    queue.length = 0;
  });
  socket.on('error', () => socket.destroy());
}

/** The map and its blocked readers. */
class KeyValueStore {
  private readonly values = new Map<string, Buffer>();
  private readonly waiters = new Map<string, Set<Waiter>>();

  /** Runs one request; `settle` is called exactly once (now or when a wait ends). */
  handle(request: StoreRequest, settle: (reply: Reply) => void): Waiter | undefined {
    switch (request.op) {
      case StoreOp.set:
        this.values.set(request.key, request.value);
        this.wake(request.key);
        settle({ status: StoreStatus.ok, body: empty });
        return undefined;
      case StoreOp.get:
      case StoreOp.wait:
        return this.read(request, settle);
      case StoreOp.add:
        settle(this.add(request));
        return undefined;
      case StoreOp.check:
        settle({ status: StoreStatus.ok, body: Buffer.of(this.values.has(request.key) ? 1 : 0) });
        return undefined;
      case StoreOp.delete:
        settle({ status: StoreStatus.ok, body: Buffer.of(this.values.delete(request.key) ? 1 : 0) });
        return undefined;
      default:
        settle(errorReply(`unknown op ${request.op}`));
        return undefined;
    }
  }

  cancel(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    this.waiters.get(waiter.key)?.delete(waiter);
  }

  cancelAll(): void {
    for (const set of this.waiters.values()) for (const waiter of set) clearTimeout(waiter.timer);
    this.waiters.clear();
  }

  private read(request: StoreRequest, settle: (reply: Reply) => void): Waiter | undefined {
    const reply = (value: Buffer): Reply => ({
      status: StoreStatus.ok,
      body: request.op === StoreOp.get ? value : empty,
    });
    const value = this.values.get(request.key);
    if (value !== undefined) {
      settle(reply(value));
      return undefined;
    }
    if (request.timeoutMs === 0) {
      settle({ status: StoreStatus.timeout, body: Buffer.from(`key '${request.key}' is not set`, 'utf8') });
      return undefined;
    }
    const waiter: Waiter = {
      key: request.key,
      wake: () => {
        this.cancel(waiter);
        settle(reply(this.values.get(request.key) ?? empty));
      },
    };
    waiter.timer = setTimeout(() => {
      this.cancel(waiter);
      const message = `key '${request.key}' was not set within ${request.timeoutMs} ms`;
      settle({ status: StoreStatus.timeout, body: Buffer.from(message, 'utf8') });
    }, Math.min(request.timeoutMs, maxTimerMs));
    let set = this.waiters.get(request.key);
    if (set === undefined) this.waiters.set(request.key, (set = new Set()));
    set.add(waiter);
    return waiter;
  }

  private add(request: StoreRequest): Reply {
    if (request.value.length !== 8) return errorReply(`add needs an 8-byte i64 delta, got ${request.value.length} bytes`);
    const current = this.values.get(request.key) ?? encodeI64(0n);
    if (current.length !== 8) return errorReply(`key '${request.key}' holds ${current.length} bytes, not an i64 counter`);
    // Wrap like the C++ side would (two's complement) instead of throwing on overflow.
    const sum = BigInt.asIntN(64, current.readBigInt64LE(0) + request.value.readBigInt64LE(0));
    const next = encodeI64(sum);
    this.values.set(request.key, next);
    this.wake(request.key);
    return { status: StoreStatus.ok, body: next };
  }

  private wake(key: string): void {
    const set = this.waiters.get(key);
    if (set === undefined) return;
    for (const waiter of [...set]) waiter.wake();
  }
}

function errorReply(message: string): Reply {
  return { status: StoreStatus.error, body: Buffer.from(message, 'utf8') };
}
