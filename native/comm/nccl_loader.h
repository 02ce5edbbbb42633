// libnccl.so.2 loaded at run time with dlopen, so that the addon builds and runs without NCCL
// and picks up whichever NCCL the user has (a Python wheel, a system package, NCCL_HOME).
// The declarations below mirror nccl.h for the calls we use; NCCL keeps them ABI-stable in 2.x.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace prophet::comm {

typedef struct ncclComm *ncclComm_t;
typedef int ncclResult_t;        // ncclSuccess = 0
typedef int ncclDataType_t;      // ncclInt8 = 0 ... ncclFloat32 = 7, ncclBfloat16 = 9
typedef int ncclRedOp_t;         // ncclSum = 0
typedef void *cudaStream_t;
struct ncclConfig;               // opaque here: we always pass NULL (default config)

constexpr int kNcclUniqueIdBytes = 128;
struct ncclUniqueId {
  char internal[kNcclUniqueIdBytes];
};

// The entry points, resolved once. Slots marked optional may be NULL.
struct NcclApi {
  std::string path;  // the file actually loaded (resolved through dladdr)
  int version_code;  // ncclGetVersion: 2.30.7 -> 23007
  ncclResult_t (*get_version)(int *version);
  ncclResult_t (*get_unique_id)(ncclUniqueId *id);
  ncclResult_t (*comm_init_rank)(ncclComm_t *comm, int num_ranks, ncclUniqueId id, int rank);
  ncclResult_t (*comm_destroy)(ncclComm_t comm);
  const char *(*get_error_string)(ncclResult_t result);
  ncclResult_t (*send)(const void *buffer, size_t count, ncclDataType_t type, int peer,
                       ncclComm_t comm, cudaStream_t stream);
  ncclResult_t (*recv)(void *buffer, size_t count, ncclDataType_t type, int peer,
                       ncclComm_t comm, cudaStream_t stream);
  ncclResult_t (*group_start)(void);
  ncclResult_t (*group_end)(void);
  ncclResult_t (*broadcast)(const void *send, void *recv, size_t count, ncclDataType_t type,
                            int root, ncclComm_t comm, cudaStream_t stream);
  ncclResult_t (*reduce)(const void *send, void *recv, size_t count, ncclDataType_t type,
                         ncclRedOp_t op, int root, ncclComm_t comm, cudaStream_t stream);
  ncclResult_t (*all_reduce)(const void *send, void *recv, size_t count, ncclDataType_t type,
                             ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream);
  ncclResult_t (*all_gather)(const void *send, void *recv, size_t send_count,
                             ncclDataType_t type, ncclComm_t comm, cudaStream_t stream);
  // (optional, NCCL >= 2.18) subset communicators; without it subsets go point-to-point.
  ncclResult_t (*comm_split)(ncclComm_t comm, int color, int key, ncclComm_t *new_comm,
                             ncclConfig *config);
  // (optional, NCCL >= 2.13) the detailed message of the last failure on this thread.
  const char *(*get_last_error)(ncclComm_t comm);
  // (optional) tears a communicator down without waiting for peers.
  ncclResult_t (*comm_abort)(ncclComm_t comm);
  // (optional, NCCL >= 2.4) an error found by NCCL's own threads (a broken connection);
  // ncclInProgress (7) while a nonblocking call is still running.
  ncclResult_t (*comm_get_async_error)(ncclComm_t comm, ncclResult_t *async_error);
  // (optional) the CUDA device a communicator was created on.
  ncclResult_t (*comm_cu_device)(ncclComm_t comm, int *device);
};

// Tries `candidates` in order; an entry without '/' is searched on the default library path.
// Returns the first library that opens and has every required symbol, after which it stays
// loaded for the life of the process (later calls return it whatever the candidates).
// On failure returns NULL and appends "<candidate>: <reason>" to `failures` for each one tried.
const NcclApi *nccl_load(const std::vector<std::string> &candidates,
                         std::vector<std::string> *failures);

// "2.30.7" from a version code (NCCL >= 2.9 uses major*10000+minor*100+patch, older *1000).
std::string nccl_version_string(int code);

// "<NCCL's string for result>[: <last error detail>]" for error messages.
std::string nccl_error_message(const NcclApi &api, ncclResult_t result);

}  // namespace prophet::comm
