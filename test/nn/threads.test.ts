/**
 * Thread-count independence: the dense-layer kernels give the same bits with 1, 2 and 3 OpenMP
 * threads (the reduction orders do not depend on how rows are split). Each run is a fresh Node
 * process, since OMP_NUM_THREADS is read once per process.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { packageRoot } from '../../src/native.js';

// Plain JS over the raw addon, so the child needs no TypeScript loader. Sizes are large enough
// that every kernel's parallel branch is taken.
const script = `
const { createHash } = require('node:crypto');
const a = require('node-gyp-build')(process.argv[1]);
const stream = new a.Stream('cpu', 0, 0);
const f32 = (n, seed) => { const v = new Float32Array(n); for (let i = 0; i < n; i++) v[i] = Math.sin(i * 12.9898 + seed) * 0.7; return v; };
const store = (values) => { const s = new a.Storage('cpu', 0, values.byteLength); s.write(values, 0, stream); return s; };
const empty = (n) => { const s = new a.Storage('cpu', 0, 4 * n); s.fill(0, 4 * n, 0, stream); return s; };
const B = 2, S = 64, H = 4, dh = 16, d = H * dh, N = B * S, V = 256;
const outs = [];
const qkv = store(f32(N * 3 * d, 1)), out = empty(N * d), lse = empty(B * H * S), dOut = store(f32(N * d, 2)), dQkv = empty(N * 3 * d);
a.attentionForward(B, S, H, dh, qkv, out, lse, stream);
a.attentionBackward(B, S, H, dh, qkv, out, lse, dOut, dQkv, stream);
outs.push(out, lse, dQkv);
const x = store(f32(N * d, 3)), gain = store(f32(d, 4)), y = empty(N * d), rstd = empty(N), dX = empty(N * d), dGain = empty(d);
a.rmsnormForward(N, d, 1e-5, x, gain, y, rstd, stream);
a.rmsnormBackward(N, d, dOut, x, gain, rstd, dX, dGain, stream);
outs.push(y, rstd, dX, dGain);
const ids = store(Int32Array.from({ length: N }, (_, n) => (n * 31) % 7)), dTable = empty(V * d), dPos = empty(S * d);
a.embeddingBackward(N, V, d, S, ids, dOut, dTable, dPos, stream);
outs.push(dTable, dPos);
const logits = store(f32(N * V, 5)), loss = empty(N), ceLse = empty(N), mean = empty(1), dLogits = empty(N * V);
a.crossEntropyForward(N, V, logits, ids, loss, ceLse, mean, stream);
a.crossEntropyBackward(N, V, 1 / N, logits, ids, ceLse, dLogits, stream);
outs.push(loss, ceLse, mean, dLogits);
stream.synchronizeSync();
const hash = createHash('sha256');
for (const s of outs) hash.update(Buffer.from(s.hostView()));
console.log(hash.digest('hex'));
`;

function digestWith(threads: number): string {
  return execFileSync(process.execPath, ['-e', script, packageRoot], {
    cwd: packageRoot,
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
    encoding: 'utf8',
  }).trim();
}

describe('nn kernels: thread-count independence', () => {
  it('1, 2 and 3 threads give bitwise-identical outputs', () => {
    const one = digestWith(1);
    expect(one).toMatch(/^[0-9a-f]{64}$/);
    expect(digestWith(2)).toBe(one);
    expect(digestWith(3)).toBe(one);
  });
});
