/**
 * The example byte-level MoE language model that `prophet train` trains:
 *
 *   ids [B, S] → x = tokenEmbedding[id] + positionEmbedding[s]
 *   L × { x += Attention(RMSNorm(x)); x += DenseMLP(RMSNorm(x)); x += MoE(RMSNorm(x)) }
 *   → RMSNorm → head [d, 256] → cross-entropy
 *
 * One instance per rank. Dense parameters are replicated on every rank (data parallel: their
 * gradients are all-reduced by the trainer); each MoE layer holds this rank's experts. All work
 * is ordered on the rank's stream (`comm.defaultStream`).
 */
import type { Communicator } from '../comm/communicator.js';
import { crossEntropy, crossEntropyBackward, type CrossEntropy } from '../nn/cross_entropy.js';
import { attention, attentionBackward, type Attention } from '../nn/attention.js';
import { embedding, embeddingBackward } from '../nn/embedding.js';
import { rmsnorm, rmsnormBackward, type RmsNorm } from '../nn/rmsnorm.js';
import { add } from '../nn/add.js';
import { ffnBackward, ffnForward, type FfnParams, type FfnSaved } from '../kernels/ffn.js';
import { matmul } from '../kernels/matmul.js';
import { axpy } from '../kernels/optim.js';
import { MoELayer, type Parameter } from '../moe/layer.js';
import { subSeed, uniform } from '../moe/init.js';
import type { Stream } from '../runtime/stream.js';
import { Tensor } from '../runtime/tensor.js';
import { traced, type Timeline } from '../runtime/timeline.js';
import { resolveModelConfig, VOCAB_SIZE, type ModelConfig } from './config.js';

/** Dense (replicated) parameters of one block. */
interface BlockParams {
  readonly norm1: Parameter;
  readonly qkv: Parameter; // [d, 3d]
  readonly proj: Parameter; // [d, d]
  readonly norm2: Parameter;
  readonly mlp: { readonly params: FfnParams; readonly grads: FfnParams };
  readonly norm3: Parameter;
}

/** What a block's forward keeps for its backward. */
interface BlockSaved {
  readonly x: Tensor<'f32'>;
  readonly n1: RmsNorm;
  readonly qkv: Tensor<'f32'>;
  readonly att: Attention;
  readonly x1: Tensor<'f32'>;
  readonly n2: RmsNorm;
  readonly mlp: FfnSaved;
  readonly x2: Tensor<'f32'>;
  readonly n3: RmsNorm;
}

interface ModelSaved {
  readonly ids: Tensor<'i32'>;
  readonly targets: Tensor<'i32'>;
  readonly blocks: BlockSaved[];
  readonly xFinal: Tensor<'f32'>;
  readonly nf: RmsNorm;
  readonly logits: Tensor<'f32'>;
  readonly ce: CrossEntropy;
}

export class MoELanguageModel {
  readonly config: ModelConfig;
  readonly moeLayers: readonly MoELayer[];
  private readonly tokenEmbedding: Parameter;
  private readonly positionEmbedding: Parameter;
  private readonly blocks: readonly BlockParams[];
  private readonly finalNorm: Parameter;
  private readonly head: Parameter;
  private saved: ModelSaved | null = null;
  private timelineOf: Timeline | null = null;

  constructor(
    readonly comm: Communicator,
    config: Partial<ModelConfig> = {},
  ) {
    this.config = resolveModelConfig(config);
    const { dModel: d, numLayers, seqLen, initSeed } = this.config;
    // Dense parameter blocks use layer ids 1000 + l so they never share a seed with the MoE
    // layers (which use layer ids l).
    const dense = (name: string, shape: number[], layer: number, block: number, bound: number) =>
      this.param(name, Tensor.from(uniform(subSeed(initSeed, 1000 + layer, block), shape.reduce((a, b) => a * b, 1), bound), shape, { stream: this.stream }));
    const ones = (name: string, n: number) => this.param(name, Tensor.from(new Float32Array(n).fill(1), [n], { stream: this.stream }));
    this.tokenEmbedding = dense('embedding.token', [VOCAB_SIZE, d], 0, 0, 1);
    this.positionEmbedding = dense('embedding.position', [seqLen, d], 0, 1, 0.1);
    this.blocks = Array.from({ length: numLayers }, (_, l) => this.initBlock(l, dense, ones));
    this.finalNorm = ones('final.norm', d);
    this.head = dense('head', [d, VOCAB_SIZE], numLayers, 0, 1 / Math.sqrt(d));
    this.moeLayers = Array.from(
      { length: numLayers },
      (_, l) =>
        new MoELayer(comm, {
          ...this.config.moe,
          dModel: d,
          hidden: this.config.hidden,
          numExperts: this.config.numExperts,
          topK: this.config.topK,
          layerIndex: l,
          initSeed,
        }),
    );
  }

