/**
 * Fused causal multi-head self-attention over packed projections (flash-style on the CPU: one
 * pass per query row, the S×S scores are never stored). Stream-ordered. The input is the packed
 * qkv [B, S, 3, H, dh] that one x·W_qkv GEMM with W_qkv [d, 3d] writes (d = H·dh); the output
 * [B, S, H, dh] is [B·S, d] for the output projection. Semantics: docs/model.md ("Attention").
 */
import { invalidValue } from '../errors.js';
import { guard } from '../runtime/guard.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import type { NativeStorage, NativeStream } from '../native.js';
import { addon } from '../native.js';
import { checkTensor, streamOn } from '../kernels/check.js';
import { checkF32Shaped } from './check.js';

type AttentionHead = [batch: number, seq: number, heads: number, headDim: number];

declare module '../native.js' {
  interface NativeAddon {
    attentionForward(
      ...args: [...AttentionHead, qkv: NativeStorage, out: NativeStorage, lse: NativeStorage, stream: NativeStream]
    ): void;
    attentionBackward(
      ...args: [
        ...AttentionHead,
        qkv: NativeStorage,
        out: NativeStorage,
        lse: NativeStorage,
        dOut: NativeStorage,
        dQkv: NativeStorage,
        stream: NativeStream,
      ]
    ): void;
  }
}

export interface Attention {
  /** [B, S, H, dh] f32: out[b, i, h] = Σ_{j <= i} softmax_j(q_i·k_j / sqrt(dh)) · v_j. */
  readonly out: Tensor<'f32'>;
  /** [B, H, S] f32: log Σ_{j <= i} exp(q_i·k_j / sqrt(dh)) of each query (for the backward). */
  readonly lse: Tensor<'f32'>;
}

const kQkvShape = 'a shape [batch, seq, 3, heads, headDim] with heads, headDim >= 1';

function checkQkv(qkv: unknown): { readonly tensor: Tensor<'f32'>; readonly head: AttentionHead } {
  const tensor = checkTensor('qkv', qkv, 'f32');
  const [batch = 0, seq = 0, three = 0, heads = 0, headDim = 0] = tensor.shape;
  if (tensor.shape.length !== 5 || three !== 3 || heads < 1 || headDim < 1) {
    throw invalidValue('qkv.shape', kQkvShape, tensor.shape);
  }
  return { tensor, head: [batch, seq, heads, headDim] };
}

/**
 * Causal attention of every head (stream-ordered): query i attends to keys 0..i of its own
 * sequence with scores scaled by 1/sqrt(dh). Cost O(B·H·S²·dh).
 *
 * @param qkv [B, S, 3, H, dh] f32: q = qkv[:, :, 0], k = qkv[:, :, 1], v = qkv[:, :, 2].
 * @example attention(Tensor.zeros([2, 16, 3, 4, 8])) // out [2, 16, 4, 8], lse [2, 4, 16]
 */
export function attention(qkv: Tensor<'f32'>, options: { readonly stream?: Stream } = {}): Attention {
  const { tensor, head } = checkQkv(qkv);
  const [batch, seq, heads, headDim] = head;
  const stream = streamOn(tensor.device, options.stream);
  const out = Tensor.empty([batch, seq, heads, headDim], { device: tensor.device });
  const lse = Tensor.empty([batch, heads, seq], { device: tensor.device });
  guard(() => addon().attentionForward(...head, tensor.storage, out.storage, lse.storage, stream.native));
  return { out, lse };
}

/**
 * Backward of {@link attention} (stream-ordered): dQkv [B, S, 3, H, dh] from dOut, recomputing
 * the probabilities from qkv and lse (flash-attention's backward, without atomics).
 *
 * @param dOut [B, S, H, dh] f32; qkv, out and lse as given to and returned by the forward.
 */
export function attentionBackward(
  dOut: Tensor<'f32'>,
  qkv: Tensor<'f32'>,
  forward: Attention,
  options: { readonly stream?: Stream } = {},
): Tensor<'f32'> {
  const { tensor, head } = checkQkv(qkv);
  const [batch, seq, heads, headDim] = head;
  checkF32Shaped('dOut', dOut, [batch, seq, heads, headDim], tensor.device);
  checkF32Shaped('forward.out', forward?.out, [batch, seq, heads, headDim], tensor.device);
  checkF32Shaped('forward.lse', forward.lse, [batch, heads, seq], tensor.device);
  const stream = streamOn(tensor.device, options.stream);
  const dQkv = Tensor.empty(tensor.shape, { device: tensor.device });
  guard(() =>
    addon().attentionBackward(
      ...head,
      tensor.storage,
      forward.out.storage,
      forward.lse.storage,
      dOut.storage,
      dQkv.storage,
      stream.native,
    ),
  );
  return dQkv;
}
