#include "dense_args.h"

#include "args.h"
#include "errors.h"
#include "storage.h"

namespace prophet::addon {

FloatArg value_floats(Napi::Env env, const Napi::Value &value, const std::string &name,
                      const prophet_backend_i *backend, size_t offset, size_t count) {
  AddonData *data = env.GetInstanceData<AddonData>();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(data->storage_ctor.Value())) {
    throw_type_error(env, name, "a Storage");
  }
  BufferRef buffer = Storage::Unwrap(value.As<Napi::Object>())->ref(env);
  require_same_backend(env, backend, buffer->backend, name.c_str());
  const size_t needed = (offset + count) * sizeof(float);
  if (buffer->bytes < needed) {
    throw_range_error(env, name, "needs " + std::to_string(needed) + " bytes but the storage has " +
                                     std::to_string(buffer->bytes));
  }
  auto *base = static_cast<float *>(backend->buffer->device_ptr(buffer->buffer));
  return FloatArg{std::move(buffer), base + offset};
}

FloatArg arg_floats(const Napi::CallbackInfo &info, size_t index, const char *name,
                    const prophet_backend_i *backend, size_t offset, size_t count) {
  return value_floats(info.Env(), info[index], name, backend, offset, count);
}

float arg_float(const Napi::CallbackInfo &info, size_t index, const char *name) {
  if (!info[index].IsNumber()) throw_type_error(info.Env(), name, "a number");
  return static_cast<float>(info[index].As<Napi::Number>().DoubleValue());
}

bool arg_bool(const Napi::CallbackInfo &info, size_t index, const char *name) {
  if (!info[index].IsBoolean()) throw_type_error(info.Env(), name, "a boolean");
  return info[index].As<Napi::Boolean>().Value();
}

std::vector<int32_t> arg_int32_array(const Napi::CallbackInfo &info, size_t index,
                                     const char *name) {
  const Napi::Value value = info[index];
  if (!value.IsTypedArray() ||
      value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw_type_error(info.Env(), name, "an Int32Array");
  }
  Napi::Int32Array array = value.As<Napi::Int32Array>();
  return std::vector<int32_t>(array.Data(), array.Data() + array.ElementLength());
}

size_t checked_mul(Napi::Env env, size_t a, size_t b, const char *name) {
  constexpr size_t kMaxSafe = (size_t{1} << 53) - 1;
  size_t product = 0;
  if (__builtin_mul_overflow(a, b, &product) || product > kMaxSafe) {
    throw_range_error(env, name, "the size overflows 2^53 elements");
  }
  return product;
}

size_t matrix_extent(Napi::Env env, size_t rows, size_t cols, size_t ld, const char *name) {
  if (rows == 0 || cols == 0) return 0;
  return checked_mul(env, rows - 1, ld, name) + cols;
}

void pin_until_done(const StreamRef &stream, std::vector<BufferRef> buffers) {
  auto baton = std::make_unique<Baton>();
  baton->buffers = std::move(buffers);
  release_after(stream, std::move(baton));
}

}  // namespace prophet::addon