  get stream(): Stream {
    return this.comm.defaultStream;
  }

  /** Records the blocks' phases (and the MoE layers') as spans while set. */
  get timeline(): Timeline | null {
    return this.timelineOf;
  }

  set timeline(timeline: Timeline | null) {
    this.timelineOf = timeline;
    for (const layer of this.moeLayers) layer.timeline = timeline;
  }

  /** Every trainable parameter: replicated dense ones first, then each MoE layer's. */
  parameters(): Parameter[] {
    const blocks = this.blocks.flatMap((b, l) => [
      b.norm1,
      b.qkv,
      b.proj,
      b.norm2,
      ...(['w1', 'b1', 'w2', 'b2'] as const).map((key) => ({ name: `blocks.${l}.mlp.${key}`, value: b.mlp.params[key], grad: b.mlp.grads[key], replicated: true })),
      b.norm3,
    ]);
    const moe = this.moeLayers.flatMap((layer, l) => layer.parameters().map((p) => ({ ...p, name: `blocks.${l}.moe.${p.name}` })));
    return [this.tokenEmbedding, this.positionEmbedding, ...blocks, this.finalNorm, this.head, ...moe];
  }

  /**
   * Mean cross-entropy (nats per byte) of this rank's batch: ids and targets [B, S] i32 (host
   * arrays, copied). Resolves once the MoE layers' exchanges are planned; the returned [1]
   * tensor is ordered on the stream.
   */
  async forward(ids: Int32Array, targets: Int32Array, batch: number): Promise<Tensor<'f32'>> {
    this.release();
    const { dModel: d, seqLen: s, numHeads: heads } = this.config;
    const stream = this.stream;
    const n = batch * s;
    const idsT = Tensor.from(ids, [batch, s], { dtype: 'i32', stream });
    const targetsT = Tensor.from(targets, [n], { dtype: 'i32', stream });
    // Step 1: Trans of block 0 on its transfer stream, beside the embeddings and FNEC(0); the
    // other blocks' Trans start in the block before them (Step 2). Then the embeddings.
    this.moeLayers[0]?.startTrans();
    let x = traced(this.timelineOf, 'embed', 'compute', stream, () =>
      embedding(idsT, this.tokenEmbedding.value, { positions: this.positionEmbedding.value, stream }).reshape([n, d]),
    );
    // Step 2: the blocks.
    const blocks: BlockSaved[] = [];
    for (const [l, p] of this.blocks.entries()) {
      // The block schedule: Trans(l+1) part a beside FNEC(l) (the exchanges of block l-1 are
      // queued before it), part b beside FEC(l), once A2A(l, f1) is queued.
      const next = this.moeLayers[l + 1];
      next?.startTrans('a');
      // FNEC: the non-MoE layer (attention and dense MLP).
      const { n1, qkv, att, x1, n2, mlp, x2, n3 } = traced(this.timelineOf, `FNEC:${l}`, 'compute', stream, () => {
        const n1 = rmsnorm(x, p.norm1.value, { stream });
        const qkv = matmul(n1.y, p.qkv.value, { stream }).reshape([batch, s, 3, heads, d / heads]);
        const att = attention(qkv, { stream });
        const x1 = add(x, matmul(att.out.reshape([n, d]), p.proj.value, { stream }), { stream });
        const n2 = rmsnorm(x1, p.norm2.value, { stream });
        const mlp = ffnForward(n2.y, [n], p.mlp.params, { stream });
        const x2 = add(x1, mlp.y, { stream });
        mlp.y.dispose();
        const n3 = rmsnorm(x2, p.norm3.value, { stream });
        return { n1, qkv, att, x1, n2, mlp, x2, n3 };
      });
      const moe = await this.moeLayers[l]!.forward(n3.y, { onDispatched: () => next?.startTrans('b') });
      const x3 = add(x2, moe, { stream });
      moe.dispose();
      blocks.push({ x, n1, qkv, att, x1, n2, mlp: { pre: mlp.pre, act: mlp.act }, x2, n3 });
      x = x3;
    }
    // Step 3: head and loss.
    const nf = rmsnorm(x, this.finalNorm.value, { stream });
    const logits = matmul(nf.y, this.head.value, { stream });
    const ce = crossEntropy(logits, targetsT, { stream });
    this.saved = { ids: idsT, targets: targetsT, blocks, xFinal: x, nf, logits, ce };
    return ce.meanLoss;
  }

