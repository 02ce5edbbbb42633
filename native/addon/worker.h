// Runs a blocking native call off the JS thread and settles a Promise with its status.
#pragma once

#include <napi.h>

#include <functional>
#include <string>

#include "../core/backend.h"

namespace prophet::addon {

// `work` runs on a libuv worker thread and must not touch JS values. The Promise resolves with
// `undefined` or rejects with an Error carrying the mapped code and the backend's message.
Napi::Promise run_async(Napi::Env env, std::string op, const prophet_backend_i *backend,
                        std::function<prophet_status_t()> work);

// As run_async, resolving with the value `make_result` builds on the JS thread after success.
Napi::Promise run_async(Napi::Env env, std::string op, const prophet_backend_i *backend,
                        std::function<prophet_status_t()> work,
                        std::function<Napi::Value(Napi::Env)> make_result);

}  // namespace prophet::addon
