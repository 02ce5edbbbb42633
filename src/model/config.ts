/**
 * Shape and routing of the example byte-level MoE language model, with defaults and checks.
 */
import { checkInteger, invalidValue } from '../errors.js';
import type { MoELayerOptions } from '../moe/options.js';

export interface ModelConfig {
  /** Width d of the residual stream. */
  readonly dModel: number;
  /** Hidden width of each expert. */
  readonly hidden: number;
  /** Hidden width of the dense MLP of each block (default 2·dModel). */
  readonly mlpHidden: number;
  /** Blocks L. */
  readonly numLayers: number;
  /** Attention heads (dModel must be a multiple). */
  readonly numHeads: number;
  /** Experts per MoE layer. */
  readonly numExperts: number;
  /** Experts per token. */
  readonly topK: number;
  /** Sequence length S (positions learned up to S). */
  readonly seqLen: number;
  /** Options passed to every MoE layer (capacity mode, activation, aux losses...). */
  readonly moe: Omit<MoELayerOptions, 'dModel' | 'hidden' | 'numExperts' | 'topK' | 'layerIndex' | 'initSeed'>;
  /** Seed of every parameter's initialisation. */
  readonly initSeed: number;
}

/** Bytes: the vocabulary of the byte-level model. */
export const VOCAB_SIZE = 256;

export const DEFAULT_MODEL_CONFIG: ModelConfig = {
  dModel: 64,
  hidden: 128,
  mlpHidden: 128,
  numLayers: 2,
  numHeads: 4,
  numExperts: 4,
  topK: 2,
  seqLen: 64,
  // No auxiliary loss by default: its statistics are per rank (DeepSpeed's semantics), which
  // would make the loss curve depend on the number of ranks. Enable it with moe.auxLossCoef.
  moe: { renormalize: true, activation: 'gelu', auxLossCoef: 0 },
  initSeed: 0,
};

/** Defaults applied to a partial config, every field checked (errors name `config.<field>`). */
export function resolveModelConfig(config: Partial<ModelConfig> = {}): ModelConfig {
  const c = { ...DEFAULT_MODEL_CONFIG, ...config, moe: { ...DEFAULT_MODEL_CONFIG.moe, ...config.moe } };
  const dModel = checkInteger('config.dModel', c.dModel, 1);
  const numHeads = checkInteger('config.numHeads', c.numHeads, 1);
  if (dModel % numHeads !== 0) throw invalidValue('config.numHeads', `a divisor of dModel (${dModel})`, numHeads);
  const numExperts = checkInteger('config.numExperts', c.numExperts, 1);
  return {
    dModel,
    hidden: checkInteger('config.hidden', c.hidden, 1),
    mlpHidden: checkInteger('config.mlpHidden', config.mlpHidden ?? (config.dModel === undefined ? c.mlpHidden : 2 * dModel), 1),
    numLayers: checkInteger('config.numLayers', c.numLayers, 1),
    numHeads,
    numExperts,
    topK: checkInteger('config.topK', c.topK, 1, numExperts),
    seqLen: checkInteger('config.seqLen', c.seqLen, 1),
    moe: c.moe,
    initSeed: checkInteger('config.initSeed', c.initSeed, 0, 2 ** 31 - 1),
  };
}
