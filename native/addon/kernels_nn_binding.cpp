// Bindings of the dense-layer kernels (native/core/kernels_nn.h): unwrap, check handles, queue,
// pin the buffers. Shapes and options are validated in src/nn/*.ts.
#include "../core/kernels_nn.h"

#include "args.h"
#include "kernels_binding.h"

namespace prophet::addon {
namespace {

const prophet_nn_i &nn_family(Napi::Env env, const StreamRef &stream) {
  return kernel_family(env, stream, &prophet_kernel_i::nn, "nn");
}

int64_t arg_i64(const Napi::CallbackInfo &info, size_t index, const char *name) {
  return static_cast<int64_t>(arg_size(info, index, name));
}

BufferRef arg_optional_storage(const Napi::CallbackInfo &info, size_t index, const char *name) {
  return info[index].IsNull() ? BufferRef() : arg_storage(info, index, name);
}

// Checks the backend of every buffer, runs `call` and pins the buffers until the work has run.
template <typename Call>
void queue(Napi::Env env, const StreamRef &stream, NamedBuffers buffers, const char *op, Call call) {
  require_backend(env, stream, buffers);
  check(env, call(nn_family(env, stream)), stream->backend, op);
  pin_until_done(stream, buffers);
}

// embeddingForward(numTokens, vocab, dim, numPositions, ids, table, posTable | null, out, stream)
void embedding_forward(const Napi::CallbackInfo &info) {
  const int64_t N = arg_i64(info, 0, "numTokens"), V = arg_i64(info, 1, "vocab");
  const int64_t d = arg_i64(info, 2, "dim"), P = arg_i64(info, 3, "numPositions");
  BufferRef ids = arg_storage(info, 4, "ids"), table = arg_storage(info, 5, "table");
  BufferRef pos = arg_optional_storage(info, 6, "posTable"), out = arg_storage(info, 7, "out");
  StreamRef stream = arg_stream(info, 8, "stream");
  queue(info.Env(), stream, {{"ids", ids}, {"table", table}, {"posTable", pos}, {"out", out}},
        "embedding forward", [&](const prophet_nn_i &nn) {
          return nn.embedding_forward(N, V, d, P, raw(ids), raw(table), raw(pos), raw(out),
                                      stream->stream);
        });
}

// embeddingBackward(numTokens, vocab, dim, numPositions, ids, dOut, dTable, dPos | null, stream)
void embedding_backward(const Napi::CallbackInfo &info) {
  const int64_t N = arg_i64(info, 0, "numTokens"), V = arg_i64(info, 1, "vocab");
  const int64_t d = arg_i64(info, 2, "dim"), P = arg_i64(info, 3, "numPositions");
  BufferRef ids = arg_storage(info, 4, "ids"), d_out = arg_storage(info, 5, "dOut");
  BufferRef d_table = arg_storage(info, 6, "dTable"), d_pos = arg_optional_storage(info, 7, "dPos");
  StreamRef stream = arg_stream(info, 8, "stream");
  queue(info.Env(), stream,
        {{"ids", ids}, {"dOut", d_out}, {"dTable", d_table}, {"dPos", d_pos}},
        "embedding backward", [&](const prophet_nn_i &nn) {
          return nn.embedding_backward(N, V, d, P, raw(ids), raw(d_out), raw(d_table), raw(d_pos),
                                       stream->stream);
        });
}

// rmsnormForward(numRows, dim, eps, x, gain, y, rstd, stream)
void rmsnorm_forward(const Napi::CallbackInfo &info) {
  const int64_t N = arg_i64(info, 0, "numRows"), d = arg_i64(info, 1, "dim");
  const float eps = arg_float(info, 2, "eps");
  BufferRef x = arg_storage(info, 3, "x"), gain = arg_storage(info, 4, "gain");
  BufferRef y = arg_storage(info, 5, "y"), rstd = arg_storage(info, 6, "rstd");
  StreamRef stream = arg_stream(info, 7, "stream");
  queue(info.Env(), stream, {{"x", x}, {"gain", gain}, {"y", y}, {"rstd", rstd}},
        "rmsnorm forward", [&](const prophet_nn_i &nn) {
          return nn.rmsnorm_forward(N, d, eps, raw(x), raw(gain), raw(y), raw(rstd),
                                    stream->stream);
        });
}

// rmsnormBackward(numRows, dim, dY, x, gain, rstd, dX, dGain, stream)
void rmsnorm_backward(const Napi::CallbackInfo &info) {
  const int64_t N = arg_i64(info, 0, "numRows"), d = arg_i64(info, 1, "dim");
  BufferRef d_y = arg_storage(info, 2, "dY"), x = arg_storage(info, 3, "x");
  BufferRef gain = arg_storage(info, 4, "gain"), rstd = arg_storage(info, 5, "rstd");
  BufferRef d_x = arg_storage(info, 6, "dX"), d_gain = arg_storage(info, 7, "dGain");
  StreamRef stream = arg_stream(info, 8, "stream");
  queue(info.Env(), stream,
        {{"dY", d_y}, {"x", x}, {"gain", gain}, {"rstd", rstd}, {"dX", d_x}, {"dGain", d_gain}},
        "rmsnorm backward", [&](const prophet_nn_i &nn) {
          return nn.rmsnorm_backward(N, d, raw(d_y), raw(x), raw(gain), raw(rstd), raw(d_x),
                                     raw(d_gain), stream->stream);
        });
}

prophet_attention_shape_t attention_shape(const Napi::CallbackInfo &info) {
  return {arg_i64(info, 0, "batch"), arg_i64(info, 1, "seq"), arg_i64(info, 2, "heads"),
          arg_i64(info, 3, "headDim")};
}

// attentionForward(batch, seq, heads, headDim, qkv, out, lse, stream)
void attention_forward(const Napi::CallbackInfo &info) {
  const prophet_attention_shape_t shape = attention_shape(info);
  BufferRef qkv = arg_storage(info, 4, "qkv"), out = arg_storage(info, 5, "out");
  BufferRef lse = arg_storage(info, 6, "lse");
  StreamRef stream = arg_stream(info, 7, "stream");
  queue(info.Env(), stream, {{"qkv", qkv}, {"out", out}, {"lse", lse}}, "attention forward",
        [&](const prophet_nn_i &nn) {
          return nn.attention_forward(&shape, raw(qkv), raw(out), raw(lse), stream->stream);
        });
}

// attentionBackward(batch, seq, heads, headDim, qkv, out, lse, dOut, dQkv, stream)
void attention_backward(const Napi::CallbackInfo &info) {
  const prophet_attention_shape_t shape = attention_shape(info);
  BufferRef qkv = arg_storage(info, 4, "qkv"), out = arg_storage(info, 5, "out");
  BufferRef lse = arg_storage(info, 6, "lse"), d_out = arg_storage(info, 7, "dOut");
  BufferRef d_qkv = arg_storage(info, 8, "dQkv");
  StreamRef stream = arg_stream(info, 9, "stream");
  queue(info.Env(), stream,
        {{"qkv", qkv}, {"out", out}, {"lse", lse}, {"dOut", d_out}, {"dQkv", d_qkv}},
        "attention backward", [&](const prophet_nn_i &nn) {
          return nn.attention_backward(&shape, raw(qkv), raw(out), raw(lse), raw(d_out),
                                       raw(d_qkv), stream->stream);
        });
}

// crossEntropyForward(numRows, numClasses, logits, targets, loss, lse, meanLoss, stream)
void cross_entropy_forward(const Napi::CallbackInfo &info) {
  const int64_t N = arg_i64(info, 0, "numRows"), C = arg_i64(info, 1, "numClasses");
  BufferRef logits = arg_storage(info, 2, "logits"), targets = arg_storage(info, 3, "targets");
  BufferRef loss = arg_storage(info, 4, "loss"), lse = arg_storage(info, 5, "lse");
  BufferRef mean_loss = arg_storage(info, 6, "meanLoss");
  StreamRef stream = arg_stream(info, 7, "stream");
  queue(info.Env(), stream,
        {{"logits", logits}, {"targets", targets}, {"loss", loss}, {"lse", lse},
         {"meanLoss", mean_loss}},
        "cross_entropy forward", [&](const prophet_nn_i &nn) {
          return nn.cross_entropy_forward(N, C, raw(logits), raw(targets), raw(loss), raw(lse),
                                          raw(mean_loss), stream->stream);
        });
}

// crossEntropyBackward(numRows, numClasses, scale, logits, targets, lse, dLogits, stream)
void cross_entropy_backward(const Napi::CallbackInfo &info) {
  const int64_t N = arg_i64(info, 0, "numRows"), C = arg_i64(info, 1, "numClasses");
  const float scale = arg_float(info, 2, "scale");
  BufferRef logits = arg_storage(info, 3, "logits"), targets = arg_storage(info, 4, "targets");
  BufferRef lse = arg_storage(info, 5, "lse"), d_logits = arg_storage(info, 6, "dLogits");
  StreamRef stream = arg_stream(info, 7, "stream");
  queue(info.Env(), stream,
        {{"logits", logits}, {"targets", targets}, {"lse", lse}, {"dLogits", d_logits}},
        "cross_entropy backward", [&](const prophet_nn_i &nn) {
          return nn.cross_entropy_backward(N, C, scale, raw(logits), raw(targets), raw(lse),
                                           raw(d_logits), stream->stream);
        });
}

// add(numElements, a, b, out, stream)
void add(const Napi::CallbackInfo &info) {
  const int64_t n = arg_i64(info, 0, "numElements");
  BufferRef a = arg_storage(info, 1, "a"), b = arg_storage(info, 2, "b");
  BufferRef out = arg_storage(info, 3, "out");
  StreamRef stream = arg_stream(info, 4, "stream");
  queue(info.Env(), stream, {{"a", a}, {"b", b}, {"out", out}}, "add",
        [&](const prophet_nn_i &nn) { return nn.add(n, raw(a), raw(b), raw(out), stream->stream); });
}

}  // namespace

void register_nn(Napi::Env env, Napi::Object exports) {
  const std::pair<const char *, Napi::Function> functions[] = {
      {"embeddingForward", Napi::Function::New<embedding_forward>(env, "embeddingForward")},
      {"embeddingBackward", Napi::Function::New<embedding_backward>(env, "embeddingBackward")},
      {"rmsnormForward", Napi::Function::New<rmsnorm_forward>(env, "rmsnormForward")},
      {"rmsnormBackward", Napi::Function::New<rmsnorm_backward>(env, "rmsnormBackward")},
      {"attentionForward", Napi::Function::New<attention_forward>(env, "attentionForward")},
      {"attentionBackward", Napi::Function::New<attention_backward>(env, "attentionBackward")},
      {"crossEntropyForward", Napi::Function::New<cross_entropy_forward>(env, "crossEntropyForward")},
      {"crossEntropyBackward", Napi::Function::New<cross_entropy_backward>(env, "crossEntropyBackward")},
      {"add", Napi::Function::New<add>(env, "add")},
  };
  for (const auto &[name, function] : functions) exports.Set(name, function);
}

}  // namespace prophet::addon
