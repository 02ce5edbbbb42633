#include "comm_process_group.h"

namespace prophet::addon {

#ifndef PROPHET_HAVE_GLOO
void register_process_group(Napi::Env, Napi::Object, Napi::FunctionReference *) {
  // Built without a multi-process backend: createProcessGroupNative stays absent, and the
  // TypeScript side says how to enable it.
}
#endif

}  // namespace prophet::addon
