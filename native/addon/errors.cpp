#include "errors.h"

#include <cstring>

namespace prophet::addon {

const char *status_code(prophet_status_t status, const char *backend_name) {
  switch (status) {
    case PROPHET_OK: return "OK";
    case PROPHET_ERR_INVALID: return "EINVAL";
    case PROPHET_ERR_NOMEM: return "ENOMEM";
    case PROPHET_ERR_DEVICE:
      return backend_name != nullptr && std::strcmp(backend_name, "cuda") == 0 ? "ECUDA"
                                                                               : "EDEVICE";
    case PROPHET_ERR_UNSUPPORTED: return "ENOTSUP";
    case PROPHET_ERR_TIMEOUT: return "ETIMEDOUT";
    case PROPHET_ERR_COMM: return "ECOMM";
    case PROPHET_ERR_NOT_READY: return "ENOTREADY";
  }
  return "EUNKNOWN";
}

void throw_type_error(Napi::Env env, const std::string &argument, const std::string &expected) {
  throw Napi::TypeError::New(env, "Expected " + expected + " for " + argument);
}

void throw_range_error(Napi::Env env, const std::string &argument, const std::string &message) {
  throw Napi::RangeError::New(env, "Invalid " + argument + ": " + message);
}

void throw_disposed(Napi::Env env, const char *what) {
  Napi::Error error = Napi::Error::New(env, std::string(what) + " has been disposed");
  error.Set("code", Napi::String::New(env, "EDISPOSED"));
  throw error;
}

Napi::Error status_error(Napi::Env env, prophet_status_t status, const prophet_backend_i *backend,
                         const std::string &op, const std::string &message) {
  const char *name = backend != nullptr ? backend->name : "";
  Napi::Error error = Napi::Error::New(env, op + " failed on " + name + ": " + message);
  error.Set("code", Napi::String::New(env, status_code(status, name)));
  return error;
}

void check(Napi::Env env, prophet_status_t status, const prophet_backend_i *backend,
           const char *op) {
  if (status == PROPHET_OK) return;
  throw status_error(env, status, backend, op, backend->last_error());
}

}  // namespace prophet::addon
