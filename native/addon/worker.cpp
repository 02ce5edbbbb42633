#include "worker.h"

#include "errors.h"

namespace prophet::addon {
namespace {

class StatusWorker : public Napi::AsyncWorker {
 public:
  StatusWorker(Napi::Env env, std::string op, const prophet_backend_i *backend,
               std::function<prophet_status_t()> work,
               std::function<Napi::Value(Napi::Env)> make_result)
      : Napi::AsyncWorker(env, "prophet:worker"),
        deferred_(Napi::Promise::Deferred::New(env)),
        op_(std::move(op)),
        backend_(backend),
        work_(std::move(work)),
        make_result_(std::move(make_result)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    status_ = work_();
    if (status_ != PROPHET_OK) message_ = backend_->last_error();
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (status_ != PROPHET_OK) {
      deferred_.Reject(status_error(env, status_, backend_, op_, message_).Value());
      return;
    }
    deferred_.Resolve(make_result_ ? make_result_(env) : env.Undefined());
  }

  void OnError(const Napi::Error &error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string op_;
  const prophet_backend_i *backend_;
  std::function<prophet_status_t()> work_;
  std::function<Napi::Value(Napi::Env)> make_result_;
  prophet_status_t status_ = PROPHET_OK;
  std::string message_;
};

}  // namespace

Napi::Promise run_async(Napi::Env env, std::string op, const prophet_backend_i *backend,
                        std::function<prophet_status_t()> work) {
  return run_async(env, std::move(op), backend, std::move(work), nullptr);
}

Napi::Promise run_async(Napi::Env env, std::string op, const prophet_backend_i *backend,
                        std::function<prophet_status_t()> work,
                        std::function<Napi::Value(Napi::Env)> make_result) {
  auto *worker = new StatusWorker(env, std::move(op), backend, std::move(work),
                                  std::move(make_result));
  Napi::Promise promise = worker->promise();
  worker->Queue();  // the worker deletes itself after settling
  return promise;
}

}  // namespace prophet::addon
