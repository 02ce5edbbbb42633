// Error helpers for the bindings: argument errors as TypeError/RangeError naming the argument,
// native failures as Error with a `code` property (EDISPOSED, ECUDA, ECOMM, ETIMEDOUT, ...).
#pragma once

#include <napi.h>

#include <string>

#include "../core/backend.h"

namespace prophet::addon {

// The `code` a native status maps to; `backend_name` picks ECUDA for device errors of CUDA.
const char *status_code(prophet_status_t status, const char *backend_name);

[[noreturn]] void throw_type_error(Napi::Env env, const std::string &argument,
                                   const std::string &expected);
[[noreturn]] void throw_range_error(Napi::Env env, const std::string &argument,
                                    const std::string &message);
[[noreturn]] void throw_disposed(Napi::Env env, const char *what);

// An Error object with message "<op>: <native message>" and the mapped code.
Napi::Error status_error(Napi::Env env, prophet_status_t status, const prophet_backend_i *backend,
                         const std::string &op, const std::string &message);

// Throws status_error when status is not PROPHET_OK, reading the backend's last_error().
void check(Napi::Env env, prophet_status_t status, const prophet_backend_i *backend,
           const char *op);

}  // namespace prophet::addon
