// One rank's NCCL communicator: the collectives of communicator.h on device memory, queued on a
// CUDA backend stream (its cudaStream_t, from the stream table's native_handle slot) as NCCL's own
// kernels. Unlike the host communicators (local, gloo) nothing runs on a host thread: a call
// returns once NCCL has queued its work.
//
// How the shared contract maps onto NCCL
//  - Order: every rank issues the same collectives in the same order (NCCL's own rule too).
//  - Timeouts, like PyTorch's NCCL watchdog (which counts from enqueue): each call records an
//    event before and after its work; a watchdog thread starts the call's clock when the first event completes (the call
//    began running) and, if the second has not completed `timeout_ms` later, reports
//    PROPHET_ERR_TIMEOUT on that call's stream (the stream table's report_failure slot; its next
//    synchronize() returns it; other queued calls get PROPHET_ERR_COMM) and then aborts the NCCL
//    communicator (ncclCommAbort: NCCL's kernels stop waiting for the missing peer, so the stream
//    drains). An asynchronous NCCL error (ncclCommGetAsyncError: a peer's transport broke) is
//    handled the same way with PROPHET_ERR_COMM. Afterwards the communicator is poisoned, as the
//    host ones are. Calls are queued under an issue lock that the watchdog takes before the abort,
//    so no call uses the communicator while it is torn down (if a call stays blocked inside NCCL,
//    e.g. a first connection to a dead peer, the watchdog aborts after a grace period anyway).
//    Buffers of aborted calls are released only once their streams have drained.
//  - Subsets (broadcast, reduce over some ranks: Pro-Prophet's Trans and Agg) are point-to-point
//    on the one communicator: the root sends to (or receives from) each member in one NCCL group;
//    non-members do nothing. No communicator per member list, so nothing grows with the number of
//    placements and nothing blocks the host. A subset reduce sums in ascending rank order on the
//    root (the received blocks, then the optimizer table's axpy), as the host backends do; the
//    whole-world broadcast, reduce and all-reduce are NCCL's (ring or tree order: identical on
//    every rank and run to run for one configuration, but not the host backends' order).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../core/backend.h"
#include "communicator.h"
#include "nccl_loader.h"

namespace prophet::comm {

// Where a collective runs: a stream of the CUDA backend, kept alive by `keepalive` (with the
// call's buffers) until the watchdog has seen the call's work finish.
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
  // Waits until queued calls have finished (each bounded by its timeout, counted from now for a
  // call that has not started), then destroys the NCCL communicator and stops the watchdog.
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
  // Queues NCCL's part of a call on the given cudaStream_t; returns the NCCL failure, if any.
  using Issue = std::function<Status(void *cuda_stream, const std::string &what)>;

  // The steps every call shares, under the issue lock: checks (not poisoned, a CUDA stream, this
  // rank's device current), the `started` event, `issue`, the `finished` event, the hand-off
  // to the watchdog.
  Status run(const NcclLaunch &launch, const char *collective, const Issue &issue);
  Status nccl_failure(const std::string &what, const char *call, ncclResult_t result);
  // The NCCL calls of one group; each names itself in `*call` before it runs, so a failure says
  // which call failed.
  using GroupCalls = std::function<ncclResult_t(const char **call)>;
  // Runs `calls` between ncclGroupStart and ncclGroupEnd, closing the group even when a call
  // inside it failed, and names the first failure.
  Status in_group(const std::string &what, const GroupCalls &calls);
  // Extra device memory for one call, freed with the call's keepalive.
  Status scratch(size_t bytes, const std::string &what, std::shared_ptr<void> *owner, float **out);
  void release(Pending *pending);
  void watch();
  // Poisons, reports `status` on the culprit's stream and ECOMM on the others', then aborts the
  // communicator once no call is being queued. Called by the watchdog holding `lock`.
  void abort_calls(std::unique_lock<std::mutex> &lock, prophet_status_t status,
                   const std::string &message, const std::string &culprit);

  const NcclApi &api_;
  const prophet_backend_i *const backend_;
  const ncclComm_t comm_;
  const int rank_;
  const int size_;
  const int device_;
  uint64_t next_seq_ = 0;  // enqueue order; JS calls come from one thread
  prophet_buffer_t barrier_scratch_ = nullptr;  // one float, all-reduced by barrier()

  std::timed_mutex issue_mutex_;  // held while a call queues NCCL work; the abort takes it too
  std::mutex mutex_;              // everything below
  std::condition_variable changed_;
  std::vector<Pending> pending_;   // queued calls the watchdog times
  std::vector<Pending> draining_;  // aborted calls whose streams have not drained yet
  std::string poisoned_;           // first failure; empty while healthy
  bool aborted_ = false;           // ncclCommAbort freed the communicator: nothing to destroy
  bool stopping_ = false;
  std::thread watchdog_;
};

}  // namespace prophet::comm
