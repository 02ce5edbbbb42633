#include "nccl_communicator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "cuda_device.h"

namespace prophet::comm {
namespace {

// nccl.h's values (stable across NCCL 2.x).
constexpr ncclDataType_t kUint8 = 1;
constexpr ncclDataType_t kFloat32 = 7;
constexpr ncclRedOp_t kSum = 0;
constexpr ncclResult_t kInProgress = 7;
constexpr int kSplitNoColor = -1;  // NCCL_SPLIT_NOCOLOR

// PROPHET_NCCL_DEBUG=1: the watchdog narrates what it sees on stderr.
bool debug_watchdog() {
  static const bool on = [] {
    const char *value = std::getenv("PROPHET_NCCL_DEBUG");
    return value != nullptr && value[0] == '1';
  }();
  return on;
}

// How often the watchdog looks at queued calls while any is pending.
constexpr auto kPollInterval = std::chrono::milliseconds(1);

// The rank of `member` inside its subset's communicator: splits order ranks by key = rank, so
// the position in the sorted member list.
int subset_rank(const Subset &subset, int member) {
  return static_cast<int>(std::lower_bound(subset.members.begin(), subset.members.end(), member) -
                          subset.members.begin());
}

}  // namespace

NcclCommunicator::NcclCommunicator(const NcclApi &api, const prophet_backend_i *backend,
                                   ncclComm_t comm, int rank, int size, int device)
    : api_(api), backend_(backend), comm_(comm), rank_(rank), size_(size), device_(device) {
  // Scratch for barrier(); without it barrier() reports the allocation failure.
  if (backend_->buffer->alloc(device_, sizeof(float), &barrier_scratch_) != PROPHET_OK) {
    barrier_scratch_ = nullptr;
  }
  watchdog_ = std::thread([this] { watch(); });
}

NcclCommunicator::~NcclCommunicator() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  watchdog_.join();  // returns once every pending call finished or was aborted
  if (!aborted_) {
    for (auto &entry : subsets_) {
      if (entry.second != nullptr) api_.comm_destroy(entry.second);
    }
    if (comm_ != nullptr) api_.comm_destroy(comm_);
  }
  if (barrier_scratch_ != nullptr) backend_->buffer->free(barrier_scratch_);
}

Status NcclCommunicator::nccl_failure(const std::string &what, const char *call,
                                      ncclResult_t result) {
  return {PROPHET_ERR_COMM, what + ": " + call + " failed: " + nccl_error_message(api_, result)};
}

void NcclCommunicator::poison_locked(const std::string &message) {
  if (poisoned_.empty()) poisoned_ = message;
}

void NcclCommunicator::release_events(Pending *pending) {
  if (pending->started != nullptr) backend_->event->destroy(pending->started);
  if (pending->finished != nullptr) backend_->event->destroy(pending->finished);
  pending->started = pending->finished = nullptr;
}

Status NcclCommunicator::begin(const NcclLaunch &launch, const char *collective, Pending *pending,
                               void **cuda_stream) {
  pending->what = describe_call(collective, launch.call);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!poisoned_.empty()) {
      return {PROPHET_ERR_COMM, pending->what + ": the communicator failed earlier: " + poisoned_};
    }
  }
  *cuda_stream = backend_->stream->native_handle != nullptr
                     ? backend_->stream->native_handle(launch.stream)
                     : nullptr;
  if (*cuda_stream == nullptr) {
    return {PROPHET_ERR_UNSUPPORTED, pending->what + ": NCCL needs a stream of the CUDA backend"};
  }
  std::string error;
  if (select_cuda_device(device_, &error) == DeviceSelection::kFailed) {
    return {PROPHET_ERR_DEVICE, pending->what + ": " + error};
  }
  pending->stream = launch.stream;
  pending->keepalive = launch.keepalive;
  pending->timeout_ms = launch.call.timeout_ms;
  const prophet_event_i &events = *backend_->event;
  if (events.create(device_, PROPHET_EVENT_DEFAULT, &pending->started) != PROPHET_OK ||
      events.create(device_, PROPHET_EVENT_DEFAULT, &pending->finished) != PROPHET_OK ||
      events.record(pending->started, launch.stream) != PROPHET_OK) {
    const std::string message = backend_->last_error();
    release_events(pending);
    return {PROPHET_ERR_DEVICE, pending->what + ": " + message};
  }
  return Status::Ok();
}

Status NcclCommunicator::finish(Pending pending, const Status &queued) {
  Status status = queued;
  if (status.ok() && backend_->event->record(pending.finished, pending.stream) != PROPHET_OK) {
    status = {PROPHET_ERR_DEVICE, pending.what + ": " + backend_->last_error()};
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!status.ok()) {
    // The peers may now wait for this rank's part forever; their watchdogs time them out.
    poison_locked(status.message);
    release_events(&pending);
    return status;
  }
  pending_.push_back(std::move(pending));
  changed_.notify_all();
  return Status::Ok();
}

