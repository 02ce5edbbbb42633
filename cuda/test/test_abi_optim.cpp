// The ABI's optim entries of the CUDA kernel table against the CPU backend's on the same inputs.
// Both run the per-element math of native/kernels/optim.h with every operation rounded on its own
// (--fmad=false on the device, ISO C++ without FMA contraction on the host), so the element-wise
// entries must agree bit for bit; the sum of squares within fp64 rounding (another grouping).
#include <cmath>
#include <cstdint>
#include <limits>

#include "harness.h"

namespace prophet::test {
namespace {

prophet_status_t settle(const Side &side, prophet_status_t queued) {
  return queued != PROPHET_OK ? queued : side.backend->stream->synchronize(side.stream);
}

// Three steps of SGD with `p` on one side (first_step on the first); returns param and buffer.
std::vector<std::vector<float>> run_sgd(const Side &side, prophet_sgd_params_t p,
                                        const std::vector<float> &param,
                                        const std::vector<std::vector<float>> &grads,
                                        const std::string &name) {
  const Buf dp = upload(side, param), buf = alloc(side, param.size() * 4, 0x7f);
  for (size_t step = 0; step < grads.size(); ++step) {
    const Buf g = upload(side, grads[step]);
    p.first_step = step == 0;
    ok(side, settle(side, side.backend->kernel->optim->sgd(side.stream, int64_t(param.size()), dptr(side, dp),
                                                          dptr(side, g), dptr(side, buf), &p)),
       name);
  }
  return {download<float>(side, dp, param.size()), download<float>(side, buf, param.size())};
}

void check_sgd(const Env &env, const prophet_sgd_params_t &p, const std::string &name, Rng &rng) {
  const int64_t n = 10007;  // not a multiple of any block size
  const std::vector<float> param = rng.normals(n);
  const std::vector<std::vector<float>> grads = {rng.normals(n), rng.normals(n), rng.normals(n)};
  const auto want = run_sgd(env.cpu, p, param, grads, name), got = run_sgd(env.gpu, p, param, grads, name);
  expect_bitwise(want[0], got[0], name + " param");
  if (p.momentum != 0.0f) expect_bitwise(want[1], got[1], name + " momentum buffer");
}

std::vector<std::vector<float>> run_adamw(const Side &side, prophet_adamw_params_t p,
                                          const std::vector<float> &param,
                                          const std::vector<std::vector<float>> &grads) {
  const Buf dp = upload(side, param), m = alloc(side, param.size() * 4), v = alloc(side, param.size() * 4);
  for (size_t step = 0; step < grads.size(); ++step) {
    const Buf g = upload(side, grads[step]);
    p.step = static_cast<int64_t>(step) + 1;
    ok(side, settle(side, side.backend->kernel->optim->adamw(side.stream, int64_t(param.size()), dptr(side, dp),
                                                            dptr(side, g), dptr(side, m), dptr(side, v), &p)),
       "adamw");
  }
  return {download<float>(side, dp, param.size()), download<float>(side, m, param.size()),
          download<float>(side, v, param.size())};
}

void check_adamw(const Env &env, Rng &rng) {
  const int64_t n = 10007;
  const std::vector<float> param = rng.normals(n);
  const std::vector<std::vector<float>> grads = {rng.normals(n), rng.normals(n, 1e-3f), rng.normals(n, 30.0f)};
  const prophet_adamw_params_t p{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1};
  const auto want = run_adamw(env.cpu, p, param, grads), got = run_adamw(env.gpu, p, param, grads);
  const char *names[] = {"adamw param", "adamw m", "adamw v"};
  for (int i = 0; i < 3; ++i) expect_bitwise(want[i], got[i], names[i]);
}

// fill, scale, axpy one after another on one side.
std::vector<float> run_vector_ops(const Side &side, const std::vector<float> &x, const std::vector<float> &y) {
  const prophet_optim_i *o = side.backend->kernel->optim;
  const int64_t n = static_cast<int64_t>(x.size());
  const Buf dx = upload(side, x), dy = upload(side, y), filled = alloc(side, 4 * n);
  ok(side, settle(side, o->fill(side.stream, n / 2, dptr(side, filled), -2.5f)), "fill");
  ok(side, settle(side, o->scale(side.stream, n, dptr(side, dx), 0.37f)), "scale");
  ok(side, settle(side, o->axpy(side.stream, n, -1.3f, dptr(side, dx), dptr(side, dy))), "axpy");
  ok(side, settle(side, o->fill(side.stream, 0, nullptr, 1.0f)), "fill n = 0");
  std::vector<float> out = download<float>(side, dy, n);
  const std::vector<float> f = download<float>(side, filled, n);
  out.insert(out.end(), f.begin(), f.end());
  return out;
}

// The sum of squares of a list (one empty tensor, chunks split across tensors), then a clip of
// the same list by a given sum of squares.
std::vector<float> run_norm_ops(const Side &side, const std::vector<std::vector<float>> &tensors,
                                float clip_sum, float max_norm) {
  const prophet_optim_i *o = side.backend->kernel->optim;
  std::vector<Buf> bufs;
  std::vector<float *> ptrs;
  std::vector<int64_t> sizes;
  for (const auto &t : tensors) {
    bufs.push_back(upload(side, t));
    ptrs.push_back(t.empty() ? nullptr : dptr(side, bufs.back()));
    sizes.push_back(static_cast<int64_t>(t.size()));
  }
  const Buf out = alloc(side, 4), empty_out = alloc(side, 4, 0x7f), sum = upload(side, std::vector<float>{clip_sum});
  const int64_t count = static_cast<int64_t>(ptrs.size());
  ok(side, settle(side, o->sum_squares(side.stream, count, ptrs.data(), sizes.data(), dptr(side, out))),
     "sum_squares");
  ok(side, settle(side, o->sum_squares(side.stream, 0, nullptr, nullptr, dptr(side, empty_out))),
     "sum_squares of no tensors");
  ok(side, settle(side, o->clip_by_norm(side.stream, count, ptrs.data(), sizes.data(), dptr(side, sum), max_norm)),
     "clip_by_norm");
  std::vector<float> result = download<float>(side, out, 1);
  result.push_back(download<float>(side, empty_out, 1)[0]);
  for (size_t t = 0; t < tensors.size(); ++t) {
    const std::vector<float> v = download<float>(side, bufs[t], tensors[t].size());
    result.insert(result.end(), v.begin(), v.end());
  }
  return result;
}

void check_norms(const Env &env, Rng &rng) {
  const std::vector<std::vector<float>> tensors = {rng.normals(10007), {}, rng.normals(3 * 4096 + 5, 4.0f), rng.normals(1)};
  const struct {
    float sum, max_norm;
    const char *what;
  } cases[] = {{1e4f, 1.0f, "clipped"}, {1e-2f, 1.0f, "below the norm: unchanged"},
               {std::numeric_limits<float>::quiet_NaN(), 1.0f, "NaN norm propagates"}};
  for (const auto &c : cases) {
    const std::vector<float> want = run_norm_ops(env.cpu, tensors, c.sum, c.max_norm);
    const std::vector<float> got = run_norm_ops(env.gpu, tensors, c.sum, c.max_norm);
    expect_close({want[0]}, {got[0]}, 1e-6, 0.0, "sum_squares (fp64 chunks, then float)");
    expect_bitwise({want[1]}, {got[1]}, "sum_squares of no tensors is 0");
    expect_close(std::vector<float>(want.begin() + 2, want.end()), std::vector<float>(got.begin() + 2, got.end()),
                 0.0, 0.0, std::string("clip_by_norm ") + c.what);
  }
}

}  // namespace

void test_abi_optim(const Env &env) {
  Rng rng(47);
  check_sgd(env, {0.05f, 0.0f, 0.0f, 0.0f, 0, 1}, "sgd plain", rng);
  check_sgd(env, {0.05f, 0.9f, 0.1f, 1e-4f, 0, 1}, "sgd momentum, dampening, weight decay", rng);
  check_sgd(env, {0.05f, 0.9f, 0.0f, 0.0f, 1, 1}, "sgd nesterov", rng);
  check_adamw(env, rng);
  const std::vector<float> x = rng.normals(10007), y = rng.normals(10007);
  expect_bitwise(run_vector_ops(env.cpu, x, y), run_vector_ops(env.gpu, x, y), "fill, scale, axpy");
  check_norms(env, rng);
}

}  // namespace prophet::test
