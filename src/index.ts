/**
 * pro-prophet: expert-parallel Mixture-of-Experts training with Pro-Prophet load balancing.
 *
 * This entry point exports the runtime (devices, streams, events, tensors) and the error types;
 * later modules (kernels, communicators, the MoE layer, the planner) are exported here as they
 * land.
 */
export { backends, memoryStats, type BackendsReport } from './runtime/backends.js';
export { Device } from './runtime/device.js';
export { Event } from './runtime/event.js';
export { Stream, type StreamOptions } from './runtime/stream.js';
export { Tensor, type TensorOptions, type StreamOption, type CopyOptions } from './runtime/tensor.js';
export { type DType, BYTES_PER_ELEMENT, f32ToBf16, bf16ToF32 } from './runtime/dtype.js';
export { ProphetError, ProphetRangeError, type ErrorCode } from './errors.js';
export type { AllToAllVOptions, CollectiveOptions, CommBackendName, Communicator, SubsetOptions } from './comm/communicator.js';
export { createLocalWorld, type LocalWorldOptions } from './comm/local.js';
export { createGlooCommunicator, glooAvailable, type GlooCommunicatorOptions } from './comm/gloo.js';
export type { BackendName, NativeDeviceInfo, NativeMemoryStats } from './native.js';
export * from './kernels/index.js';
export * from './nn/index.js';
export { type Batch, DEFAULT_TEXT_PATH, TextDataset, unigramEntropyBits } from './model/data.js';
export { Rng, type RngState } from './model/rng.js';
export { initProcessGroup, type ProcessGroup, type ProcessGroupOptions, type ProcessGroupBackend } from './comm/process-group.js';
export { readLaunchEnv, type LaunchEnv, type LaunchSource, type Environment } from './comm/env.js';
export { startStoreServer, StoreClient, type StoreServer, type StoreClientOptions } from './comm/store.js';
export { launch, type LaunchOptions, type LaunchResult, type RankFailure } from './comm/launcher.js';
export { createNcclCommunicator, loadNccl, ncclInitRank, type NcclCommunicatorOptions, type NcclLibrary, type NcclComm } from './comm/nccl.js';
export * from './balance/index.js';
export { readTrace, traceAvailable, findSharedTrace, type RoutingTrace, type TraceMeta } from './trace/smartmoe.js';
export * from './moe/index.js';
export * from './model/index.js';
