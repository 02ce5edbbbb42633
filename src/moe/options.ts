/**
 * Options of the expert-parallel MoE layer, with their defaults and checks in one place.
 */
import { checkChoice, checkInteger, checkNumber, invalidType, invalidValue } from '../errors.js';
import { ACTIVATIONS, type Activation } from '../kernels/ffn.js';
import { CAPACITY_MODES, type CapacityMode } from '../kernels/gating.js';

export interface MoELayerOptions {
  /** Model width d. */
  readonly dModel: number;
  /** Expert hidden width h. */
  readonly hidden: number;
  /** Experts E; must be a multiple of the number of ranks W (E / W experts per rank). */
  readonly numExperts: number;
  /** Experts per token. Default 1. */
  readonly topK?: number;
  /** Divide the k routing weights by their sum. Default false (Switch) for k = 1; set it for
   * Mixtral-style top-2. */
  readonly renormalize?: boolean;
  /** 'dropless' (default), 'capacity' or 'random' (see gating()). */
  readonly capacityMode?: CapacityMode;
  readonly capacityFactor?: number;
  readonly minCapacity?: number;
  /** Seed of the 'random' capacity mode. */
  readonly capacitySeed?: number;
  /** Expert activation. Default 'gelu'. */
  readonly activation?: Activation;
  /** SwiGLU-style gated experts. Default false. */
  readonly gated?: boolean;
  /** Coefficients of the load-balancing loss and the router z-loss. Default 0. */
  readonly auxLossCoef?: number;
  readonly zLossCoef?: number;
  /** Parameter dtype. The CPU backend computes in 'f32' (bf16 storage is a CUDA feature). */
  readonly dtype?: 'f32';
  /** Seed of the parameter initialisation; expert e's values depend only on (seed, layer, e),
   * never on the number of ranks, so W = 1 and W = 4 start from the same model. Default 0. */
  readonly initSeed?: number;
  /** Index of this layer in the model (mixed into the initialisation seed). Default 0. */
  readonly layerIndex?: number;
}

export type ResolvedMoEOptions = Required<MoELayerOptions>;

/** Applies defaults and validates; names the option in every error. */
export function resolveMoEOptions(options: MoELayerOptions, numRanks: number): ResolvedMoEOptions {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'object', options);
  const numExperts = checkInteger('options.numExperts', options.numExperts, 1);
  if (numExperts % numRanks !== 0) {
    throw invalidValue('options.numExperts', `a multiple of the number of ranks (${numRanks})`, numExperts);
  }
  const dtype = options.dtype ?? 'f32';
  if (dtype !== 'f32') throw invalidValue('options.dtype', "'f32' on the CPU backend", dtype);
  return {
    dModel: checkInteger('options.dModel', options.dModel, 1),
    hidden: checkInteger('options.hidden', options.hidden, 1),
    numExperts,
    topK: checkInteger('options.topK', options.topK ?? 1, 1, numExperts),
    renormalize: checkBoolean('options.renormalize', options.renormalize ?? false),
    capacityMode: checkChoice('options.capacityMode', options.capacityMode ?? 'dropless', CAPACITY_MODES),
    capacityFactor: checkNumber('options.capacityFactor', options.capacityFactor ?? 1, Number.MIN_VALUE),
    minCapacity: checkInteger('options.minCapacity', options.minCapacity ?? 0, 0),
    capacitySeed: checkInteger('options.capacitySeed', options.capacitySeed ?? 0, 0, 2 ** 32 - 1),
    activation: checkChoice('options.activation', options.activation ?? 'gelu', ACTIVATIONS),
    gated: checkBoolean('options.gated', options.gated ?? false),
    auxLossCoef: checkNumber('options.auxLossCoef', options.auxLossCoef ?? 0, 0),
    zLossCoef: checkNumber('options.zLossCoef', options.zLossCoef ?? 0, 0),
    dtype,
    initSeed: checkInteger('options.initSeed', options.initSeed ?? 0, 0, 2 ** 31 - 1),
    layerIndex: checkInteger('options.layerIndex', options.layerIndex ?? 0, 0, 65535),
  };
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidType(name, 'boolean', value);
  return value;
}