Status NcclCommunicator::subset_comm(const Subset &subset, const char *what, ncclComm_t *out) {
  if (static_cast<int>(subset.members.size()) == size_) {
    *out = comm_;
    return Status::Ok();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!poisoned_.empty()) {
      return {PROPHET_ERR_COMM, std::string(what) + ": the communicator failed earlier: " + poisoned_};
    }
    auto found = subsets_.find(subset.members);
    if (found != subsets_.end()) {
      *out = found->second;
      return Status::Ok();
    }
  }
  if (api_.comm_split == nullptr) {
    return {PROPHET_ERR_UNSUPPORTED,
            std::string(what) + ": a subset of the ranks needs ncclCommSplit (NCCL >= 2.18), and " +
                api_.path + " is NCCL " + nccl_version_string(api_.version_code)};
  }
  std::string error;
  if (select_cuda_device(device_, &error) == DeviceSelection::kFailed) {
    return {PROPHET_ERR_DEVICE, std::string(what) + ": " + error};
  }
  // Collective over every rank of comm_: blocks until all have reached the same split.
  ncclComm_t split = nullptr;
  const int color = subset.contains(rank_) ? 0 : kSplitNoColor;
  const ncclResult_t result = api_.comm_split(comm_, color, rank_, &split, nullptr);
  std::lock_guard<std::mutex> lock(mutex_);
  if (result != 0) {
    Status status = nccl_failure(what, "ncclCommSplit", result);
    poison_locked(status.message);
    return status;
  }
  subsets_[subset.members] = color == kSplitNoColor ? nullptr : split;
  *out = subsets_[subset.members];
  return Status::Ok();
}

Status NcclCommunicator::all_to_all_v(const NcclLaunch &launch, const void *send, void *recv,
                                      const AllToAllVLayout &layout) {
  Pending pending;
  void *stream = nullptr;
  Status status = begin(launch, "allToAllV", &pending, &stream);
  if (!status.ok()) return status;
  const char *call = "ncclGroupStart";
  ncclResult_t result = api_.group_start();
  if (result == 0) {
    const auto *from = static_cast<const uint8_t *>(send);
    auto *to = static_cast<uint8_t *>(recv);
    for (int peer = 0; peer < size_ && result == 0; ++peer) {
      const size_t out = layout.send_bytes[peer], in = layout.recv_bytes[peer];
      if (out > 0) {
        call = "ncclSend";
        result = api_.send(from + layout.send_offsets[peer], out, kUint8, peer, comm_, stream);
      }
      if (result == 0 && in > 0) {
        call = "ncclRecv";
        result = api_.recv(to + layout.recv_offsets[peer], in, kUint8, peer, comm_, stream);
      }
    }
    // The group is closed even after a failed call inside it.
    const ncclResult_t ended = api_.group_end();
    if (result == 0 && ended != 0) {
      call = "ncclGroupEnd";
      result = ended;
    }
  }
  status = result == 0 ? Status::Ok() : nccl_failure(pending.what, call, result);
  return finish(std::move(pending), status);
}

Status NcclCommunicator::all_gather(const NcclLaunch &launch, const void *send, size_t bytes,
                                    void *recv) {
  Pending pending;
  void *stream = nullptr;
  Status status = begin(launch, "allGather", &pending, &stream);
  if (!status.ok()) return status;
  const ncclResult_t result = api_.all_gather(send, recv, bytes, kUint8, comm_, stream);
  status = result == 0 ? Status::Ok() : nccl_failure(pending.what, "ncclAllGather", result);
  return finish(std::move(pending), status);
}

Status NcclCommunicator::broadcast(const NcclLaunch &launch, void *data, size_t bytes,
                                   const Subset &subset) {
  const std::string what = describe_call("broadcast", launch.call);
  ncclComm_t comm = nullptr;
  Status status = subset_comm(subset, what.c_str(), &comm);
  if (!status.ok() || comm == nullptr) return status;  // a non-member is done after the split
  Pending pending;
  void *stream = nullptr;
  status = begin(launch, "broadcast", &pending, &stream);
  if (!status.ok()) return status;
  const ncclResult_t result =
      api_.broadcast(data, data, bytes, kUint8, subset_rank(subset, subset.root), comm, stream);
  status = result == 0 ? Status::Ok() : nccl_failure(pending.what, "ncclBroadcast", result);
  return finish(std::move(pending), status);
}

Status NcclCommunicator::reduce_sum_f32(const NcclLaunch &launch, float *data, size_t count,
                                        const Subset &subset) {
  const std::string what = describe_call("reduce", launch.call);
  ncclComm_t comm = nullptr;
  Status status = subset_comm(subset, what.c_str(), &comm);
  if (!status.ok() || comm == nullptr) return status;
  Pending pending;
  void *stream = nullptr;
  status = begin(launch, "reduce", &pending, &stream);
  if (!status.ok()) return status;
  const ncclResult_t result = api_.reduce(data, data, count, kFloat32, kSum,
                                          subset_rank(subset, subset.root), comm, stream);
  status = result == 0 ? Status::Ok() : nccl_failure(pending.what, "ncclReduce", result);
  return finish(std::move(pending), status);
}

