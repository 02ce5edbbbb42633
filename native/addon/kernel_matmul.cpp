// Binding of the GEMM family: matmul over Storages, stream-ordered (the ABI entry
// prophet_gemm_i.sgemm).
#include <napi.h>

#include "../core/kernels_gemm.h"
#include "args.h"
#include "dense_args.h"
#include "errors.h"

namespace prophet::addon {
namespace {

// matmul(a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc, transA, transB, m, n, k, alpha, beta,
//       stream): C = alpha·op(A)·op(B) + beta·C, offsets and leading dimensions in elements.
void matmul(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  StreamRef stream = arg_stream(info, 16, "stream");
  const prophet_backend_i *backend = stream->backend;
  const prophet_gemm_i *gemm = kernel_family(env, backend, &prophet_kernel_i::gemm, "gemm");
  const bool trans_a = arg_bool(info, 9, "transA"), trans_b = arg_bool(info, 10, "transB");
  const size_t m = arg_size(info, 11, "m"), n = arg_size(info, 12, "n");
  const size_t k = arg_size(info, 13, "k");
  const size_t lda = arg_size(info, 2, "lda"), ldb = arg_size(info, 5, "ldb");
  const size_t ldc = arg_size(info, 8, "ldc");
  const size_t a_extent = matrix_extent(env, trans_a ? k : m, trans_a ? m : k, lda, "a");
  const size_t b_extent = matrix_extent(env, trans_b ? n : k, trans_b ? k : n, ldb, "b");
  const size_t c_extent = matrix_extent(env, m, n, ldc, "c");
  FloatArg a = arg_floats(info, 0, "a", backend, arg_size(info, 1, "aOffset"), a_extent);
  FloatArg b = arg_floats(info, 3, "b", backend, arg_size(info, 4, "bOffset"), b_extent);
  FloatArg c = arg_floats(info, 6, "c", backend, arg_size(info, 7, "cOffset"), c_extent);
  check(env,
        gemm->sgemm(stream->stream, trans_a, trans_b, static_cast<int64_t>(m),
                    static_cast<int64_t>(n), static_cast<int64_t>(k), arg_float(info, 14, "alpha"),
                    a.ptr, static_cast<int64_t>(lda), b.ptr, static_cast<int64_t>(ldb),
                    arg_float(info, 15, "beta"), c.ptr, static_cast<int64_t>(ldc)),
        backend, "sgemm");
  pin_until_done(stream, {a.buffer, b.buffer, c.buffer});
}

}  // namespace

void register_matmul(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New<matmul>(env, "matmul"));
}

}  // namespace prophet::addon
