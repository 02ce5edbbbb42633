// Argument unwrapping for the bindings. TypeScript validates user input first (with messages in
// the project's style); these checks guard only what could crash the process.
#pragma once

#include <napi.h>

#include "handles.h"

namespace prophet::addon {

// Per-environment data: the constructors, so that arguments can be checked with instanceof.
struct AddonData {
  Napi::FunctionReference storage_ctor;
  Napi::FunctionReference stream_ctor;
  Napi::FunctionReference event_ctor;
};

// A non-negative integer Number (up to 2^53) as size_t.
size_t arg_size(const Napi::CallbackInfo &info, size_t index, const char *name);
int arg_int(const Napi::CallbackInfo &info, size_t index, const char *name);
StreamRef arg_stream(const Napi::CallbackInfo &info, size_t index, const char *name);
EventRef arg_event(const Napi::CallbackInfo &info, size_t index, const char *name);
BufferRef arg_storage(const Napi::CallbackInfo &info, size_t index, const char *name);

}  // namespace prophet::addon
