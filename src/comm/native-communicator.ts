/**
 * The Communicator over a native handle, shared by every backend: it validates arguments (one
 * error builder, names as the user wrote them), converts element counts to bytes and queues the
 * native collective on the stream.
 */
import { checkInteger, invalidType, invalidValue } from '../errors.js';
import { Device } from '../runtime/device.js';
import { BYTES_PER_ELEMENT } from '../runtime/dtype.js';
import { guard } from '../runtime/guard.js';
import { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import type {
  AllToAllVOptions,
  CollectiveOptions,
  CommBackendName,
  Communicator,
  SubsetOptions,
} from './communicator.js';
import type { NativeCommunicator } from './native-comm.js';

/** Largest timeout the native side takes (a signed 32-bit count of ms, about 24.8 days). */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** Returns `value` if it is a timeout in ms in [1, MAX_TIMEOUT_MS]. */
export function checkTimeout(name: string, value: unknown): number {
  return checkInteger(name, value, 1, MAX_TIMEOUT_MS);
}

function checkTensor(name: string, value: unknown): Tensor {
  if (!(value instanceof Tensor)) throw invalidType(name, 'Tensor', value);
  return value;
}

function checkF32(name: string, value: unknown): Tensor<'f32'> {
  const tensor = checkTensor(name, value);
  if (tensor.dtype !== 'f32') throw invalidValue(`${name}.dtype`, "'f32'", tensor.dtype);
  return tensor as Tensor<'f32'>;
}

/** `[size]` non-negative integers, each named `name[i]`. Plain loops: this runs on every
 * all-to-all of every layer, so it stays cheap. */
function checkCounts(name: string, value: unknown, size: number): ArrayLike<number> {
  if (value === null || typeof value !== 'object' || typeof (value as ArrayLike<number>).length !== 'number') {
    throw invalidType(name, `array of ${size} non-negative integers`, value);
  }
  const values = value as ArrayLike<unknown>;
  if (values.length !== size) throw invalidValue(name, `array of ${size} non-negative integers (one per rank)`, value);
  for (let i = 0; i < size; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) checkInteger(`${name}[${i}]`, v, 0);
  }
  return values as ArrayLike<number>;
}

/**
 * Writes the byte layout of one side of an all-to-all-v into `layout` at `at` (offsets) and
 * `at + size` (sizes): explicit offsets or blocks packed in rank order, each block checked to fit
 * in the tensor's `numel` elements.
 */
function writeLayout(
  layout: Float64Array,
  at: number,
  side: { counts: ArrayLike<number>; offsets: ArrayLike<number> | undefined; numel: number; width: number },
  names: { offsets: string; tensor: string },
): void {
  const size = side.counts.length;
  const starts = side.offsets === undefined ? undefined : checkCounts(names.offsets, side.offsets, size);
  let packed = 0;
  for (let p = 0; p < size; p++) {
    const count = side.counts[p] ?? 0;
    const start = starts === undefined ? packed : (starts[p] ?? 0);
    packed += count;
    if (start + count > side.numel) {
      throw invalidValue(names.tensor, `a tensor of at least ${start + count} elements (block of rank ${p})`, `${side.numel} elements`);
    }
    layout[at + p] = start * side.width;
    layout[at + size + p] = count * side.width;
  }
}

export class NativeBackedCommunicator implements Communicator {
  readonly rank: number;
  readonly size: number;
  readonly backend: CommBackendName;
  readonly defaultStream: Stream;

