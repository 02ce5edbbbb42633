// Bindings of the expert FFN family: forward and backward over Storages, stream-ordered.
#include <napi.h>

#include "../core/kernels_ffn.h"
#include "args.h"
#include "dense_args.h"
#include "errors.h"

namespace prophet::addon {
namespace {

// The shape arguments every FFN call starts with:
// (rowsPerExpert: Int32Array, dModel, hidden, activation, gated).
struct FfnShape {
  std::vector<int32_t> rows_per_expert;
  prophet_ffn_shape_t shape{};
  size_t num_rows = 0;   // N
  size_t hidden_in = 0;  // H1
  size_t w1_count = 0;   // E·d·H1
  size_t w2_count = 0;   // E·h·d
};

FfnShape arg_ffn_shape(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  FfnShape out;
  out.rows_per_expert = arg_int32_array(info, 0, "rowsPerExpert");
  for (int32_t rows : out.rows_per_expert) {
    if (rows < 0) throw_range_error(env, "rowsPerExpert", "counts must be >= 0");
    out.num_rows += static_cast<size_t>(rows);
  }
  const bool gated = arg_bool(info, 4, "gated");
  out.shape.num_experts = static_cast<int64_t>(out.rows_per_expert.size());
  out.shape.rows_per_expert = out.rows_per_expert.data();
  out.shape.d_model = static_cast<int64_t>(arg_size(info, 1, "dModel"));
  out.shape.hidden = static_cast<int64_t>(arg_size(info, 2, "hidden"));
  out.shape.activation = arg_int(info, 3, "activation");
  out.shape.gated = gated ? 1 : 0;
  out.hidden_in = (gated ? 2 : 1) * static_cast<size_t>(out.shape.hidden);
  const size_t e = out.rows_per_expert.size(), d = static_cast<size_t>(out.shape.d_model);
  out.w1_count = checked_mul(env, checked_mul(env, e, d, "w1"), out.hidden_in, "w1");
  const size_t h = static_cast<size_t>(out.shape.hidden);
  out.w2_count = checked_mul(env, checked_mul(env, e, h, "w2"), d, "w2");
  return out;
}

// ffnForward(rowsPerExpert, dModel, hidden, activation, gated, x, w1, b1, w2, b2, pre, act, y,
//            stream)
void ffn_forward(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  StreamRef stream = arg_stream(info, 13, "stream");
  const prophet_backend_i *backend = stream->backend;
  const prophet_ffn_i *ffn = kernel_family(env, backend, &prophet_kernel_i::ffn, "ffn");
  const FfnShape s = arg_ffn_shape(info);
  const size_t e = s.rows_per_expert.size(), n = s.num_rows, h1 = s.hidden_in;
  const size_t d = static_cast<size_t>(s.shape.d_model), h = static_cast<size_t>(s.shape.hidden);
  FloatArg x = arg_floats(info, 5, "x", backend, 0, checked_mul(env, n, d, "x"));
  FloatArg w1 = arg_floats(info, 6, "w1", backend, 0, s.w1_count);
  FloatArg b1 = arg_floats(info, 7, "b1", backend, 0, checked_mul(env, e, h1, "b1"));
  FloatArg w2 = arg_floats(info, 8, "w2", backend, 0, s.w2_count);
  FloatArg b2 = arg_floats(info, 9, "b2", backend, 0, checked_mul(env, e, d, "b2"));
  FloatArg pre = arg_floats(info, 10, "pre", backend, 0, checked_mul(env, n, h1, "pre"));
  FloatArg act = arg_floats(info, 11, "act", backend, 0, checked_mul(env, n, h, "act"));
  FloatArg y = arg_floats(info, 12, "y", backend, 0, checked_mul(env, n, d, "y"));
  check(env,
        ffn->forward(stream->stream, &s.shape, x.ptr, w1.ptr, b1.ptr, w2.ptr, b2.ptr, pre.ptr,
                     act.ptr, y.ptr),
        backend, "ffn forward");
  pin_until_done(stream, {x.buffer, w1.buffer, b1.buffer, w2.buffer, b2.buffer, pre.buffer,
                          act.buffer, y.buffer});
}

// ffnBackward(rowsPerExpert, dModel, hidden, activation, gated, dy, x, w1, w2, pre, act, dx,
//             dpre, dw1, db1, dw2, db2, stream)
void ffn_backward(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  StreamRef stream = arg_stream(info, 17, "stream");
  const prophet_backend_i *backend = stream->backend;
  const prophet_ffn_i *ffn = kernel_family(env, backend, &prophet_kernel_i::ffn, "ffn");
  const FfnShape s = arg_ffn_shape(info);
  const size_t e = s.rows_per_expert.size(), n = s.num_rows, h1 = s.hidden_in;
  const size_t d = static_cast<size_t>(s.shape.d_model), h = static_cast<size_t>(s.shape.hidden);
  FloatArg dy = arg_floats(info, 5, "dy", backend, 0, checked_mul(env, n, d, "dy"));
  FloatArg x = arg_floats(info, 6, "x", backend, 0, checked_mul(env, n, d, "x"));
  FloatArg w1 = arg_floats(info, 7, "w1", backend, 0, s.w1_count);
  FloatArg w2 = arg_floats(info, 8, "w2", backend, 0, s.w2_count);
  FloatArg pre = arg_floats(info, 9, "pre", backend, 0, checked_mul(env, n, h1, "pre"));
  FloatArg act = arg_floats(info, 10, "act", backend, 0, checked_mul(env, n, h, "act"));
  FloatArg dx = arg_floats(info, 11, "dx", backend, 0, checked_mul(env, n, d, "dx"));
  FloatArg dpre = arg_floats(info, 12, "dpre", backend, 0, checked_mul(env, n, h1, "dpre"));
  FloatArg dw1 = arg_floats(info, 13, "dw1", backend, 0, s.w1_count);
  FloatArg db1 = arg_floats(info, 14, "db1", backend, 0, checked_mul(env, e, h1, "db1"));
  FloatArg dw2 = arg_floats(info, 15, "dw2", backend, 0, s.w2_count);
  FloatArg db2 = arg_floats(info, 16, "db2", backend, 0, checked_mul(env, e, d, "db2"));
  check(env,
        ffn->backward(stream->stream, &s.shape, dy.ptr, x.ptr, w1.ptr, w2.ptr, pre.ptr, act.ptr,
                      dx.ptr, dpre.ptr, dw1.ptr, db1.ptr, dw2.ptr, db2.ptr),
        backend, "ffn backward");
  pin_until_done(stream, {dy.buffer, x.buffer, w1.buffer, w2.buffer, pre.buffer, act.buffer,
                          dx.buffer, dpre.buffer, dw1.buffer, db1.buffer, dw2.buffer, db2.buffer});
}

}  // namespace

void register_ffn(Napi::Env env, Napi::Object exports) {
  exports.Set("ffnForward", Napi::Function::New<ffn_forward>(env, "ffnForward"));
  exports.Set("ffnBackward", Napi::Function::New<ffn_backward>(env, "ffnBackward"));
}

}  // namespace prophet::addon
