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
