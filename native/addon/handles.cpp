#include "handles.h"

#include <map>
#include <mutex>

#include "../core/registry.h"
#include "errors.h"

namespace prophet::addon {

HandleCounts &handle_counts(const prophet_backend_i *backend) {
  // Never destroyed: a stream thread may drop the last owner after static destructors ran.
  static auto *counts = new std::map<const prophet_backend_i *, HandleCounts>();
  static auto *mutex = new std::mutex();
  std::lock_guard<std::mutex> lock(*mutex);
  return (*counts)[backend];  // map nodes never move, so the reference stays valid
}

void release_after(const StreamRef &stream, std::unique_ptr<Baton> baton) {
  Baton *raw = baton.release();
  const prophet_status_t status = stream->backend->stream->launch_host_func(
      stream->stream, [](void *data) { delete static_cast<Baton *>(data); }, raw);
  if (status != PROPHET_OK) {
    (void)stream->backend->stream->synchronize(stream->stream);
    delete raw;
  }
}

void require_same_backend(Napi::Env env, const prophet_backend_i *a, const prophet_backend_i *b,
                          const char *argument) {
  if (a != b) {
    throw_type_error(env, argument, std::string("a handle of backend '") + a->name + "'");
  }
}

const prophet_backend_i *backend_by_name(Napi::Env env, const Napi::Value &name,
                                         const char *argument) {
  if (!name.IsString()) throw_type_error(env, argument, "'cpu' or 'cuda'");
  const std::string value = name.As<Napi::String>();
  if (value == "cpu") return prophet::cpu_backend();
  if (value == "cuda") {
    const BackendAvailability &cuda = prophet::cuda_backend();
    if (cuda.backend == nullptr) {
      Napi::Error error = Napi::Error::New(env, "CUDA backend unavailable: " + cuda.reason);
      error.Set("code", Napi::String::New(env, "ECUDA"));
      throw error;
    }
    return cuda.backend;
  }
  throw_range_error(env, argument, "expected 'cpu' or 'cuda' but received '" + value + "'");
}

}  // namespace prophet::addon
