// createProcessGroupNative(options) -> Promise<Communicator>: the Gloo backend's binding, built
// only with Gloo (binding.gyp defines PROPHET_HAVE_GLOO and compiles native/comm/optional/).
#include <napi.h>

#include "../../addon/comm_communicator.h"
#include "../../addon/comm_process_group.h"
#include "../../addon/errors.h"
#include "gloo.h"

namespace prophet::addon {
namespace {

std::string get_string(Napi::Object options, const char *key) {
  Napi::Value v = options.Get(key);
  if (!v.IsString()) throw_type_error(options.Env(), std::string("options.") + key, "a string");
  return v.As<Napi::String>();
}

int get_int(Napi::Object options, const char *key, int min, int max) {
  Napi::Value v = options.Get(key);
  if (!v.IsNumber()) throw_type_error(options.Env(), std::string("options.") + key, "a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != static_cast<int>(d)) {
    throw_range_error(options.Env(), std::string("options.") + key,
                      "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return static_cast<int>(d);
}

// Connecting blocks (store, peers), so it runs off the JS thread.
class ConnectWorker : public Napi::AsyncWorker {
 public:
  ConnectWorker(Napi::Env env, comm::GlooOptions options, Napi::FunctionReference *ctor)
      : Napi::AsyncWorker(env, "prophet:gloo-connect"),
        deferred_(Napi::Promise::Deferred::New(env)),
        options_(std::move(options)),
        ctor_(ctor) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override { status_ = comm::create_gloo_communicator(options_, &comm_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) {
      Napi::Error error = Napi::Error::New(env, status_.message);
      error.Set("code", Napi::String::New(env, status_code(status_.code, "cpu")));
      deferred_.Reject(error.Value());
      return;
    }
    deferred_.Resolve(CommunicatorWrap::Wrap(env, ctor_->Value(), std::move(comm_)));
  }

  void OnError(const Napi::Error &error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  comm::GlooOptions options_;
  Napi::FunctionReference *ctor_;
  comm::Status status_;
  std::shared_ptr<comm::Communicator> comm_;
};

Napi::Value create_process_group(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw_type_error(env, "options", "an object");
  Napi::Object options = info[0].As<Napi::Object>();
  comm::GlooOptions parsed;
  parsed.size = get_int(options, "size", 1, 1 << 20);
  parsed.rank = get_int(options, "rank", 0, parsed.size - 1);
  parsed.store_host = get_string(options, "storeHost");
  parsed.store_port = get_int(options, "storePort", 1, 65535);
  parsed.timeout_ms = get_int(options, "timeoutMs", 1, 2147483647);
  parsed.prefix = get_string(options, "prefix");
  if (!options.Get("hostname").IsUndefined()) parsed.hostname = get_string(options, "hostname");
  auto *worker = new ConnectWorker(env, std::move(parsed),
                                   static_cast<Napi::FunctionReference *>(info.Data()));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace

void register_process_group(Napi::Env env, Napi::Object exports, Napi::FunctionReference *ctor) {
  exports.Set("createProcessGroupNative",
              Napi::Function::New(env, create_process_group, "createProcessGroupNative", ctor));
}

}  // namespace prophet::addon
