/** The dense (non-MoE) layers of the example model as typed, stream-ordered ops. */
export { add, type AddOptions } from './add.js';
export { type Attention, attention, attentionBackward } from './attention.js';
export { type CrossEntropy, type CrossEntropyBackwardOptions, crossEntropy, crossEntropyBackward } from './cross_entropy.js';
export { type EmbeddingBackwardOptions, type EmbeddingOptions, embedding, embeddingBackward } from './embedding.js';
export { type RmsNorm, type RmsNormOptions, rmsnorm, rmsnormBackward } from './rmsnorm.js';