  /**
   * Accumulates gradients of `lossScale · Σ(per-token loss)` of the last forward. The trainer
   * passes 1 / (tokens of the global batch) so that summing over ranks gives the gradient of
   * the global mean loss.
   */
  async backward(lossScale: number): Promise<void> {
    const saved = this.saved;
    if (saved === null) throw new RangeError('Expected a preceding forward() for backward but received none');
    const { dModel: d } = this.config;
    const stream = this.stream;
    const n = saved.logits.shape[0] ?? 0;
    // Step 1: loss → head → final norm.
    const dLogits = crossEntropyBackward(saved.logits, saved.targets, saved.ce.lse, { scale: lossScale, stream });
    matmul(saved.nf.y, dLogits, { transA: true, beta: 1, out: this.head.grad, stream });
    const dNf = matmul(dLogits, this.head.value, { transB: true, stream });
    dLogits.dispose();
    let dx = rmsnormBackward(dNf, saved.xFinal, this.finalNorm.value, saved.nf.rstd, this.finalNorm.grad, { stream });
    dNf.dispose();
    // Step 2: blocks in reverse; dx is the gradient of each block's output.
    for (let l = this.blocks.length - 1; l >= 0; l--) {
      const p = this.blocks[l]!;
      const b = saved.blocks[l]!;
      // MoE branch: x3 = x2 + MoE(norm3(x2)).
      // Agg is deferred: it overlaps the remaining backward pass (waitForAgg before the step).
      // The block schedule: Agg(l) part a beside BNEC(l) (the layer issues it after A2A(l, b2)),
      // Agg(l+1) part b beside BEC(l), once A2A(l, b1) is queued.
      const later = this.moeLayers[l + 1];
      const dN3 = await this.moeLayers[l]!.backward(dx, { deferAgg: true, onDispatched: () => later?.startAgg('b') });
      this.accumulate(dx, rmsnormBackward(dN3, b.x2, p.norm3.value, b.n3.rstd, p.norm3.grad, { stream }));
      dN3.dispose();
      traced(this.timelineOf, `BNEC:${l}`, 'compute', stream, () => this.backwardDense(dx, p, b, n));
    }
    // Step 3: embeddings, beside block 0's Agg part b (no BEC(-1) to hide it).
    this.moeLayers[0]?.startAgg('b');
    embeddingBackward(dx.reshape([...saved.ids.shape, d]), saved.ids, this.tokenEmbedding.grad, { dPositions: this.positionEmbedding.grad, stream });
    dx.dispose();
    this.release();
  }

  /** Makes the compute stream wait for every MoE layer's deferred Agg: call before reading
   * gradients or stepping the optimizer. */
  waitForAgg(): void {
    for (const layer of this.moeLayers) layer.waitForAgg();
  }

  /** Frees everything: parameters, gradients, saved activations. Idempotent. */
  dispose(): void {
    this.release();
    for (const layer of this.moeLayers) layer.dispose();
    for (const p of this.parameters()) {
      p.value.dispose();
      p.grad.dispose();
    }
  }

