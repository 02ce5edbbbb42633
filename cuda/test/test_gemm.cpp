// Grouped expert GEMMs (cuda/src/grouped_gemm.h, through libprophet_cuda_testing.so) against a
// double-precision reference, and their TFLOP/s next to one dense cuBLAS GEMM of the same total
// size (the "cuBLAS peak for the same dtype"). Inputs are multiples of 1/4 in [-2, 2]: exact in
// bf16 and f16, and every product sum is exact in fp32, so f32 and f16 results must equal the
// reference exactly and bf16 ones within bf16's output rounding.
#include <cstdint>

#include "dtype.h"
#include "harness.h"

extern "C" int prophet_cuda_testing_has_cublas(void);
extern "C" prophet_status_t prophet_cuda_testing_grouped_gemm(
    int which, int64_t num_experts, const int64_t *rows_per_expert, int64_t k, int64_t n,
    int dtype, prophet_buffer_t a, prophet_buffer_t b, prophet_buffer_t c, int accumulate,
    prophet_stream_t stream);

namespace prophet::test {
namespace {

enum Entry { kForward = 0, kBackwardInput = 1, kBackwardWeight = 2 };

std::vector<float> quarters(Rng &rng, size_t n) {
  std::vector<float> v(n);
  for (float &x : v) x = float(int(rng.next() % 17) - 8) / 4.0f;
  return v;
}

// Row-major reference of the three entries, expert by expert, in double.
std::vector<float> reference(int which, const std::vector<int64_t> &rows, int64_t k, int64_t n,
                             const std::vector<float> &a, const std::vector<float> &b,
                             const std::vector<float> &c_in, bool accumulate) {
  int64_t R = 0;
  for (int64_t r : rows) R += r;
  const int64_t E = static_cast<int64_t>(rows.size());
  std::vector<float> out = which == kForward ? std::vector<float>(R * n)
                           : which == kBackwardInput ? std::vector<float>(R * k)
                                                     : c_in;
  int64_t first = 0;
  for (int64_t e = 0; e < E; ++e) {
    const float *w = b.data() + e * k * n;  // forward, backward_input: b = w
    for (int64_t i = 0; which != kBackwardWeight && i < rows[e]; ++i) {
      const int64_t row = first + i;
      if (which == kForward) {  // y[row, j] = sum_p x[row, p] w[p, j]
        for (int64_t j = 0; j < n; ++j) {
          double sum = 0;
          for (int64_t p = 0; p < k; ++p) sum += double(a[row * k + p]) * w[p * n + j];
          out[row * n + j] = float(sum);
        }
      } else {  // dx[row, p] = sum_j dy[row, j] w[p, j]
        for (int64_t p = 0; p < k; ++p) {
          double sum = 0;
          for (int64_t j = 0; j < n; ++j) sum += double(a[row * n + j]) * w[p * n + j];
          out[row * k + p] = float(sum);
        }
      }
    }
    if (which == kBackwardWeight) {  // dw[e, p, j] (+)= sum_rows x[row, p] dy[row, j]
      for (int64_t p = 0; p < k; ++p) {
        for (int64_t j = 0; j < n; ++j) {
          double sum = accumulate ? c_in[(e * k + p) * n + j] : 0.0;
          for (int64_t i = 0; i < rows[e]; ++i) sum += double(a[(first + i) * k + p]) * b[(first + i) * n + j];
          out[(e * k + p) * n + j] = float(sum);
        }
      }
    }
    first += rows[e];
  }
  return out;
}

void check_entry(const Env &env, int which, int dtype, const std::vector<int64_t> &rows, int64_t k,
                 int64_t n, bool accumulate, Rng &rng) {
  const Side &gpu = env.gpu;
  int64_t R = 0;
  for (int64_t r : rows) R += r;
  const int64_t E = static_cast<int64_t>(rows.size());
  const int64_t a_count = which == kBackwardInput ? R * n : R * k;
  const int64_t b_count = which == kBackwardWeight ? R * n : E * k * n;
  const int64_t c_count = which == kForward ? R * n : which == kBackwardInput ? R * k : E * k * n;
  const std::vector<float> a = quarters(rng, a_count), b = quarters(rng, b_count),
                           c = quarters(rng, c_count);
  const std::vector<float> expected = reference(which, rows, k, n, a, b, c, accumulate);
  const Buf da = upload(gpu, encode(a, dtype)), db = upload(gpu, encode(b, dtype)),
            dc = upload(gpu, encode(c, dtype));
  const std::string name = std::string("grouped_gemm ") +
                           (which == kForward ? "forward" : which == kBackwardInput ? "backward_input" : "backward_weight") +
                           (accumulate ? " (accumulate)" : "") + " " + kDtypeNames[dtype] + " E=" + std::to_string(E);
  const prophet_status_t s = prophet_cuda_testing_grouped_gemm(which, E, rows.data(), k, n, dtype, da.get(),
                                                               db.get(), dc.get(), accumulate ? 1 : 0, gpu.stream);
  if (!ok(gpu, s, name) || !ok(gpu, gpu.backend->stream->synchronize(gpu.stream), name + " sync")) return;
  const std::vector<float> got = decode(download<uint8_t>(gpu, dc, c_count * (dtype == kF32 ? 4 : 2)), dtype);
  std::vector<float> wanted = dtype == kF32 ? expected : decode(encode(expected, dtype), dtype);
  if (dtype == kBF16) {
    // fp32 sums rounded once to bf16; the reference rounds the exact sum the same way.
    expect_close(wanted, got, 1.0 / 128.0, 0.0, name);
  } else {
    expect_bitwise(wanted, got, name);
  }
}

void test_grouped_gemm(const Env &env) {
  Rng rng(21);
  const std::vector<int64_t> rows = {5, 0, 17, 33};
  for (int dtype : {kF32, kBF16, kF16}) {
    for (int which : {kForward, kBackwardInput, kBackwardWeight}) {
      check_entry(env, which, dtype, rows, 24, 40, false, rng);
    }
    check_entry(env, kBackwardWeight, dtype, rows, 24, 40, true, rng);
  }
  // No rows at all: forward and backward_input do nothing, backward_weight zeroes dw.
  check_entry(env, kBackwardWeight, kF32, {0, 0, 0}, 8, 8, false, rng);
  check_entry(env, kForward, kF32, {0, 0, 0}, 8, 8, false, rng);
  // A buffer too small is refused at once, naming it.
  const Buf small = alloc(env.gpu, 16);
  const int64_t one[] = {4};
  expect(prophet_cuda_testing_grouped_gemm(kForward, 1, one, 8, 8, kF32, small.get(), small.get(),
                                           small.get(), 0, env.gpu.stream) == PROPHET_ERR_INVALID &&
             std::string(env.gpu.backend->last_error()) ==
                 "grouped_gemm forward: x holds 16 bytes, needs 128",
         "grouped_gemm arguments", std::string("too small x: ") + env.gpu.backend->last_error());
}

// Mean ms of one entry over 10 runs after 2 warm-ups, with timing events.
double time_entry(const Env &env, int which, int dtype, const std::vector<int64_t> &rows, int64_t k,
                  int64_t n, const Buf &a, const Buf &b, const Buf &c) {
  const Side &gpu = env.gpu;
  const prophet_backend_i *be = gpu.backend;
  prophet_event_t start = nullptr, end = nullptr;
  be->event->create(0, PROPHET_EVENT_TIMING, &start);
  be->event->create(0, PROPHET_EVENT_TIMING, &end);
  bool good = true;
  const auto run = [&] {
    good = good && ok(gpu, prophet_cuda_testing_grouped_gemm(which, int64_t(rows.size()), rows.data(), k, n, dtype,
                                                             a.get(), b.get(), c.get(), 0, gpu.stream),
                      "gemm bench");
  };
  for (int i = 0; i < 2; ++i) run();
  be->event->record(start, gpu.stream);
  for (int i = 0; i < 10; ++i) run();
  be->event->record(end, gpu.stream);
  good = good && ok(gpu, be->stream->synchronize(gpu.stream), "gemm bench sync");
  double ms = -1.0;
  if (good) ok(gpu, be->event->elapsed_ms(start, end, &ms), "gemm bench elapsed");
  be->event->destroy(start);
  be->event->destroy(end);
  return good && ms > 0 ? ms / 10.0 : -1.0;
}

void bench_dtype(const Env &env, int dtype, const std::vector<int64_t> &rows, int64_t k, int64_t n) {
  int64_t R = 0;
  for (int64_t r : rows) R += r;
  const int64_t E = static_cast<int64_t>(rows.size());
  const size_t width = dtype == kF32 ? 4 : 2;
  Rng rng(3);
  // A random block tiled over each buffer (random data: zeros would flatter the tensor cores).
  const std::vector<uint8_t> block = encode(quarters(rng, 1 << 20), dtype);
  const auto filled = [&](int64_t count) {
    std::vector<uint8_t> bytes(count * width);
    for (size_t i = 0; i < bytes.size(); i += block.size()) {
      std::memcpy(&bytes[i], block.data(), std::min(block.size(), bytes.size() - i));
    }
    return upload(env.gpu, bytes);
  };
  const Buf x = filled(R * k), w = filled(E * k * n), y = filled(R * n), dx = filled(R * k),
            dw = filled(E * k * n);
  const double flops = 2.0 * double(R) * double(k) * double(n);
  const std::vector<int64_t> dense = {R};
  const char *names[] = {"forward", "backward_input", "backward_weight"};
  for (int which : {kForward, kBackwardInput, kBackwardWeight}) {
    const Buf &a = which == kBackwardInput ? y : x;
    const Buf &b = which == kBackwardWeight ? y : w;
    const Buf &c = which == kForward ? y : which == kBackwardInput ? dx : dw;
    // The dense reference writes only expert 0's block of w/dw: same FLOPs, one GEMM.
    const double grouped_ms = time_entry(env, which, dtype, rows, k, n, a, b, c);
    const double dense_ms = time_entry(env, which, dtype, dense, k, n, a, b, c);
    if (grouped_ms <= 0 || dense_ms <= 0) {
      expect(false, "gemm bench", "timing failed");
      continue;
    }
    std::printf("| grouped GEMM %s %s | E=%lld R=%lld k=%lld n=%lld | %.3f | %.1f | %.1f | %.2f |\n",
                names[which], kDtypeNames[dtype], static_cast<long long>(E), static_cast<long long>(R),
                static_cast<long long>(k), static_cast<long long>(n), grouped_ms,
                flops / (grouped_ms * 1e9), flops / (dense_ms * 1e9), dense_ms / grouped_ms);
  }
}

}  // namespace

void test_gemm(const Env &env) {
  if (prophet_cuda_testing_has_cublas() == 0) {
    std::printf("grouped GEMM tests skipped: library built without cuBLAS headers\n");
    return;
  }
  test_grouped_gemm(env);
}

void run_gemm_benchmarks(const Env &env) {
  if (prophet_cuda_testing_has_cublas() == 0) return;
  std::printf("\ngrouped expert GEMMs vs one dense cuBLAS GEMM of the same total size (same dtype);"
              " 'of dense' = dense time / grouped time\n");
  std::printf("| op | shape | ms | TFLOP/s | dense TFLOP/s | of dense |\n|---|---|---|---|---|---|\n");
  bench_dtype(env, kBF16, {1024, 1536, 2048, 2560, 1536, 3072, 2048, 2560}, 4096, 8192);
  bench_dtype(env, kF32, {512, 768, 1024, 1280, 768, 1536, 1024, 1280}, 2048, 4096);
}

}  // namespace prophet::test
