import { connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { ProphetError } from '../../src/errors.js';
import { startStoreServer, StoreClient, type StoreServer } from '../../src/comm/store.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(): Promise<StoreServer> {
  const s = await startStoreServer({ host: '127.0.0.1', port: 0 });
  cleanups.push(() => s.close());
  return s;
}

async function client(port: number, timeoutMs = 5000): Promise<StoreClient> {
  const c = await StoreClient.connect('127.0.0.1', port, { timeoutMs });
  cleanups.push(() => c.close());
  return c;
}

// Builds a request by hand, independently of store-protocol.ts, from the documented layout.
function rawRequest(op: number, key: string, value: Buffer, timeoutMs: number): Buffer {
  const k = Buffer.from(key);
  const header = Buffer.alloc(5);
  header[0] = op;
  header.writeUInt32LE(k.length, 1);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(value.length, 0);
  const timeout = Buffer.alloc(4);
  timeout.writeUInt32LE(timeoutMs, 0);
  return Buffer.concat([header, k, len, value, timeout]);
}

// Sends bytes on a raw socket and collects `numBytes` of response.
async function rawExchange(port: number, chunks: Buffer[], numBytes: number): Promise<Buffer> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  cleanups.push(() => socket.destroy());
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const received: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    socket.on('data', (chunk) => {
      received.push(chunk);
      const all = Buffer.concat(received);
      if (all.length >= numBytes) resolve(all);
    });
    setTimeout(() => reject(new Error(`got ${Buffer.concat(received).length} of ${numBytes} bytes`)), 3000);
  });
  for (const chunk of chunks) {
    socket.write(chunk);
    await new Promise((r) => setTimeout(r, 1));
  }
  return done;
}