  /** Backward of a block's non-MoE layer (dense MLP, then attention): dx += their gradients. */
  private backwardDense(dx: Tensor<'f32'>, p: BlockParams, b: BlockSaved, n: number): void {
    const { dModel: d } = this.config;
    const stream = this.stream;
    // MLP branch: x2 = x1 + MLP(norm2(x1)).
    const { dx: dN2, dpre } = ffnBackward(dx, b.n2.y, [n], p.mlp.params, b.mlp, p.mlp.grads, { stream });
    dpre.dispose();
    this.accumulate(dx, rmsnormBackward(dN2, b.x1, p.norm2.value, b.n2.rstd, p.norm2.grad, { stream }));
    dN2.dispose();
    // Attention branch: x1 = x + Attn(norm1(x)) · Wo.
    const attOut = b.att.out.reshape([n, d]);
    matmul(attOut, dx, { transA: true, beta: 1, out: p.proj.grad, stream });
    const dAtt = matmul(dx, p.proj.value, { transB: true, stream });
    const dQkv = attentionBackward(dAtt.reshape(b.att.out.shape), b.qkv, b.att, { stream }).reshape([n, 3 * d]);
    dAtt.dispose();
    matmul(b.n1.y, dQkv, { transA: true, beta: 1, out: p.qkv.grad, stream });
    const dN1 = matmul(dQkv, p.qkv.value, { transB: true, stream });
    dQkv.dispose();
    this.accumulate(dx, rmsnormBackward(dN1, b.x, p.norm1.value, b.n1.rstd, p.norm1.grad, { stream }));
    dN1.dispose();
  }

  /** dx += delta, then frees delta. */
  private accumulate(dx: Tensor<'f32'>, delta: Tensor<'f32'>): void {
    axpy(1, delta, dx, { stream: this.stream });
    delta.dispose();
  }

  private release(): void {
    const s = this.saved;
    if (s === null) return;
    const tensors: Tensor[] = [s.ids, s.targets, s.xFinal, s.nf.y, s.nf.rstd, s.logits, s.ce.loss, s.ce.lse];
    for (const b of s.blocks) {
      tensors.push(b.x, b.n1.y, b.n1.rstd, b.qkv, b.att.out, b.att.lse, b.x1, b.n2.y, b.n2.rstd, b.mlp.pre, b.mlp.act, b.x2, b.n3.y, b.n3.rstd);
    }
    for (const t of tensors) t.dispose();
    this.saved = null;
  }

  private param(name: string, value: Tensor<'f32'>, replicated = true): Parameter {
    return { name, value, grad: Tensor.zeros(value.shape, { stream: this.stream }), replicated };
  }

  private initBlock(
    l: number,
    dense: (name: string, shape: number[], layer: number, block: number, bound: number) => Parameter,
    ones: (name: string, n: number) => Parameter,
  ): BlockParams {
    const { dModel: d, mlpHidden: h } = this.config;
    const mlpW1 = dense(`blocks.${l}.mlp.w1`, [1, d, h], l, 3, 1 / Math.sqrt(d));
    const mlpW2 = dense(`blocks.${l}.mlp.w2`, [1, h, d], l, 4, 1 / Math.sqrt(h));
    const zeros = (shape: number[]) => Tensor.zeros(shape, { stream: this.stream });
    return {
      norm1: ones(`blocks.${l}.norm1`, d),
      qkv: dense(`blocks.${l}.attn.qkv`, [d, 3 * d], l, 1, 1 / Math.sqrt(d)),
      proj: dense(`blocks.${l}.attn.proj`, [d, d], l, 2, 1 / Math.sqrt(d)),
      norm2: ones(`blocks.${l}.norm2`, d),
      mlp: {
        params: { w1: mlpW1.value, b1: zeros([1, h]), w2: mlpW2.value, b2: zeros([1, d]) },
        grads: { w1: mlpW1.grad, b1: zeros([1, h]), w2: mlpW2.grad, b2: zeros([1, d]) },
      },
      norm3: ones(`blocks.${l}.norm3`, d),
    };
  }
}
