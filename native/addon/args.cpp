#include "args.h"

#include <cmath>

#include "errors.h"
#include "event.h"
#include "storage.h"
#include "stream.h"

namespace prophet::addon {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

template <typename Wrap>
Wrap *unwrap(const Napi::CallbackInfo &info, size_t index, const char *name,
             Napi::FunctionReference AddonData::*ctor, const char *expected) {
  Napi::Env env = info.Env();
  const Napi::Value value = info[index];
  AddonData *data = env.GetInstanceData<AddonData>();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf((data->*ctor).Value())) {
    throw_type_error(env, name, expected);
  }
  return Wrap::Unwrap(value.As<Napi::Object>());
}

}  // namespace

size_t arg_size(const Napi::CallbackInfo &info, size_t index, const char *name) {
  const Napi::Value value = info[index];
  if (!value.IsNumber()) throw_type_error(info.Env(), name, "a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0) || number > kMaxSafeInteger || std::floor(number) != number) {
    throw_range_error(info.Env(), name, "expected a non-negative integer");
  }
  return static_cast<size_t>(number);
}

int arg_int(const Napi::CallbackInfo &info, size_t index, const char *name) {
  const Napi::Value value = info[index];
  if (!value.IsNumber()) throw_type_error(info.Env(), name, "a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (std::floor(number) != number || std::fabs(number) > 2147483647.0) {
    throw_range_error(info.Env(), name, "expected a 32-bit integer");
  }
  return static_cast<int>(number);
}

StreamRef arg_stream(const Napi::CallbackInfo &info, size_t index, const char *name) {
  return unwrap<Stream>(info, index, name, &AddonData::stream_ctor, "a Stream")
      ->ref(info.Env());
}

EventRef arg_event(const Napi::CallbackInfo &info, size_t index, const char *name) {
  return unwrap<Event>(info, index, name, &AddonData::event_ctor, "an Event")->ref(info.Env());
}

BufferRef arg_storage(const Napi::CallbackInfo &info, size_t index, const char *name) {
  return unwrap<Storage>(info, index, name, &AddonData::storage_ctor, "a Storage")
      ->ref(info.Env());
}

}  // namespace prophet::addon
