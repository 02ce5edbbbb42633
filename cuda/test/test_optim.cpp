// Fused AdamW and SGD (cuda/src/optim.cuh, through libprophet_cuda_testing.so): several steps on
// random parameters, bitwise against the same per-element math (native/kernels/optim.h) run on
// the host, and within fp32 rounding of an independent double-precision formula; f32, bf16 and f16
// gradients (the ABI entries, f32, are compared with the CPU backend in test_abi_optim.cpp).
#include <cmath>
#include <cstdint>

#include "../../native/kernels/optim.h"
#include "dtype.h"
#include "harness.h"

extern "C" prophet_status_t prophet_cuda_testing_adamw(
    int64_t n, prophet_buffer_t params, prophet_buffer_t grads, int grad_dtype, prophet_buffer_t m,
    prophet_buffer_t v, float lr, float beta1, float beta2, float eps, float weight_decay,
    int64_t step, prophet_stream_t stream);
extern "C" prophet_status_t prophet_cuda_testing_sgd(
    int64_t n, prophet_buffer_t params, prophet_buffer_t grads, int grad_dtype,
    prophet_buffer_t momentum_buffer, float lr, float momentum, float weight_decay, int first_step,
    prophet_stream_t stream);

namespace prophet::test {
namespace {

void test_adamw(const Env &env, int dtype) {
  const Side &gpu = env.gpu;
  const int64_t n = 10007;  // not a multiple of the block size
  Rng rng(31);
  std::vector<float> params = rng.normals(n), m(n, 0.0f), v(n, 0.0f);
  std::vector<double> p64(params.begin(), params.end()), m64(n, 0.0), v64(n, 0.0);
  const Buf dp = upload(gpu, params), dm = upload(gpu, m), dv = upload(gpu, v);
  const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f;
  const std::string name = std::string("adamw ") + kDtypeNames[dtype];
  for (int64_t step = 1; step <= 3; ++step) {
    const std::vector<float> grads = decode(encode(rng.normals(n), dtype), dtype);
    const Buf dg = upload(gpu, encode(grads, dtype));
    if (!ok(gpu, prophet_cuda_testing_adamw(n, dp.get(), dg.get(), dtype, dm.get(), dv.get(), lr, b1, b2,
                                            eps, wd, step, gpu.stream), name)) {
      return;
    }
    const kernels::AdamwCoeffs hp = kernels::adamw_coeffs(lr, b1, b2, eps, wd, step);
    for (int64_t i = 0; i < n; ++i) {
      kernels::adamw_update(&params[i], grads[i], &m[i], &v[i], hp);
      const double g = grads[i];
      p64[i] -= double(lr) * wd * p64[i];
      m64[i] = b1 * m64[i] + (1 - double(b1)) * g;
      v64[i] = b2 * v64[i] + (1 - double(b2)) * g * g;
      p64[i] -= lr * (m64[i] / (1 - std::pow(double(b1), double(step)))) /
                (std::sqrt(v64[i] / (1 - std::pow(double(b2), double(step)))) + eps);
    }
  }
  ok(gpu, gpu.backend->stream->synchronize(gpu.stream), name + " sync");
  expect_bitwise(params, download<float>(gpu, dp, n), name + " params vs the same math on the host");
  expect_bitwise(m, download<float>(gpu, dm, n), name + " m");
  expect_bitwise(v, download<float>(gpu, dv, n), name + " v");
  expect_close(std::vector<float>(p64.begin(), p64.end()), download<float>(gpu, dp, n), 1e-5, 1e-6,
               name + " params vs double formula");
}

void test_sgd(const Env &env, float momentum) {
  const Side &gpu = env.gpu;
  const int64_t n = 4099;
  Rng rng(37);
  std::vector<float> params = rng.normals(n), buf(n, 0.0f);
  const Buf dp = upload(gpu, params), dbuf = upload(gpu, buf);
  const float lr = 0.05f, wd = 1e-4f;
  const std::string name = "sgd momentum " + std::to_string(momentum);
  for (int step = 0; step < 3; ++step) {
    const std::vector<float> grads = rng.normals(n);
    const Buf dg = upload(gpu, grads);
    if (!ok(gpu, prophet_cuda_testing_sgd(n, dp.get(), dg.get(), kF32, momentum != 0 ? dbuf.get() : nullptr,
                                          lr, momentum, wd, step == 0, gpu.stream), name)) {
      return;
    }
    const kernels::SgdCoeffs hp{lr, momentum, 0.0f, wd, false, step == 0};
    for (int64_t i = 0; i < n; ++i) kernels::sgd_update(&params[i], grads[i], &buf[i], hp);
  }
  ok(gpu, gpu.backend->stream->synchronize(gpu.stream), name + " sync");
  expect_bitwise(params, download<float>(gpu, dp, n), name + " params");
  if (momentum != 0) expect_bitwise(buf, download<float>(gpu, dbuf, n), name + " momentum buffer");
}

}  // namespace

void test_optim(const Env &env) {
  test_adamw(env, kF32);
  test_adamw(env, kBF16);
  test_adamw(env, kF16);
  test_sgd(env, 0.9f);
  test_sgd(env, 0.0f);
  const Buf small = alloc(env.gpu, 8);
  expect(prophet_cuda_testing_adamw(4, small.get(), small.get(), kF32, small.get(), small.get(), 1e-3f, 0.9f,
                                    0.999f, 1e-8f, 0.0f, 1, env.gpu.stream) == PROPHET_ERR_INVALID &&
             std::string(env.gpu.backend->last_error()) == "adamw: params holds 8 bytes, needs 16",
         "adamw arguments", std::string("too small params: ") + env.gpu.backend->last_error());
}

}  // namespace prophet::test
