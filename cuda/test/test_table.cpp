// The CUDA kernel table without a device: which families are wired (gemm and ffn need the cuBLAS
// headers at build time; nn is NULL, which the addon reports as ENOTSUP naming the family), and
// that every wired dense entry refuses bad arguments with exactly the CPU backend's status and
// message (and sizes beyond cuBLAS's ints as unsupported). The checks are the shared ones of native/core/kernel_checks.h and run before the entry
// touches its stream, so the CUDA entries get a stand-in stream handle that is never dereferenced
// (on CI machines no CUDA stream can be created).
#include <functional>

#include "harness.h"

extern "C" int prophet_cuda_testing_has_cublas(void);
extern "C" const prophet_kernel_i *prophet_cuda_testing_kernels(void);
extern "C" const char *prophet_cuda_testing_last_error(void);

namespace prophet::test {
namespace {

// Calls an entry of one table with a stream (NULL when the case is about a NULL stream).
using Call = std::function<prophet_status_t(const prophet_kernel_i &, prophet_stream_t)>;

struct BadCase {
  const char *what;
  bool null_stream;
  Call call;
};

float g_dummy[8];  // a non-NULL pointer for arguments that are not the one under test
float *p() { return g_dummy; }

std::vector<BadCase> gemm_cases() {
  return {
      {"gemm NULL stream", true, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.gemm->sgemm(s, 0, 0, 2, 2, 2, 1.0f, p(), 2, p(), 2, 0.0f, p(), 2); }},
      {"gemm negative m", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.gemm->sgemm(s, 0, 0, -1, 2, 2, 1.0f, p(), 2, p(), 2, 0.0f, p(), 2); }},
      {"gemm lda too small (trans_a)", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.gemm->sgemm(s, 1, 0, 4, 2, 2, 1.0f, p(), 2, p(), 2, 0.0f, p(), 2); }},
      {"gemm ldc too small", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.gemm->sgemm(s, 0, 0, 2, 3, 2, 1.0f, p(), 2, p(), 3, 0.0f, p(), 2); }},
      {"gemm NULL A", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.gemm->sgemm(s, 0, 0, 2, 2, 2, 1.0f, nullptr, 2, p(), 2, 0.0f, p(), 2); }},
  };
}

std::vector<BadCase> ffn_cases() {
  static const int32_t rows[] = {3, -2};
  static const prophet_ffn_shape_t negative{2, rows, 4, 4, 0, 0};
  static const prophet_ffn_shape_t bad_act{1, rows, 4, 4, 7, 0};
  static const prophet_ffn_shape_t no_rows{1, nullptr, 4, 4, 0, 1};
  static const prophet_ffn_shape_t good{1, rows, 4, 4, 2, 1};
  return {
      {"ffn forward NULL stream", true, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.ffn->forward(s, &good, p(), p(), p(), p(), p(), p(), p(), p()); }},
      {"ffn forward NULL shape", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.ffn->forward(s, nullptr, p(), p(), p(), p(), p(), p(), p(), p()); }},
      {"ffn forward negative rows", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.ffn->forward(s, &negative, p(), p(), p(), p(), p(), p(), p(), p()); }},
      {"ffn forward unknown activation", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.ffn->forward(s, &bad_act, p(), p(), p(), p(), p(), p(), p(), p()); }},
      {"ffn forward NULL x", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.ffn->forward(s, &good, nullptr, p(), p(), p(), p(), p(), p(), p()); }},
      {"ffn backward NULL rows_per_expert", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.ffn->backward(s, &no_rows, p(), p(), p(), p(), p(), p(), p(), p(), p(), p(), p(), p()); }},
      {"ffn backward NULL db2", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.ffn->backward(s, &good, p(), p(), p(), p(), p(), p(), p(), p(), p(), p(), p(), nullptr); }},
  };
}

