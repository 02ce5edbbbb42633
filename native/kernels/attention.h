// Per-row math of fused causal attention, shared by the CPU backend and CUDA. A query row sees
// keys 0..i of its sequence; `stride` is the distance in floats between the same head of two
// consecutive tokens (3·H·dh in the packed qkv buffer, H·dh in out/d_out). Sums over keys run in
// key order and sums over features in feature order, so every backend rounds the same way.
#pragma once

#include <math.h>
#include <stdint.h>

#include "common.h"

namespace prophet::kernels {

// a . b over one head in a fixed order: four partial sums (lane l takes features l, l + 4, ...)
// combined as (s0 + s1) + (s2 + s3), then the tail in order. The lanes are independent, so the
// host build keeps them in one SSE register (GCC vector extension; a single running sum cannot
// be vectorised without reordering it, ~2.5x slower at dh = 32); device code runs the same
// lanes as scalars, so both round alike.
PROPHET_HD float dot_dh(const float *a, const float *b, int64_t head_dim) {
  int64_t c = 0;
#if defined(__CUDA_ARCH__)
  float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
  for (; c + 4 <= head_dim; c += 4) {
    s0 += a[c] * b[c];
    s1 += a[c + 1] * b[c + 1];
    s2 += a[c + 2] * b[c + 2];
    s3 += a[c + 3] * b[c + 3];
  }
#else
  typedef float lanes4 __attribute__((vector_size(16)));
  lanes4 acc = {0.0f, 0.0f, 0.0f, 0.0f};
  for (; c + 4 <= head_dim; c += 4) {
    lanes4 x, y;
    __builtin_memcpy(&x, a + c, sizeof x);  // unaligned loads: head rows need not be 16-aligned
    __builtin_memcpy(&y, b + c, sizeof y);
    acc += x * y;
  }
  const float s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
#endif
  float sum = (s0 + s1) + (s2 + s3);
  for (; c < head_dim; ++c) sum += a[c] * b[c];
  return sum;
}

// Flash-style forward of query i: one pass over keys 0..i with a running maximum m, running sum
// l and an unnormalised accumulator (rescaled by exp(m_old - m_new) when the maximum grows), so
// the S scores are never stored. out[dh] = sum_j p_j v_j; returns lse = m + log l.
PROPHET_HD float attention_row(const float *q, const float *k0, const float *v0, int64_t stride,
                               int64_t num_keys, int64_t head_dim, float scale, float *out) {
  float m = -INFINITY, l = 0.0f;
  for (int64_t c = 0; c < head_dim; ++c) out[c] = 0.0f;
  for (int64_t j = 0; j < num_keys; ++j) {
    const float s = dot_dh(q, k0 + j * stride, head_dim) * scale;
    if (s > m) {
      const float rescale = expf(m - s);  // 0 on the first key (m = -inf)
      l *= rescale;
      for (int64_t c = 0; c < head_dim; ++c) out[c] *= rescale;
      m = s;
    }
    const float p = expf(s - m);
    l += p;
    const float *v = v0 + j * stride;
    for (int64_t c = 0; c < head_dim; ++c) out[c] += p * v[c];
  }
  const float inv_l = 1.0f / l;
  for (int64_t c = 0; c < head_dim; ++c) out[c] *= inv_l;
  return m + logf(l);
}

// dq of query i: dq = scale * sum_{j <= i} p_ij (dO_i . v_j - delta_i) k_j, where
// p_ij = exp(s_ij - lse_i) is recomputed and delta_i = dO_i . O_i (= sum_j p_ij dO_i . v_j).
PROPHET_HD void attention_dq_row(const float *q, const float *k0, const float *v0, int64_t stride,
                                 int64_t num_keys, int64_t head_dim, float scale, float lse,
                                 const float *d_out, float delta, float *dq) {
  for (int64_t c = 0; c < head_dim; ++c) dq[c] = 0.0f;
  for (int64_t j = 0; j < num_keys; ++j) {
    const float p = expf(dot_dh(q, k0 + j * stride, head_dim) * scale - lse);
    const float ds = p * (dot_dh(d_out, v0 + j * stride, head_dim) - delta);
    const float *k = k0 + j * stride;
    for (int64_t c = 0; c < head_dim; ++c) dq[c] += ds * k[c];
  }
  for (int64_t c = 0; c < head_dim; ++c) dq[c] *= scale;
}

// dk and dv of key j over the queries i = j..S-1 that see it (in query order):
// dv = sum_i p_ij dO_i, dk = scale * sum_i p_ij (dO_i . v_j - delta_i) q_i. q0/d_out0 point at
// query j; lse and delta at query j's entries (consecutive queries are adjacent there).
PROPHET_HD void attention_dkv_row(const float *k, const float *v, const float *q0,
                                  int64_t q_stride, const float *d_out0, int64_t out_stride,
                                  const float *lse, const float *delta, int64_t num_queries,
                                  int64_t head_dim, float scale, float *dk, float *dv) {
  for (int64_t c = 0; c < head_dim; ++c) dk[c] = dv[c] = 0.0f;
  for (int64_t i = 0; i < num_queries; ++i) {
    const float *q = q0 + i * q_stride;
    const float *d_out = d_out0 + i * out_stride;
    const float p = expf(dot_dh(q, k, head_dim) * scale - lse[i]);
    const float ds = p * (dot_dh(d_out, v, head_dim) - delta[i]);
    for (int64_t c = 0; c < head_dim; ++c) {
      dv[c] += p * d_out[c];
      dk[c] += ds * q[c];
    }
  }
  for (int64_t c = 0; c < head_dim; ++c) dk[c] *= scale;
}

}  // namespace prophet::kernels
