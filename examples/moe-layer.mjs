// One expert-parallel MoE layer over 4 in-process ranks, with a Pro-Prophet placement that
// replicates expert 0 on ranks 1 and 2: outputs equal plain expert parallelism.
//
//   node examples/moe-layer.mjs
import { createLocalWorld, MoELayer, Tensor } from 'pro-prophet';

const world = createLocalWorld(4);
const layers = world.map((comm) => new MoELayer(comm, { dModel: 32, hidden: 64, numExperts: 8, topK: 2, renormalize: true }));
for (const layer of layers) layer.placement = { numRanks: 4, numExperts: 8, replicas: [[1, 2], [], [], [], [], [], [], []] };

const outputs = await Promise.all(
  layers.map(async (layer, rank) => {
    const x = Tensor.from(Float32Array.from({ length: 16 * 32 }, (_, i) => Math.sin(i + rank)), [16, 32], { stream: layer.stream });
    const y = await layer.forward(x);
    return y.toArray({ stream: layer.stream });
  }),
);
console.log('rows computed per rank:', Array.from(layers[0].computedRowsPerRank()));
console.log('first output values of rank 0:', Array.from(outputs[0].slice(0, 4)).map((v) => v.toFixed(4)));
for (const layer of layers) layer.dispose();
for (const comm of world) comm.dispose();
