// createProcessGroupNative: the multi-process CPU communicator (Gloo over TCP), registered only
// when the addon was built with Gloo (PROPHET_HAVE_GLOO); otherwise the export is absent.
#pragma once

#include <napi.h>

namespace prophet::addon {

// Adds createProcessGroupNative(options) -> Promise<Communicator> to exports when Gloo is built
// in; `ctor` is the Communicator class used to wrap the result.
void register_process_group(Napi::Env env, Napi::Object exports, Napi::FunctionReference *ctor);

}  // namespace prophet::addon