describe('store semantics', () => {
  it('stores strings and opaque bytes, overwriting', async () => {
    const s = await server();
    const c = await client(s.port);
    const id = Uint8Array.from({ length: 128 }, (_, i) => (i * 37 + 11) & 0xff);
    await c.set('nccl/uid', id);
    expect(Buffer.from(await c.get('nccl/uid')).equals(Buffer.from(id))).toBe(true);
    await c.set('name', 'first');
    await c.set('name', 'second ✓');
    expect(await c.getString('name')).toBe('second ✓');
    await c.set('empty', new Uint8Array(0));
    expect((await c.get('empty')).length).toBe(0);
  });

  it('releases a blocking get when another client sets the key later', async () => {
    const s = await server();
    const reader = await client(s.port);
    const writer = await client(s.port);
    const start = Date.now();
    const value = reader.getString('late', { timeoutMs: 5000 });
    const waited = reader.wait('late', { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 150));
    expect(await writer.check('late')).toBe(false);
    await writer.set('late', 'here');
    expect(await value).toBe('here');
    await waited;
    expect(Date.now() - start).toBeGreaterThanOrEqual(140);
  });

  it('times out a get with ETIMEDOUT after its timeout, and at once with timeoutMs 0', async () => {
    const s = await server();
    const c = await client(s.port);
    const start = Date.now();
    const error = await c.get('never', { timeoutMs: 200 }).catch((e: unknown) => e);
    const elapsed = Date.now() - start;
    expect(error).toBeInstanceOf(ProphetError);
    expect((error as ProphetError).code).toBe('ETIMEDOUT');
    expect((error as Error).message).toContain("store get('never'): key 'never' was not set within 200 ms");
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(3000);
    const immediate = Date.now();
    await expect(c.wait('never', { timeoutMs: 0 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(Date.now() - immediate).toBeLessThan(1000);
    // The connection stays usable after a timeout.
    await c.set('never', 'now');
    expect(await c.getString('never', { timeoutMs: 0 })).toBe('now');
  });

  it('adds atomically under concurrent clients (equals the arithmetic sum)', async () => {
    const s = await server();
    const numClients = 8;
    const addsPerClient = 40;
    const clients = await Promise.all(Array.from({ length: numClients }, () => client(s.port)));
    const deltas = clients.map((_, c) => Array.from({ length: addsPerClient }, (_, i) => ((c * 7919 + i * 104729) % 201) - 100));
    const results = await Promise.all(clients.map((c, index) => Promise.all(deltas[index]!.map((d) => c.add('counter', d)))));
    const expected = deltas.flat().reduce((a, b) => a + b, 0);
    expect(await clients[0]!.add('counter', 0)).toBe(expected);
    // Every intermediate result is distinct: no two adds observed the same state.
    const seen = results.flat();
    expect(seen).toContain(expected);
    expect(new Set(seen.map((v, i) => `${v}:${i}`)).size).toBe(seen.length);
  });

  it('adds to a fresh key from 0 and handles negative and large deltas', async () => {
    const s = await server();
    const c = await client(s.port);
    expect(await c.add('n', 5)).toBe(5);
    expect(await c.add('n', -12)).toBe(-7);
    expect(await c.add('big', 2 ** 52)).toBe(2 ** 52);
    await c.set('text', 'abc');
    await expect(c.add('text', 1)).rejects.toMatchObject({ code: 'ECOMM', message: expect.stringContaining('not an i64 counter') });
  });

  it('checks and deletes keys', async () => {
    const s = await server();
    const c = await client(s.port);
    expect(await c.check('k')).toBe(false);
    await c.set('k', 'v');
    expect(await c.check('k')).toBe(true);
    expect(await c.delete('k')).toBe(true);
    expect(await c.delete('k')).toBe(false);
    expect(await c.check('k')).toBe(false);
  });

  it('rejects bad arguments naming them', async () => {
    const s = await server();
    const c = await client(s.port);
    await expect(c.add('k', 1.5)).rejects.toThrow('Expected integer >= -9007199254740991 for delta but received 1.5 of type number');
    await expect(c.get('k', { timeoutMs: -1 })).rejects.toThrow(RangeError);
    await expect(c.set('k', 5 as unknown as string)).rejects.toThrow('Expected Uint8Array or string for value but received 5 of type number');
    await expect(StoreClient.connect('127.0.0.1', 70000)).rejects.toThrow('Expected integer in [1, 65535] for port but received 70000 of type number');
  });
});

describe('connection', () => {
  it('retries until a server appears on the port', async () => {
    // Reserve a free port, release it, then start the server there after the client began.
    const probe = await startStoreServer({ port: 0 });
    const port = probe.port;
    await probe.close();
    const connecting = StoreClient.connect('127.0.0.1', port, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 300));
    const s = await startStoreServer({ port });
    cleanups.push(() => s.close());
    const c = await connecting;
    cleanups.push(() => c.close());
    await c.set('a', 'b');
    expect(await c.getString('a')).toBe('b');
  });

  it('gives up with ETIMEDOUT naming host:port when no server appears', async () => {
    const probe = await startStoreServer({ port: 0 });
    const port = probe.port;
    await probe.close();
    const start = Date.now();
    const error = await StoreClient.connect('127.0.0.1', port, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ETIMEDOUT' });
    expect((error as Error).message).toContain(`could not connect to the store at 127.0.0.1:${port} within 300 ms`);
    expect(Date.now() - start).toBeLessThan(3000);
  });

  it('rejects pending calls with ECOMM when the server goes away', async () => {
    const s = await startStoreServer({ port: 0 });
    const c = await client(s.port);
    const pending = c.get('x', { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    await s.close();
    await expect(pending).rejects.toMatchObject({ code: 'ECOMM' });
    await expect(c.set('y', 'z')).rejects.toMatchObject({ code: 'ECOMM' });
  });

  it('times out when the server accepts but never answers', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const sockets: Socket[] = [];
    silent.on('connection', (s) => sockets.push(s));
    cleanups.push(() => new Promise((r) => { sockets.forEach((s) => s.destroy()); silent.close(r); }));
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const c = await client(port, 100);
    await expect(c.set('k', 'v')).rejects.toMatchObject({ code: 'ETIMEDOUT', message: expect.stringContaining('did not answer') });
  });

  it('reports a taken port as ECOMM naming it', async () => {
    const s = await server();
    await expect(startStoreServer({ port: s.port })).rejects.toThrow(`store server could not listen on 127.0.0.1:${s.port}: port ${s.port} is already in use`);
  });
});

describe('wire protocol', () => {
  it('answers hand-built frames, split byte by byte, in order', async () => {
    const s = await server();
    const delta = Buffer.alloc(8);
    delta.writeBigInt64LE(-3n, 0);
    const frames = Buffer.concat([
      rawRequest(1, 'k', Buffer.from('val'), 0), // SET -> 00 00000000
      rawRequest(2, 'k', Buffer.alloc(0), 0), // GET -> 00 03000000 'val'
      rawRequest(4, 'c', delta, 0), // ADD -> 00 08000000 fdffffffffffffff
      rawRequest(5, 'zz', Buffer.alloc(0), 0), // CHECK -> 00 01000000 00
      rawRequest(6, 'k', Buffer.alloc(0), 0), // DELETE -> 00 01000000 01
      rawRequest(3, 'k', Buffer.alloc(0), 0), // WAIT, gone, no blocking -> 01 ...
    ]);
    const bytes = [...frames].map((b) => Buffer.of(b));
    const expectedHead = Buffer.from('00000000000003000000' + Buffer.from('val').toString('hex') + '0008000000fdffffffffffffff' + '000100000000' + '000100000001' + '01', 'hex');
    const response = await rawExchange(s.port, bytes, expectedHead.length + 4);
    expect(response.subarray(0, expectedHead.length).toString('hex')).toBe(expectedHead.toString('hex'));
    const messageBytes = response.readUInt32LE(expectedHead.length);
    expect(messageBytes).toBeGreaterThan(0);
  });

  it('answers an unknown op with ERROR and keeps serving', async () => {
    const s = await server();
    const frames = [rawRequest(9, 'k', Buffer.alloc(0), 0), rawRequest(5, 'k', Buffer.alloc(0), 0)];
    const message = Buffer.from('unknown op 9');
    const expected = Buffer.concat([Buffer.of(2, message.length, 0, 0, 0), message, Buffer.from('000100000000', 'hex')]);
    const response = await rawExchange(s.port, frames, expected.length);
    expect(response.toString('hex')).toBe(expected.toString('hex'));
  });

  it('answers an oversized key length with ERROR and hangs up', async () => {
    const s = await server();
    const header = Buffer.alloc(5);
    header[0] = 1;
    header.writeUInt32LE(1 << 20, 1);
    const message = Buffer.from('key of 1048576 bytes exceeds 65536');
    const expected = Buffer.concat([Buffer.of(2, message.length, 0, 0, 0), message]);
    const response = await rawExchange(s.port, [header], expected.length);
    expect(response.toString('hex')).toBe(expected.toString('hex'));
  });
});
