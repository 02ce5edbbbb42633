// Trains the example MoE language model as one rank of a multi-process job (Gloo on the CPU).
// Start it with the launcher, which sets torchrun's environment for each rank:
//
//   npx prophet launch --nproc-per-node 2 examples/train-distributed.mjs
//
// Every rank samples the same global batches and trains its slice; rank 0 prints the losses.
import { trainDistributed } from 'pro-prophet';

const { rank, losses, replicas } = await trainDistributed({
  steps: 50,
  batch: 8, // global batch: a multiple of the number of ranks
  policy: 'prophet', // Pro-Prophet balancing across the processes ('none': plain expert parallelism)
  config: { dModel: 64, hidden: 128, numLayers: 2, numExperts: 4, topK: 2, seqLen: 64 },
});
if (rank === 0) console.log(JSON.stringify({ losses, replicas }));
