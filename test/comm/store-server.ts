/**
 * A minimal in-test rendezvous store speaking the wire protocol of docs/communication.md, so the
 * multi-process tests do not depend on the launcher's server. Requests on one connection are
 * answered in order; GET/WAIT block until the key exists or their timeout passes.
 */
import { createServer, type Server, type Socket } from 'node:net';

const OK = 0;
const TIMEOUT = 1;
const ERROR = 2;

export interface TestStore {
  readonly port: number;
  close(): Promise<void>;
}

function response(status: number, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(status, 0);
  header.writeUInt32LE(body.length, 1);
  return Buffer.concat([header, body]);
}

export async function startTestStore(): Promise<TestStore> {
  const values = new Map<string, Buffer>();
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const wake of [...waiters]) wake();
  };

  /** Resolves when `key` exists (true) or after `timeoutMs` (false). */
  function waitFor(key: string, timeoutMs: number): Promise<boolean> {
    if (values.has(key)) return Promise.resolve(true);
    if (timeoutMs === 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        if (!values.has(key)) return;
        finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      function finish(found: boolean) {
        clearTimeout(timer);
        waiters.delete(wake);
        resolve(found);
      }
      waiters.add(wake);
    });
  }

  async function handle(op: number, key: string, value: Buffer, timeoutMs: number): Promise<Buffer> {
    switch (op) {
      case 1:
        values.set(key, value);
        changed();
        return response(OK, Buffer.alloc(0));
      case 2:
      case 3: {
        if (!(await waitFor(key, timeoutMs))) return response(TIMEOUT, Buffer.from(`timed out waiting for ${key}`));
        return response(OK, op === 2 ? (values.get(key) ?? Buffer.alloc(0)) : Buffer.alloc(0));
      }
      case 4: {
        const next = (values.get(key)?.readBigInt64LE(0) ?? 0n) + value.readBigInt64LE(0);
        const stored = Buffer.alloc(8);
        stored.writeBigInt64LE(next);
        values.set(key, stored);
        changed();
        return response(OK, stored);
      }
      case 5:
        return response(OK, Buffer.from([values.has(key) ? 1 : 0]));
      case 6:
        return response(OK, Buffer.from([values.delete(key) ? 1 : 0]));
      default:
        return response(ERROR, Buffer.from(`unknown op ${op}`));
    }
  }

  function serve(socket: Socket): void {
    let pending = Buffer.alloc(0);
    let chain = Promise.resolve();
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // Parse every complete request; answer them in order through one promise chain.
      for (;;) {
        if (pending.length < 5) return;
        const keyLength = pending.readUInt32LE(1);
        if (pending.length < 5 + keyLength + 4) return;
        const valueLength = pending.readUInt32LE(5 + keyLength);
        const total = 5 + keyLength + 4 + valueLength + 4;
        if (pending.length < total) return;
        const op = pending.readUInt8(0);
        const key = pending.subarray(5, 5 + keyLength).toString('utf8');
        const value = Buffer.from(pending.subarray(9 + keyLength, 9 + keyLength + valueLength));
        const timeoutMs = pending.readUInt32LE(9 + keyLength + valueLength);
        pending = pending.subarray(total);
        chain = chain.then(async () => {
          const answer = await handle(op, key, value, timeoutMs);
          if (!socket.destroyed) socket.write(answer);
        });
      }
    });
  }

  const server: Server = createServer(serve);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('store did not bind');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