Status NcclCommunicator::all_reduce_sum_f32(const NcclLaunch &launch, float *data, size_t count) {
  Pending pending;
  void *stream = nullptr;
  Status status = begin(launch, "allReduce", &pending, &stream);
  if (!status.ok()) return status;
  const ncclResult_t result = api_.all_reduce(data, data, count, kFloat32, kSum, comm_, stream);
  status = result == 0 ? Status::Ok() : nccl_failure(pending.what, "ncclAllReduce", result);
  return finish(std::move(pending), status);
}

Status NcclCommunicator::barrier(const NcclLaunch &launch) {
  if (barrier_scratch_ == nullptr) {
    return {PROPHET_ERR_NOMEM, describe_call("barrier", launch.call) +
                                   ": no device scratch (its allocation failed)"};
  }
  Pending pending;
  void *stream = nullptr;
  Status status = begin(launch, "barrier", &pending, &stream);
  if (!status.ok()) return status;
  // A one-float all-reduce: no rank's stream passes it before every rank's has reached it.
  void *scratch = backend_->buffer->device_ptr(barrier_scratch_);
  const ncclResult_t result = api_.all_reduce(scratch, scratch, 1, kFloat32, kSum, comm_, stream);
  status = result == 0 ? Status::Ok() : nccl_failure(pending.what, "ncclAllReduce", result);
  return finish(std::move(pending), status);
}

void NcclCommunicator::abort_locked(prophet_status_t status, const std::string &message,
                                    size_t culprit) {
  poison_locked(message);
  // Report first: ncclCommAbort can take longer than the calls it stops, and a synchronize that
  // returns meanwhile must already see the failure.
  for (size_t i = 0; i < pending_.size(); ++i) {
    Pending &pending = pending_[i];
    if (i == culprit) {
      backend_->stream->report_failure(pending.stream, status, message.c_str());
    } else {
      const std::string skipped = pending.what + ": not completed: " + message;
      backend_->stream->report_failure(pending.stream, PROPHET_ERR_COMM, skipped.c_str());
    }
  }
  if (debug_watchdog()) std::fprintf(stderr, "watchdog: aborting: %s\n", message.c_str());
  // NCCL's kernels stop waiting once their communicator is aborted, so the streams drain.
  if (api_.comm_abort != nullptr) {
    for (auto &entry : subsets_) {
      if (entry.second != nullptr) api_.comm_abort(entry.second);
    }
    if (comm_ != nullptr) api_.comm_abort(comm_);
    aborted_ = true;
  }
  for (Pending &pending : pending_) release_events(&pending);
  pending_.clear();
}

void NcclCommunicator::watch() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (pending_.empty()) {
      if (stopping_) return;
      changed_.wait(lock);
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    bool aborted = false;
    for (size_t i = 0; i < pending_.size();) {
      Pending &pending = pending_[i];
      if (!pending.running) {
        const prophet_status_t started = backend_->event->query(pending.started);
        if (debug_watchdog()) std::fprintf(stderr, "watchdog: %s started? %d\n", pending.what.c_str(), started);
        if (started != PROPHET_ERR_NOT_READY) {
          pending.running = true;  // its clock starts when it starts running, as on the host
          pending.deadline = now + std::chrono::milliseconds(pending.timeout_ms);
        }
      }
      const prophet_status_t finished =
          pending.running ? backend_->event->query(pending.finished) : PROPHET_ERR_NOT_READY;
      if (debug_watchdog() && pending.running) {
        std::fprintf(stderr, "watchdog: %s finished? %d, %.3f ms to deadline\n", pending.what.c_str(),
                     finished, std::chrono::duration<double, std::milli>(pending.deadline - now).count());
      }
      if (pending.running && finished != PROPHET_ERR_NOT_READY) {
        release_events(&pending);
        pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      if (pending.running && now > pending.deadline) {
        abort_locked(PROPHET_ERR_TIMEOUT,
                     pending.what + " timed out after " + std::to_string(pending.timeout_ms) +
                         " ms waiting for its peers (NCCL communicator aborted)",
                     i);
        aborted = true;
        break;
      }
      ++i;
    }
    if (!aborted && !pending_.empty() && api_.comm_get_async_error != nullptr) {
      // A broken transport (a peer process died) shows here before any timeout.
      ncclResult_t error = 0;
      if (api_.comm_get_async_error(comm_, &error) == 0 && error != 0 && error != kInProgress) {
        abort_locked(PROPHET_ERR_COMM,
                     "NCCL reported an asynchronous error: " + nccl_error_message(api_, error),
                     pending_.size());
      }
    }
    changed_.wait_for(lock, kPollInterval);
  }
}

}  // namespace prophet::comm
