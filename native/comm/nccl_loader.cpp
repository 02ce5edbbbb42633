#include "nccl_loader.h"

#include <dlfcn.h>

#include <memory>
#include <mutex>

namespace prophet::comm {
namespace {

std::mutex g_mutex;
std::unique_ptr<NcclApi> g_api;  // set once, never unloaded: communicators may outlive callers

template <typename Fn>
bool resolve(void *library, const char *name, Fn *slot, bool required, std::string *missing) {
  *slot = reinterpret_cast<Fn>(dlsym(library, name));
  if (*slot == nullptr && required) {
    if (!missing->empty()) *missing += ", ";
    *missing += name;
  }
  return *slot != nullptr || !required;
}

// Resolves every slot; `missing` lists the required symbols that are absent.
void resolve_all(void *library, NcclApi *api, std::string *missing) {
  resolve(library, "ncclGetVersion", &api->get_version, true, missing);
  resolve(library, "ncclGetUniqueId", &api->get_unique_id, true, missing);
  resolve(library, "ncclCommInitRank", &api->comm_init_rank, true, missing);
  resolve(library, "ncclCommDestroy", &api->comm_destroy, true, missing);
  resolve(library, "ncclGetErrorString", &api->get_error_string, true, missing);
  resolve(library, "ncclSend", &api->send, true, missing);
  resolve(library, "ncclRecv", &api->recv, true, missing);
  resolve(library, "ncclGroupStart", &api->group_start, true, missing);
  resolve(library, "ncclGroupEnd", &api->group_end, true, missing);
  resolve(library, "ncclBroadcast", &api->broadcast, true, missing);
  resolve(library, "ncclReduce", &api->reduce, true, missing);
  resolve(library, "ncclAllReduce", &api->all_reduce, true, missing);
  resolve(library, "ncclAllGather", &api->all_gather, true, missing);
  resolve(library, "ncclCommSplit", &api->comm_split, false, missing);
  resolve(library, "ncclGetLastError", &api->get_last_error, false, missing);
  resolve(library, "ncclCommAbort", &api->comm_abort, false, missing);
  resolve(library, "ncclCommGetAsyncError", &api->comm_get_async_error, false, missing);
  resolve(library, "ncclCommCuDevice", &api->comm_cu_device, false, missing);
}

// The file the dynamic linker picked (meaningful for bare names like "libnccl.so.2").
std::string loaded_path(void *symbol, const std::string &fallback) {
  Dl_info info{};
  if (dladdr(symbol, &info) != 0 && info.dli_fname != nullptr) return info.dli_fname;
  return fallback;
}

// One candidate: dlopen, symbols, version. Returns NULL with `reason` set on failure.
std::unique_ptr<NcclApi> try_load(const std::string &candidate, std::string *reason) {
  void *library = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char *error = dlerror();
    *reason = error != nullptr ? error : "dlopen failed";
    return nullptr;
  }
  auto api = std::make_unique<NcclApi>();
  std::string missing;
  resolve_all(library, api.get(), &missing);
  if (!missing.empty()) {
    *reason = "not an NCCL 2 library: missing " + missing;
    dlclose(library);
    return nullptr;
  }
  if (api->get_version(&api->version_code) != 0 || api->version_code < 20000) {
    *reason = "ncclGetVersion failed or reported an NCCL older than 2.0";
    dlclose(library);
    return nullptr;
  }
  api->path = loaded_path(reinterpret_cast<void *>(api->get_version), candidate);
  return api;
}

}  // namespace

const NcclApi *nccl_load(const std::vector<std::string> &candidates,
                         std::vector<std::string> *failures) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_api) return g_api.get();
  for (const std::string &candidate : candidates) {
    std::string reason;
    std::unique_ptr<NcclApi> api = try_load(candidate, &reason);
    if (api) {
      g_api = std::move(api);
      return g_api.get();
    }
    failures->push_back(candidate + ": " + reason);
  }
  return nullptr;
}

std::string nccl_version_string(int code) {
  const bool modern = code >= 10000;  // 2.9 switched from *1000 to *10000 for the major
  const int major = modern ? code / 10000 : code / 1000;
  const int minor = modern ? (code % 10000) / 100 : (code % 1000) / 100;
  const int patch = code % 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::string nccl_error_message(const NcclApi &api, ncclResult_t result) {
  std::string message = api.get_error_string(result);
  if (api.get_last_error != nullptr) {
    const char *detail = api.get_last_error(nullptr);
    if (detail != nullptr && detail[0] != '\0') message += std::string(": ") + detail;
  }
  return message;
}

}  // namespace prophet::comm
