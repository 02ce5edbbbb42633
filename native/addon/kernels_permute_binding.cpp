// Bindings of the permute kernels (native/core/kernels_permute.h): unwrap, check handles, queue,
// pin the buffers. Shapes are validated in src/kernels/permute.ts.
#include "../core/kernels_permute.h"

#include "args.h"
#include "kernels_binding.h"

namespace prophet::addon {
namespace {

// Every permute binding starts with (numTokens, k, numExperts, numFeatures, numRows,
// expertIndex, position, rowOffsetPerExpert).
constexpr size_t kFirstTensor = 8;

struct PermuteArgs {
  prophet_permute_shape_t shape{};
  BufferRef expert_index, position, row_offset;
  prophet_permute_routing_t routing() const {
    return {expert_index->buffer, position->buffer, row_offset->buffer};
  }
};

PermuteArgs permute_args(const Napi::CallbackInfo &info) {
  PermuteArgs args;
  args.shape.num_tokens = static_cast<int64_t>(arg_size(info, 0, "numTokens"));
  args.shape.k = static_cast<int64_t>(arg_size(info, 1, "k"));
  args.shape.num_experts = static_cast<int64_t>(arg_size(info, 2, "numExperts"));
  args.shape.num_features = static_cast<int64_t>(arg_size(info, 3, "numFeatures"));
  args.shape.num_rows = static_cast<int64_t>(arg_size(info, 4, "numRows"));
  args.expert_index = arg_storage(info, 5, "expertIndex");
  args.position = arg_storage(info, 6, "position");
  args.row_offset = arg_storage(info, 7, "rowOffsetPerExpert");
  return args;
}

const prophet_permute_i &permute_family(Napi::Env env, const StreamRef &stream) {
  return kernel_family(env, stream, &prophet_kernel_i::permute, "permute");
}

// permuteDispatch(...routing, x, out, stream)
void dispatch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  PermuteArgs a = permute_args(info);
  BufferRef x = arg_storage(info, kFirstTensor, "x");
  BufferRef out = arg_storage(info, kFirstTensor + 1, "out");
  StreamRef stream = arg_stream(info, kFirstTensor + 2, "stream");
  const NamedBuffers buffers = {{"expertIndex", a.expert_index}, {"position", a.position},
                                {"rowOffsetPerExpert", a.row_offset}, {"x", x}, {"out", out}};
  require_backend(env, stream, buffers);
  const prophet_permute_routing_t routing = a.routing();
  check(env, permute_family(env, stream).dispatch(&a.shape, &routing, raw(x), raw(out),
                                                  stream->stream),
        stream->backend, "dispatch");
  pin_until_done(stream, buffers);
}

// permuteCombine(...routing, y, weight, out, stream)
void combine(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  PermuteArgs a = permute_args(info);
  BufferRef y = arg_storage(info, kFirstTensor, "y");
  BufferRef weight = arg_storage(info, kFirstTensor + 1, "weight");
  BufferRef out = arg_storage(info, kFirstTensor + 2, "out");
  StreamRef stream = arg_stream(info, kFirstTensor + 3, "stream");
  const NamedBuffers buffers = {{"expertIndex", a.expert_index}, {"position", a.position},
                                {"rowOffsetPerExpert", a.row_offset}, {"y", y},
                                {"weight", weight}, {"out", out}};
  require_backend(env, stream, buffers);
  const prophet_permute_routing_t routing = a.routing();
  check(env, permute_family(env, stream).combine(&a.shape, &routing, raw(y), raw(weight),
                                                 raw(out), stream->stream),
        stream->backend, "combine");
  pin_until_done(stream, buffers);
}

// permuteDispatchBackward(...routing, dOut, dx, stream)
void dispatch_backward(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  PermuteArgs a = permute_args(info);
  BufferRef d_out = arg_storage(info, kFirstTensor, "dOut");
  BufferRef dx = arg_storage(info, kFirstTensor + 1, "dx");
  StreamRef stream = arg_stream(info, kFirstTensor + 2, "stream");
  const NamedBuffers buffers = {{"expertIndex", a.expert_index}, {"position", a.position},
                                {"rowOffsetPerExpert", a.row_offset}, {"dOut", d_out},
                                {"dx", dx}};
  require_backend(env, stream, buffers);
  const prophet_permute_routing_t routing = a.routing();
  check(env, permute_family(env, stream).dispatch_backward(&a.shape, &routing, raw(d_out),
                                                           raw(dx), stream->stream),
        stream->backend, "dispatch backward");
  pin_until_done(stream, buffers);
}

// permuteCombineBackward(...routing, dOut, y, weight, dY, dWeight, stream)
void combine_backward(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  PermuteArgs a = permute_args(info);
  BufferRef d_out = arg_storage(info, kFirstTensor, "dOut");
  BufferRef y = arg_storage(info, kFirstTensor + 1, "y");
  BufferRef weight = arg_storage(info, kFirstTensor + 2, "weight");
  BufferRef d_y = arg_storage(info, kFirstTensor + 3, "dY");
  BufferRef d_weight = arg_storage(info, kFirstTensor + 4, "dWeight");
  StreamRef stream = arg_stream(info, kFirstTensor + 5, "stream");
  const NamedBuffers buffers = {{"expertIndex", a.expert_index}, {"position", a.position},
                                {"rowOffsetPerExpert", a.row_offset}, {"dOut", d_out},
                                {"y", y}, {"weight", weight}, {"dY", d_y}, {"dWeight", d_weight}};
  require_backend(env, stream, buffers);
  const prophet_permute_routing_t routing = a.routing();
  check(env, permute_family(env, stream).combine_backward(&a.shape, &routing, raw(d_out), raw(y),
                                                          raw(weight), raw(d_y), raw(d_weight),
                                                          stream->stream),
        stream->backend, "combine backward");
  pin_until_done(stream, buffers);
}

}  // namespace

void register_permute(Napi::Env env, Napi::Object exports) {
  exports.Set("permuteDispatch", Napi::Function::New<dispatch>(env, "permuteDispatch"));
  exports.Set("permuteCombine", Napi::Function::New<combine>(env, "permuteCombine"));
  exports.Set("permuteDispatchBackward",
              Napi::Function::New<dispatch_backward>(env, "permuteDispatchBackward"));
  exports.Set("permuteCombineBackward",
              Napi::Function::New<combine_backward>(env, "permuteCombineBackward"));
}

}  // namespace prophet::addon
