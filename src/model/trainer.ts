/**
 * Data-parallel + expert-parallel training of the example model, one RankTrainer per rank.
 *
 * Every rank samples the same global batch from the same seeded generator and trains on its
 * slice, so a run's losses do not depend on the number of ranks (up to fp32 summation order).
 * A step: forward, backward with the gradient of the global mean loss, all-reduce of the
 * replicated gradients, global-norm clipping, AdamW, zeroed gradients.
 */
import type { Communicator } from '../comm/communicator.js';
import { checkInteger, checkNumber, invalidValue } from '../errors.js';
import { AdamW, axpy, clipByNorm, sumSquares, zeroGrads } from '../kernels/optim.js';
import type { Parameter } from '../moe/layer.js';
import { Tensor } from '../runtime/tensor.js';
import { traced } from '../runtime/timeline.js';
import type { ModelConfig } from './config.js';
import type { Batch } from './data.js';
import { MoELanguageModel } from './model.js';

export interface TrainOptions {
  /** Sequences in the global batch (a multiple of the number of ranks). */
  readonly batch: number;
  /** AdamW learning rate. Default 3e-3. */
  readonly lr?: number;
  /** AdamW weight decay. Default 0.01. */
  readonly weightDecay?: number;
  /** Global gradient-norm clip (0 = off). Default 1. */
  readonly clip?: number;
}

/** What one step reports (the same on every rank). */
export interface StepReport {
  /** Mean cross-entropy of the global batch, nats per byte. */
  readonly loss: number;
  /** Per MoE layer, the [W·E] count matrix this step routed. */
  readonly countMatrices: readonly Int32Array[];
}

export class RankTrainer {
  readonly model: MoELanguageModel;
  readonly optimizer: AdamW;
  readonly batch: number;
  readonly clip: number;
  private readonly params: Parameter[];

  constructor(
    readonly comm: Communicator,
    config: Partial<ModelConfig>,
    options: TrainOptions,
  ) {
    this.batch = checkInteger('options.batch', options.batch, 1);
    if (this.batch % comm.size !== 0) throw invalidValue('options.batch', `a multiple of the number of ranks (${comm.size})`, this.batch);
    this.clip = checkNumber('options.clip', options.clip ?? 1, 0);
    this.model = new MoELanguageModel(comm, config);
    this.params = this.model.parameters();
    this.optimizer = new AdamW(
      this.params.map((p) => ({ param: p.value, grad: p.grad })),
      { lr: options.lr ?? 3e-3, weightDecay: options.weightDecay ?? 0.01, betas: [0.9, 0.95] },
    );
  }

  /** Parameters in optimizer order. */
  parameters(): readonly Parameter[] {
    return this.params;
  }

  /** One training step on this rank's slice of the global batch. */
  async step(global: Batch): Promise<StepReport> {
    const stream = this.model.stream;
    const rowsPerRank = this.batch / this.comm.size;
    const seq = this.model.config.seqLen;
    if (global.batch !== this.batch || global.seq !== seq) {
      throw invalidValue('global', `a batch of [${this.batch}, ${seq}]`, `[${global.batch}, ${global.seq}]`);
    }
    const from = this.comm.rank * rowsPerRank * seq;
    const to = from + rowsPerRank * seq;
    // Step 1: forward and backward of this rank's slice, scaled for the global mean.
    const meanLoss = await this.model.forward(global.inputs.subarray(from, to), global.targets.subarray(from, to), rowsPerRank);
    await this.model.backward(1 / (this.batch * seq));
    this.model.waitForAgg(); // replica gradients are home before anything reads the gradients
    traced(this.model.timeline, 'STEP', 'compute', stream, () => {
      // Step 2: replicated gradients summed over ranks (experts' are already complete).
      const replicated = this.params.filter((p) => p.replicated).map((p) => p.grad);
      for (const grad of replicated) this.comm.allReduce(grad, { stream });
      // Step 3: global-norm clipping over every parameter (expert squares summed over ranks).
      if (this.clip > 0) this.clipGradients(replicated);
      // Step 4: update, then clear gradients for the next step.
      this.optimizer.step({ stream });
      zeroGrads(this.params.map((p) => p.grad), { stream });
    });
    // Step 5: the global loss (each rank's mean weighted by its share of the batch).
    const loss = Tensor.empty([1]) as Tensor<'f32'>;
    loss.zero({ stream });
    axpy(1 / this.comm.size, meanLoss, loss, { stream });
    this.comm.allReduce(loss, { stream });
    const [value = NaN] = await loss.toArray({ stream });
    loss.dispose();
    const countMatrices = this.model.moeLayers.map((layer) => layer.lastCountMatrix ?? new Int32Array(0));
    return { loss: value, countMatrices };
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }

  private clipGradients(replicated: Tensor<'f32'>[]): void {
    const stream = this.model.stream;
    const local = this.params.filter((p) => !p.replicated).map((p) => p.grad);
    const replicatedSq = Tensor.empty([1]) as Tensor<'f32'>;
    const localSq = Tensor.empty([1]) as Tensor<'f32'>;
    sumSquares(replicated, replicatedSq, { stream });
    sumSquares(local, localSq, { stream });
    this.comm.allReduce(localSq, { stream });
    axpy(1, replicatedSq, localSq, { stream });
    clipByNorm([...replicated, ...local], localSq, this.clip, { stream });
    replicatedSq.dispose();
    localSq.dispose();
  }
}
