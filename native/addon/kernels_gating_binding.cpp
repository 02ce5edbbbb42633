// Bindings of the gating kernels (native/core/kernels_gating.h): unwrap, check handles, queue,
// pin the buffers. Shapes and options are validated in src/kernels/gating.ts.
#include "../core/kernels_gating.h"

#include "args.h"
#include "kernels_binding.h"

namespace prophet::addon {
namespace {

// gatingForward(logits, numTokens, numExperts, k, renormalize, slotOrder, capacity, seed,
//               expertIndex, weight, position, countsPerExpert, numDropped, probs, logsumexp,
//               stream)
void gating_forward(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  prophet_gating_params_t params{};
  params.num_tokens = static_cast<int64_t>(arg_size(info, 1, "numTokens"));
  params.num_experts = static_cast<int64_t>(arg_size(info, 2, "numExperts"));
  params.k = static_cast<int64_t>(arg_size(info, 3, "k"));
  params.renormalize = arg_bool(info, 4, "renormalize") ? 1 : 0;
  params.slot_order = arg_int(info, 5, "slotOrder");
  params.capacity = arg_int(info, 6, "capacity");
  params.seed = static_cast<uint32_t>(arg_size(info, 7, "seed"));
  BufferRef logits = arg_storage(info, 0, "logits");
  BufferRef expert_index = arg_storage(info, 8, "expertIndex");
  BufferRef weight = arg_storage(info, 9, "weight");
  BufferRef position = arg_storage(info, 10, "position");
  BufferRef counts = arg_storage(info, 11, "countsPerExpert");
  BufferRef num_dropped = arg_storage(info, 12, "numDropped");
  BufferRef probs = arg_storage(info, 13, "probs");
  BufferRef logsumexp = arg_storage(info, 14, "logsumexp");
  StreamRef stream = arg_stream(info, 15, "stream");
  const NamedBuffers buffers = {{"logits", logits},       {"expertIndex", expert_index},
                                {"weight", weight},       {"position", position},
                                {"countsPerExpert", counts}, {"numDropped", num_dropped},
                                {"probs", probs},         {"logsumexp", logsumexp}};
  require_backend(env, stream, buffers);
  const auto &gating = kernel_family(env, stream, &prophet_kernel_i::gating, "gating");
  const prophet_gating_outputs_t outputs = {raw(expert_index), raw(weight), raw(position),
                                            raw(counts),       raw(num_dropped), raw(probs),
                                            raw(logsumexp)};
  check(env, gating.forward(&params, raw(logits), &outputs, stream->stream), stream->backend,
        "gating forward");
  pin_until_done(stream, buffers);
}

// gatingAuxLoss(numTokens, numExperts, k, probs, logsumexp, expertIndex, losses, stream)
void gating_aux_loss(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const auto num_tokens = static_cast<int64_t>(arg_size(info, 0, "numTokens"));
  const auto num_experts = static_cast<int64_t>(arg_size(info, 1, "numExperts"));
  const auto k = static_cast<int64_t>(arg_size(info, 2, "k"));
  BufferRef probs = arg_storage(info, 3, "probs");
  BufferRef logsumexp = arg_storage(info, 4, "logsumexp");
  BufferRef expert_index = arg_storage(info, 5, "expertIndex");
  BufferRef losses = arg_storage(info, 6, "losses");
  StreamRef stream = arg_stream(info, 7, "stream");
  const NamedBuffers buffers = {{"probs", probs},
                                {"logsumexp", logsumexp},
                                {"expertIndex", expert_index},
                                {"losses", losses}};
  require_backend(env, stream, buffers);
  const auto &gating = kernel_family(env, stream, &prophet_kernel_i::gating, "gating");
  check(env,
        gating.aux_loss(num_tokens, num_experts, k, raw(probs), raw(logsumexp),
                        raw(expert_index), raw(losses), stream->stream),
        stream->backend, "gating aux_loss");
  pin_until_done(stream, buffers);
}

// gatingBackward(numTokens, numExperts, k, renormalize, auxCoef, zCoef, probs, logsumexp,
//                expertIndex, position, dWeight | null, dLogits, stream)
void gating_backward(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  prophet_gating_backward_params_t params{};
  params.num_tokens = static_cast<int64_t>(arg_size(info, 0, "numTokens"));
  params.num_experts = static_cast<int64_t>(arg_size(info, 1, "numExperts"));
  params.k = static_cast<int64_t>(arg_size(info, 2, "k"));
  params.renormalize = arg_bool(info, 3, "renormalize") ? 1 : 0;
  params.aux_coef = arg_float(info, 4, "auxCoef");
  params.z_coef = arg_float(info, 5, "zCoef");
  BufferRef probs = arg_storage(info, 6, "probs");
  BufferRef logsumexp = arg_storage(info, 7, "logsumexp");
  BufferRef expert_index = arg_storage(info, 8, "expertIndex");
  BufferRef position = arg_storage(info, 9, "position");
  BufferRef d_weight = info[10].IsNull() ? BufferRef() : arg_storage(info, 10, "dWeight");
  BufferRef d_logits = arg_storage(info, 11, "dLogits");
  StreamRef stream = arg_stream(info, 12, "stream");
  const NamedBuffers buffers = {{"probs", probs},       {"logsumexp", logsumexp},
                                {"expertIndex", expert_index}, {"position", position},
                                {"dWeight", d_weight},  {"dLogits", d_logits}};
  require_backend(env, stream, buffers);
  const auto &gating = kernel_family(env, stream, &prophet_kernel_i::gating, "gating");
  check(env,
        gating.backward(&params, raw(probs), raw(logsumexp), raw(expert_index), raw(position),
                        raw(d_weight), raw(d_logits), stream->stream),
        stream->backend, "gating backward");
  pin_until_done(stream, buffers);
}

}  // namespace

void register_gating(Napi::Env env, Napi::Object exports) {
  exports.Set("gatingForward", Napi::Function::New<gating_forward>(env, "gatingForward"));
  exports.Set("gatingAuxLoss", Napi::Function::New<gating_aux_loss>(env, "gatingAuxLoss"));
  exports.Set("gatingBackward", Napi::Function::New<gating_backward>(env, "gatingBackward"));
}

}  // namespace prophet::addon
