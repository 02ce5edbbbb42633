// One rank's NCCL communicator: the collectives of communicator.h on device memory, queued on a
// CUDA backend stream (its cudaStream_t, from the stream table's native_handle slot) as NCCL's own
// kernels. Unlike the host communicators (local, gloo) nothing runs on a host thread: a call
// returns once NCCL has queued its work.
//
// How the shared contract maps onto NCCL
//  - Order: every rank issues the same collectives in the same order (NCCL's own rule too).
//  - Timeouts, as PyTorch's NCCL watchdog does them: each call records an event before and after
//    its work; a watchdog thread starts the call's clock when the first event completes (the call
//    began running) and, if the second has not completed `timeout_ms` later, aborts every NCCL
//    communicator of this rank (ncclCommAbort: NCCL's kernels stop waiting for the missing peer,
//    so the stream drains) and reports PROPHET_ERR_TIMEOUT on that call's stream (the stream
//    table's report_failure slot), which its next synchronize() returns. An asynchronous NCCL
//    error (ncclCommGetAsyncError: a peer's transport broke) is handled the same way with
//    PROPHET_ERR_COMM. Afterwards the communicator is poisoned, as the host ones are.
//  - Subsets (broadcast, reduce): one NCCL communicator per member list, made with ncclCommSplit
//    (NCCL >= 2.18) the first time the list is used and cached. The split is collective over all
//    ranks, so non-members call too (with NCCL_SPLIT_NOCOLOR); it blocks the calling thread until
//    every rank has reached it. Without ncclCommSplit, subset calls fail with UNSUPPORTED unless
//    the subset is every rank.
//  - Reductions are NCCL's (ring or tree order): identical on every rank and run to run for one
//    configuration, but not the host backends' ascending-rank order, so results may differ from
//    them in the last bits.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../core/backend.h"
#include "communicator.h"
#include "nccl_loader.h"

namespace prophet::comm {

// Where a collective runs: a stream of the CUDA backend, kept alive by `keepalive` until the
// watchdog has seen the call finish.
struct NcclLaunch {
  prophet_stream_t stream = nullptr;
  std::shared_ptr<void> keepalive;
  Call call;
};

class NcclCommunicator {
 public:
  // Takes ownership of `comm` (ncclCommInitRank's result for `rank` of `size` on CUDA `device`).
  NcclCommunicator(const NcclApi &api, const prophet_backend_i *backend, ncclComm_t comm, int rank,
                   int size, int device);
  // Waits (bounded by the calls' timeouts) until queued calls have finished, then destroys the
  // NCCL communicators and stops the watchdog.
  ~NcclCommunicator();
  NcclCommunicator(const NcclCommunicator &) = delete;
  NcclCommunicator &operator=(const NcclCommunicator &) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int device() const { return device_; }
  uint64_t next_sequence() { return next_seq_++; }

  // Device pointers throughout; sizes in bytes unless named count. See communicator.h.
  Status all_to_all_v(const NcclLaunch &launch, const void *send, void *recv,
                      const AllToAllVLayout &layout);
  Status all_gather(const NcclLaunch &launch, const void *send, size_t bytes, void *recv);
  // Every rank calls these two (non-members too: a first use of a member list splits).
  Status broadcast(const NcclLaunch &launch, void *data, size_t bytes, const Subset &subset);
  Status reduce_sum_f32(const NcclLaunch &launch, float *data, size_t count, const Subset &subset);
  Status all_reduce_sum_f32(const NcclLaunch &launch, float *data, size_t count);
  Status barrier(const NcclLaunch &launch);

 private:
  // One queued call the watchdog follows.
  struct Pending {
    prophet_event_t started = nullptr;
    prophet_event_t finished = nullptr;
    prophet_stream_t stream = nullptr;
    std::shared_ptr<void> keepalive;
    std::string what;  // "allToAllV #7"
    int timeout_ms = 0;
    bool running = false;
    std::chrono::steady_clock::time_point deadline;
  };

  // The checks and set-up every call shares: not poisoned, the stream's cudaStream_t, this
  // rank's device current, the `started` event recorded. Fills `pending`.
  Status begin(const NcclLaunch &launch, const char *collective, Pending *pending,
               void **cuda_stream);
  // Records `finished` and hands the call to the watchdog; or, when `queued` failed, poisons.
  Status finish(Pending pending, const Status &queued);
  // The communicator of `subset` (the whole one, or a cached split; NULL for a non-member).
  Status subset_comm(const Subset &subset, const char *what, ncclComm_t *out);
  Status nccl_failure(const std::string &what, const char *call, ncclResult_t result);
  void poison_locked(const std::string &message);
  void release_events(Pending *pending);
  void watch();
  // Aborts every NCCL communicator and fails every pending call's stream. Holds mutex_.
  void abort_locked(prophet_status_t status, const std::string &message, size_t culprit);

  const NcclApi &api_;
  const prophet_backend_i *const backend_;
  ncclComm_t comm_;
  const int rank_;
  const int size_;
  const int device_;
  uint64_t next_seq_ = 0;  // enqueue order; JS calls come from one thread
  prophet_buffer_t barrier_scratch_ = nullptr;  // one float, all-reduced by barrier()

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Pending> pending_;
  std::map<std::vector<int>, ncclComm_t> subsets_;  // member list -> split (NULL: not a member)
  std::string poisoned_;                            // first failure; empty while healthy
  bool aborted_ = false;  // ncclCommAbort freed every NCCL communicator: nothing to destroy
  bool stopping_ = false;
  std::thread watchdog_;
};

}  // namespace prophet::comm
