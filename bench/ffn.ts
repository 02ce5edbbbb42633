/**
 * Expert FFN forward+backward throughput, and its ratio to the same GEMMs run alone.
 *
 * For each shape (d_model, hidden, tokens split evenly over --experts experts) the run alternates
 * two measurements on one stream: the FFN (ffnForward + ffnBackward: 6 GEMMs per expert plus the
 * fused bias/activation passes), and the 6 GEMM calls alone with the same shapes, transposes and
 * betas (matmul on per-expert tensors). ratio_to_gemm = GEMM-alone time / FFN time: 1 means the
 * non-GEMM work is free. Each figure is the best of its runs after one warm-up: other
 * processes on a shared machine only ever add time, so the minimum is the least noisy estimate.
 * A shape runs at least --reps pairs and keeps alternating while under --budget seconds.
 *
 * Arguments: --quick (a tiny grid), --reps N (default 3), --budget S (default 6),
 * --experts N (default 2),
 * --activation relu|gelu|silu (default gelu), --gated, --d-model 512,1024, --tokens 1024,4096,
 * --hidden-mult 2,4.
 */
import { ffnBackward, ffnForward, type Activation, type FfnParams } from '../src/kernels/ffn.js';
import { matmul } from '../src/kernels/matmul.js';
import { Device } from '../src/runtime/device.js';
import type { Stream } from '../src/runtime/stream.js';
import { Tensor } from '../src/runtime/tensor.js';
import type { Benchmark, BenchmarkResult } from './types.js';

interface Shape {
  readonly dModel: number;
  readonly hidden: number;
  readonly tokens: number;
}

interface Settings {
  readonly shapes: Shape[];
  readonly reps: number;
  readonly budgetSeconds: number;
  readonly experts: number;
  readonly activation: Activation;
  readonly gated: boolean;
}

