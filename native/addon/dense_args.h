// Argument helpers of the dense-kernel bindings (GEMM, expert FFN, optimizers): fp32 tensors as
// device pointers with a size check, numbers, counts, and kernel-family lookup. They guard only
// what could crash the process; TypeScript validates shapes with the project's messages first.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../core/kernels.h"
#include "handles.h"

namespace prophet::addon {

// A Storage argument seen as fp32 elements [offset, offset + count).
struct FloatArg {
  BufferRef buffer;
  float *ptr = nullptr;  // device pointer to element `offset`
};

// Unwraps a Storage, checks it belongs to `backend` and holds (offset + count) floats; throws
// RangeError naming the argument otherwise.
FloatArg arg_floats(const Napi::CallbackInfo &info, size_t index, const char *name,
                    const prophet_backend_i *backend, size_t offset, size_t count);
// As arg_floats for a plain Storage value (an element of an array argument).
FloatArg value_floats(Napi::Env env, const Napi::Value &value, const std::string &name,
                      const prophet_backend_i *backend, size_t offset, size_t count);

// A finite or non-finite Number as float / double; a Boolean.
float arg_float(const Napi::CallbackInfo &info, size_t index, const char *name);
bool arg_bool(const Napi::CallbackInfo &info, size_t index, const char *name);
// An Int32Array copied at call time.
std::vector<int32_t> arg_int32_array(const Napi::CallbackInfo &info, size_t index,
                                     const char *name);

// The kernel family `member` of `backend`, or an Error with code ENOTSUP
// naming the family when the backend lacks it.
template <typename Family>
const Family *kernel_family(Napi::Env env, const prophet_backend_i *backend,
                            const Family *prophet_kernel_i::*member, const char *family) {
  const Family *table = backend->kernel != nullptr ? backend->kernel->*member : nullptr;
  if (table == nullptr) {
    Napi::Error error = Napi::Error::New(env, std::string("backend '") + backend->name +
                                                  "' has no " + family + " kernels");
    error.Set("code", Napi::String::New(env, "ENOTSUP"));
    throw error;
  }
  return table;
}

// a·b, or a RangeError naming `name` when it does not fit in 2^53 (no JS size is larger).
size_t checked_mul(Napi::Env env, size_t a, size_t b, const char *name);
// Elements a row-major matrix of rows × cols with leading dimension ld spans (0 when empty).
size_t matrix_extent(Napi::Env env, size_t rows, size_t cols, size_t ld, const char *name);

// Pins `buffers` until the work queued so far on `stream` has run.
void pin_until_done(const StreamRef &stream, std::vector<BufferRef> buffers);

}  // namespace prophet::addon
