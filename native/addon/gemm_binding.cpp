#include "gemm_binding.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <string>
#include <utility>

#include "../cpu/gemm.h"
#include "../cpu/gemm/gemm_kernel.h"
#include "args.h"
#include "errors.h"
#include "openblas_bench.h"

namespace prophet::addon {
namespace {

// The unwrapped, checked arguments of a GEMM call: every pointer is valid for its shape and
// stride, so the call cannot read or write outside the arrays.
struct GemmArgs {
  bool trans_a, trans_b;
  int64_t m, n, k;
  float alpha, beta;
  const float *a, *b;
  float *c;
  int64_t lda, ldb, ldc;
};

bool arg_bool(const Napi::CallbackInfo &info, size_t index, const char *name) {
  if (!info[index].IsBoolean()) throw_type_error(info.Env(), name, "a boolean");
  return info[index].As<Napi::Boolean>().Value();
}

float arg_float(const Napi::CallbackInfo &info, size_t index, const char *name) {
  if (!info[index].IsNumber()) throw_type_error(info.Env(), name, "a number");
  return info[index].As<Napi::Number>().FloatValue();
}

// A Float32Array holding a rows x cols matrix with row stride ld (checked against cols first).
float *arg_matrix(const Napi::CallbackInfo &info, size_t index, const char *name,
                  const char *ld_name, int64_t rows, int64_t cols, int64_t ld) {
  Napi::Env env = info.Env();
  const Napi::Value value = info[index];
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw_type_error(env, name, "a Float32Array");
  }
  if (ld < std::max<int64_t>(cols, 1)) {
    throw_range_error(env, ld_name,
                      "expected at least " + std::to_string(std::max<int64_t>(cols, 1)) +
                          " (the row length of " + name + ") but received " + std::to_string(ld));
  }
  Napi::Float32Array array = value.As<Napi::Float32Array>();
  // In double: dimensions up to 2^53 cannot overflow it, and beyond 2^53 elements (where it
  // rounds) no array is long enough anyway.
  const double needed = rows == 0 || cols == 0
                            ? 0.0
                            : static_cast<double>(rows - 1) * static_cast<double>(ld) +
                                  static_cast<double>(cols);
  if (static_cast<double>(array.ElementLength()) < needed) {
    char needed_text[32];
    std::snprintf(needed_text, sizeof needed_text, "%.0f", needed);
    throw_range_error(env, name,
                      std::string("expected at least ") + needed_text + " elements for a [" +
                          std::to_string(rows) + ", " + std::to_string(cols) +
                          "] matrix with row stride " + std::to_string(ld) + " but received " +
                          std::to_string(array.ElementLength()));
  }
  return array.Data();
}

GemmArgs gemm_args(const Napi::CallbackInfo &info) {
  GemmArgs g{};
  g.trans_a = arg_bool(info, 0, "transA");
  g.trans_b = arg_bool(info, 1, "transB");
  g.m = static_cast<int64_t>(arg_size(info, 2, "m"));
  g.n = static_cast<int64_t>(arg_size(info, 3, "n"));
  g.k = static_cast<int64_t>(arg_size(info, 4, "k"));
  g.alpha = arg_float(info, 5, "alpha");
  g.lda = static_cast<int64_t>(arg_size(info, 7, "lda"));
  g.ldb = static_cast<int64_t>(arg_size(info, 9, "ldb"));
  g.beta = arg_float(info, 10, "beta");
  g.ldc = static_cast<int64_t>(arg_size(info, 12, "ldc"));
  // Stored A is [m, k], or [k, m] when transposed; likewise B is [k, n] or [n, k].
  g.a = arg_matrix(info, 6, "a", "lda", g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, g.lda);
  g.b = arg_matrix(info, 8, "b", "ldb", g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, g.ldb);
  g.c = arg_matrix(info, 11, "c", "ldc", g.m, g.n, g.ldc);
  return g;
}

Napi::Value sgemm(const Napi::CallbackInfo &info) {
  const GemmArgs g = gemm_args(info);
  if (info.Length() > 13 && !info[13].IsUndefined()) {
    if (!info[13].IsString()) throw_type_error(info.Env(), "isa", "a string");
    const std::string isa = info[13].As<Napi::String>().Utf8Value();
    const cpu::gemm::KernelInfo *kernel = cpu::gemm::kernel_for_isa(isa.c_str());
    if (kernel == nullptr) {
      throw_range_error(info.Env(), "isa",
                        "expected 'avx512', 'avx2' or 'generic' supported by this processor but "
                        "received '" + isa + "'");
    }
    cpu::gemm::sgemm_packed(*kernel, g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, g.a, g.lda,
                            g.b, g.ldb, g.beta, g.c, g.ldc);
  } else {
    cpu::sgemm(g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, g.c,
               g.ldc);
  }
  return info.Env().Undefined();
}

Napi::Value sgemm_isa(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), cpu::sgemm_isa());
}

Napi::Value openblas_sgemm_binding(const Napi::CallbackInfo &info) {
  const GemmArgs g = gemm_args(info);
  // CBLAS takes int dimensions and strides.
  const std::pair<const char *, int64_t> ints[] = {{"m", g.m},     {"n", g.n},     {"k", g.k},
                                                   {"lda", g.lda}, {"ldb", g.ldb}, {"ldc", g.ldc}};
  for (const auto &[name, value] : ints) {
    if (value > INT_MAX) throw_range_error(info.Env(), name, "expected at most 2147483647");
  }
  const bool ran = openblas_sgemm(g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b,
                                  g.ldb, g.beta, g.c, g.ldc);
  return Napi::Boolean::New(info.Env(), ran);
}

Napi::Value openblas_config_binding(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), openblas_config());
}

}  // namespace

void register_gemm(Napi::Env env, Napi::Object exports) {
  exports.Set("sgemm", Napi::Function::New<sgemm>(env, "sgemm"));
  exports.Set("sgemmIsa", Napi::Function::New<sgemm_isa>(env, "sgemmIsa"));
  exports.Set("openblasSgemm", Napi::Function::New<openblas_sgemm_binding>(env, "openblasSgemm"));
  exports.Set("openblasConfig",
              Napi::Function::New<openblas_config_binding>(env, "openblasConfig"));
}

}  // namespace prophet::addon