function option(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function numbers(args: readonly string[], name: string, fallback: number[]): number[] {
  const raw = option(args, name);
  if (raw === undefined) return fallback;
  const values = raw.split(',').map(Number);
  if (values.some((v) => !Number.isInteger(v) || v < 1)) throw new RangeError(`Expected positive integers for ${name} but received ${raw}`);
  return values;
}

function parse(args: readonly string[]): Settings {
  const quick = args.includes('--quick');
  const dModels = numbers(args, '--d-model', quick ? [128] : [512, 1024]);
  const mults = numbers(args, '--hidden-mult', quick ? [2] : [2, 4]);
  const tokens = numbers(args, '--tokens', quick ? [256, 512] : [1024, 4096]);
  const shapes = dModels.flatMap((dModel) => mults.flatMap((m) => tokens.map((t) => ({ dModel, hidden: m * dModel, tokens: t }))));
  const activation = (option(args, '--activation') ?? 'gelu') as Activation;
  if (!['relu', 'gelu', 'silu'].includes(activation)) throw new RangeError(`Expected relu, gelu or silu for --activation but received ${activation}`);
  const [reps = 3] = numbers(args, '--reps', [3]);
  const [experts = 2] = numbers(args, '--experts', [2]);
  const [budgetSeconds = 6] = numbers(args, '--budget', [quick ? 1 : 6]);
  return { shapes, reps, budgetSeconds, experts, activation, gated: args.includes('--gated') };
}

function random(shape: number[], scale: number): Tensor<'f32'> {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (Math.random() * 2 - 1) * scale;
  return Tensor.from(data, shape);
}

async function timed(stream: Stream, work: () => void): Promise<number> {
  await stream.synchronize();
  const start = performance.now();
  work();
  await stream.synchronize();
  return (performance.now() - start) / 1000;
}

function best(values: number[]): number {
  return Math.min(...values);
}

/** The FFN of one shape, ready to run repeatedly on `stream`. */
function ffnCase(shape: Shape, s: Settings, stream: Stream): { run: () => void; dispose: () => void } {
  const { dModel: d, hidden: h, tokens: n } = shape;
  const e = s.experts, h1 = s.gated ? 2 * h : h;
  const rows = Array.from({ length: e }, (_, i) => Math.floor((n * (i + 1)) / e) - Math.floor((n * i) / e));
  const params: FfnParams = {
    w1: random([e, d, h1], 1 / Math.sqrt(d)), b1: random([e, h1], 0.1),
    w2: random([e, h, d], 1 / Math.sqrt(h)), b2: random([e, d], 0.1),
  };
  const grads: FfnParams = {
    w1: Tensor.zeros([e, d, h1]), b1: Tensor.zeros([e, h1]), w2: Tensor.zeros([e, h, d]), b2: Tensor.zeros([e, d]),
  };
  const x = random([n, d], 1), dy = random([n, d], 1);
  const options = { activation: s.activation, gated: s.gated, stream };
  const saved = { y: Tensor.empty([n, d]), pre: Tensor.empty([n, h1]), act: Tensor.empty([n, h]) };
  const back = { dx: Tensor.empty([n, d]), dpre: Tensor.empty([n, h1]) };
  const all = [...Object.values(params), ...Object.values(grads), x, dy, ...Object.values(saved), ...Object.values(back)];
  return {
    run: () => {
      ffnForward(x, rows, params, { ...options, out: saved });
      ffnBackward(dy, x, rows, params, saved, grads, { ...options, out: back });
    },
    dispose: () => all.forEach((t) => t.dispose()),
  };
}

/** The same 6 GEMMs per expert, alone, on per-expert tensors. */
function gemmCase(shape: Shape, s: Settings, stream: Stream): { run: () => void; dispose: () => void } {
  const { dModel: d, hidden: h, tokens: n } = shape;
  const h1 = s.gated ? 2 * h : h;
  const experts = Array.from({ length: s.experts }, (_, i) => {
    const rows = Math.floor((n * (i + 1)) / s.experts) - Math.floor((n * i) / s.experts);
    return {
      x: random([rows, d], 1), dy: random([rows, d], 1), w1: random([d, h1], 0.05), w2: random([h, d], 0.05),
      pre: Tensor.empty([rows, h1]), act: random([rows, h], 1), dact: Tensor.empty([rows, h]), y: Tensor.empty([rows, d]),
      dpre: random([rows, h1], 1), dx: Tensor.empty([rows, d]), dw1: Tensor.zeros([d, h1]), dw2: Tensor.zeros([h, d]),
    };
  });
  return {
    run: () => {
      for (const t of experts) {
        matmul(t.x, t.w1, { out: t.pre, stream }); // pre = x·W1
        matmul(t.act, t.w2, { out: t.y, beta: 1, stream }); // y += act·W2
        matmul(t.act, t.dy, { transA: true, out: t.dw2, beta: 1, stream }); // dW2 += actᵀ·dy
        matmul(t.dy, t.w2, { transB: true, out: t.dact, stream }); // dact = dy·W2ᵀ
        matmul(t.x, t.dpre, { transA: true, out: t.dw1, beta: 1, stream }); // dW1 += xᵀ·dpre
        matmul(t.dpre, t.w1, { transB: true, out: t.dx, stream }); // dx = dpre·W1ᵀ
      }
    },
    dispose: () => experts.forEach((t) => Object.values(t).forEach((x) => x.dispose())),
  };
}

async function measure(shape: Shape, s: Settings, stream: Stream): Promise<{ ffn: number; gemm: number }> {
  const ffn = ffnCase(shape, s, stream);
  const gemm = gemmCase(shape, s, stream);
  try {
    await timed(stream, ffn.run); // warm-up (first touch of every buffer)
    await timed(stream, gemm.run);
    const ffnTimes: number[] = [], gemmTimes: number[] = [];
    const started = performance.now();
    const maxReps = Math.max(s.reps, 30);
    for (let r = 0; r < maxReps && (r < s.reps || performance.now() - started < s.budgetSeconds * 1000); r++) {
      // Alternate, so that load from other processes hits both sides alike.
      ffnTimes.push(await timed(stream, ffn.run));
      gemmTimes.push(await timed(stream, gemm.run));
    }
    return { ffn: best(ffnTimes), gemm: best(gemmTimes) };
  } finally {
    ffn.dispose();
    gemm.dispose();
  }
}

const bench: Benchmark = {
  name: 'ffn',
  description: 'Expert FFN forward+backward tokens/s and its ratio to the same GEMMs alone',
  async run(args: readonly string[]): Promise<BenchmarkResult> {
    const s = parse(args);
    const stream = Device.cpu().createStream();
    const rows: BenchmarkResult['rows'][number][] = [];
    console.error(`ffn: ${s.experts} experts, ${s.activation}${s.gated ? ' gated' : ''}, best of >= ${s.reps} runs within ${s.budgetSeconds} s per shape`);
    for (const shape of s.shapes) {
      const { ffn, gemm } = await measure(shape, s, stream);
      const row = {
        d_model: shape.dModel,
        hidden: shape.hidden,
        tokens: shape.tokens,
        tokens_per_s: Math.round(shape.tokens / ffn),
        ratio_to_gemm: Number((gemm / ffn).toFixed(3)),
      };
      console.error(`  ${JSON.stringify(row)} ffn ${(ffn * 1e3).toFixed(1)} ms, gemm alone ${(gemm * 1e3).toFixed(1)} ms`);
      rows.push(row);
    }
    stream.dispose();
    return { bench: 'ffn', rows };
  },
};

export default bench;
