// The ABI's gemm and ffn entries of the CUDA kernel table against the CPU backend's on the same
// inputs (fp32, the ABI's only dtype): every transpose, alpha/beta, padded leading dimensions,
// k = 0, beta = 0 over NaN; the FFN for every activation, plain and gated, with experts without
// rows, one hot expert, one expert and no rows at all, forward and backward (gradients
// accumulated into non-zero values). Sums run in another order on cuBLAS than in the CPU's packed
// GEMM, so results agree within fp32 rounding, not bitwise.
#include <cmath>
#include <cstdint>
#include <limits>

#include "harness.h"

extern "C" int prophet_cuda_testing_has_cublas(void);

namespace prophet::test {
namespace {

const char *const kActNames[] = {"relu", "gelu", "silu"};

prophet_status_t settle(const Side &side, prophet_status_t queued) {
  return queued != PROPHET_OK ? queued : side.backend->stream->synchronize(side.stream);
}

// --- gemm -----------------------------------------------------------------------------------------

struct GemmCase {
  int trans_a, trans_b;
  int64_t m, n, k, pad;  // pad: extra columns in every leading dimension
  float alpha, beta;
};

// C (with its padding) after sgemm on one side.
std::vector<float> run_sgemm(const Side &side, const GemmCase &g, const std::vector<float> &a,
                             const std::vector<float> &b, const std::vector<float> &c,
                             int64_t lda, int64_t ldb, int64_t ldc, const std::string &name) {
  const Buf da = upload(side, a), db = upload(side, b), dc = upload(side, c);
  const prophet_status_t s = side.backend->kernel->gemm->sgemm(
      side.stream, g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, dptr(side, da), lda,
      dptr(side, db), ldb, g.beta, dptr(side, dc), ldc);
  ok(side, settle(side, s), name);
  return download<float>(side, dc, c.size());
}

void check_sgemm(const Env &env, const GemmCase &g, Rng &rng) {
  const int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
  const int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
  const int64_t lda = std::max<int64_t>(1, a_cols + g.pad), ldb = std::max<int64_t>(1, b_cols + g.pad),
                ldc = std::max<int64_t>(1, g.n + g.pad);
  const std::vector<float> a = rng.normals(a_rows * lda), b = rng.normals(b_rows * ldb);
  std::vector<float> c = rng.normals(g.m * ldc);
  if (g.beta == 0.0f) c.assign(c.size(), std::numeric_limits<float>::quiet_NaN());  // never read
  const std::string name = "sgemm " + std::string(g.trans_a ? "T" : "N") + (g.trans_b ? "T" : "N") +
                           " m=" + std::to_string(g.m) + " n=" + std::to_string(g.n) + " k=" +
                           std::to_string(g.k) + " pad=" + std::to_string(g.pad) + " beta=" +
                           std::to_string(g.beta);
  const std::vector<float> want = run_sgemm(env.cpu, g, a, b, c, lda, ldb, ldc, name);
  const std::vector<float> got = run_sgemm(env.gpu, g, a, b, c, lda, ldb, ldc, name);
  // The padding columns of C must be untouched on both sides (NaN stays NaN where beta == 0).
  expect_close(want, got, 1e-5, 1e-5 * std::sqrt(double(g.k) + 1), name);
}

// --- ffn ------------------------------------------------------------------------------------------

struct FfnCase {
  std::vector<int32_t> rows;
  int64_t d, h;
  int act, gated;
};

struct FfnData {
  std::vector<float> x, w1, b1, w2, b2, dy, dw1, db1, dw2, db2;
};

// Forward then backward on one side; outputs in the order of kFfnOutputs.
std::vector<std::vector<float>> run_ffn(const Side &side, const FfnCase &c, const FfnData &in,
                                        const std::string &name) {
  int64_t n = 0;
  for (int32_t r : c.rows) n += r;
  const int64_t h1 = c.gated ? 2 * c.h : c.h;
  const prophet_ffn_shape_t shape{static_cast<int64_t>(c.rows.size()), c.rows.data(), c.d, c.h,
                                  c.act, c.gated};
  const Buf x = upload(side, in.x), w1 = upload(side, in.w1), b1 = upload(side, in.b1),
            w2 = upload(side, in.w2), b2 = upload(side, in.b2), dy = upload(side, in.dy),
            dw1 = upload(side, in.dw1), db1 = upload(side, in.db1), dw2 = upload(side, in.dw2),
            db2 = upload(side, in.db2);
  const Buf pre = alloc(side, n * h1 * 4), act = alloc(side, n * c.h * 4), y = alloc(side, n * c.d * 4),
            dx = alloc(side, n * c.d * 4, 0x7f), dpre = alloc(side, n * h1 * 4, 0x7f);
  const prophet_ffn_i *ffn = side.backend->kernel->ffn;
  ok(side, settle(side, ffn->forward(side.stream, &shape, dptr(side, x), dptr(side, w1), dptr(side, b1),
                                     dptr(side, w2), dptr(side, b2), dptr(side, pre), dptr(side, act),
                                     dptr(side, y))),
     name + " forward");
  ok(side, settle(side, ffn->backward(side.stream, &shape, dptr(side, dy), dptr(side, x), dptr(side, w1),
                                      dptr(side, w2), dptr(side, pre), dptr(side, act), dptr(side, dx),
                                      dptr(side, dpre), dptr(side, dw1), dptr(side, db1),
                                      dptr(side, dw2), dptr(side, db2))),
     name + " backward");
  return {download<float>(side, pre, n * h1),        download<float>(side, act, n * c.h),
          download<float>(side, y, n * c.d),         download<float>(side, dx, n * c.d),
          download<float>(side, dpre, n * h1),       download<float>(side, dw1, in.dw1.size()),
          download<float>(side, db1, in.db1.size()), download<float>(side, dw2, in.dw2.size()),
          download<float>(side, db2, in.db2.size())};
}

const char *const kFfnOutputs[] = {"pre", "act", "y", "dx", "dpre", "dw1 (+=)", "db1 (+=)", "dw2 (+=)", "db2 (+=)"};

void check_ffn(const Env &env, const FfnCase &c, Rng &rng) {
  int64_t n = 0;
  for (int32_t r : c.rows) n += r;
  const int64_t e = static_cast<int64_t>(c.rows.size()), h1 = c.gated ? 2 * c.h : c.h;
  const FfnData in{rng.normals(n * c.d, 0.5f),   rng.normals(e * c.d * h1, 0.3f),
                   rng.normals(e * h1, 0.1f),    rng.normals(e * c.h * c.d, 0.3f),
                   rng.normals(e * c.d, 0.1f),   rng.normals(n * c.d, 0.5f),
                   rng.normals(e * c.d * h1),    rng.normals(e * h1),
                   rng.normals(e * c.h * c.d),   rng.normals(e * c.d)};
  std::string rows;
  for (int32_t r : c.rows) rows += (rows.empty() ? "" : ",") + std::to_string(r);
  const std::string name = std::string("ffn ") + kActNames[c.act] + (c.gated ? " gated" : "") +
                           " rows={" + rows + "} d=" + std::to_string(c.d) + " h=" + std::to_string(c.h);
  const auto want = run_ffn(env.cpu, c, in, name), got = run_ffn(env.gpu, c, in, name);
  for (size_t i = 0; i < want.size(); ++i) {
    expect_close(want[i], got[i], 2e-4, 2e-5, name + " " + kFfnOutputs[i]);
  }
}

}  // namespace

void test_abi_gemm(const Env &env) {
  if (env.gpu.backend->kernel->gemm == nullptr) {
    std::printf("ABI gemm tests skipped: library built without cuBLAS headers\n");
    return;
  }
  Rng rng(41);
  for (int ta : {0, 1}) {
    for (int tb : {0, 1}) {
      check_sgemm(env, {ta, tb, 37, 29, 53, 0, 1.0f, 0.0f}, rng);
      check_sgemm(env, {ta, tb, 37, 29, 53, 3, 1.5f, 0.5f}, rng);
    }
  }
  check_sgemm(env, {0, 0, 130, 70, 300, 1, -0.75f, 1.0f}, rng);  // several cuBLAS tiles
  check_sgemm(env, {0, 0, 9, 7, 0, 2, 1.0f, 0.5f}, rng);         // k = 0: C = beta C
  check_sgemm(env, {0, 1, 9, 7, 0, 0, 1.0f, 0.0f}, rng);         // k = 0, beta = 0: zeros over NaN
  check_sgemm(env, {0, 0, 0, 7, 5, 0, 1.0f, 0.0f}, rng);         // m = 0: nothing
  check_sgemm(env, {1, 0, 1, 1, 1, 0, 2.0f, 0.0f}, rng);
}

void test_abi_ffn(const Env &env) {
  if (env.gpu.backend->kernel->ffn == nullptr) {
    std::printf("ABI ffn tests skipped: library built without cuBLAS headers\n");
    return;
  }
  Rng rng(43);
  for (int act : {0, 1, 2}) {
    for (int gated : {0, 1}) check_ffn(env, {{5, 0, 17, 33}, 24, 20, act, gated}, rng);
  }
  check_ffn(env, {{0, 0, 0}, 8, 6, 2, 1}, rng);        // T = 0: no rows, gradients unchanged
  check_ffn(env, {{0, 300, 0, 0}, 16, 12, 1, 0}, rng);  // one hot expert
  check_ffn(env, {{129}, 40, 24, 2, 1}, rng);           // one expert, rows past a CPU chunk
  check_ffn(env, {{1, 1, 1, 1, 1, 1, 1, 1}, 8, 4, 0, 1}, rng);
}

}  // namespace prophet::test
