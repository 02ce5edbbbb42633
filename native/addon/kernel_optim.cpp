// Bindings of the optimizer family: SGD, AdamW, fill/scale/axpy, sum of squares and clipping
// over Storages, stream-ordered.
#include <napi.h>

#include "../core/kernels_optim.h"
#include "args.h"
#include "dense_args.h"
#include "errors.h"

namespace prophet::addon {
namespace {

const prophet_optim_i *optim_of(Napi::Env env, const StreamRef &stream) {
  return kernel_family(env, stream->backend, &prophet_kernel_i::optim, "optim");
}

// sgd(param, grad, momentumBuf | null, n, lr, momentum, dampening, weightDecay, nesterov,
//     firstStep, stream)
void sgd(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  StreamRef stream = arg_stream(info, 10, "stream");
  const prophet_backend_i *backend = stream->backend;
  const prophet_optim_i *optim = optim_of(env, stream);
  const size_t n = arg_size(info, 3, "n");
  FloatArg param = arg_floats(info, 0, "param", backend, 0, n);
  FloatArg grad = arg_floats(info, 1, "grad", backend, 0, n);
  FloatArg buf;
  if (!info[2].IsNull()) buf = arg_floats(info, 2, "momentumBuffer", backend, 0, n);
  const prophet_sgd_params_t params{
      arg_float(info, 4, "lr"),           arg_float(info, 5, "momentum"),
      arg_float(info, 6, "dampening"),    arg_float(info, 7, "weightDecay"),
      arg_bool(info, 8, "nesterov") ? 1 : 0, arg_bool(info, 9, "firstStep") ? 1 : 0};
  const auto count = static_cast<int64_t>(n);
  check(env, optim->sgd(stream->stream, count, param.ptr, grad.ptr, buf.ptr, &params), backend,
        "sgd");
  pin_until_done(stream, {param.buffer, grad.buffer, buf.buffer});
}

// adamw(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step, stream)
void adamw(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  StreamRef stream = arg_stream(info, 11, "stream");
  const prophet_backend_i *backend = stream->backend;
  const prophet_optim_i *optim = optim_of(env, stream);
  const size_t n = arg_size(info, 4, "n");
  FloatArg param = arg_floats(info, 0, "param", backend, 0, n);
  FloatArg grad = arg_floats(info, 1, "grad", backend, 0, n);
  FloatArg m = arg_floats(info, 2, "m", backend, 0, n);
  FloatArg v = arg_floats(info, 3, "v", backend, 0, n);
  const prophet_adamw_params_t params{
      arg_float(info, 5, "lr"),  arg_float(info, 6, "beta1"),       arg_float(info, 7, "beta2"),
      arg_float(info, 8, "eps"), arg_float(info, 9, "weightDecay"),
      static_cast<int64_t>(arg_size(info, 10, "step"))};
  const auto count = static_cast<int64_t>(n);
  check(env, optim->adamw(stream->stream, count, param.ptr, grad.ptr, m.ptr, v.ptr, &params),
        backend, "adamw");
  pin_until_done(stream, {param.buffer, grad.buffer, m.buffer, v.buffer});
}

// fill(x, n, value, stream)
void fill(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  StreamRef stream = arg_stream(info, 3, "stream");
  const size_t n = arg_size(info, 1, "n");
  FloatArg x = arg_floats(info, 0, "x", stream->backend, 0, n);
  const float value = arg_float(info, 2, "value");
  check(env, optim_of(env, stream)->fill(stream->stream, static_cast<int64_t>(n), x.ptr, value),
        stream->backend, "fill");
  pin_until_done(stream, {x.buffer});
}

// scale(x, n, alpha, stream)
void scale(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  StreamRef stream = arg_stream(info, 3, "stream");
  const size_t n = arg_size(info, 1, "n");
  FloatArg x = arg_floats(info, 0, "x", stream->backend, 0, n);
  const float alpha = arg_float(info, 2, "alpha");
  check(env, optim_of(env, stream)->scale(stream->stream, static_cast<int64_t>(n), x.ptr, alpha),
        stream->backend, "scale");
  pin_until_done(stream, {x.buffer});
}

// axpy(n, alpha, x, y, stream): y += alpha·x
void axpy(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  StreamRef stream = arg_stream(info, 4, "stream");
  const size_t n = arg_size(info, 0, "n");
  FloatArg x = arg_floats(info, 2, "x", stream->backend, 0, n);
  FloatArg y = arg_floats(info, 3, "y", stream->backend, 0, n);
  const float alpha = arg_float(info, 1, "alpha");
  check(env,
        optim_of(env, stream)->axpy(stream->stream, static_cast<int64_t>(n), alpha, x.ptr, y.ptr),
        stream->backend, "axpy");
  pin_until_done(stream, {x.buffer, y.buffer});
}

// A list argument of Storages with their element counts (an Array of Storage and an Array of
// numbers of the same length).
struct StorageList {
  std::vector<BufferRef> buffers;
  std::vector<float *> pointers;
  std::vector<int64_t> sizes;
};

StorageList arg_storage_list(const Napi::CallbackInfo &info, size_t index, const char *name,
                             const prophet_backend_i *backend) {
  Napi::Env env = info.Env();
  if (!info[index].IsArray()) throw_type_error(env, name, "an Array of Storage");
  if (!info[index + 1].IsArray()) throw_type_error(env, "sizes", "an Array of numbers");
  Napi::Array tensors = info[index].As<Napi::Array>(), sizes = info[index + 1].As<Napi::Array>();
  if (tensors.Length() != sizes.Length()) {
    throw_range_error(env, "sizes", "needs one entry per tensor");
  }
  StorageList out;
  for (uint32_t i = 0; i < tensors.Length(); ++i) {
    const std::string item = std::string(name) + "[" + std::to_string(i) + "]";
    const Napi::Value size = sizes.Get(i);
    if (!size.IsNumber() || size.As<Napi::Number>().DoubleValue() < 0) {
      throw_type_error(env, "sizes[" + std::to_string(i) + "]", "a non-negative number");
    }
    const auto count = static_cast<size_t>(size.As<Napi::Number>().Int64Value());
    FloatArg tensor = value_floats(env, tensors.Get(i), item, backend, 0, count);
    out.buffers.push_back(tensor.buffer);
    out.pointers.push_back(tensor.ptr);
    out.sizes.push_back(static_cast<int64_t>(count));
  }
  return out;
}

// sumSquares(tensors, sizes, out, stream): out[0] = Σ tensors², fixed reduction order
void sum_squares(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  StreamRef stream = arg_stream(info, 3, "stream");
  StorageList list = arg_storage_list(info, 0, "tensors", stream->backend);
  FloatArg out = arg_floats(info, 2, "out", stream->backend, 0, 1);
  const auto num_tensors = static_cast<int64_t>(list.sizes.size());
  check(env,
        optim_of(env, stream)->sum_squares(stream->stream, num_tensors, list.pointers.data(),
                                           list.sizes.data(), out.ptr),
        stream->backend, "sumSquares");
  list.buffers.push_back(out.buffer);
  pin_until_done(stream, std::move(list.buffers));
}

// clipByNorm(tensors, sizes, sumSquares, maxNorm, stream)
void clip_by_norm(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  StreamRef stream = arg_stream(info, 4, "stream");
  StorageList list = arg_storage_list(info, 0, "tensors", stream->backend);
  FloatArg sum = arg_floats(info, 2, "sumSquares", stream->backend, 0, 1);
  const auto num_tensors = static_cast<int64_t>(list.sizes.size());
  const float max_norm = arg_float(info, 3, "maxNorm");
  check(env,
        optim_of(env, stream)->clip_by_norm(stream->stream, num_tensors, list.pointers.data(),
                                            list.sizes.data(), sum.ptr, max_norm),
        stream->backend, "clipByNorm");
  list.buffers.push_back(sum.buffer);
  pin_until_done(stream, std::move(list.buffers));
}

}  // namespace

void register_optim(Napi::Env env, Napi::Object exports) {
  exports.Set("sgd", Napi::Function::New<sgd>(env, "sgd"));
  exports.Set("adamw", Napi::Function::New<adamw>(env, "adamw"));
  exports.Set("fill", Napi::Function::New<fill>(env, "fill"));
  exports.Set("scale", Napi::Function::New<scale>(env, "scale"));
  exports.Set("axpy", Napi::Function::New<axpy>(env, "axpy"));
  exports.Set("sumSquares", Napi::Function::New<sum_squares>(env, "sumSquares"));
  exports.Set("clipByNorm", Napi::Function::New<clip_by_norm>(env, "clipByNorm"));
}

}  // namespace prophet::addon
