/**
 * The rendezvous store's wire protocol, shared by the TypeScript server and client (and spoken
 * by the C++ store client of the multi-process backend). TCP, little-endian, one request then
 * one response, many requests per connection, answered in order.
 *
 * ```
 * request:  u8 op | u32 keyLen | key (UTF-8) | u32 valueLen | value | u32 timeoutMs
 * response: u8 status | u32 len | bytes (the value, or a UTF-8 error message)
 * ```
 * See docs/launch.md for the meaning of each op.
 */

/** Request operations. */
export const StoreOp = {
  /** Stores the value (overwrites). Response: empty. */
  set: 1,
  /** Blocks until the key exists or timeoutMs passes (0: do not block). Response: the value. */
  get: 2,
  /** As get, without the value. */
  wait: 3,
  /** value = i64 LE delta; creates the key at 0 first. Response: the new i64 LE value. */
  add: 4,
  /** Response: 1 byte, 1 if the key exists else 0. Never blocks. */
  check: 5,
  /** Response: 1 byte, 1 if the key existed and was deleted. */
  delete: 6,
} as const;
export type StoreOpCode = (typeof StoreOp)[keyof typeof StoreOp];

/** Response statuses. */
export const StoreStatus = { ok: 0, timeout: 1, error: 2 } as const;
export type StoreStatusCode = (typeof StoreStatus)[keyof typeof StoreStatus];

/** Largest key (bytes) a server accepts; keys are names, not payloads. */
export const maxKeyBytes = 64 * 1024;
/** Largest value (bytes) a server accepts: far above an NCCL id or a table of addresses. */
export const maxValueBytes = 64 * 1024 * 1024;

export interface StoreRequest {
  readonly op: number;
  readonly key: string;
  readonly value: Buffer;
  /** Milliseconds; 0 means "do not block" for get/wait. */
  readonly timeoutMs: number;
}

export interface StoreResponse {
  readonly status: number;
  readonly body: Buffer;
}

/** Serializes one request. */
export function encodeRequest(request: StoreRequest): Buffer {
  const key = Buffer.from(request.key, 'utf8');
  const frame = Buffer.alloc(1 + 4 + key.length + 4 + request.value.length + 4);
  let offset = frame.writeUInt8(request.op, 0);
  offset = frame.writeUInt32LE(key.length, offset);
  offset += key.copy(frame, offset);
  offset = frame.writeUInt32LE(request.value.length, offset);
  offset += request.value.copy(frame, offset);
  frame.writeUInt32LE(request.timeoutMs, offset);
  return frame;
}

/** Serializes one response. */
export function encodeResponse(status: StoreStatusCode, body: Buffer): Buffer {
  const frame = Buffer.alloc(1 + 4 + body.length);
  frame.writeUInt8(status, 0);
  frame.writeUInt32LE(body.length, 1);
  body.copy(frame, 5);
  return frame;
}

/** An i64 LE as 8 bytes. */
export function encodeI64(value: bigint): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64LE(value, 0);
  return bytes;
}

/**
 * Accumulates bytes from a socket and cuts them into frames. Frames may arrive split across
 * chunks or several per chunk; `next()` returns undefined until a whole frame is buffered.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private numBytes = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.numBytes += chunk.length;
  }

  /** The next request, or undefined if incomplete. Throws RangeError for oversized fields. */
  nextRequest(): StoreRequest | undefined {
    const buffer = this.peek();
    if (buffer.length < 5) return undefined;
    const keyBytes = buffer.readUInt32LE(1);
    if (keyBytes > maxKeyBytes) throw new RangeError(`key of ${keyBytes} bytes exceeds ${maxKeyBytes}`);
    if (buffer.length < 5 + keyBytes + 4) return undefined;
    const valueBytes = buffer.readUInt32LE(5 + keyBytes);
    if (valueBytes > maxValueBytes) throw new RangeError(`value of ${valueBytes} bytes exceeds ${maxValueBytes}`);
    const frameBytes = 5 + keyBytes + 4 + valueBytes + 4;
    if (buffer.length < frameBytes) return undefined;
    const valueStart = 9 + keyBytes;
    const request: StoreRequest = {
      op: buffer.readUInt8(0),
      key: buffer.toString('utf8', 5, 5 + keyBytes),
      value: Buffer.from(buffer.subarray(valueStart, valueStart + valueBytes)),
      timeoutMs: buffer.readUInt32LE(valueStart + valueBytes),
    };
    this.consume(frameBytes);
    return request;
  }

  /** The next response, or undefined if incomplete. */
  nextResponse(): StoreResponse | undefined {
    const buffer = this.peek();
    if (buffer.length < 5) return undefined;
    const bodyBytes = buffer.readUInt32LE(1);
    if (buffer.length < 5 + bodyBytes) return undefined;
    const response = { status: buffer.readUInt8(0), body: Buffer.from(buffer.subarray(5, 5 + bodyBytes)) };
    this.consume(5 + bodyBytes);
    return response;
  }

  // Joins the pending chunks into one (only when more than one is pending).
  private peek(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.numBytes)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private consume(numBytes: number): void {
    const rest = this.peek().subarray(numBytes);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.numBytes = rest.length;
  }
}
