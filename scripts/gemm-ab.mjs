// Interleaved A/B of two builds of the addon's sgemm, each against OpenBLAS, in one process
// (docs/benchmarks.md, GEMM section). Copy each build's build/Release/prophet.node aside, then
//
//   node scripts/gemm-ab.mjs /abs/A.node /abs/B.node REPS m,n,k [m,n,k ...]
//
// Per shape and round: A (or B; the first alternates), OpenBLAS, B (or A), OpenBLAS, with the
// benchmark's pauses. One JSON line per shape: best-time ratios to OpenBLAS, and the median of
// the paired per-round t_A / t_B (paired_med_A_over_B > 1: B faster). Run it twice with A and B
// swapped: the load order alone moved single shapes by up to 10% here.
import { performance } from 'node:perf_hooks';
if (process.env.OPENBLAS_CORETYPE === undefined) process.env.OPENBLAS_CORETYPE = 'SkylakeX';
const load = (p) => { const m = { exports: {} }; process.dlopen(m, p); return m.exports; };
const [pa, pb, repsArg, ...shapeArgs] = process.argv.slice(2);  // absolute paths
const A = load(pa), B = load(pb);
console.error(`isa ${A.sgemmIsa()} / ${B.sgemmIsa()}; OpenBLAS ${A.openblasConfig()}`);
const reps = Number(repsArg);
function filled(n, seed) { const o = new Float32Array(n); let s = seed >>> 0; for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; o[i] = s / 2147483648 - 1; } return o; }
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const t = (f) => { const s = performance.now(); f(); return (performance.now() - s) / 1000; };
for (const sh of shapeArgs) {
  const [m, n, k] = sh.split(',').map(Number);
  const a = filled(m * k, 1), b = filled(k * n, 2), c = new Float32Array(m * n);
  const fa = () => A.sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n);
  const fb = () => B.sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n);
  const fo = () => A.openblasSgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n);
  // warm-up, and whether both builds give bitwise the same C
  fa(); const c1 = new Float32Array(c); sleep(20);
  fb(); const same = Buffer.compare(Buffer.from(c1.buffer), Buffer.from(c.buffer)) === 0; sleep(20);
  fo(); sleep(200);
  const ta = [], tb = [], to = [];
  for (let r = 0; r < reps; r++) {
    // alternate which variant goes first; OpenBLAS between them
    const first = r % 2 === 0 ? [fa, ta, fb, tb] : [fb, tb, fa, ta];
    first[1].push(t(first[0])); sleep(20);
    to.push(t(fo)); sleep(200);
    first[3].push(t(first[2])); sleep(20);
    to.push(t(fo)); sleep(200);
  }
  const gf = (2 * m * n * k) / 1e9;
  const best = (x) => Math.min(...x);
  const med = (x) => { const y = [...x].sort((p, q) => p - q); return y[y.length >> 1]; };
  const paired = ta.map((x, i) => x / tb[i]); // >1: B faster
  const row = { m, n, k, same, A_gf: +(gf / best(ta)).toFixed(1), B_gf: +(gf / best(tb)).toFixed(1), ob_gf: +(gf / best(to)).toFixed(1),
    A_ratio: +(best(to) / best(ta)).toFixed(3), B_ratio: +(best(to) / best(tb)).toFixed(3),
    A_med_ratio: +(med(to) / med(ta)).toFixed(3), B_med_ratio: +(med(to) / med(tb)).toFixed(3),
    paired_med_A_over_B: +med(paired).toFixed(3), B_wins: paired.filter((x) => x > 1).length + '/' + reps };
  console.log(JSON.stringify(row));
}
