/**
 * The communicator interface: one rank's handle on a group of `size` ranks that run collectives
 * together (Pro-Prophet's all-to-all token exchange, Trans = broadcast to a subset, Agg = reduce
 * from a subset). Backends: `local` (ranks as threads of one process, {@link createLocalWorld})
 * and `gloo` (ranks as processes over TCP, {@link createGlooCommunicator}; `initProcessGroup` reads the launch environment),
 * on CPU tensors; `nccl` (one process per GPU, {@link createNcclCommunicator} or
 * `initProcessGroup({ backend: 'nccl' })`) on CUDA tensors and CUDA streams.
 *
 * Every collective is stream-ordered: it is queued on a stream (the tensors' device's default
 * stream unless `options.stream` is given) and the call returns at once. Failures surface at that
 * stream's `synchronize()` as a ProphetError: `ETIMEDOUT` when a peer did not arrive within the
 * timeout (on every waiting rank), `ECOMM` for mismatched calls or a communicator made unusable
 * by an earlier failure. Every rank must issue the same collectives in the same order.
 * Reductions sum fp32 in ascending rank order, so results are bitwise identical on every rank
 * and from run to run.
 */
import type { Stream } from '../runtime/stream.js';
import type { Tensor } from '../runtime/tensor.js';

/** Names of communicator backends. */
export type CommBackendName = 'local' | 'gloo' | 'nccl';

export interface CollectiveOptions {
  /** Stream to queue the collective on. Default: the communicator's `defaultStream`. */
  readonly stream?: Stream;
  /** Ms to wait for peers, counted from when the collective starts running on its stream.
   * Default: the communicator's `timeoutMs`. */
  readonly timeoutMs?: number;
}

export interface AllToAllVOptions extends CollectiveOptions {
  /** Element offset of each peer's outgoing block in `send` ([size]). Default: prefix sums of
   * sendCounts (blocks packed in rank order). */
  readonly sendOffsets?: ArrayLike<number>;
  /** Element offset of each peer's incoming block in `recv` ([size]). Default: prefix sums of
   * recvCounts. */
  readonly recvOffsets?: ArrayLike<number>;
}

export interface SubsetOptions extends CollectiveOptions {
  /** The home rank: source of a broadcast, destination of a reduce. */
  readonly root: number;
  /** Ranks taking part, root included, any order (default: every rank). Every rank calls the
   * collective with the same list; non-members return without doing anything. */
  readonly members?: readonly number[];
}

export interface Communicator {
  readonly rank: number;
  readonly size: number;
  readonly backend: CommBackendName;
  /** Default timeout of collectives, ms. */
  readonly timeoutMs: number;
  /** The stream collectives use when no `options.stream` is given (a CPU stream; a stream of the
   * communicator's GPU for 'nccl'): one per communicator, so
   * that in-process ranks never share a stream (a shared stream would run one rank's collective
   * after another's, and both would wait for each other until the timeout). Order the work that
   * produces or consumes the tensors on this stream too, or with events. */
  readonly defaultStream: Stream;
  readonly disposed: boolean;

  /**
   * All-to-all with uneven splits: sends `sendCounts[p]` elements to each rank p and receives
   * `recvCounts[p]` from each. `recvCounts[p]` must equal rank p's `sendCounts[rank]`. `send` and
   * `recv` have one dtype and are distinct tensors. Counts are elements, `[size]` each.
   *
   * Example (2 ranks): rank 0 sends [a0 | b0 b1] with sendCounts [1, 2], rank 1 sends [c0 c1 | d0]
   * with sendCounts [2, 1]; then rank 0 receives [a0 | c0 c1] (recvCounts [1, 2]) and rank 1
   * receives [b0 b1 | d0] (recvCounts [2, 1]).
   */
  allToAllV(
    send: Tensor,
    sendCounts: ArrayLike<number>,
    recv: Tensor,
    recvCounts: ArrayLike<number>,
    options?: AllToAllVOptions,
  ): void;
  /** `recv` ([size * send.numel], same dtype) receives every rank's `send`, in rank order. */
  allGather(send: Tensor, recv: Tensor, options?: CollectiveOptions): void;
  /** Copies the root's `tensor` into `tensor` on every member (in place). */
  broadcast(tensor: Tensor, options: SubsetOptions): void;
  /** On the root, `tensor` (f32) becomes the sum over members of their `tensor` (in place);
   * other members' tensors are unchanged. */
  reduce(tensor: Tensor<'f32'>, options: SubsetOptions): void;
  /** `tensor` (f32) becomes the sum over all ranks, on every rank (in place). */
  allReduce(tensor: Tensor<'f32'>, options?: CollectiveOptions): void;
  /** Work queued after the barrier on its stream runs once every rank's stream has reached the
   * barrier. */
  barrier(options?: CollectiveOptions): void;
  /** Releases this rank's handle and its default stream once queued collectives have run.
   * Idempotent. */
  dispose(): void;
}
