/** The example byte-level MoE language model, its training loop, checkpoints and traces. */
export { DEFAULT_MODEL_CONFIG, resolveModelConfig, VOCAB_SIZE, type ModelConfig } from './config.js';
export { MoELanguageModel } from './model.js';
export { RankTrainer, type StepReport, type TrainOptions } from './trainer.js';
export { runTraining, type RunOptions, type RunResult, type StepProgress } from './run.js';
export { trainDistributed, type DistributedRunOptions } from './distributed.js';
export { saveCheckpoint, loadCheckpoint, readCheckpoint, type CheckpointMeta } from './checkpoint.js';
export { TraceRecorder } from './trace.js';
export { BalancePlanner, computedMaxOverMean, POLICIES, type PolicyName } from './balance.js';