std::vector<BadCase> optim_cases() {
  static const prophet_sgd_params_t nesterov{0.1f, 0.0f, 0.0f, 0.0f, 1, 1};
  static const prophet_sgd_params_t momentum{0.1f, 0.9f, 0.0f, 0.0f, 0, 1};
  static const prophet_adamw_params_t step0{1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0};
  static const prophet_adamw_params_t adam{1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1};
  static float *const tensors[] = {g_dummy, nullptr};
  static const int64_t sizes[] = {4, 3};
  return {
      {"sgd NULL params", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.optim->sgd(s, 4, p(), p(), p(), nullptr); }},
      {"sgd nesterov without momentum", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.optim->sgd(s, 4, p(), p(), p(), &nesterov); }},
      {"sgd NULL momentum buffer", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.optim->sgd(s, 4, p(), p(), nullptr, &momentum); }},
      {"adamw step 0", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.optim->adamw(s, 4, p(), p(), p(), p(), &step0); }},
      {"adamw negative n", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.optim->adamw(s, -1, p(), p(), p(), p(), &adam); }},
      {"fill NULL stream", true, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.optim->fill(s, 4, p(), 0.0f); }},
      {"scale negative n", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.optim->scale(s, -3, p(), 2.0f); }},
      {"axpy NULL y", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.optim->axpy(s, 4, 1.0f, p(), nullptr); }},
      {"sum_squares NULL output", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.optim->sum_squares(s, 1, tensors, sizes, nullptr); }},
      {"sum_squares bad entry", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.optim->sum_squares(s, 2, tensors, sizes, p()); }},
      {"clip_by_norm bad list", false, [](const prophet_kernel_i &k, prophet_stream_t s) {
         return k.optim->clip_by_norm(s, 1, nullptr, sizes, p(), 1.0f); }},
  };
}

void check_cases(const Side &cpu, const prophet_kernel_i &cuda, const std::vector<BadCase> &cases) {
  // Never dereferenced: every case fails in the shared checks, before the stream is used.
  static char stand_in[256];
  prophet_stream_t fake = reinterpret_cast<prophet_stream_t>(stand_in);
  for (const BadCase &c : cases) {
    const prophet_status_t want = c.call(*cpu.backend->kernel, c.null_stream ? nullptr : cpu.stream);
    const std::string want_text = cpu.backend->last_error();
    const prophet_status_t got = c.call(cuda, c.null_stream ? nullptr : fake);
    const std::string got_text = prophet_cuda_testing_last_error();
    expect(want == PROPHET_ERR_INVALID && got == want && got_text == want_text,
           std::string("argument check: ") + c.what,
           "cpu " + std::to_string(want) + " '" + want_text + "', cuda " + std::to_string(got) +
               " '" + got_text + "'");
  }
}

// Valid ABI arguments beyond cuBLAS's 32-bit ints: the CUDA entries refuse them as unsupported,
// naming the entry, before touching the stream (the CPU would run them, so no comparison).
void check_cuda_limits(const prophet_kernel_i &cuda) {
  static char stand_in[256];
  prophet_stream_t fake = reinterpret_cast<prophet_stream_t>(stand_in);
  const int64_t big = int64_t(1) << 31;
  const prophet_status_t gemm = cuda.gemm->sgemm(fake, 0, 0, big, 1, 1, 1.0f, p(), 1, p(), 1, 0.0f, p(), 1);
  const std::string gemm_text = prophet_cuda_testing_last_error();
  expect(gemm == PROPHET_ERR_UNSUPPORTED && gemm_text.rfind("gemm: ", 0) == 0, "cuda limits: sgemm m = 2^31",
         "status " + std::to_string(gemm) + " '" + gemm_text + "'");
  static const int32_t rows[] = {0};
  const prophet_ffn_shape_t shape{1, rows, big, 4, 0, 0};
  const prophet_status_t ffn = cuda.ffn->forward(fake, &shape, nullptr, p(), p(), p(), p(), nullptr, nullptr, nullptr);
  const std::string ffn_text = prophet_cuda_testing_last_error();
  expect(ffn == PROPHET_ERR_UNSUPPORTED && ffn_text.rfind("ffn forward: ", 0) == 0,
         "cuda limits: ffn d_model = 2^31", "status " + std::to_string(ffn) + " '" + ffn_text + "'");
}

}  // namespace

void test_kernel_table(const Side &cpu) {
  const prophet_kernel_i &cuda = *prophet_cuda_testing_kernels();
  const bool cublas = prophet_cuda_testing_has_cublas() != 0;
  expect(cuda.gating != nullptr && cuda.permute != nullptr && cuda.optim != nullptr,
         "kernel table", "gating, permute and optim must be wired");
  expect((cuda.gemm != nullptr) == cublas && (cuda.ffn != nullptr) == cublas, "kernel table",
         std::string("gemm and ffn must be wired exactly when built with cuBLAS headers (") +
             (cublas ? "yes" : "no") + ")");
  expect(cuda.nn == nullptr, "kernel table", "nn has no CUDA kernels yet and must be NULL");
  if (cuda.gemm != nullptr) check_cases(cpu, cuda, gemm_cases());
  if (cuda.ffn != nullptr) check_cases(cpu, cuda, ffn_cases());
  if (cuda.gemm != nullptr && cuda.ffn != nullptr) check_cuda_limits(cuda);
  check_cases(cpu, cuda, optim_cases());
}

}  // namespace prophet::test
