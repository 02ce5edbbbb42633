/** The MoE kernels as typed, stream-ordered ops. */
export {
  CAPACITY_MODES,
  type CapacityMode,
  disposeGating,
  type Gating,
  type GatingBackwardOptions,
  type GatingOptions,
  gating,
  gatingAuxLoss,
  gatingBackward,
  gatingCapacity,
} from './gating.js';
export {
  combine,
  combineBackward,
  dispatch,
  dispatchBackward,
  type PermuteOptions,
  type PermuteOutOptions,
  type PermuteRouting,
} from './permute.js';
export { type DispatchLayout, dispatchLayout } from './dispatch_layout.js';
export {
  ACTIVATIONS,
  type Activation,
  type FfnBackwardOptions,
  type FfnForwardOptions,
  type FfnOptions,
  type FfnParams,
  type FfnSaved,
  ffnBackward,
  ffnForward,
} from './ffn.js';
export { matmul, type MatmulOptions } from './matmul.js';
export {
  AdamW,
  type AdamWOptions,
  axpy,
  clipByNorm,
  clipGradNorm,
  fill,
  type ParamGrad,
  scale,
  Sgd,
  type SgdOptions,
  sumSquares,
  zeroGrads,
} from './optim.js';