  /** `device`: where the communicator's tensors live (the CPU for host backends, the rank's
   * GPU for NCCL); its default stream is made there. */
  constructor(
    private readonly native: NativeCommunicator,
    readonly timeoutMs: number,
    private readonly device: Device = Device.cpu(),
  ) {
    this.rank = native.rank;
    this.size = native.size;
    this.backend = native.backend;
    this.defaultStream = device.createStream();
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  allToAllV(
    send: Tensor,
    sendCounts: ArrayLike<number>,
    recv: Tensor,
    recvCounts: ArrayLike<number>,
    options: AllToAllVOptions = {},
  ): void {
    // Step 1: tensors of one dtype, distinct, and blocks that fit.
    checkTensor('send', send);
    checkTensor('recv', recv);
    if (recv.dtype !== send.dtype) throw invalidValue('recv.dtype', `'${send.dtype}' (the dtype of send)`, recv.dtype);
    if (recv.storage === send.storage) throw invalidValue('recv', 'a tensor other than send', 'the same tensor');
    const sends = checkCounts('sendCounts', sendCounts, this.size);
    const recvs = checkCounts('recvCounts', recvCounts, this.size);
    // Step 2: the byte layout [sendOffsets, sendBytes, recvOffsets, recvBytes] ([4][size]).
    const width = BYTES_PER_ELEMENT[send.dtype];
    const layout = new Float64Array(4 * this.size);
    writeLayout(layout, 0, { counts: sends, offsets: options.sendOffsets, numel: send.numel, width }, { offsets: 'options.sendOffsets', tensor: 'send' });
    writeLayout(layout, 2 * this.size, { counts: recvs, offsets: options.recvOffsets, numel: recv.numel, width }, { offsets: 'options.recvOffsets', tensor: 'recv' });
    // Step 3: queue.
    const { stream, timeoutMs } = this.resolve(options, ['send', send], ['recv', recv]);
    guard(() => this.native.allToAllV(send.storage, recv.storage, layout, stream.native, timeoutMs));
  }

  allGather(send: Tensor, recv: Tensor, options: CollectiveOptions = {}): void {
    checkTensor('send', send);
    checkTensor('recv', recv);
    if (recv.dtype !== send.dtype) throw invalidValue('recv.dtype', `'${send.dtype}' (the dtype of send)`, recv.dtype);
    if (recv.storage === send.storage) throw invalidValue('recv', 'a tensor other than send', 'the same tensor');
    if (recv.numel !== send.numel * this.size) {
      throw invalidValue('recv', `a tensor of ${send.numel * this.size} elements (size * send.numel)`, `${recv.numel} elements`);
    }
    const { stream, timeoutMs } = this.resolve(options, ['send', send], ['recv', recv]);
    guard(() => this.native.allGather(send.storage, send.byteLength, recv.storage, stream.native, timeoutMs));
  }

  broadcast(tensor: Tensor, options: SubsetOptions): void {
    checkTensor('tensor', tensor);
    const { root, members } = this.subset(options);
    const { stream, timeoutMs } = this.resolve(options, ['tensor', tensor]);
    guard(() => this.native.broadcast(tensor.storage, tensor.byteLength, root, members, stream.native, timeoutMs));
  }

  reduce(tensor: Tensor<'f32'>, options: SubsetOptions): void {
    checkF32('tensor', tensor);
    const { root, members } = this.subset(options);
    const { stream, timeoutMs } = this.resolve(options, ['tensor', tensor]);
    guard(() => this.native.reduce(tensor.storage, tensor.numel, root, members, stream.native, timeoutMs));
  }

  allReduce(tensor: Tensor<'f32'>, options: CollectiveOptions = {}): void {
    checkF32('tensor', tensor);
    const { stream, timeoutMs } = this.resolve(options, ['tensor', tensor]);
    guard(() => this.native.allReduce(tensor.storage, tensor.numel, stream.native, timeoutMs));
  }

  barrier(options: CollectiveOptions = {}): void {
    const { stream, timeoutMs } = this.resolve(options);
    guard(() => this.native.barrier(stream.native, timeoutMs));
  }

  dispose(): void {
    this.native.dispose();
    this.defaultStream.dispose();
  }

  /** The stream and timeout of one call; the tensors and the stream must be on the
   * communicator's device (host memory for 'local' and 'gloo', the rank's GPU for 'nccl'). */
  private resolve(options: CollectiveOptions, ...tensors: [name: string, tensor: Tensor][]): { stream: Stream; timeoutMs: number } {
    if (options === null || typeof options !== 'object') throw invalidType('options', 'object', options);
    for (const [name, tensor] of tensors) {
      if (tensor.device !== this.device) throw invalidValue(`${name}.device`, `${this.device} (the ${this.backend} communicator's device)`, String(tensor.device));
    }
    const stream = options.stream ?? this.defaultStream;
    if (!(stream instanceof Stream)) throw invalidType('options.stream', 'Stream', stream);
    if (stream.device !== this.device) throw invalidValue('options.stream', `a stream of ${this.device}`, String(stream.device));
    const timeoutMs = options.timeoutMs === undefined ? this.timeoutMs : checkTimeout('options.timeoutMs', options.timeoutMs);
    return { stream, timeoutMs };
  }

  /** Root and sorted members; the members contain the root and are distinct ranks. */
  private subset(options: SubsetOptions): { root: number; members: number[] } {
    if (options === null || typeof options !== 'object') throw invalidType('options', 'object with root', options);
    const root = checkInteger('options.root', options.root, 0, this.size - 1);
    if (options.members === undefined) return { root, members: [...Array(this.size).keys()] };
    if (!Array.isArray(options.members)) throw invalidType('options.members', 'array of ranks', options.members);
    const members = options.members.map((m, i) => checkInteger(`options.members[${i}]`, m, 0, this.size - 1));
    const sorted = [...new Set(members)].sort((a, b) => a - b);
    if (sorted.length !== members.length) throw invalidValue('options.members', 'distinct ranks', options.members);
    if (!sorted.includes(root)) throw invalidValue('options.members', `ranks that include the root ${root}`, options.members);
    return { root, members: sorted };
  }
}
